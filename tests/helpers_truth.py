"""Scoring scan records against fixture truth files (shared by the end-to-end tests and bench/bench.py)."""

from __future__ import annotations

import re
from collections import Counter

from rapidfuzz.distance import Levenshtein

from pipeline.transcribe import to_simplified

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


def statement_counts(records: dict[str, dict], truths: dict[str, dict]) -> dict[str, int]:
    """Statements located over their truth span (rule and channel), and annotations over no such statement.

    Returns {"found", "total", "annotations", "wrong"}: recall is found/total,
    precision (annotations - wrong)/annotations.
    """
    counts = {"found": 0, "total": 0, "annotations": 0, "wrong": 0}
    for stem, truth in truths.items():
        annotations = records[stem]["annotations"]
        for utt in said(truth):
            counts["total"] += 1
            counts["found"] += any(a["rule"] == utt["rule"] and a["channel"] == utt["channel"] and overlaps(a, utt)
                                   for a in annotations)
        counts["annotations"] += len(annotations)
        counts["wrong"] += sum(not any(a["rule"] == u["rule"] and overlaps(a, u) for u in said(truth))
                               for a in annotations)
    return counts


def flag_tally(records: dict[str, dict], truths: dict[str, dict]) -> Counter:
    """Flags (problem, rule) raised as the truth expects ("true"), not expected ("false"), or not raised ("missed")."""
    tally = Counter()
    for stem, truth in truths.items():
        got = Counter((f["problem"], f["rule"]) for f in records[stem]["flags"])
        expected = Counter((f["problem"], f["rule"]) for f in truth["expected_flags"])
        tally["true"] += sum((got & expected).values())
        tally["false"] += sum((got - expected).values())
        tally["missed"] += sum((expected - got).values())
    return tally
