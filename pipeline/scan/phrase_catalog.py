"""Phrase catalog: load and validate the compliance rules in `phrases/*.yaml`.

Files are read in name order; `defaults`, `classification` and `conversation` are
parsed here, each rule entry by `rule_yaml`, with `file:line` errors (CatalogError).
See `phrases/rules.yaml` for the documented schema. `catalog_sha256` says which
catalog a record was checked against. Loads only: no matching, no other command's
settings (records.yaml and package.yaml are left out).
"""

from __future__ import annotations

import hashlib
from pathlib import Path

from pipeline.core.meta import CALL_TYPES, INDUSTRIES
from pipeline.core.settings import CatalogError, Where, YamlMap, YamlSeq, read_yaml
from pipeline.scan import roles
from pipeline.scan.rule_yaml import parse_rule
from pipeline.scan.rules import Catalog, Classification, ConversationLimits, Rule

DEFAULT_MIN_SCORE = 72.0
DEFAULT_MAX_GAP_CHARS = 8
# other settings kept in phrases/ (records, package, retention, and the speaker cues of pipeline.scan.roles)
NOT_CATALOG = ("records.yaml", "package.yaml", "retention.yaml", "speaker_cues.yaml")

TOP_KEYS = {"defaults", "rules", "classification", "conversation"}
DEFAULT_KEYS = {"min_score", "max_gap_chars"}
CONVERSATION_KEYS = {"silence_over_s"}
CLASS_KEYS = {"types", "industries", "min_keywords", "default_type", "default_industry", "confident_keywords",
              "confident_margin"}


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
            rule = parse_rule(path, raw, line, defaults)
            first = next((r for r in rules if r.id == rule.id), None)
            if first is not None:
                raise CatalogError(f"{path}:{line}: rule '{rule.id}': duplicate id (first defined at {first.source})")
            rules.append(rule)
    if not rules:
        raise CatalogError(f"{folder}: the catalog defines no rules")
    return Catalog(tuple(rules), classification, conversation)
