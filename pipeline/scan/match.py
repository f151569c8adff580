"""Statement matching: find the catalog's mandatory statements in an ASR transcript.

Whisper output of call audio is noisy, so statements are located by a pinyin-aware
alignment (`phrase_align`) of the catalog's phrases against each channel's joined
text, and the matched characters are mapped back to word timestamps.

A rule may also define its statement by meaning (`Concept`: keyword groups within
a span), because agents paraphrase. Fixed legal wordings stay phrases; a place found
by both is credited to the phrase. Here hits become annotations and missing, late or
needs_review flags; whether a hit counts is `credit`'s call, the call's class
`classify`'s. Nothing here touches audio or files.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

from pipeline.scan import credit, prohibited, roles
from pipeline.scan.outputs import clock
from pipeline.scan.phrase_align import (
    Stream,
    channel_streams,
    concept_spans,
    phrase_pattern,
    phrase_spans,
)
from pipeline.scan.pinyin import TO_ASCII_DIGITS
from pipeline.scan.rules import Catalog, Position, Rule

CAPTURE_LOOKAHEAD = 30     # characters after a statement searched for captured fields
CONTEXT_WORDS = 6          # words of the same turn kept on each side of a statement, to read its mood


@dataclass(frozen=True)
class MatchOptions:
    """How statements are searched (the per-rule `min_score` is in the phrase catalog).

    join_max_gap_s: consecutive segments of a channel closer than this are one text, so a
        statement split by the VAD or by a breath is still found.
    fast_slack: points the threshold is lowered by when a missing statement is searched
        again in abnormally fast speech (where Whisper writes sound-alikes).
    """

    join_max_gap_s: float = 5.0
    fast_slack: float = 12.0


@dataclass(frozen=True)
class Hit:
    """One place where a rule's statement was said."""

    rule: str
    phrase: str              # the catalog phrase that matched best
    score: float             # 0-100
    channel: int
    start: float             # seconds from the start of the recording
    end: float
    text: str                # the transcript's own words over the span
    turn: int                # 1-based turn of this channel the statement starts in
    fields: dict = field(default_factory=dict)
    concepts: dict = field(default_factory=dict)   # concept hits: group -> the catalog keyword heard
    speaker: str = "unknown"  # agent | customer | unknown: the speaker of most of its words
    before: str = ""          # the transcript's words just before and after it in the same turn
    after: str = ""


# --- hits ---------------------------------------------------------------------------------

def _capture(rule: Rule, stream: Stream, start: int, end: int) -> tuple[dict, int]:
    """Captured fields (digits as 0-9) and the character end of the last captured value."""
    region = stream.chars[start:end + CAPTURE_LOOKAHEAD].translate(TO_ASCII_DIGITS).upper()
    fields, last = {}, end
    for name, regex in rule.capture.items():
        found = regex.search(region)
        fields[name] = found.group(1) if found else None
        if found:
            last = max(last, start + found.end(1))
    return fields, last


def _hit(rule: Rule, phrase: str, stream: Stream, start: int, end: int, score: float,
         concepts: dict | None = None) -> Hit:
    fields, end = _capture(rule, stream, start, end)
    first, last = stream.char_word[start], stream.char_word[end - 1]
    words = stream.words[first:last + 1]
    turn = words[0]["turn"]
    before = [w["word"] for w in stream.words[max(first - CONTEXT_WORDS, 0):first] if w["turn"] == turn]
    after = [w["word"] for w in stream.words[last + 1:last + 1 + CONTEXT_WORDS] if w["turn"] == turn]
    speakers = [w["speaker"] for w in words]
    return Hit(rule=rule.id, phrase=phrase, score=score, channel=stream.channel,
               start=round(words[0]["start"], 2), end=round(words[-1]["end"], 2),
               text="".join(w["word"] for w in words).strip(), turn=turn, fields=fields,
               concepts=dict(concepts or {}), speaker=max(speakers, key=speakers.count),
               before="".join(before), after="".join(after))


def find_statements(rule: Rule, segments: list[dict], call_type: str | None = None,
                    industry: str | None = None,
                    join_max_gap_s: float = MatchOptions.join_max_gap_s) -> list[Hit]:
    """Every place the rule's statement was said: best non-overlapping hits, in time order.

    Only the phrase sets meant for `call_type`/`industry` are searched (all sets
    when neither is given), so a finance call is not credited with medical wording.
    Phrase hits are preferred to concept hits over the same words: a fixed
    wording is the more precise evidence, and its span is the statement's.
    """
    sets = rule.phrase_sets if call_type is None and industry is None else rule.applicable_sets(call_type, industry)
    phrases = list(dict.fromkeys(p for s in sets for p in s.phrases))
    concepts = list(dict.fromkeys(c for s in sets for c in s.concepts))
    candidates = []
    for number, stream in enumerate(channel_streams(segments, join_max_gap_s)):
        for order, phrase in enumerate(phrases):
            for start, end, score in phrase_spans(phrase_pattern(phrase), stream, rule.min_score, rule.max_gap_chars):
                candidates.append((0, -score, order, number, start, end, phrase, stream, {}))
        for order, concept in enumerate(concepts):
            for start, end, score, groups in concept_spans(concept, stream):
                candidates.append((1, -score, order, number, start, end, concept.name, stream, groups))
    chosen: list[tuple] = []
    for _, negative_score, _, number, start, end, phrase, stream, groups in sorted(candidates, key=lambda c: c[:6]):
        if all(n != number or end <= s or start >= e for n, s, e, *_ in chosen):
            chosen.append((number, start, end, phrase, stream, -negative_score, groups))
    hits = [_hit(rule, phrase, stream, start, end, score, groups)
            for _, start, end, phrase, stream, score, groups in chosen]
    return sorted(hits, key=lambda h: (h.start, h.channel))


# --- checking a call ----------------------------------------------------------------------

def _on_time(position: Position | None, hit: Hit) -> bool:
    """Whether a hit satisfies every limit of the rule's position constraint."""
    if position is None:
        return True
    return ((position.within_first_s is None or hit.start <= position.within_first_s)
            and (position.within_first_turns is None or hit.turn <= position.within_first_turns))


def _annotation(rule: Rule, hit: Hit, not_credited: list[str]) -> dict:
    return {"rule": rule.id, "label": rule.label, "start": hit.start, "end": hit.end,
            "channel": hit.channel, "speaker": hit.speaker, "text": hit.text, "matched_phrase": hit.phrase,
            "score": hit.score, "fields": dict(hit.fields), "concepts": dict(hit.concepts),
            "credited": not not_credited, "not_credited": not_credited}


def _verdict(rule: Rule, hit: Hit, cues: roles.Cues | None) -> list[str]:
    """Why a hit does not count: pipeline.scan.prohibited for a forbidden statement, else pipeline.scan.credit."""
    if rule.prohibited:
        return prohibited.reasons(rule, _annotation(rule, hit, []), hit.before, hit.after)
    return credit.reasons(rule, hit.speaker, hit.text, hit.before, hit.after, cues, _on_time(rule.position, hit))


def point_to_unrecognised(flags: list[dict], unrecognised: list[dict]) -> list[dict]:
    """Add to each `missing` or `needs_review` flag where the transcript has holes.

    A statement said in speech the ASR could not read is not "missing" for certain:
    the reviewer is sent to listen there (transcribe.py lists those stretches).
    """
    if unrecognised:
        where = "; ".join(f"{clock(h['start'])}-{clock(h['end'])}" for h in unrecognised)
        for flag in flags:
            if flag["problem"] in ("missing", "needs_review"):
                flag["message"] += f" Speech the ASR could not transcribe at {where}: listen there before concluding."
    return flags


def _flag(rule: Rule, hits: list[Hit], uncredited: list[dict] = ()) -> dict | None:
    """A "missing" or "late" flag for a required rule (credited hits only), or None when it was said in place.

    A missing flag names the places the wording was heard without counting
    (`uncredited` annotations), so a reviewer knows where to listen.
    """
    if not hits:
        heard = "; ".join(f"{clock(a['start'])} {a['speaker']}: {'/'.join(a['not_credited'])}" for a in uncredited)
        return {"problem": "missing", "rule": rule.id, "start": None, "end": None, "channel": None,
                "message": f"Required statement not found: {rule.label} ({rule.id})."
                           + (f" Heard but not credited: {heard}." if heard else "")}
    if any(_on_time(rule.position, h) for h in hits):
        return None
    first = hits[0]
    return {"problem": "late", "rule": rule.id, "start": first.start, "end": first.end, "channel": first.channel,
            "message": f"Statement said too late: {rule.label} ({rule.id}) starts at "
                       f"{clock(first.start)}, required {rule.position.describe()}."}


def _alternatives(call: dict) -> list[tuple[str, str]]:
    """(type, industry) pairs the call may be instead: each low value replaced by its alternatives."""
    others = call.get("alternatives") or {}
    types = [call.get("type"), *others.get("type", {})]
    industries = [call.get("industry"), *others.get("industry", {})]
    return [(t, i) for t in types for i in industries if (t, i) != (call.get("type"), call.get("industry"))]


def _assumption(call: dict, call_type: str, industry: str, catalog: Catalog) -> str:
    """The weak inference a review flag rests on, e.g. "industry inferred as general from 0 keywords;
    if this is a marketing finance call (heard: 保险)"."""
    lists = {"type": catalog.classification.types, "industry": catalog.classification.industries}
    parts, heard = [], []
    for key, value in (("type", call_type), ("industry", industry)):
        if value != call.get(key):
            own = [k for k in call.get("evidence", []) if k in lists[key].get(call.get(key), ())]
            parts.append(f"{key} inferred as {call.get(key)} from {len(own)} keyword(s)"
                         + (f" ({'、'.join(own)})" if own else ""))
            heard += call["alternatives"][key][value]
    return f"{'; '.join(parts)}; if this is a {call_type} {industry} call (heard: {'、'.join(heard)})"


def _review_flags(segments: list[dict], call: dict, catalog: Catalog) -> list[dict]:
    """`needs_review` for required rules that would apply under a plausible alternative classification.

    A call inferred with weak evidence may be of another type or industry; a
    required statement of that other class not said in the call would otherwise
    pass in silence. Statements are searched with the alternative's phrase sets.
    """
    flags = []
    for rule in catalog.rules:
        if not rule.required or rule.applies(call.get("type"), call.get("industry")):
            continue
        for call_type, industry in _alternatives(call):
            if rule.applies(call_type, industry) and not find_statements(rule, segments, call_type, industry):
                flags.append({"problem": "needs_review", "rule": rule.id, "start": None, "end": None, "channel": None,
                              "message": f"{_assumption(call, call_type, industry, catalog)}, "
                                         f"{rule.label} ({rule.id}) is missing."})
                break
    return flags


def check_call(segments: list[dict], call: dict, catalog: Catalog, fast_segments: list[dict] = (),
               options: MatchOptions = MatchOptions(), cues: roles.Cues | None = None
               ) -> tuple[list[dict], list[dict]]:
    """Annotate every statement of the rules that apply to this call; flag required ones missing or late.

    `call` is classify_call's result (its `type` and `industry` pick the rules
    and phrase sets). A rule not found at its threshold is searched again in
    `fast_segments` (transcripts of abnormally fast speech, where Whisper writes
    sound-alikes) with its threshold lowered by `options.fast_slack`. Annotations are in
    time order; flags carry the channel of the statement they are about (None: all).
    Required rules of a plausible other classification (low confidence) that are
    not said raise `needs_review` (see `_review_flags`). A hit said by the wrong
    speaker, as a question or negated is annotated `credited: false` with its
    reasons (pipeline.credit) and does not satisfy the rule; one whose speaker
    is unknown counts only as credit.reasons allows (`cues`) and raises `needs_review`.
    """
    call_type, industry = call.get("type"), call.get("industry")
    annotations, flags = [], []
    for rule in catalog.rules:
        if not rule.applies(call_type, industry):
            continue
        hits = find_statements(rule, segments, call_type, industry, options.join_max_gap_s)
        if not hits and fast_segments and not rule.prohibited:   # a forbidden wording is not searched loosely
            loose = replace(rule, min_score=rule.min_score - options.fast_slack)
            hits = find_statements(loose, list(fast_segments), call_type, industry, options.join_max_gap_s)
        verdicts = [_verdict(rule, h, cues) for h in hits]
        found = [_annotation(rule, h, v) for h, v in zip(hits, verdicts)]
        annotations += found
        if rule.prohibited:
            flags += prohibited.flags(rule, found)
        elif cues is not None:   # roles were assigned: a statement nobody could attribute goes to review
            flags += credit.unknown_speaker_flags(rule, [a for a in found if a["credited"]])
        credited = [h for h, v in zip(hits, verdicts) if not v]
        flag = _flag(rule, credited, [a for a in found if not a["credited"]]) if rule.required else None
        if flag:
            flags.append(flag)
    flags += _review_flags(segments, call, catalog)
    annotations.sort(key=lambda a: (a["start"], a["end"], a["rule"]))
    return annotations, flags
