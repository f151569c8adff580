"""Mono roles: which of the split's voices is the agent, from what each voice says.

A mono recording's split (pipeline.scan.speakers) gives one or two anonymous
voices. The agent greets, names the company, introduces themselves with a staff
or certificate number and reads the disclosures; the customer answers with 喂,
calls the company 你们, declines or repeats what others said. Those cues live in
`phrases/speaker_cues.yaml` (validated here with file:line errors; a cue of two
characters or more also counts when it sounds alike, as Whisper writes
homophones); each voice's cue weights are summed over its words, and the
difference between the voices decides. Too little difference leaves the role `unknown` rather than guessing.

This module decides roles from text and the split's figures only; it does not
touch audio and does not decide what is credited (pipeline.scan.credit does).
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path

from pypinyin import Style, lazy_pinyin

from pipeline.core.settings import Where, YamlMap, read_yaml

CUES_FILE = "speaker_cues.yaml"
AGENT, CUSTOMER, UNKNOWN = "agent", "customer", "unknown"


@dataclass(frozen=True)
class Cues:
    """Words that point at the agent or at the customer, with their weights (phrases/speaker_cues.yaml)."""

    agent: dict[str, float]
    customer: dict[str, float]


SHIPPED_DIR = Path(__file__).resolve().parents[2] / "phrases"


def cues_path(phrases_dir: str | Path) -> Path:
    """The cue file a phrase folder's checks use: its own, else the shipped one."""
    own = Path(phrases_dir) / CUES_FILE
    return own if own.is_file() else SHIPPED_DIR / CUES_FILE


def load_cues(phrases_dir: str | Path) -> Cues:
    """Read and validate `speaker_cues.yaml` of the phrase folder: two mappings of word -> positive weight.

    A phrase folder without one (made before mono roles existed) uses the shipped file.
    """
    path = cues_path(phrases_dir)
    raw = read_yaml(path)
    where = Where(path)
    top = where.mapping(raw, getattr(raw, "line", 1), "speaker cues", {"agent", "customer"})
    lists = {}
    for side in ("agent", "customer"):
        if side not in top:
            raise where.error(top.line, f"'{side}' (a mapping of word: weight) is required")
        words = top[side]
        if not isinstance(words, YamlMap) or not words:
            raise where.error(where.key_line(top, side), f"'{side}' must list at least one word")
        for word in words:
            if not isinstance(word, str) or not word.strip():
                raise where.error(where.key_line(words, word), f"'{side}': a cue must be non-empty text, got {word!r}")
            where.number(words, word, low=0)
        lists[side] = {str(w).strip(): float(v) for w, v in words.items()}
    both = set(lists["agent"]) & set(lists["customer"])
    if both:
        word = min(both)
        raise where.error(where.key_line(top["customer"], word), f"'{word}' is both an agent and a customer cue")
    return Cues(lists["agent"], lists["customer"])


@functools.lru_cache(maxsize=20_000)
def sound(ch: str) -> str:
    """A character's toneless pinyin (itself when it is not Chinese)."""
    return lazy_pinyin(ch, style=Style.NORMAL, errors=lambda s: [s])[0]


def occurrences(text: str, sounds: list[str], cue: str) -> int:
    """How often `cue` is said in `text` (`sounds`: its characters' `sound`): written alike, or, for a cue
    of two characters or more, sounding alike (Whisper writes homophones: 编号 as 编好, 工号 as 公号, 客服
    as 克服). One character alone sounds like too many others (喂 like 为, 位) to be matched by sound."""
    if len(cue) < 2:
        return text.count(cue)
    wanted = [sound(ch) for ch in cue]
    return sum(1 for i in range(len(text) - len(cue) + 1) if sounds[i:i + len(cue)] == wanted)


def cue_score(text: str, cues: Cues) -> tuple[float, float]:
    """(agent weight, customer weight) of one text: each cue's weight times how often it is said."""
    sounds = [sound(ch) for ch in text]
    return (sum(w * occurrences(text, sounds, k) for k, w in cues.agent.items()),
            sum(w * occurrences(text, sounds, k) for k, w in cues.customer.items()))


def lexical_confidence(evidence: float, scale: float) -> float:
    """How sure a cue difference makes the decision: 0 for none, 0.63 at `scale`, 0.95 at three times it."""
    return 1.0 - math.exp(-abs(evidence) / scale)


def decide(texts_by_voice: dict[int, list[str]], separation: float | None, threshold: float, cues: Cues,
           min_evidence: float, scale: float, talk_s: dict[int, float] | None = None, talk_weight: float = 0.0
           ) -> dict:
    """Role of each voice of a mono split, the evidence and a per-call confidence.

    Two voices: the evidence that voice 0 is the agent is its agent-minus-customer
    weight less voice 1's; at least `min_evidence` either way decides both roles,
    less leaves both unknown. One voice (an IVR prompt, a voicemail, a read clip,
    or a call the split could not separate): the voice is the agent or the customer
    on the same evidence alone, else unknown; but a voice alone that says both
    agent's and customer's words (each at least `min_evidence`) is a dialogue the
    split could not part (`dialogue`), and stays unknown (the caller then names the
    split's two-way guess instead, or each turn by its own words, `segment_role`).
    Turn-taking adds to two voices' evidence: the agent of a service or sales call
    does most of the talking, so `talk_weight` times the difference of the voices'
    shares of `talk_s` (at most ±talk_weight; ±0.4 × talk_weight for a 70/30 call)
    tips a near tie but cannot outweigh what is said. The confidence multiplies how
    sure the evidence is (`lexical_confidence`) by how far apart the voices are, the
    separation over twice the one-speaker line (1 from there on; a voice alone: 1).
    """
    score = {k: cue_score("".join(texts), cues) for k, texts in texts_by_voice.items()}
    net = {k: a - c for k, (a, c) in score.items()}
    keys = sorted(texts_by_voice)
    talk = 0.0
    if len(keys) == 2:
        total = sum((talk_s or {}).get(k, 0.0) for k in keys)
        talk = talk_weight * ((talk_s or {}).get(keys[0], 0.0) - (talk_s or {}).get(keys[1], 0.0)) / total \
            if total else 0.0
        evidence = net[keys[0]] - net[keys[1]] + talk
        split = min(1.0, (separation or 0.0) / (2 * threshold))
    else:
        evidence = net[keys[0]] if keys else 0.0
        split = 1.0
    dialogue = len(keys) == 1 and min(score[keys[0]]) >= min_evidence
    if abs(evidence) < min_evidence or dialogue:
        role_of = {k: UNKNOWN for k in keys}
        agent = None
    elif len(keys) == 2:
        agent = keys[0] if evidence > 0 else keys[1]
        role_of = {k: AGENT if k == agent else CUSTOMER for k in keys}
    else:
        agent = keys[0] if evidence > 0 else None
        role_of = {keys[0]: AGENT if evidence > 0 else CUSTOMER}
    confidence = 0.0 if UNKNOWN in role_of.values() else round(lexical_confidence(evidence, scale) * split, 3)
    return {"role_of": role_of, "agent_cluster": agent, "evidence": round(evidence, 2), "talk_evidence": round(talk, 2),
            "dialogue": dialogue,
            "cue_weights": {str(k): {"agent": round(a, 2), "customer": round(c, 2)} for k, (a, c) in score.items()},
            "confidence": confidence}


def segment_role(text: str, cues: Cues, min_evidence: float) -> str:
    """The role one turn's own words give (agent or customer cue weight ahead by `min_evidence`), else unknown.

    The fallback where the voices could not be named (their cues cancel out: the
    split parted the agent's quiet or noisy stretch from the rest, say): a turn
    that says 您好，本电话为营销电话 is still the agent's.
    """
    agent, customer = cue_score(text, cues)
    if agent - customer >= min_evidence:
        return AGENT
    return CUSTOMER if customer - agent >= min_evidence else UNKNOWN
