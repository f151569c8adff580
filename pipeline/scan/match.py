"""Statement matching: find the catalog's mandatory statements in an ASR transcript.

Whisper output of call audio is noisy: homophones (理财→李财), near-homophones
(谨慎→景深), dropped or inserted characters, Traditional characters, digits as
7 or 七. So each phrase is aligned against the transcript with an edit distance
whose substitution cost comes from the characters' toneless pinyin: the same
character costs 0, a homophone 0.1, a near-homophone a little more, anything
else 1. Segments of one channel are joined so a statement split by the VAD is
still found, and the matched characters are mapped back to word timestamps.

A rule may also define its statement by meaning (`Concept`: keyword groups within
a span), because agents paraphrase: each keyword is aligned with the same
pinyin-aware distance, so "推废" still counts as "退费". Fixed legal wordings
stay phrases; a place found by both is credited to the phrase.
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass, field, replace
from functools import lru_cache

import numpy as np
import opencc
from pypinyin import Style, lazy_pinyin
from rapidfuzz.distance import Levenshtein

from pipeline.scan import credit, roles
from pipeline.scan.outputs import clock
from pipeline.scan.rules import (
    GAP_MARKERS,
    Catalog,
    Classification,
    Concept,
    Position,
    Rule,
)

HOMOPHONE_COST = 0.1       # same toneless pinyin, different character: Whisper's commonest error
CAPTURE_LOOKAHEAD = 30     # characters after a statement searched for captured fields
CONTEXT_WORDS = 3          # words of the same turn kept on each side of a statement, to read its mood
MIN_KEYWORD_PINYIN = 3     # shorter classification keywords match literally only
# A concept keyword counts at this alignment score: a 2-character keyword survives two
# homophones (推废 for 退费, 90) or one near-homophone (景深 for 谨慎, 79), never a wrong
# or dropped character (50); longer keywords tolerate proportionally more.
KEYWORD_MIN_SCORE = 75.0

_T2S = opencc.OpenCC("t2s")
_TO_HAN_DIGITS = str.maketrans("0123456789幺两〇", "零一二三四五六七八九一二零")
_TO_ASCII_DIGITS = str.maketrans("零一二三四五六七八九", "0123456789")


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


# --- normalisation ------------------------------------------------------------------------

@lru_cache(maxsize=65536)
def normalise(text: str) -> str:
    """One comparable form: Simplified, lower-case, digits as 一二三, no punctuation or spaces."""
    text = _T2S.convert(unicodedata.normalize("NFKC", text)).lower().translate(_TO_HAN_DIGITS)
    return "".join(ch for ch in text if ch.isalnum())


def _syllables(chars: str) -> list[str]:
    """Toneless pinyin per character (non-Chinese characters stand for themselves)."""
    syllables = lazy_pinyin(chars, style=Style.NORMAL, errors=lambda s: list(s))
    if len(syllables) != len(chars):  # never expected; keep the alignment one-to-one anyway
        syllables = [lazy_pinyin(ch, style=Style.NORMAL, errors=lambda s: list(s))[0] for ch in chars]
    return syllables


@lru_cache(maxsize=200_000)
def _syllable_cost(a: str, b: str) -> float:
    """Cost of hearing syllable b where a was said: small for homophones and near-homophones."""
    if a == b:
        return HOMOPHONE_COST
    return HOMOPHONE_COST + (1 - HOMOPHONE_COST) * Levenshtein.normalized_distance(a, b)


# --- the searchable text of a channel -----------------------------------------------------

@dataclass
class _Stream:
    """Consecutive segments of one channel as one normalised text, char -> word -> time."""

    channel: int
    chars: str = ""
    char_word: list[int] = field(default_factory=list)
    words: list[dict] = field(default_factory=list)      # {"start", "end", "word", "turn", "speaker"}
    syllables: list[str] = field(default_factory=list)


def _segment_words(segment: dict) -> list[dict]:
    """The segment's words, or its text spread evenly over its time when it has none."""
    if segment.get("words"):
        return segment["words"]
    text = segment.get("text") or ""
    step = (segment["end"] - segment["start"]) / max(len(text), 1)
    return [{"start": segment["start"] + i * step, "end": segment["start"] + (i + 1) * step, "word": ch}
            for i, ch in enumerate(text)]


def _turns(segments: list[dict]) -> list[int]:
    """For each segment, which turn of its channel it belongs to (1 = the channel's first)."""
    order = sorted(range(len(segments)), key=lambda i: segments[i]["start"])
    turns, counts, previous = [0] * len(segments), {}, None
    for i in order:
        channel = segments[i].get("channel", 0)
        if channel != previous:
            counts[channel] = counts.get(channel, 0) + 1
            previous = channel
        turns[i] = counts[channel]
    return turns


def _streams(segments: list[dict], join_max_gap_s: float) -> list[_Stream]:
    """Join each channel's segments in time order, starting a new stream at long pauses."""
    turns = _turns(segments)
    streams: list[_Stream] = []
    current: dict[int, _Stream] = {}
    last_end: dict[int, float] = {}
    for i in sorted(range(len(segments)), key=lambda i: segments[i]["start"]):
        segment = segments[i]
        channel = segment.get("channel", 0)
        if channel not in current or segment["start"] - last_end[channel] > join_max_gap_s:
            current[channel] = _Stream(channel)
            streams.append(current[channel])
        stream, last_end[channel] = current[channel], segment["end"]
        for word in _segment_words(segment):
            chars = normalise(word.get("word") or "")
            stream.chars += chars
            stream.char_word += [len(stream.words)] * len(chars)
            stream.words.append({"start": word["start"], "end": word["end"], "word": word.get("word") or "",
                                 "turn": turns[i],
                                 "speaker": word.get("speaker") or segment.get("speaker", "unknown")})
    for stream in streams:
        stream.syllables = _syllables(stream.chars)
    return [s for s in streams if s.chars]


# --- alignment ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Pattern:
    """A catalog phrase ready for alignment: characters, pinyin, and where gaps ("…") are."""

    phrase: str
    chars: str
    syllables: tuple[str, ...]
    gaps_after: frozenset[int]   # a gap follows these character indices


@lru_cache(maxsize=4096)
def _pattern(phrase: str) -> _Pattern:
    parts = re.split("|".join(map(re.escape, GAP_MARKERS)), phrase)
    chars, gaps = "", set()
    for part in parts:
        if chars:
            gaps.add(len(chars) - 1)
        chars += normalise(part)
    return _Pattern(phrase, chars, tuple(_syllables(chars)), frozenset(gaps))


def _cost_matrix(pattern: _Pattern, stream: _Stream) -> np.ndarray:
    """Substitution cost of every phrase character against every transcript character."""
    vocabulary = sorted(set(stream.syllables))
    index = {s: k for k, s in enumerate(vocabulary)}
    ids = np.array([index[s] for s in stream.syllables])
    codes = np.array([ord(c) for c in stream.chars])
    cost = np.empty((len(pattern.chars), len(stream.chars)))
    for row, (char, syllable) in enumerate(zip(pattern.chars, pattern.syllables)):
        by_syllable = np.array([_syllable_cost(syllable, s) for s in vocabulary])
        cost[row] = np.where(codes == ord(char), 0.0, by_syllable[ids])
    return cost


def _last_row(cost: np.ndarray, gaps_after: frozenset[int], max_gap: int, free_start: bool) -> np.ndarray:
    """Edit distance of the whole phrase ending at each transcript position (Sellers' algorithm).

    Row by row over the phrase, vectorised over the transcript: deletions and
    substitutions come from the previous row, runs of insertions are a running
    minimum. After a gap character up to `max_gap` transcript characters are free.
    """
    m, n = cost.shape
    positions = np.arange(n + 1, dtype=float)
    row = np.zeros(n + 1) if free_start else positions.copy()
    for i in range(m):
        best = np.empty(n + 1)
        best[0] = row[0] + 1
        best[1:] = np.minimum(row[:-1] + cost[i], row[1:] + 1)
        row = np.minimum.accumulate(best - positions) + positions
        if i in gaps_after:
            skipped = row.copy()
            for k in range(1, min(max_gap, n) + 1):
                skipped[k:] = np.minimum(skipped[k:], row[:-k])
            row = skipped
    return row


def _span_start(cost: np.ndarray, pattern: _Pattern, end: int, max_gap: int) -> int:
    """Where the best alignment ending at `end` starts: the same DP run backwards from `end`."""
    m = len(pattern.chars)
    width = min(end, 2 * m + max_gap * len(pattern.gaps_after) + 2)
    backwards = cost[::-1, end - width:end][:, ::-1]
    gaps = frozenset(m - 2 - i for i in pattern.gaps_after)
    lengths = _last_row(backwards, gaps, max_gap, free_start=False)
    return end - int(np.argmin(lengths))


def _phrase_spans(pattern: _Pattern, stream: _Stream, min_score: float, max_gap: int) -> list[tuple]:
    """Non-overlapping (start, end, score) character spans where the phrase scores >= min_score."""
    m = len(pattern.chars)
    cost = _cost_matrix(pattern, stream)
    distance = _last_row(cost, pattern.gaps_after, max_gap, free_start=True)[1:]
    scores = 100.0 * (1.0 - distance / m)
    spans: list[tuple] = []
    for j in np.argsort(-scores, kind="stable"):
        if scores[j] < min_score:
            break
        end = int(j) + 1
        if any(s < end and end <= e for s, e, _ in spans):
            continue
        start = _span_start(cost, pattern, end, max_gap)
        if all(end <= s or start >= e for s, e, _ in spans):
            spans.append((start, end, round(float(scores[j]), 1)))
    return spans


# --- concepts -----------------------------------------------------------------------------

def _keyword_hits(keywords: tuple[str, ...], stream: _Stream) -> list[tuple]:
    """Every (start, end, score, keyword) where one of a group's keywords was heard."""
    return sorted((start, end, score, keyword) for keyword in keywords
                  for start, end, score in _phrase_spans(_pattern(keyword), stream, KEYWORD_MIN_SCORE, 0))


def _pick(found: list[list[tuple]], start: int, ordered: bool) -> list[tuple] | None:
    """One keyword hit per group, none starting before `start`, ending as early as possible.

    Ordered groups follow each other without overlap (earliest-ending is then
    the tightest chain); unordered picks must not overlap either, so one word
    never stands for two groups ("全额退费" is refund + full, not refund twice).
    """
    picks, position = [], start
    for hits in found:
        after = [h for h in hits if h[0] >= position]
        if not after:
            return None
        picks.append(min(after, key=lambda h: (h[1], -h[2])))
        position = picks[-1][1] if ordered else start
    spans = sorted((h[0], h[1]) for h in picks)
    if any(a_end > b_start for (_, a_end), (b_start, _) in zip(spans, spans[1:])):
        return None
    return picks


def _concept_spans(concept: Concept, stream: _Stream) -> list[tuple]:
    """Non-overlapping (start, end, score, {group: keyword}) where every group is heard within the span.

    The score is the mean of the keywords' alignment scores; where windows
    overlap the best-scoring, then the shortest, is kept.
    """
    found = [_keyword_hits(keywords, stream) for _, keywords in concept.groups]
    if not all(found):
        return []
    candidates = []
    for start in sorted({h[0] for hits in found for h in hits}):
        picks = _pick(found, start, concept.ordered)
        if picks is None:
            continue
        first, last = min(h[0] for h in picks), max(h[1] for h in picks)
        if last - first <= concept.within_chars:
            score = round(sum(h[2] for h in picks) / len(picks), 1)
            groups = {name: h[3] for (name, _), h in zip(concept.groups, picks)}
            candidates.append((first, last, score, groups))
    spans: list[tuple] = []
    for candidate in sorted(candidates, key=lambda c: (-c[2], c[1] - c[0], c[0])):
        if all(candidate[1] <= s or candidate[0] >= e for s, e, *_ in spans):
            spans.append(candidate)
    return spans


# --- hits ---------------------------------------------------------------------------------

def _capture(rule: Rule, stream: _Stream, start: int, end: int) -> tuple[dict, int]:
    """Captured fields (digits as 0-9) and the character end of the last captured value."""
    region = stream.chars[start:end + CAPTURE_LOOKAHEAD].translate(_TO_ASCII_DIGITS).upper()
    fields, last = {}, end
    for name, regex in rule.capture.items():
        found = regex.search(region)
        fields[name] = found.group(1) if found else None
        if found:
            last = max(last, start + found.end(1))
    return fields, last


def _hit(rule: Rule, phrase: str, stream: _Stream, start: int, end: int, score: float,
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
    for number, stream in enumerate(_streams(segments, join_max_gap_s)):
        for order, phrase in enumerate(phrases):
            for start, end, score in _phrase_spans(_pattern(phrase), stream, rule.min_score, rule.max_gap_chars):
                candidates.append((0, -score, order, number, start, end, phrase, stream, {}))
        for order, concept in enumerate(concepts):
            for start, end, score, groups in _concept_spans(concept, stream):
                candidates.append((1, -score, order, number, start, end, concept.name, stream, groups))
    chosen: list[tuple] = []
    for _, negative_score, _, number, start, end, phrase, stream, groups in sorted(candidates, key=lambda c: c[:6]):
        if all(n != number or end <= s or start >= e for n, s, e, *_ in chosen):
            chosen.append((number, start, end, phrase, stream, -negative_score, groups))
    hits = [_hit(rule, phrase, stream, start, end, score, groups)
            for _, start, end, phrase, stream, score, groups in chosen]
    return sorted(hits, key=lambda h: (h.start, h.channel))


# --- classification -----------------------------------------------------------------------

def _keyword_found(keyword: str, chars: str, pinyin: str) -> bool:
    """Literal match; keywords of 3+ characters also match by pinyin (homophone errors)."""
    wanted = normalise(keyword)
    if not wanted:
        return False
    if wanted in chars:
        return True
    return len(wanted) >= MIN_KEYWORD_PINYIN and f" {' '.join(_syllables(wanted))} " in pinyin


def _infer(classes: dict[str, tuple[str, ...]], chars: str, pinyin: str, minimum: int,
           default: str) -> tuple[str, list[str], dict[str, list[str]]]:
    """The class with most distinct keywords present (first listed wins ties), its keywords, and every class's."""
    found = {name: [k for k in keywords if _keyword_found(k, chars, pinyin)] for name, keywords in classes.items()}
    best, evidence = default, []
    for name, words in found.items():
        if len(words) >= max(minimum, 1) and len(words) > len(evidence):
            best, evidence = name, words
    return best, evidence, found


def _weighed(best: str, evidence: list[str], found: dict[str, list[str]],
             rules: Classification) -> tuple[str, dict[str, list[str]]]:
    """How sure an inferred value is ("high"/"low"), and the classes it might be instead.

    "high" needs at least `confident_keywords` keywords and a lead of
    `confident_margin` over every other class; anything less (a default taken for
    want of keywords included) is "low". The plausible alternatives of a low value
    are the classes with at least one keyword and at least as many as the chosen
    value: a class that lost a tie, or any class heard at all when the value is a
    default. Classes with fewer keywords than the winner are not second-guessed.
    """
    others = [len(words) for name, words in found.items() if name != best]
    runner_up = max(others, default=0)
    if len(evidence) >= rules.confident_keywords and len(evidence) - runner_up >= rules.confident_margin:
        return "high", {}
    return "low", {name: words for name, words in found.items()
                   if name != best and words and len(words) >= len(evidence)}


def classify_call(segments: list[dict], catalog: Catalog, meta: dict | None = None) -> dict:
    """The call's type and industry: metadata values win, the rest is inferred from keywords.

    `source` is "metadata" only when both values came from metadata; `evidence`
    lists the keywords behind the inferred values. A metadata value of
    "unknown" (or empty) counts as not given. `confidence` is "metadata", or
    "low" when any inferred value is (see `_weighed`), else "high";
    `alternatives` maps each low value's key ("type"/"industry") to the classes
    it might be instead, with the keywords heard for them, so that check_call
    can say what would be missing under those assumptions.
    """
    meta = meta or {}
    rules = catalog.classification
    chars = "".join(normalise(s.get("text") or "") for s in sorted(segments, key=lambda s: s["start"]))
    pinyin = f" {' '.join(_syllables(chars))} "
    result, evidence, source, confidence, alternatives = {}, [], "metadata", "metadata", {}
    for key, classes, default in (("type", rules.types, rules.default_type),
                                  ("industry", rules.industries, rules.default_industry)):
        given = (meta.get(key) or "").strip()
        if given and given != "unknown":
            result[key] = given
            continue
        result[key], found, every = _infer(classes, chars, pinyin, rules.min_keywords, default)
        evidence += [k for k in found if k not in evidence]
        source = "inferred"
        sure, others = _weighed(result[key], found, every, rules)
        confidence = "low" if "low" in (confidence, sure) else sure
        if others:
            alternatives[key] = others
    return {**result, "source": source, "evidence": evidence, "confidence": confidence,
            "alternatives": alternatives}


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
        if not hits and fast_segments:
            loose = replace(rule, min_score=rule.min_score - options.fast_slack)
            hits = find_statements(loose, list(fast_segments), call_type, industry, options.join_max_gap_s)
        verdicts = [credit.reasons(rule, h.speaker, h.text, h.before, h.after, cues, _on_time(rule.position, h))
                    for h in hits]
        found = [_annotation(rule, h, v) for h, v in zip(hits, verdicts)]
        annotations += found
        if cues is not None:   # roles were assigned: a statement nobody could attribute goes to review
            flags += credit.unknown_speaker_flags(rule, [a for a in found if a["credited"]])
        credited = [h for h, v in zip(hits, verdicts) if not v]
        flag = _flag(rule, credited, [a for a in found if not a["credited"]]) if rule.required else None
        if flag:
            flags.append(flag)
    flags += _review_flags(segments, call, catalog)
    annotations.sort(key=lambda a: (a["start"], a["end"], a["rule"]))
    return annotations, flags
