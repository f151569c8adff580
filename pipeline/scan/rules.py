"""The phrase catalog as plain data: rules, their phrase sets and concepts, classification keywords.

What `phrase_catalog` loads from `phrases/*.yaml` and the checks (match, classify,
credit, delivery, conversation) read. Frozen dataclasses with the few questions they
answer about themselves (which sets apply to a call); no YAML, no file access and no
matching here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

ANY = "any"
GAP_MARKERS = ("…", "...")          # in a phrase: "a name or a few words may stand here"


@dataclass(frozen=True)
class Concept:
    """A statement defined by meaning rather than wording.

    Agents paraphrase, so a fixed phrase misses "学费我们全额退还" for "全额退费".
    A concept is keyword groups that must all be heard (any one keyword of each
    group: synonyms and variants), within `within_chars` characters of the
    transcript, in the listed order when `ordered`.
    """

    name: str
    groups: tuple[tuple[str, tuple[str, ...]], ...]   # (group name, keywords), in catalog order
    within_chars: int
    ordered: bool = False


@dataclass(frozen=True)
class PhraseSet:
    """Phrases and concepts that count for calls of the given types and industries."""

    types: tuple[str, ...]
    industries: tuple[str, ...]
    phrases: tuple[str, ...]
    concepts: tuple[Concept, ...] = ()

    def applies(self, call_type: str | None, industry: str | None) -> bool:
        """True when this set is meant for a call of that type and industry."""
        return ((ANY in self.types or call_type in self.types)
                and (ANY in self.industries or industry in self.industries))


@dataclass(frozen=True)
class Position:
    """Where a statement must be: limits given are all required to hold."""

    within_first_s: float | None = None
    within_first_turns: int | None = None

    def describe(self) -> str:
        parts = []
        if self.within_first_s is not None:
            parts.append(f"within the first {self.within_first_s:g} s")
        if self.within_first_turns is not None:
            parts.append(f"within the first {self.within_first_turns} turns of the speaker")
        return " and ".join(parts)


@dataclass(frozen=True)
class Rule:
    """One mandatory (or optional) statement and how to find it."""

    id: str
    label: str
    required: bool
    phrase_sets: tuple[PhraseSet, ...]
    min_score: float
    max_gap_chars: int
    position: Position | None = None
    capture: dict[str, re.Pattern] = field(default_factory=dict)
    delivery: dict[str, float] = field(default_factory=dict)
    description: str = ""
    source: str = ""                 # "file:line", for messages
    speaker: str = "any"             # who must say it to be credited: agent, customer or any

    def applicable_sets(self, call_type: str | None, industry: str | None) -> list[PhraseSet]:
        return [s for s in self.phrase_sets if s.applies(call_type, industry)]

    def applies(self, call_type: str | None, industry: str | None) -> bool:
        return bool(self.applicable_sets(call_type, industry))


@dataclass(frozen=True)
class Classification:
    """Keyword lists used to infer a call's type and industry from its transcript."""

    types: dict[str, tuple[str, ...]] = field(default_factory=dict)
    industries: dict[str, tuple[str, ...]] = field(default_factory=dict)
    min_keywords: int = 1
    default_type: str = "unknown"
    default_industry: str = "unknown"
    confident_keywords: int = 3      # an inferred class resting on fewer keywords is "low" confidence
    confident_margin: int = 2        # ... and so is one that leads another class by fewer keywords


@dataclass(frozen=True)
class ConversationLimits:
    """Limits on the shape of a call (the `conversation` section); None means not checked."""

    silence_over_s: float | None = None   # a silence longer than this is flagged long_silence


@dataclass(frozen=True)
class Catalog:
    rules: tuple[Rule, ...]
    classification: Classification
    conversation: ConversationLimits = ConversationLimits()

    def rule(self, rule_id: str) -> Rule:
        return next(r for r in self.rules if r.id == rule_id)

