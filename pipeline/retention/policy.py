"""The retention policy, `phrases/retention.yaml`: how long each kind of recording is kept, and legal holds.

Compliance officers edit the file by hand, so every mistake is a CatalogError
naming file:line (pipeline.core.settings). Nothing here looks at recordings; the
plan (pipeline.retention.plan) applies the policy.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

from pipeline.core.settings import Where, YamlMap, YamlSeq, read_yaml
from pipeline.package.inputs import normalise_number, parse_date

DEFAULT_POLICY = Path(__file__).resolve().parents[2] / "phrases" / "retention.yaml"
TOP_KEYS = {"default", "types", "legal_holds"}
RULE_KEYS = {"keep", "from"}
STARTS = ("call", "complaint_closed")
HOLD_KEYS = {"call_id", "file", "number", "reason", "until"}
_PERIOD = re.compile(r"^\s*(\d+)\s*([yd])\s*$")


@dataclass(frozen=True)
class Rule:
    """How long one kind of recording is kept: `years` and `days` after the day `start` names."""

    years: int = 1
    days: int = 0
    start: str = "call"          # call / complaint_closed

    def text(self) -> str:
        period = f"{self.years}y" if self.years else f"{self.days}d"
        return f"{period} after {'the call' if self.start == 'call' else 'the complaint is closed'}"


@dataclass(frozen=True)
class Hold:
    """A legal hold: recordings it matches are never destroyed before `until` (None: until it is removed)."""

    reason: str
    call_id: str | None = None
    file: str | None = None      # glob over the archive-relative path
    number: str | None = None    # normalised caller or callee
    until: date | None = None
    line: int = 0


@dataclass(frozen=True)
class RetentionPolicy:
    """Everything `phrases/retention.yaml` sets; the defaults are the shipped file's."""

    default: Rule = Rule()
    types: dict[str, Rule] = field(default_factory=dict)
    holds: tuple[Hold, ...] = ()
    path: str = ""

    def rule(self, call_type: str | None) -> Rule:
        return self.types.get(call_type or "", self.default)


def _rule(where: Where, raw, line: int, what: str) -> Rule:
    entry = where.mapping(raw, line, what, RULE_KEYS)
    if "keep" not in entry:
        raise where.error(line, f"{what} needs 'keep' (e.g. 1y or 400d)")
    keep, keep_line = entry["keep"], where.key_line(entry, "keep")
    match = _PERIOD.match(keep) if isinstance(keep, str) else None
    if match is None:
        raise where.error(keep_line, f"'keep' must be a period such as 1y or 400d, got {keep!r}")
    count = int(match[1])
    if count == 0:
        raise where.error(keep_line, "'keep' must be longer than 0")
    start = entry.get("from", "call")
    if start not in STARTS:
        raise where.error(where.key_line(entry, "from"), f"'from' must be one of {', '.join(STARTS)}, got {start!r}")
    return Rule(years=count, days=0, start=start) if match[2] == "y" else Rule(years=0, days=count, start=start)


def _hold(where: Where, raw, line: int) -> Hold:
    entry = where.mapping(raw, line, "a legal hold", HOLD_KEYS)
    names = [k for k in ("call_id", "file", "number") if k in entry]
    if len(names) != 1:
        raise where.error(line, "a legal hold names exactly one of call_id, file, number")
    if not isinstance(entry.get("reason"), str) or not entry["reason"].strip():
        raise where.error(line, "a legal hold needs a 'reason' (text)")
    value = entry[names[0]]
    if not isinstance(value, (str, int)) or not str(value).strip():
        raise where.error(where.key_line(entry, names[0]), f"'{names[0]}' must be text")
    until = None
    if "until" in entry:
        until = entry["until"] if isinstance(entry["until"], date) else parse_date(str(entry["until"]))
        if until is None:
            raise where.error(where.key_line(entry, "until"), f"'until' must be a date (2027-06-30), "
                                                              f"got {entry['until']!r}")
    value = str(value).strip()
    return Hold(reason=entry["reason"].strip(), until=until, line=line,
                **{names[0]: normalise_number(value) if names[0] == "number" else value})


def load_policy(path: str | Path = DEFAULT_POLICY) -> RetentionPolicy:
    """Read and validate the policy; a mistake raises CatalogError naming file:line."""
    path = Path(path)
    where = Where(path)
    raw = where.mapping(read_yaml(path), 1, "the file", TOP_KEYS)
    if "default" not in raw:
        raise where.error(1, "missing 'default' (the period of every call type not listed under 'types')")
    default = _rule(where, raw["default"], where.key_line(raw, "default"), "'default'")
    types = {}
    if raw.get("types") is not None:
        listed = where.mapping(raw["types"], where.key_line(raw, "types"), "'types'",
                               {str(k) for k in raw["types"]} if isinstance(raw["types"], YamlMap) else set())
        types = {str(name): _rule(where, value, where.key_line(listed, name), f"type '{name}'")
                 for name, value in listed.items()}
    holds: list[Hold] = []
    if raw.get("legal_holds") is not None:
        items = raw["legal_holds"]
        if not isinstance(items, YamlSeq):
            raise where.error(where.key_line(raw, "legal_holds"), "'legal_holds' must be a list")
        holds = [_hold(where, item, line) for item, line in zip(items, items.item_lines)]
    return RetentionPolicy(default, types, tuple(holds), str(path))
