"""Roles stage: which speech is the agent's and which the customer's.

A mandatory statement counts only when the agent says it, so every segment gets
`speaker: agent|customer|unknown`, and the conversation metrics need each
party's talk on its own.

Stereo recordings keep the parties on separate channels; only which channel is
the agent's must be known: from the metadata (`agent_channel`), from
`--agent-channel`, or inferred from who talks like an agent (`AGENT_WORDS`:
您好, 请问, 为您...), ties going to whoever spoke first. The evidence is kept in
`record["roles"]`.

Mono recordings are split into two voices, and tested for being one speaker, by
pipeline.scan.mono_split; which voice is the agent is decided from what each says
(pipeline.scan.roles, phrases/speaker_cues.yaml), every word labelled with its
turn's role.
It labels speech; it never changes the transcript's text.
"""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np

from pipeline.scan import roles, vad
from pipeline.scan.mono_split import SpeakerOptions, diarize, speech_spans

__all__ = ["SpeakerOptions", "assign_roles"]   # SpeakerOptions lives with the split; the scan's options name it here

AGENT, CUSTOMER, UNKNOWN = "agent", "customer", "unknown"
# Words an agent says and a customer rarely does: the polite 您 of service talk,
# greetings and service formulas. Counted per speaker to decide who the agent is.
AGENT_WORDS = ("您", "请问", "我是", "这里是", "为您", "帮您", "感谢", "稍等", "客服", "欢迎")

def overlap(a_start: float, a_end: float, b_start: float, b_end: float) -> float:
    return max(0.0, min(a_end, b_end) - max(a_start, b_start))


def agent_word_counts(segments: list[dict], key_of) -> Counter:
    """How often each speaker key (`key_of(segment)`) says one of AGENT_WORDS."""
    counts: Counter = Counter()
    for segment in segments:
        key = key_of(segment)
        if key is not None:
            counts[key] += sum((segment.get("text") or "").count(word) for word in AGENT_WORDS)
    return counts


def infer_agent(keys: list, first: object, counts: Counter) -> object:
    """The key that says the most agent words; on a tie the one who spoke first."""
    return max(keys, key=lambda k: (counts.get(k, 0), k == first))


def assign_roles(samples: np.ndarray, rate: int, segments: list[dict], meta_row: dict | None,
                 options: SpeakerOptions, cues: roles.Cues | None = None) -> tuple[dict, list[dict]]:
    """Label every segment's `speaker` in place; return the roles evidence and the speaker turns.

    Turns are `{start, end, channel, speaker}`, unpadded, in time order; they are
    what the conversation metrics are measured on. The evidence says how the agent
    was found: `method` metadata/option/inferred (stereo: the agent's channel, by
    AGENT_WORDS) or split+cues (mono: `mono_roles`), who spoke first and a per-call
    `confidence` (0-1).
    """
    frames = [vad.speech_frames(channel, rate, options.vad_aggressiveness) for channel in samples]
    if samples.shape[0] == 1:
        return mono_roles(samples[0], rate, frames[0], segments, options, cues or shipped_cues())
    turns = sorted(({"start": s, "end": e, "channel": ch, "cluster": ch}
                    for ch in range(samples.shape[0]) for s, e in speech_spans(frames[ch], options)),
                   key=lambda t: (t["start"], t["channel"]))
    for segment in segments:
        segment["_cluster"] = segment.get("channel", 0)
    first = turns[0]["cluster"] if turns else None
    evidence, role_of = stereo_roles(samples.shape[0], segments, first, meta_row, options)
    for turn in turns:
        turn["speaker"] = role_of[turn.pop("cluster")]
    for segment in segments:
        segment["speaker"] = role_of.get(segment.pop("_cluster"), UNKNOWN)
    return evidence, turns


def mono_roles(x: np.ndarray, rate: int, frames: np.ndarray, segments: list[dict], options: SpeakerOptions,
               cues: roles.Cues) -> tuple[dict, list[dict]]:
    """Roles on one channel: the split's voices named by what each says, every word and segment labelled.

    `named_by` says how: "voices" (the one-speaker test's verdict, two voices or
    one, named by their cues: pipeline.scan.roles.decide); "words" (the test said
    one speaker, but that voice says both agent's and customer's words: the split's
    best two-way guess is named instead, with a low confidence); "turns" (neither
    could be named: each turn takes the role of its own cues, confidence 0). A word
    gets its turn's role (an ASR segment may span two turns); a segment the role of
    most of its words.
    """
    turns, split = diarize(x, rate, frames, options)
    for segment in segments:
        segment["_turn"] = nearest_turn(turns, segment)
        for word in segment.get("words") or []:
            word["_turn"] = nearest_turn(turns, word)
    said = turn_texts(segments, len(turns))
    guess = {k: [said[i] for i, t in enumerate(turns) if t["cluster"] == k] for k in sorted({t["cluster"] for t in turns})}
    talk = Counter()
    for turn in turns:
        talk[turn["cluster"]] += turn["end"] - turn["start"]
    decide = functools.partial(roles.decide, threshold=options.two_speaker_distance, cues=cues,
                               min_evidence=options.min_role_evidence, scale=options.evidence_scale,
                               talk_s=dict(talk), talk_weight=options.talk_weight)
    named_by = "voices"
    if split["speakers"] == 2:
        decided = decide(guess, split["distance"])
    else:
        decided = decide({0: said}, None)
        if decided.pop("dialogue") and len(guess) == 2:
            decided, named_by = decide(guess, split["distance"]), "words"
        else:
            decided["role_of"] = {k: decided["role_of"][0] for k in guess}
            decided["agent_cluster"] = 0 if decided["agent_cluster"] == 0 else None
    decided.pop("dialogue", None)
    role_of = decided.pop("role_of")
    if set(role_of.values()) <= {UNKNOWN}:
        named_by = "turns"
        decided["confidence"] = 0.0
    for turn, text in zip(turns, said):
        turn["speaker"] = (roles.segment_role(text, cues, options.min_role_evidence) if named_by == "turns"
                           else role_of[turn["cluster"]])
    for segment in segments:
        words = segment.get("words") or []
        for word in words:
            word["speaker"] = turns[word.pop("_turn")]["speaker"] if turns else UNKNOWN
        by_time: Counter = Counter()
        for word in words:
            by_time[word["speaker"]] += word["end"] - word["start"]
        turn = segment.pop("_turn")
        segment["speaker"] = (by_time.most_common(1)[0][0] if by_time
                              else turns[turn]["speaker"] if turns else UNKNOWN)
    first = turns[0]["cluster"] if turns else None
    for turn in turns:
        del turn["cluster"]
    evidence = {"method": "split+cues", "channels": 1, "first_speaker": first, "speakers": split["speakers"],
                "separation": split["distance"], "turns_per_voice": split["turns"], "named_by": named_by, **decided}
    return evidence, turns


def turn_texts(segments: list[dict], count: int) -> list[str]:
    """What was said in each turn: the words under it (an ASR segment may span two turns), or the whole
    text of a segment without word times nearest to it."""
    said = [""] * count
    for segment in segments:
        words = segment.get("words") or []
        for word in words:
            said[word["_turn"]] += word.get("word") or ""
        if not words and segment["_turn"] is not None:
            said[segment["_turn"]] += segment.get("text") or ""
    return said


def stereo_roles(channels: int, segments: list[dict], first: int | None, meta_row: dict | None,
                 options: SpeakerOptions) -> tuple[dict, dict]:
    """The agent's channel (metadata, option, or who says the most AGENT_WORDS) and each channel's role."""
    keys = list(range(channels))
    counts = agent_word_counts(segments, lambda s: s["_cluster"])
    given = (meta_row or {}).get("agent_channel")
    evidence = {"method": "inferred", "channels": channels, "first_speaker": first,
                "agent_words": {str(k): counts.get(k, 0) for k in keys}}
    if given not in (None, ""):
        agent, evidence["method"] = int(given), "metadata"
    elif options.agent_channel is not None:
        agent, evidence["method"] = options.agent_channel, "option"
    else:
        agent = infer_agent(keys, first, counts)
    evidence["agent_channel"] = agent
    margin = abs(counts.get(0, 0) - counts.get(1, 0))
    evidence["confidence"] = (1.0 if evidence["method"] != "inferred"
                              else round(roles.lexical_confidence(margin, options.evidence_scale), 3))
    return evidence, {k: AGENT if k == agent else CUSTOMER for k in keys}


def nearest_turn(turns: list[dict], span: dict) -> int | None:
    """Index of the turn covering most of a word or segment, else of the turn nearest in time (a word the
    ASR window's padding put in a pause still belongs to someone); None without turns."""
    if not turns:
        return None
    cover = [overlap(span["start"], span["end"], t["start"], t["end"]) for t in turns]
    if max(cover) > 0:
        return int(np.argmax(cover))
    middle = (span["start"] + span["end"]) / 2
    return min(range(len(turns)), key=lambda i: min(abs(turns[i]["start"] - middle), abs(turns[i]["end"] - middle)))


@functools.lru_cache(maxsize=1)
def shipped_cues() -> roles.Cues:
    """The shipped phrases/speaker_cues.yaml, for callers that do not pass a catalog's cues (tests, tools)."""
    return roles.load_cues(roles.SHIPPED_DIR)
