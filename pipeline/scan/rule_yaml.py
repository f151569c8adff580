"""One rule entry of a phrase file into a `rules.Rule`, every mistake a `file:line` error.

The catalog is edited by compliance officers, not programmers, so every mistake is
reported as `file:line: rule 'id': what is wrong` (a CatalogError) instead of surfacing
later as a silent non-match. Validates and builds; it never reads files (that is
`phrase_catalog`) and never matches text.
"""

from __future__ import annotations

import re
from pathlib import Path

from pipeline.core.meta import CALL_TYPES, INDUSTRIES
from pipeline.core.settings import Where, YamlMap, YamlSeq
from pipeline.scan.rules import ANY, GAP_MARKERS, Concept, PhraseSet, Position, Rule

MIN_PHRASE_CHARS = 4                # shorter phrases cannot be fuzzily matched without false hits
MIN_KEYWORD_CHARS = 2               # a concept keyword of one character matches almost any sentence
MIN_CONCEPT_GROUPS = 2              # one keyword group alone is a topic, not a statement
MAX_CONCEPT_SPAN = 200              # characters; a statement is a sentence or two, not a conversation
RULE_ID = re.compile(r"^[a-z][a-z0-9_]*$")

RULE_KEYS = {"id", "label", "description", "required", "phrases", "concepts", "applies_to", "phrase_sets",
             "position", "capture", "delivery", "min_score", "speaker"}
SPEAKERS = ("agent", "customer", "any")
SET_KEYS = {"applies_to", "phrases", "concepts"}
CONCEPT_KEYS = {"name", "groups", "within_chars", "ordered"}
APPLIES_KEYS = {"types", "industries"}
POSITION_KEYS = {"within_first_s", "within_first_turns"}
DELIVERY_KEYS = {"max_rate_cps", "min_relative_level_db", "min_snr_db"}


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


def parse_rule(path: Path, raw, line: int, defaults: dict) -> Rule:
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

