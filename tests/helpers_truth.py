"""Scoring scan records against fixture truth files (shared by the end-to-end tests and bench/bench.py)."""

from __future__ import annotations

import re
from collections import Counter
from functools import lru_cache
from pathlib import Path

from rapidfuzz.distance import Levenshtein

from pipeline.scan.phrase_catalog import load_catalog
from pipeline.scan.transcribe import to_simplified

DIGITS = str.maketrans("0123456789幺两", "零一二三四五六七八九一二")


def normalise(text: str) -> str:
    """Characters only: Simplified, no punctuation or spaces, digits written as Chinese."""
    return re.sub(r"[^\w]|_", "", to_simplified(text)).translate(DIGITS)


def channel_text(items: list[dict], channel: int) -> str:
    return normalise("".join(i["text"] for i in sorted(items, key=lambda i: i["start"]) if i["channel"] == channel))


def cer(record: dict, truth: dict) -> tuple[int, int]:
    """(edit distance, truth characters) over all channels, for utterances meant to be intelligible."""
    said = [u for u in truth["utterances"] if u["delivery"] != "unintelligible"]
    errors = chars = 0
    for channel in range(truth["channels"]):
        reference = channel_text(said, channel)
        errors += Levenshtein.distance(reference, channel_text(record["segments"], channel))
        chars += len(reference)
    return errors, chars


def overlaps(a: dict, b: dict) -> bool:
    return a["start"] < b["end"] and b["start"] < a["end"]


def said(truth: dict) -> list[dict]:
    """Truth statements a listener can make out (unintelligible ones are expected missing)."""
    return [u for u in truth["utterances"] if u["rule"] and u["delivery"] != "unintelligible"]


@lru_cache(maxsize=1)
def forbidden_rules() -> frozenset[str]:
    """The catalog's prohibited rules (phrases/prohibited.yaml): wordings that must not be said."""
    return frozenset(r.id for r in load_catalog(Path(__file__).resolve().parents[1] / "phrases").rules
                     if r.prohibited)


def statement_counts(records: dict[str, dict], truths: dict[str, dict]) -> dict[str, int]:
    """Statements located over their truth span (rule and channel), and annotations over no such statement.

    Returns {"found", "total", "annotations", "wrong"}: recall is found/total,
    precision (annotations - wrong)/annotations. Annotations of prohibited rules (a denial
    such as "不承诺保本" is annotated too) are not statements to make: tests/test_prohibited_e2e scores them.
    """
    counts = {"found": 0, "total": 0, "annotations": 0, "wrong": 0}
    for stem, truth in truths.items():
        annotations = [a for a in records[stem]["annotations"] if a["rule"] not in forbidden_rules()]
        for utt in said(truth):
            counts["total"] += 1
            counts["found"] += any(a["rule"] == utt["rule"] and a["channel"] == utt["channel"] and overlaps(a, utt)
                                   for a in annotations)
        counts["annotations"] += len(annotations)
        counts["wrong"] += sum(not any(a["rule"] == u["rule"] and overlaps(a, u) for u in said(truth))
                               for a in annotations)
    return counts


def flag_tally(records: dict[str, dict], truths: dict[str, dict]) -> Counter:
    """Flags (problem, rule) raised as the truth expects ("true"), not expected ("false"), or not raised ("missed").

    A review asked because nobody could tell who said a credited statement (`about: speaker`, mono calls whose
    voices could not be named) is about the speaker split, not about the statement: counted apart ("speaker_review").
    """
    tally = Counter()
    for stem, truth in truths.items():
        tally["speaker_review"] += sum(f.get("about") == "speaker" for f in records[stem]["flags"])
        got = Counter((f["problem"], f["rule"]) for f in records[stem]["flags"] if f.get("about") != "speaker")
        expected = Counter((f["problem"], f["rule"]) for f in truth["expected_flags"])
        tally["true"] += sum((got & expected).values())
        tally["false"] += sum((got - expected).values())
        tally["missed"] += sum((expected - got).values())
    return tally


def diarization_error(truth: list[dict], turns: list[dict], duration_s: float, step: float = 0.01,
                      best_mapping: bool = True, collar_s: float = 0.0) -> dict:
    """Diarization error rate of `turns` against truth utterances, on a 10 ms grid.

    Missed speech, false alarm and speaker confusion, each over the truth's speech
    time; the two hypothesis speakers are mapped to the truth's the way that
    confuses least unless `best_mapping` is False (then the roles as named are
    scored: whether the split also found which speaker is the agent). `collar_s`
    leaves that much time either side of every truth boundary unscored (0.25 s is
    the usual convention of diarization evaluations; 0 scores every 10 ms).
    """
    import numpy as np

    n = int(duration_s / step) + 1
    code = {"agent": 0, "customer": 1}
    ref, hyp = np.full(n, -1), np.full(n, -1)
    scored = np.ones(n, bool)
    for u in truth:
        ref[int(u["start"] / step):int(u["end"] / step)] = code[u["speaker"]]
        for edge in (u["start"], u["end"]):
            scored[max(0, int((edge - collar_s) / step)):int((edge + collar_s) / step)] = False
    for t in turns:
        hyp[int(t["start"] / step):int(t["end"] / step)] = code.get(t["speaker"], 2)
    ref, hyp = ref[scored], hyp[scored]
    speech = max(int((ref >= 0).sum()), 1)
    both = (ref >= 0) & (hyp >= 0)
    confusion = int((both & (ref != hyp)).sum())
    if best_mapping:
        confusion = min(confusion, int((both & (ref != np.where(hyp < 2, 1 - hyp, hyp))).sum()))
    missed, false_alarm = int(((ref >= 0) & (hyp < 0)).sum()), int(((ref < 0) & (hyp >= 0)).sum())
    return {"missed": missed / speech, "false_alarm": false_alarm / speech, "confusion": confusion / speech,
            "der": (missed + false_alarm + confusion) / speech}
