"""Settings of the call-detail record check: `phrases/records.yaml`, `--columns MAP.yaml`, `--period`.

The YAML is edited by compliance officers, so every mistake is a CatalogError
that names the file and line (the same loader as the phrase catalog). The
documented schema, with the shipped defaults, is `phrases/records.yaml`.
It reads settings only: no check runs here.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pipeline.core.settings import Where, YamlMap, read_yaml

DEFAULT_CONFIG = Path(__file__).resolve().parents[2] / "phrases" / "records.yaml"
REQUIRED_FIELDS = ("caller", "callee", "start_time", "duration", "call_type", "result")
OPTIONAL_FIELDS = ("agent", "line", "call_id", "recording")   # call_id, recording: link recordings (package)
FIELDS = REQUIRED_FIELDS + OPTIONAL_FIELDS
FIELD_LABELS = {"caller": "主叫号码", "callee": "被叫号码", "start_time": "通话起始时间", "duration": "通话时长",
                "call_type": "通话类型", "result": "通话结果", "agent": "坐席", "line": "线路",
                "call_id": "通话编号", "recording": "录音文件"}
DIRECTIONS = ("inbound", "outbound")
TOP_KEYS = {"columns", "call_types", "call_results", "rejected", "service_numbers", "thresholds", "coverage",
            "abnormal", "limits"}
THRESHOLD_KEYS = {"min_connect_rate", "min_average_talk_s", "short_call_s", "max_short_share", "min_calls",
                  "type_share"}
COVERAGE_KEYS = {"low_day_fraction"}
ABNORMAL_KEYS = {"burst_calls", "burst_window_min", "burst_exempt", "night_from", "night_to",
                 "night_exempt_types", "daily_min_calls"}
LIMIT_KEYS = {"max_duration_s", "max_field_chars"}
CLOCK = re.compile(r"^([01]\d|2[0-3]):([0-5]\d)$")


@dataclass(frozen=True)
class Thresholds:
    """Verdicts on the per-month, per-agent and per-line ratios."""

    min_connect_rate: float = 0.30
    min_average_talk_s: float = 15.0
    short_call_s: float = 5.0
    max_short_share: float = 0.30
    min_calls: int = 20
    type_share: dict[str, tuple[float | None, float | None]] = field(default_factory=dict)  # type -> (min, max)


@dataclass(frozen=True)
class Abnormal:
    """Abnormal-calling checks: bursts from one number, night calls, per-day short-call share."""

    burst_calls: int = 50
    burst_window_min: int = 60
    burst_exempt: tuple[str, ...] = ()
    night_from_min: int = 120          # minutes after midnight
    night_to_min: int = 300
    night_exempt_types: tuple[str, ...] = ()
    daily_min_calls: int = 20


@dataclass(frozen=True)
class RecordsConfig:
    """Everything `phrases/records.yaml` sets; defaults are the shipped file's values."""

    columns: dict[str, tuple[str, ...]]
    call_types: dict[str, str]                 # accepted type -> inbound/outbound
    call_results: dict[str, bool]              # accepted result -> counts as connected
    rejected: dict[str, dict[str, str]]        # field -> value -> reason
    service_numbers: tuple[str, ...]
    thresholds: Thresholds = Thresholds()
    low_day_fraction: float = 0.10
    abnormal: Abnormal = Abnormal()
    max_duration_s: int = 14_400
    max_field_chars: int = 200


def header_key(text: str) -> str:
    """How headers are compared: case, spaces, underscores and a bracketed unit do not count."""
    text = re.sub(r"[(（\[【].*?[)）\]】]", "", str(text))
    return re.sub(r"[\s_\-:：]+", "", text).lower()


def _clock_minutes(where: Where, mapping: YamlMap, key: str) -> int:
    value = mapping[key]
    match = CLOCK.match(str(value)) if isinstance(value, str) else None
    if not match:
        raise where.error(where.key_line(mapping, key), f"'{key}' must be a time like \"02:00\", got {value!r}")
    return int(match.group(1)) * 60 + int(match.group(2))


def _text_map(where: Where, raw: YamlMap, key: str, what: str) -> YamlMap:
    """A non-empty free-form mapping (its keys are values of the data, not settings)."""
    value = raw[key]
    if not isinstance(value, YamlMap) or not value:
        raise where.error(where.key_line(raw, key), f"{what} must map each value to its setting")
    return value


def _parse_columns(where: Where, raw: YamlMap) -> dict[str, tuple[str, ...]]:
    columns = where.mapping(raw["columns"], where.key_line(raw, "columns"), "'columns'", set(FIELDS))
    return {name: where.strings(columns[name], where.key_line(columns, name), f"headers of '{name}'")
            for name in columns}


def _parse_types(where: Where, raw: YamlMap) -> dict[str, str]:
    types = _text_map(where, raw, "call_types", "'call_types'")
    for name, direction in types.items():
        if direction not in DIRECTIONS:
            raise where.error(where.key_line(types, name),
                              f"call type '{name}': direction must be inbound or outbound, got {direction!r}")
    return {str(k).strip(): v for k, v in types.items()}


def _parse_results(where: Where, raw: YamlMap) -> dict[str, bool]:
    results = _text_map(where, raw, "call_results", "'call_results'")
    parsed = {}
    for name, value in results.items():
        entry = where.mapping(value, where.key_line(results, name), f"call result '{name}'", {"connected"})
        if not isinstance(entry.get("connected"), bool):
            raise where.error(where.key_line(results, name), f"call result '{name}' needs connected: true or false")
        parsed[str(name).strip()] = entry["connected"]
    return parsed


def _parse_rejected(where: Where, raw: YamlMap, accepted: dict[str, dict]) -> dict[str, dict[str, str]]:
    rejected = where.mapping(raw["rejected"], where.key_line(raw, "rejected"), "'rejected'", set(accepted))
    parsed: dict[str, dict[str, str]] = {}
    for name, values in rejected.items():
        values = _text_map(where, rejected, name, f"rejected '{name}'")
        for value, reason in values.items():
            if str(value).strip() in accepted[name]:
                raise where.error(where.key_line(values, value), f"'{value}' is both accepted and rejected")
            if not isinstance(reason, str) or not reason.strip():
                raise where.error(where.key_line(values, value), f"rejected '{value}' needs a reason (text)")
        parsed[name] = {str(v).strip(): r.strip() for v, r in values.items()}
    return parsed


def _parse_service(where: Where, raw: YamlMap) -> tuple[str, ...]:
    patterns = where.strings(raw["service_numbers"], where.key_line(raw, "service_numbers"), "'service_numbers'")
    for pattern, line in zip(patterns, raw["service_numbers"].item_lines):
        try:
            re.compile(pattern)
        except re.error as exc:
            raise where.error(line, f"service number pattern {pattern!r}: {exc}") from None
    return patterns


def _parse_thresholds(where: Where, raw: YamlMap, types: dict[str, str]) -> Thresholds:
    t = where.mapping(raw, raw.line, "'thresholds'", THRESHOLD_KEYS)
    values = {key: where.number(t, key, low=0, high=1) for key in ("min_connect_rate", "max_short_share") if key in t}
    values.update({key: where.number(t, key, low=0) for key in ("min_average_talk_s", "short_call_s") if key in t})
    if "min_calls" in t:
        values["min_calls"] = where.number(t, "min_calls", low=0, integer=True)
    shares = {}
    if "type_share" in t and t["type_share"]:
        spec = where.mapping(t["type_share"], where.key_line(t, "type_share"), "'type_share'", set(types))
        for name, limits in spec.items():
            limits = where.mapping(limits, where.key_line(spec, name), f"type_share '{name}'", {"min", "max"})
            shares[name] = tuple(float(where.number(limits, k, low=-1e-9, high=1)) if k in limits else None
                                 for k in ("min", "max"))
    return Thresholds(**values, type_share=shares)


def _parse_abnormal(where: Where, raw: YamlMap, types: dict[str, str]) -> Abnormal:
    a = where.mapping(raw, raw.line, "'abnormal'", ABNORMAL_KEYS)
    values = {key: where.number(a, key, low=0, integer=True)
              for key in ("burst_calls", "burst_window_min", "daily_min_calls") if key in a}
    if "night_from" in a:
        values["night_from_min"] = _clock_minutes(where, a, "night_from")
    if "night_to" in a:
        values["night_to_min"] = _clock_minutes(where, a, "night_to")
    for key, allowed in (("burst_exempt", None), ("night_exempt_types", tuple(types))):
        if a.get(key):
            values[key] = where.strings(a[key], where.key_line(a, key), f"'{key}'", allowed)
    return Abnormal(**values)


def load_records_config(path: str | Path = DEFAULT_CONFIG) -> RecordsConfig:
    """Read and validate the CDR check settings; a mistake raises CatalogError naming file:line."""
    path = Path(path)
    raw = read_yaml(path)
    where = Where(path)
    raw = where.mapping(raw, 1, "the file", TOP_KEYS)
    for key in ("columns", "call_types", "call_results", "service_numbers"):
        if key not in raw:
            raise where.error(1, f"missing '{key}'")
    columns = _parse_columns(where, raw)
    for name in REQUIRED_FIELDS:
        if name not in columns:
            raise where.error(where.key_line(raw, "columns"), f"'columns' needs the headers of '{name}'")
    types, results = _parse_types(where, raw), _parse_results(where, raw)
    config = dict(columns=columns, call_types=types, call_results=results,
                  rejected=_parse_rejected(where, raw, {"call_type": types, "result": results})
                  if raw.get("rejected") else {},
                  service_numbers=_parse_service(where, raw))
    if raw.get("thresholds"):
        config["thresholds"] = _parse_thresholds(where, raw["thresholds"], types)
    if raw.get("coverage"):
        cov = where.mapping(raw["coverage"], where.key_line(raw, "coverage"), "'coverage'", COVERAGE_KEYS)
        if "low_day_fraction" in cov:
            config["low_day_fraction"] = float(where.number(cov, "low_day_fraction", low=0, high=1))
    if raw.get("abnormal"):
        config["abnormal"] = _parse_abnormal(where, raw["abnormal"], types)
    if raw.get("limits"):
        limits = where.mapping(raw["limits"], where.key_line(raw, "limits"), "'limits'", LIMIT_KEYS)
        config.update({key: int(where.number(limits, key, low=0, integer=True)) for key in limits})
    return RecordsConfig(**config)


def load_column_map(path: str | Path) -> dict[str, str]:
    """`--columns MAP.yaml`: field -> the header used for it in the exports (wins over the alias table)."""
    path = Path(path)
    where = Where(path)
    raw = where.mapping(read_yaml(path), 1, "the column map", set(FIELDS))
    for name, header in raw.items():
        if not isinstance(header, str) or not header.strip():
            raise where.error(where.key_line(raw, name), f"'{name}' must name a header (text), got {header!r}")
    return {name: header.strip() for name, header in raw.items()}


def parse_period(text: str) -> tuple[date, date]:
    """`2025-01-01:2025-12-31` -> (first day, last day); ValueError with a clear message otherwise."""
    try:
        first, last = (date.fromisoformat(part.strip()) for part in text.split(":"))
    except ValueError:
        raise ValueError(f"--period must be FIRST:LAST as YYYY-MM-DD:YYYY-MM-DD, got {text!r}") from None
    if last < first:
        raise ValueError(f"--period ends before it starts: {text}")
    return first, last
