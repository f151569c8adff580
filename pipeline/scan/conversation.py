"""Conversation metrics: the shape of a call, from the speakers' turns.

Call-QA reviews dead air (the customer left waiting), overtalk (both parties at
once) and an agent who talks over the customer. Measured on the unpadded VAD
turns of pipeline.speakers, so a turn ends where the voice stops, not where
the ASR window's padding does.

Overlap can only be seen where the parties are on separate channels: on a mono
recording the split gives one speaker at a time, so overtalk stays None (the
record's `overtalk_unmeasured` says why) and an agent interruption is a turn
taken over from the customer with less than `takeover_gap_s` between them:
the agent began before the customer's voice had paused (a cut-in the split
could only see as a change at the shortest pause it cuts at). Talk per role and
silences are measured alike on both.
It reads the turns only: no audio, no files.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

from pipeline.scan.outputs import clock
from pipeline.scan.rules import ConversationLimits


@dataclass(frozen=True)
class ConversationOptions:
    """What counts as a silence and as overtalk.

    Pauses between turns of ordinary conversation last up to about a second;
    silence counts from `min_silence_s`. Overlaps shorter than `min_overtalk_s`
    are back-channel and turn-taking jitter ("嗯", a word's tail), not overtalk.
    On one channel, an agent turn that starts less than `takeover_gap_s` after a
    customer turn ends counts as an interruption (an ordinary reply leaves 0.2 s
    or more; the split changes speaker only at pauses of 0.09 s and longer).
    """

    min_silence_s: float = 1.0
    min_overtalk_s: float = 0.3
    takeover_gap_s: float = 0.15


def union(spans: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Overlapping or touching spans merged, in time order."""
    merged: list[list[float]] = []
    for start, end in sorted(spans):
        if merged and start <= merged[-1][1]:
            merged[-1][1] = max(merged[-1][1], end)
        else:
            merged.append([start, end])
    return [(a, b) for a, b in merged]


def gaps(spans: list[tuple[float, float]], duration_s: float) -> list[tuple[float, float]]:
    """Stretches of [0, duration_s] covered by no span (leading and trailing ones included)."""
    edges = [0.0] + [x for span in union(spans) for x in span] + [duration_s]
    return [(a, b) for a, b in zip(edges[::2], edges[1::2]) if b > a]


def intersections(a: list[tuple[float, float]], b: list[tuple[float, float]]) -> list[tuple[float, float]]:
    """Where a span of `a` and a span of `b` overlap."""
    return union([(max(s1, s2), min(e1, e2)) for s1, e1 in a for s2, e2 in b if min(e1, e2) > max(s1, s2)])


def measure(turns: list[dict], duration_s: float, stereo: bool,
            options: ConversationOptions = ConversationOptions()) -> dict:
    """Talk per role, silences, overtalk and agent interruptions of one call (seconds, 2 decimals).

    An agent interruption is an overtalk the agent started: the agent's turn
    began while a customer turn was under way (mono: right on its heels, see
    ConversationOptions.takeover_gap_s).
    """
    by_role = {role: union([(t["start"], t["end"]) for t in turns if t["speaker"] == role])
               for role in ("agent", "customer", "unknown")}
    talk = {role: round(sum(e - s for s, e in spans), 2) for role, spans in by_role.items()}
    parties = talk["agent"] + talk["customer"]
    silences = [(s, e) for s, e in gaps([(t["start"], t["end"]) for t in turns], duration_s)
                if e - s >= options.min_silence_s]
    result = {
        "talk_s": talk,
        "agent_talk_ratio": round(talk["agent"] / parties, 3) if parties else None,
        "longest_silence_s": round(max((e - s for s, e in silences), default=0.0), 2),
        "longest_silence_at": round(max(silences, key=lambda g: g[1] - g[0])[0], 2) if silences else None,
        "total_silence_s": round(sum(e - s for s, e in silences), 2),
        "overtalk_count": None, "overtalk_s": None, "agent_interruptions": None,
    }
    if not stereo:
        ordered = sorted(turns, key=lambda t: t["start"])
        result["agent_interruptions"] = sum(
            1 for a, b in itertools.pairwise(ordered) if (a["speaker"], b["speaker"]) == ("customer", "agent")
            and b["start"] - a["end"] < options.takeover_gap_s)
        result["overtalk_unmeasured"] = ("one channel: speech of both parties at once is heard as one voice, "
                                         "so overtalk cannot be measured")
    else:
        overtalk = [(s, e) for s, e in intersections(by_role["agent"], by_role["customer"])
                    if e - s >= options.min_overtalk_s]
        agent_starts = [t["start"] for t in turns if t["speaker"] == "agent"]
        result.update(overtalk_count=len(overtalk), overtalk_s=round(sum(e - s for s, e in overtalk), 2),
                      agent_interruptions=sum(1 for s, e in overtalk if s in agent_starts))
    return result


def flags(metrics: dict, limits: ConversationLimits) -> list[dict]:
    """`long_silence` when the longest silence exceeds the catalog's `silence_over_s`."""
    if limits.silence_over_s is None or metrics["longest_silence_s"] <= limits.silence_over_s:
        return []
    start = metrics["longest_silence_at"]
    end = round(start + metrics["longest_silence_s"], 2)
    return [{"problem": "long_silence", "rule": None, "start": start, "end": end, "channel": None,
             "message": f"Silence of {metrics['longest_silence_s']:.1f} s at {clock(start)} "
                        f"(limit {limits.silence_over_s:g} s)."}]
