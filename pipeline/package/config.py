"""Settings of `callaudit package`: `phrases/package.yaml`, validated with file and line.

The thresholds and tolerances of linking, consent, complaint and qualification
checks are edited by compliance officers, so every mistake is a CatalogError
naming file:line (the loader of the phrase catalog). The shipped file documents
each value and why it is what it is.
It reads settings only: no check runs here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.settings import Where, YamlMap, read_yaml

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "phrases" / "package.yaml"
TOP_KEYS = {"link", "consent", "complaints", "qualifications", "sensitive", "columns"}
LINK_GROUPS = {"caller", "callee", "start"}
# The columns of each side input; True: the file is unusable without it.
INPUT_FIELDS = {
    "consent": {"number": True, "consented_at": True, "withdrawn_at": False},
    "complaints": {"call_id": False, "caller": False, "received_at": False, "agent": False, "category": False,
                   "plan": False, "result": False, "satisfaction": False, "resolved_at": False},
    "agents": {"agent": True, "name": False, "certificate_no": True, "certificate_type": False,
               "valid_from": False, "valid_to": False},
}


@dataclass(frozen=True)
class Promise:
    """A promise heard in a complaint call: its pattern and the deadline it sets."""

    pattern: re.Pattern
    hours: float | None = None        # a fixed limit from the call's start
    unit_hours: float | None = None   # the captured number times this
    end_of_day: int | None = None     # by the end of the N-th day after the call


@dataclass(frozen=True)
class PackageConfig:
    """Everything `phrases/package.yaml` sets; defaults are the shipped file's values."""

    filename_pattern: re.Pattern = re.compile(r"(?P<start>\d{8}[_\- T]?\d{6})[_\-](?P<caller>\+?\d{5,})[_\-]"
                                              r"(?P<callee>\+?\d{5,})")
    start_tolerance_s: float = 120.0
    shorter_tolerance_s: float = 3.0
    longer_tolerance_s: float = 30.0
    marketing_call_types: tuple[str, ...] = ("营销外呼",)
    candidate_max_edits: int = 2
    complaint_call_types: tuple[str, ...] = ("投诉建议呼入",)
    receive_tolerance_min: float = 30.0
    recurring_min_per_month: int = 5
    recurring_months: int = 3
    promises: tuple[Promise, ...] = ()
    certificate_max_edits: int = 2
    certificate_types: dict[str, tuple[str, ...]] = field(default_factory=dict)
    sensitive_industries: tuple[str, ...] = ("finance", "medical")
    clip_padding_s: float = 0.5
    columns: dict[str, dict[str, tuple[str, ...]]] = field(default_factory=dict)   # input -> field -> headers


def _pattern(where: Where, mapping: YamlMap, key: str, groups: set[str] | None = None) -> re.Pattern:
    value = mapping[key]
    line = where.key_line(mapping, key)
    if not isinstance(value, str) or not value.strip():
        raise where.error(line, f"'{key}' must be a regular expression (text)")
    try:
        compiled = re.compile(value)
    except re.error as exc:
        raise where.error(line, f"'{key}' {value!r}: {exc}") from None
    if groups and not groups <= set(compiled.groupindex):
        raise where.error(line, f"'{key}' needs the named groups {', '.join(sorted(groups))}")
    return compiled


def _strings(where: Where, mapping: YamlMap, key: str) -> tuple[str, ...]:
    """A list of names under `key`, its mistakes reported at the key's line."""
    return where.strings(mapping[key], where.key_line(mapping, key), f"'{key}'")


def _parse_link(where: Where, link: YamlMap) -> dict:
    values = {key: float(where.number(link, key, low=0)) for key in
              ("start_tolerance_s", "shorter_tolerance_s", "longer_tolerance_s") if key in link}
    if "filename_pattern" in link:
        values["filename_pattern"] = _pattern(where, link, "filename_pattern", LINK_GROUPS)
    return values


def _parse_promises(where: Where, raw: YamlMap) -> tuple[Promise, ...]:
    items = raw["promises"]
    if not isinstance(items, list) or not items:
        raise where.error(where.key_line(raw, "promises"), "'promises' must be a non-empty list")
    promises = []
    for item, line in zip(items, items.item_lines):
        entry = where.mapping(item, line, "a promise", {"pattern", "hours", "unit_hours", "end_of_day"})
        if "pattern" not in entry:
            raise where.error(line, "a promise needs a 'pattern'")
        deadlines = [k for k in ("hours", "unit_hours", "end_of_day") if k in entry]
        if len(deadlines) != 1:
            raise where.error(line, "a promise needs exactly one of hours, unit_hours, end_of_day")
        pattern = _pattern(where, entry, "pattern")
        if "unit_hours" in entry and pattern.groups < 1:
            raise where.error(line, "a promise with unit_hours needs a group capturing the number")
        if "end_of_day" in entry:
            days = entry["end_of_day"]
            if isinstance(days, bool) or not isinstance(days, int) or days < 0:
                raise where.error(where.key_line(entry, "end_of_day"), f"'end_of_day' must be 0 or more days, "
                                                                          f"got {days!r}")
            promises.append(Promise(pattern, end_of_day=days))
        else:
            promises.append(Promise(pattern, **{deadlines[0]: float(where.number(entry, deadlines[0], low=0))}))
    return tuple(promises)


def _parse_complaints(where: Where, c: YamlMap) -> dict:
    values: dict = {}
    if "complaint_call_types" in c:
        values["complaint_call_types"] = _strings(where, c, "complaint_call_types")
    if "receive_tolerance_min" in c:
        values["receive_tolerance_min"] = float(where.number(c, "receive_tolerance_min", low=0))
    if "recurring" in c:
        rec = where.mapping(c["recurring"], where.key_line(c, "recurring"), "'recurring'", {"min_per_month",
                                                                                           "months"})
        if "min_per_month" in rec:
            values["recurring_min_per_month"] = int(where.number(rec, "min_per_month", low=0, integer=True))
        if "months" in rec:
            values["recurring_months"] = int(where.number(rec, "months", low=0, integer=True))
    if "promises" in c:
        values["promises"] = _parse_promises(where, c)
    return values


def _parse_qualifications(where: Where, q: YamlMap) -> dict:
    values: dict = {}
    if "max_edits" in q:
        values["certificate_max_edits"] = int(where.number(q, "max_edits", low=-1, integer=True))
    if "types" in q:
        types = q["types"]
        if not isinstance(types, YamlMap) or not types:
            raise where.error(where.key_line(q, "types"), "'types' must map each industry to its certificate types")
        values["certificate_types"] = {str(industry): where.strings(names, where.key_line(types, industry),
                                                                    f"certificate types of '{industry}'")
                                       for industry, names in types.items()}
    return values


def _parse_columns(where: Where, columns: YamlMap, line: int) -> dict[str, dict[str, tuple[str, ...]]]:
    parsed = {}
    for name, fields in INPUT_FIELDS.items():
        if name not in columns:
            raise where.error(line, f"'columns' needs the headers of the {name} file")
        given = where.mapping(columns[name], where.key_line(columns, name), f"columns of '{name}'", set(fields))
        for key, required in fields.items():
            if required and key not in given:
                raise where.error(where.key_line(columns, name), f"columns of '{name}' need '{key}'")
        parsed[name] = {key: where.strings(given[key], where.key_line(given, key), f"headers of '{name}.{key}'")
                        for key in given}
    return parsed


def _parse_consent(where: Where, consent: YamlMap) -> dict:
    values: dict = {}
    if "marketing_call_types" in consent:
        values["marketing_call_types"] = _strings(where, consent, "marketing_call_types")
    if "candidate_max_edits" in consent:
        values["candidate_max_edits"] = int(where.number(consent, "candidate_max_edits", low=-1, integer=True))
    return values


def _parse_sensitive(where: Where, sensitive: YamlMap) -> dict:
    values: dict = {}
    if "industries" in sensitive:
        values["sensitive_industries"] = _strings(where, sensitive, "industries")
    if "clip_padding_s" in sensitive:
        values["clip_padding_s"] = float(where.number(sensitive, "clip_padding_s", low=-1e-9))
    return values


# Each optional section: the keys it allows and its parser (over the section's validated mapping).
SECTIONS = {
    "link": ({"filename_pattern", "start_tolerance_s", "shorter_tolerance_s", "longer_tolerance_s"}, _parse_link),
    "consent": ({"marketing_call_types", "candidate_max_edits"}, _parse_consent),
    "complaints": ({"complaint_call_types", "receive_tolerance_min", "recurring", "promises"}, _parse_complaints),
    "qualifications": ({"max_edits", "types"}, _parse_qualifications),
    "sensitive": ({"industries", "clip_padding_s"}, _parse_sensitive),
}


def load_package_config(path: str | Path = DEFAULT_CONFIG) -> PackageConfig:
    """Read and validate the package settings; a mistake raises CatalogError naming file:line."""
    path = Path(path)
    where = Where(path)
    raw = where.mapping(read_yaml(path), 1, "the file", TOP_KEYS)
    if "columns" not in raw:
        raise where.error(1, "missing 'columns'")
    line = where.key_line(raw, "columns")
    values: dict = {"columns": _parse_columns(where, where.mapping(raw["columns"], line, "'columns'",
                                                                    set(INPUT_FIELDS)), line)}
    for key, (allowed, parse) in SECTIONS.items():
        if raw.get(key):
            values.update(parse(where, where.mapping(raw[key], where.key_line(raw, key), f"'{key}'", allowed)))
    return PackageConfig(**values)
