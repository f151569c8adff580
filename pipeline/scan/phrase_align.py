"""Where a phrase or a concept was said in a channel's text: pinyin-aware alignment.

Each phrase is aligned against the transcript with an edit distance whose
substitution cost comes from the characters' toneless pinyin (`pinyin`): the same
character costs 0, a homophone 0.1, a near-homophone a little more, anything else 1.
Segments of one channel are joined (`channel_streams`) so a statement split by the
VAD is still found, and each character keeps the word (and time) it came from.
A concept's keywords are aligned with the same distance, so "推废" still counts as
"退费". Returns character spans and scores only: which hit counts, and what a
record says about it, is `match`'s job.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from functools import lru_cache

import numpy as np

from pipeline.scan.pinyin import normalise, syllable_cost, syllables
from pipeline.scan.rules import GAP_MARKERS, Concept

# A concept keyword counts at this alignment score: a 2-character keyword survives two
# homophones (推废 for 退费, 90) or one near-homophone (景深 for 谨慎, 79), never a wrong
# or dropped character (50); longer keywords tolerate proportionally more.
KEYWORD_MIN_SCORE = 75.0


# --- the searchable text of a channel -----------------------------------------------------

@dataclass
class Stream:
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


def channel_streams(segments: list[dict], join_max_gap_s: float) -> list[Stream]:
    """Join each channel's segments in time order, starting a new stream at long pauses."""
    turns = _turns(segments)
    streams: list[Stream] = []
    current: dict[int, Stream] = {}
    last_end: dict[int, float] = {}
    for i in sorted(range(len(segments)), key=lambda i: segments[i]["start"]):
        segment = segments[i]
        channel = segment.get("channel", 0)
        if channel not in current or segment["start"] - last_end[channel] > join_max_gap_s:
            current[channel] = Stream(channel)
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
        stream.syllables = syllables(stream.chars)
    return [s for s in streams if s.chars]


# --- alignment ----------------------------------------------------------------------------

@dataclass(frozen=True)
class Pattern:
    """A catalog phrase ready for alignment: characters, pinyin, and where gaps ("…") are."""

    phrase: str
    chars: str
    syllables: tuple[str, ...]
    gaps_after: frozenset[int]   # a gap follows these character indices


@lru_cache(maxsize=4096)
def phrase_pattern(phrase: str) -> Pattern:
    parts = re.split("|".join(map(re.escape, GAP_MARKERS)), phrase)
    chars, gaps = "", set()
    for part in parts:
        if chars:
            gaps.add(len(chars) - 1)
        chars += normalise(part)
    return Pattern(phrase, chars, tuple(syllables(chars)), frozenset(gaps))


def _cost_matrix(pattern: Pattern, stream: Stream) -> np.ndarray:
    """Substitution cost of every phrase character against every transcript character."""
    vocabulary = sorted(set(stream.syllables))
    index = {s: k for k, s in enumerate(vocabulary)}
    ids = np.array([index[s] for s in stream.syllables])
    codes = np.array([ord(c) for c in stream.chars])
    cost = np.empty((len(pattern.chars), len(stream.chars)))
    for row, (char, syllable) in enumerate(zip(pattern.chars, pattern.syllables)):
        by_syllable = np.array([syllable_cost(syllable, s) for s in vocabulary])
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


def _span_start(cost: np.ndarray, pattern: Pattern, end: int, max_gap: int) -> int:
    """Where the best alignment ending at `end` starts: the same DP run backwards from `end`."""
    m = len(pattern.chars)
    width = min(end, 2 * m + max_gap * len(pattern.gaps_after) + 2)
    backwards = cost[::-1, end - width:end][:, ::-1]
    gaps = frozenset(m - 2 - i for i in pattern.gaps_after)
    lengths = _last_row(backwards, gaps, max_gap, free_start=False)
    return end - int(np.argmin(lengths))


def phrase_spans(pattern: Pattern, stream: Stream, min_score: float, max_gap: int) -> list[tuple]:
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

def _keyword_hits(keywords: tuple[str, ...], stream: Stream) -> list[tuple]:
    """Every (start, end, score, keyword) where one of a group's keywords was heard."""
    return sorted((start, end, score, keyword) for keyword in keywords
                  for start, end, score in phrase_spans(phrase_pattern(keyword), stream, KEYWORD_MIN_SCORE, 0))


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


def concept_spans(concept: Concept, stream: Stream) -> list[tuple]:
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

