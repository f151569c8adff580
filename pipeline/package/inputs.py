"""Read the package's side inputs: consent records, complaint-handling records, the agent register.

These are small CSV exports (thousands of rows, not millions), read row by row
with the csv module. The encoding (UTF-8, with or without BOM, GBK, GB18030) is
decided as for call-detail records (pipeline.records_read.detect_encoding);
headers are matched through the aliases of `phrases/package.yaml` the way
records headers are. A row number is the line a spreadsheet shows (the header
is row 1). A value that cannot be read is listed as an InputProblem with file,
row, field and reason and the row is left out of the check; it never stops the
package.
"""

from __future__ import annotations

import csv
import io
import re
from datetime import date, datetime
from pathlib import Path

from pipeline.core.schema_package import InputProblem
from pipeline.package.config import FIELD_LABELS, INPUT_FIELDS, PackageConfig
from pipeline.records.config import header_key
from pipeline.records.header import unknown_header_note
from pipeline.records.read import ReadError, detect_encoding

TIME_FORMATS = ("%Y-%m-%d %H:%M:%S", "%Y-%m-%d %H:%M", "%Y%m%d%H%M%S")
DATE_FORMATS = ("%Y-%m-%d", "%Y%m%d")
_DATE_SEPARATORS = re.compile(r"^(\d{4})[/.年](\d{1,2})[/.月](\d{1,2})日?")


def normalise_number(text: str | None) -> str:
    """Digits of a phone number as the CDR check keeps them: no spaces, dashes, brackets, +86/0086 or ="..."."""
    value = re.sub(r'^=?"(.*)"$', r"\1", (text or "").strip())
    value = re.sub(r"[\s\-()（）]", "", value)
    return re.sub(r"^(?:\+86|0086)", "", value)


def parse_time(text: str | None) -> datetime | None:
    """2025-05-01 14:00:00, 2025/5/1 14:00, 2025年5月1日 14:00:05, 20250501140005; None when it is none of them."""
    value = _DATE_SEPARATORS.sub(lambda m: f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}", (text or "").strip())
    value = value.replace("T", " ").replace("：", ":")
    for fmt in TIME_FORMATS:
        try:
            return datetime.strptime(value, fmt)
        except ValueError:
            continue
    return None


def parse_date(text: str | None) -> date | None:
    """A calendar day (2025-12-31, 2025/12/31, 2025年12月31日, 20251231), or a time's day."""
    value = _DATE_SEPARATORS.sub(lambda m: f"{m[1]}-{int(m[2]):02d}-{int(m[3]):02d}", (text or "").strip())
    for fmt in DATE_FORMATS:
        try:
            return datetime.strptime(value, fmt).date()
        except ValueError:
            continue
    moment = parse_time(text)
    return moment.date() if moment else None


def _decode(path: Path) -> str:
    data = path.read_bytes()
    if not data.strip():
        raise ReadError("empty file")
    return data.decode(detect_encoding(data, whole=True))


def read_input(path: Path, kind: str, config: PackageConfig) -> tuple[list[dict], list[InputProblem]]:
    """Rows of one side input as {field: text or None, "_row": n}; problems for the file as a whole.

    `kind` is consent, complaints or agents. A file that cannot be read, or lacks a
    required column, gives no rows and one problem saying why.
    """
    def whole(reason: str) -> tuple[list[dict], list[InputProblem]]:
        return [], [{"source": kind, "file": path.name, "row": None, "field": None, "value": None, "reason": reason}]

    try:
        text = _decode(path)
    except ReadError as exc:
        return whole(str(exc))
    except OSError as exc:
        return whole(exc.strerror or str(exc))
    lines = list(csv.reader(io.StringIO(text)))
    if not lines:
        return whole("empty file")
    mapping = map_columns(lines[0], config.columns[kind], INPUT_FIELDS[kind])
    note = unknown_header_note(path.name, lines[0], mapping, {n: FIELD_LABELS[n] for n in INPUT_FIELDS[kind]},
                               f"phrases/package.yaml 'columns.{kind}'")
    missing = [n for n, required in INPUT_FIELDS[kind].items() if required and n not in mapping]
    if missing:
        return whole(note or f"no column for {', '.join(missing)} (headers: {' | '.join(lines[0])[:200]})")
    rows, problems = [], whole(note)[1] if note else []
    for number, cells in enumerate(lines[1:], start=2):
        if not any(c.strip() for c in cells):
            continue
        if len(cells) != len(lines[0]):
            problems.append({"source": kind, "file": path.name, "row": number, "field": None, "value": None,
                             "reason": f"{len(cells)} fields where the header has {len(lines[0])}"})
            continue
        row = {name: (cells[i].strip() or None) for name, i in mapping.items()}
        rows.append({**row, "_row": number, "_file": path.name})
    return rows, problems


def map_columns(header: list[str], aliases: dict[str, tuple[str, ...]], fields: dict[str, bool]) -> dict[str, int]:
    """field -> column index through the aliases (compared by header_key); each column serves one field."""
    keys = [header_key(c) for c in header]
    mapping: dict[str, int] = {}
    for name in fields:
        index = next((keys.index(header_key(a)) for a in aliases.get(name, ())
                      if header_key(a) in keys and keys.index(header_key(a)) not in mapping.values()), None)
        if index is not None:
            mapping[name] = index
    return mapping


def row_problem(kind: str, row: dict, field: str, reason: str) -> InputProblem:
    """The problem of one field of a side-input row."""
    return {"source": kind, "file": row["_file"], "row": row["_row"], "field": field, "value": row.get(field),
            "reason": reason}
