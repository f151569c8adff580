"""Phrase catalog: load and validate the compliance rules in `phrases/*.yaml`.

The catalog is edited by compliance officers, not programmers, so every
mistake is reported as `file:line: rule 'id': what is wrong` (a CatalogError)
instead of surfacing later as a silent non-match. See `phrases/rules.yaml`
for the documented schema.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.meta import CALL_TYPES, INDUSTRIES
from pipeline.core.settings import CatalogError, Where, YamlMap, YamlSeq, read_yaml
from pipeline.scan import roles

ANY = "any"
GAP_MARKERS = ("…", "...")          # in a phrase: "a name or a few words may stand here"
MIN_PHRASE_CHARS = 4                # shorter phrases cannot be fuzzily matched without false hits
MIN_KEYWORD_CHARS = 2               # a concept keyword of one character matches almost any sentence
MIN_CONCEPT_GROUPS = 2              # one keyword group alone is a topic, not a statement
MAX_CONCEPT_SPAN = 200              # characters; a statement is a sentence or two, not a conversation
DEFAULT_MIN_SCORE = 72.0
DEFAULT_MAX_GAP_CHARS = 8
RULE_ID = re.compile(r"^[a-z][a-z0-9_]*$")
# other settings kept in phrases/ (records, package, and the speaker cues of pipeline.scan.roles)
NOT_CATALOG = ("records.yaml", "package.yaml", "speaker_cues.yaml")

TOP_KEYS = {"defaults", "rules", "classification", "conversation"}
DEFAULT_KEYS = {"min_score", "max_gap_chars"}
RULE_KEYS = {"id", "label", "description", "required", "phrases", "concepts", "applies_to", "phrase_sets",
             "position", "capture", "delivery", "min_score", "speaker"}
SPEAKERS = ("agent", "customer", "any")
CONVERSATION_KEYS = {"silence_over_s"}
SET_KEYS = {"applies_to", "phrases", "concepts"}
CONCEPT_KEYS = {"name", "groups", "within_chars", "ordered"}
APPLIES_KEYS = {"types", "industries"}
POSITION_KEYS = {"within_first_s", "within_first_turns"}
DELIVERY_KEYS = {"max_rate_cps", "min_relative_level_db", "min_snr_db"}
CLASS_KEYS = {"types", "industries", "min_keywords", "default_type", "default_industry", "confident_keywords",
              "confident_margin"}


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


# --- YAML loading with line numbers -------------------------------------------------------

def _phrase_chars(phrase: str) -> int:
    """Characters that take part in matching (no punctuation, spaces or gap markers)."""
    return sum(1 for ch in phrase if ch.isalnum())


def _parse_phrases(where: Where, value, line: int) -> tuple[str, ...]:
    phrases = where.strings(value, line, "'phrases'")
    for phrase, item_line in zip(phrases, value.item_lines):
        stripped = phrase.strip()
        if any(stripped.startswith(m) or stripped.endswith(m) for m in GAP_MARKERS):
            raise where.error(item_line, f"phrase '{phrase}' must not start or end with '…'")
        if _phrase_chars(phrase) < MIN_PHRASE_CHARS:
            raise where.error(item_line, f"phrase '{phrase}' is too short to match reliably "
                                         f"(at least {MIN_PHRASE_CHARS} characters)")
    return phrases


def _parse_keywords(where: Where, value, line: int, what: str) -> tuple[str, ...]:
    keywords = where.strings(value, line, what)
    for keyword, item_line in zip(keywords, value.item_lines):
        if any(marker in keyword for marker in GAP_MARKERS):
            raise where.error(item_line, f"keyword '{keyword}' in {what} must not contain '…' (use within_chars)")
        if _phrase_chars(keyword) < MIN_KEYWORD_CHARS:
            raise where.error(item_line, f"keyword '{keyword}' in {what} is too short to match reliably "
                                         f"(at least {MIN_KEYWORD_CHARS} characters)")
    return keywords


def _parse_concept(where: Where, value, line: int, names: set[str]) -> Concept:
    """One concept statement: a name, at least two keyword groups, a span limit, an optional order."""
    raw = where.mapping(value, line, "a concept", CONCEPT_KEYS)
    for key in ("name", "groups", "within_chars"):
        if key not in raw:
            raise where.error(raw.line, f"concept needs '{key}'")
    name = raw["name"]
    if not isinstance(name, str) or not RULE_ID.match(name):
        raise where.error(where.key_line(raw, "name"), f"concept 'name' must be lower_snake_case text, got {name!r}")
    if name in names:
        raise where.error(where.key_line(raw, "name"), f"duplicate concept name '{name}'")
    names.add(name)
    groups_raw, groups_line = raw["groups"], where.key_line(raw, "groups")
    if not isinstance(groups_raw, YamlMap) or len(groups_raw) < MIN_CONCEPT_GROUPS:
        raise where.error(groups_line, f"concept '{name}': 'groups' must map at least {MIN_CONCEPT_GROUPS} group "
                                       f"names to keyword lists (one group alone is a topic, not a statement)")
    groups = []
    for group, words in groups_raw.items():
        group_line = where.key_line(groups_raw, group)
        if not isinstance(group, str) or not RULE_ID.match(group):
            raise where.error(group_line, f"concept '{name}': group name {group!r} must be lower_snake_case")
        groups.append((group, _parse_keywords(where, words, group_line, f"group '{group}'")))
    within = int(where.number(raw, "within_chars", low=0, high=MAX_CONCEPT_SPAN, integer=True))
    shortest = sum(min(_phrase_chars(k) for k in words) for _, words in groups)
    if within < shortest:
        raise where.error(where.key_line(raw, "within_chars"),
                          f"concept '{name}': within_chars {within} is shorter than its shortest keywords "
                          f"together ({shortest} characters), so it can never match")
    ordered = raw.get("ordered", False)
    if not isinstance(ordered, bool):
        raise where.error(where.key_line(raw, "ordered"), f"'ordered' must be true or false, got {ordered!r}")
    return Concept(name, tuple(groups), within, ordered)


def _parse_concepts(where: Where, value, line: int) -> tuple[Concept, ...]:
    if not isinstance(value, YamlSeq) or not value:
        raise where.error(line, "'concepts' must be a non-empty list of concepts")
    names: set[str] = set()
    return tuple(_parse_concept(where, item, item_line, names) for item, item_line in zip(value, value.item_lines))


def _parse_applies(where: Where, value, line: int) -> tuple[tuple[str, ...], tuple[str, ...]]:
    applies = where.mapping(value, line, "'applies_to'", APPLIES_KEYS)
    for key in APPLIES_KEYS:
        if key not in applies:
            raise where.error(applies.line, f"'applies_to' needs '{key}' (use [any] for all)")
    types = where.strings(applies["types"], where.key_line(applies, "types"), "'types'", (ANY, *CALL_TYPES))
    industries = where.strings(applies["industries"], where.key_line(applies, "industries"),
                               "'industries'", (ANY, *INDUSTRIES))
    return types, industries


def _parse_phrase_sets(where: Where, raw: YamlMap) -> tuple[PhraseSet, ...]:
    """Either top-level phrases+applies_to (one set) or a list of industry-specific sets."""
    has_flat = "phrases" in raw or "concepts" in raw or "applies_to" in raw
    if has_flat and "phrase_sets" in raw:
        raise where.error(where.key_line(raw, "phrase_sets"),
                          "use either 'phrases'/'concepts' + 'applies_to' or 'phrase_sets', not both")
    if "phrase_sets" in raw:
        sets_raw = raw["phrase_sets"]
        line = where.key_line(raw, "phrase_sets")
        if not isinstance(sets_raw, YamlSeq) or not sets_raw:
            raise where.error(line, "'phrase_sets' must be a non-empty list")
        entries = [where.mapping(item, item_line, "a phrase set", SET_KEYS)
                   for item, item_line in zip(sets_raw, sets_raw.item_lines)]
    else:
        entries = [raw]
    sets = []
    for entry in entries:
        if "applies_to" not in entry:
            raise where.error(entry.line, "missing 'applies_to'")
        if "phrases" not in entry and "concepts" not in entry:
            raise where.error(entry.line, "missing 'phrases' (or 'concepts')")
        types, industries = _parse_applies(where, entry["applies_to"], where.key_line(entry, "applies_to"))
        phrases = (_parse_phrases(where, entry["phrases"], where.key_line(entry, "phrases"))
                   if "phrases" in entry else ())
        concepts = (_parse_concepts(where, entry["concepts"], where.key_line(entry, "concepts"))
                    if "concepts" in entry else ())
        sets.append(PhraseSet(types, industries, phrases, concepts))
    return tuple(sets)


def _parse_position(where: Where, value, line: int) -> Position:
    pos = where.mapping(value, line, "'position'", POSITION_KEYS)
    if not pos:
        raise where.error(line, "'position' needs within_first_s and/or within_first_turns")
    return Position(
        within_first_s=float(where.number(pos, "within_first_s", low=0)) if "within_first_s" in pos else None,
        within_first_turns=(int(where.number(pos, "within_first_turns", low=0, integer=True))
                            if "within_first_turns" in pos else None),
    )


def _parse_capture(where: Where, value, line: int) -> dict[str, re.Pattern]:
    if not isinstance(value, YamlMap) or not value:
        raise where.error(line, "'capture' must map field names to regular expressions")
    captures = {}
    for name, pattern in value.items():
        key_line = where.key_line(value, name)
        if not isinstance(name, str) or not RULE_ID.match(name):
            raise where.error(key_line, f"capture field name {name!r} must be lower_snake_case")
        if not isinstance(pattern, str):
            raise where.error(key_line, f"capture '{name}' must be a regular expression (text)")
        try:
            compiled = re.compile(pattern)
        except re.error as exc:
            raise where.error(key_line, f"capture '{name}': invalid regular expression: {exc}") from None
        if compiled.groups != 1:
            raise where.error(key_line, f"capture '{name}' must have exactly one (...) group "
                                        f"around the value, found {compiled.groups}")
        captures[name] = compiled
    return captures


def _parse_delivery(where: Where, value, line: int) -> dict[str, float]:
    delivery = where.mapping(value, line, "'delivery'", DELIVERY_KEYS)
    result = {}
    for key in delivery:
        low = 0 if key == "max_rate_cps" else None
        result[key] = float(where.number(delivery, key, low=low))
    return result


def _parse_rule(path: Path, raw, line: int, defaults: dict) -> Rule:
    rule_id = raw.get("id") if isinstance(raw, YamlMap) else None
    where = Where(path, rule_id if isinstance(rule_id, str) else None)
    raw = where.mapping(raw, line, "a rule", RULE_KEYS)
    for key in ("id", "label", "required"):
        if key not in raw:
            raise where.error(raw.line, f"missing '{key}'")
    if not isinstance(rule_id, str) or not RULE_ID.match(rule_id):
        raise where.error(where.key_line(raw, "id"), f"'id' must be lower_snake_case text, got {rule_id!r}")
    if not isinstance(raw["label"], str) or not raw["label"].strip():
        raise where.error(where.key_line(raw, "label"), "'label' must be non-empty text")
    if not isinstance(raw["required"], bool):
        raise where.error(where.key_line(raw, "required"), f"'required' must be true or false, got {raw['required']!r}")
    if "phrases" not in raw and "concepts" not in raw and "phrase_sets" not in raw:
        raise where.error(raw.line, "missing 'phrases' (or 'phrase_sets')")
    return Rule(
        id=rule_id,
        label=raw["label"].strip(),
        required=raw["required"],
        phrase_sets=_parse_phrase_sets(where, raw),
        min_score=float(where.number(raw, "min_score", low=0, high=100)) if "min_score" in raw
        else defaults["min_score"],
        max_gap_chars=defaults["max_gap_chars"],
        position=_parse_position(where, raw["position"], where.key_line(raw, "position"))
        if "position" in raw else None,
        capture=_parse_capture(where, raw["capture"], where.key_line(raw, "capture")) if "capture" in raw else {},
        delivery=_parse_delivery(where, raw["delivery"], where.key_line(raw, "delivery"))
        if "delivery" in raw else {},
        description=str(raw.get("description") or "").strip(),
        source=f"{path}:{raw.line}",
        speaker=_parse_speaker(where, raw),
    )


def _parse_speaker(where: Where, raw: YamlMap) -> str:
    """Who must say the statement: given, else the agent for a required one (any for an optional one)."""
    if "speaker" not in raw:
        return "agent" if raw["required"] else "any"
    if raw["speaker"] not in SPEAKERS:
        raise where.error(where.key_line(raw, "speaker"),
                          f"'speaker' {raw['speaker']!r} is not one of {', '.join(SPEAKERS)}")
    return raw["speaker"]


def _parse_conversation(path: Path, raw, line: int) -> ConversationLimits:
    where = Where(path)
    raw = where.mapping(raw, line, "'conversation'", CONVERSATION_KEYS)
    return ConversationLimits(**{key: float(where.number(raw, key, low=0)) for key in raw})


def _parse_defaults(path: Path, raw, line: int) -> dict:
    where = Where(path)
    raw = where.mapping(raw, line, "'defaults'", DEFAULT_KEYS)
    result = {"min_score": DEFAULT_MIN_SCORE, "max_gap_chars": DEFAULT_MAX_GAP_CHARS}
    if "min_score" in raw:
        result["min_score"] = float(where.number(raw, "min_score", low=0, high=100))
    if "max_gap_chars" in raw:
        result["max_gap_chars"] = int(where.number(raw, "max_gap_chars", low=0, high=40, integer=True))
    return result


def _parse_keyword_lists(where: Where, raw: YamlMap, key: str, allowed: tuple[str, ...]) -> dict:
    lists = raw.get(key)
    line = where.key_line(raw, key)
    if not isinstance(lists, YamlMap) or not lists:
        raise where.error(line, f"'{key}' must map each name to a list of keywords")
    result = {}
    for name, words in lists.items():
        name_line = where.key_line(lists, name)
        if name not in allowed:
            raise where.error(name_line, f"'{name}' in '{key}' is not one of {', '.join(allowed)}")
        result[name] = where.strings(words, name_line, f"keywords of '{name}'")
    return result


def _parse_classification(path: Path, raw, line: int) -> Classification:
    where = Where(path)
    raw = where.mapping(raw, line, "'classification'", CLASS_KEYS)
    counts = {key: int(where.number(raw, key, low=0, integer=True))
              for key in ("min_keywords", "confident_keywords", "confident_margin") if key in raw}
    defaults = {}
    for key, allowed in (("default_type", CALL_TYPES), ("default_industry", INDUSTRIES)):
        value = raw.get(key, "unknown")
        if value not in allowed:
            raise where.error(where.key_line(raw, key), f"'{key}' {value!r} is not one of {', '.join(allowed)}")
        defaults[key] = value
    return Classification(
        types=_parse_keyword_lists(where, raw, "types", CALL_TYPES),
        industries=_parse_keyword_lists(where, raw, "industries", INDUSTRIES),
        **counts, **defaults,
    )


def _load_file(path: Path) -> tuple[dict | None, list[tuple], tuple | None, tuple | None]:
    """One file's (defaults, raw rule entries with lines, classification entry, conversation entry)."""
    data = read_yaml(path)
    if data is None:
        return None, [], None, None
    where = Where(path)
    data = where.mapping(data, 1, "the file", TOP_KEYS)
    defaults = _parse_defaults(path, data["defaults"], data.key_lines["defaults"]) if "defaults" in data else None
    rules = []
    if "rules" in data:
        line = data.key_lines["rules"]
        if not isinstance(data["rules"], YamlSeq):
            raise where.error(line, "'rules' must be a list of rules")
        rules = list(zip(data["rules"], data["rules"].item_lines))
    classification = None
    if "classification" in data:
        classification = (data["classification"], data.key_lines["classification"])
    conversation = (data["conversation"], data.key_lines["conversation"]) if "conversation" in data else None
    return defaults, rules, classification, conversation


def catalog_files(directory: str | Path) -> list[Path]:
    """The phrase files of a folder (`*.yaml` and `*.yml`) in name order: the one list both
    loading and the catalog checksum use, so nothing counts that is not loaded; settings
    files of other commands (NOT_CATALOG) are left out."""
    folder = Path(directory)
    return sorted((p for p in [*folder.glob("*.yaml"), *folder.glob("*.yml")] if p.name not in NOT_CATALOG),
                  key=lambda p: p.name)


def catalog_sha256(directory: str | Path) -> str:
    """sha256 over the catalog files' names and bytes, and the speaker cues': which catalog a record was
    checked against (a changed cue changes mono roles, so cached checks must be redone)."""
    digest = hashlib.sha256()
    for path in [*catalog_files(directory), roles.cues_path(directory)]:
        digest.update(path.name.encode("utf-8") + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def load_catalog(directory: str | Path) -> Catalog:
    """Load and validate every `*.yaml` / `*.yml` file of a folder into one Catalog.

    `defaults`, `classification` and `conversation` may each appear in one file only; rule ids
    must be unique across all files. Files are read in name order so messages
    and rule order are stable.
    """
    folder = Path(directory)
    paths = catalog_files(folder)
    if not paths:
        raise CatalogError(f"{folder}: no *.yaml or *.yml phrase files found")
    loaded = [(path, *_load_file(path)) for path in paths]
    defaults = {"min_score": DEFAULT_MIN_SCORE, "max_gap_chars": DEFAULT_MAX_GAP_CHARS}
    classification = Classification()
    conversation = ConversationLimits()
    seen_once: dict[str, str] = {}
    for path, file_defaults, _, class_entry, conversation_entry in loaded:
        for key, present in (("defaults", file_defaults), ("classification", class_entry),
                             ("conversation", conversation_entry)):
            if present is not None:
                if key in seen_once:
                    raise CatalogError(f"{path}:1: '{key}' is already defined in {seen_once[key]}")
                seen_once[key] = str(path)
        if file_defaults is not None:
            defaults = file_defaults
        if class_entry is not None:
            classification = _parse_classification(path, *class_entry)
        if conversation_entry is not None:
            conversation = _parse_conversation(path, *conversation_entry)
    rules: list[Rule] = []
    for path, _, rule_entries, _, _ in loaded:
        for raw, line in rule_entries:
            rule = _parse_rule(path, raw, line, defaults)
            first = next((r for r in rules if r.id == rule.id), None)
            if first is not None:
                raise CatalogError(f"{path}:{line}: rule '{rule.id}': duplicate id (first defined at {first.source})")
            rules.append(rule)
    if not rules:
        raise CatalogError(f"{folder}: the catalog defines no rules")
    return Catalog(tuple(rules), classification, conversation)
