"""Link scanned recordings to their call-detail rows, and flag what does not fit.

A recording belongs to a CDR row by, in this order: the row's call id equal to
the recording's call_id (the scan's `--meta` call_id); the row's recording
column naming the file (path relative to the archive root, or basename); or
the caller, callee and start time written in the file name
(`link.filename_pattern`) equal to the row's, the start within
`link.start_tolerance_s` (the nearest row wins). A row links one recording.

Flags: `unlinked` (a recording no row claims), `no_recording` (a connected call
without a recording), `duration_mismatch` (the recording shorter than the CDR
talk time by more than `shorter_tolerance_s`, or longer by more than
`longer_tolerance_s`). A shorter recording has been cut or truncated, so the
mismatch is also splice evidence (pipeline.package.complaints uses it).
Plain data in and out: it reads no file and writes none.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from functools import cached_property
from pathlib import PurePosixPath

from pipeline.core.schema_package import Link, PackageFlag, RowRef
from pipeline.package.config import PackageConfig
from pipeline.package.inputs import normalise_number

# The regulator's categories of the package, in its order (pipeline.package writes a folder for each).
BASE, CONSENT, COMPLAINTS = "基础通话记录", "合规性标识记录", "投诉处理通话记录"
SENSITIVE, DATASEC, ABNORMAL = "敏感业务专项记录", "数据安全存储记录", "异常通话监控记录"


@dataclass
class Linked:
    """The outcome of linking: links by call_id, the flags, and the CDR rows by (file, row)."""

    links: dict[str, Link] = field(default_factory=dict)          # call_id -> link
    flags: list[PackageFlag] = field(default_factory=list)
    rows: dict[tuple[str, int], dict] = field(default_factory=dict)

    def row_of(self, call_id: str) -> dict | None:
        link = self.links.get(call_id)
        return self.rows[(link["cdr"]["file"], link["cdr"]["row"])] if link else None

    def call_of(self, row: dict) -> str | None:
        """The recording linked to a CDR row (the inverse of row_of); asked once linking is done."""
        return self._call_by_row.get((row["file"], row["row"]))

    @cached_property
    def _call_by_row(self) -> dict[tuple[str, int], str]:
        return {(link["cdr"]["file"], link["cdr"]["row"]): call_id for call_id, link in self.links.items()}


def ref(row: dict) -> RowRef:
    return {"file": str(row["file"]), "row": int(row["row"])}


def flag(check: str, categories: list[str], message: str, subject: str = "", call_id: str | None = None,
         cdr: RowRef | None = None, row: RowRef | None = None, candidate: str | None = None) -> PackageFlag:
    """A package flag; every check module builds its flags with this."""
    return {"check": check, "categories": categories, "call_id": call_id, "cdr": cdr, "row": row,
            "subject": subject, "message": message, "candidate": candidate}


def file_name_keys(name: str, config: PackageConfig) -> tuple[str, str, datetime] | None:
    """(caller, callee, start) written in a recording's file name, or None."""
    match = config.filename_pattern.search(PurePosixPath(name).stem)
    if not match:
        return None
    digits = "".join(c for c in match["start"] if c.isdigit())
    try:
        start = datetime.strptime(digits, "%Y%m%d%H%M%S")
    except ValueError:
        return None
    return normalise_number(match["caller"]), normalise_number(match["callee"]), start


def _by_numbers(record: dict, rows: list[dict], taken: set, config: PackageConfig) -> tuple[dict, float] | None:
    keys = file_name_keys(record["file"], config)
    if not keys:
        return None
    caller, callee, start = keys
    near = [(abs((start - r["start"]).total_seconds()), r) for r in rows
            if r["caller"] == caller and r["callee"] == callee and (r["file"], r["row"]) not in taken]
    near = [(gap, r) for gap, r in near if gap <= config.start_tolerance_s]
    if not near:
        return None
    gap, row = min(near, key=lambda item: (item[0], item[1]["file"], item[1]["row"]))
    return row, round((start - row["start"]).total_seconds(), 1)


def link_recordings(records: list[dict], rows: list[dict], config: PackageConfig) -> Linked:
    """Link every recording to at most one accepted CDR row (see the module docstring) and flag the rest."""
    linked = Linked(rows={(r["file"], r["row"]): r for r in rows})
    by_id = {str(r["call_id"]): r for r in rows if r.get("call_id")}
    by_file = {}
    for r in rows:
        if r.get("recording"):
            path = PurePosixPath(str(r["recording"]).replace("\\", "/"))
            by_file.setdefault(path.as_posix(), r)
            by_file.setdefault(path.name, r)
    taken: set[tuple[str, int]] = set()
    for record in sorted(records, key=lambda r: r["file"]):
        call_id, name = record["call_id"], record["file"]
        found, method, offset = by_id.get(call_id), "call_id", None
        if found is None:
            found, method = by_file.get(name) or by_file.get(PurePosixPath(name).name), "file"
        if found is None:
            hit = _by_numbers(record, rows, taken, config)
            found, method, offset = (hit[0], "numbers_time", hit[1]) if hit else (None, None, None)
        if found is None or (found["file"], found["row"]) in taken:
            why = ("its call-detail row is already linked to another recording" if found is not None else
                   "no call-detail row has its call id or file name, or its caller, callee and start time")
            linked.flags.append(flag("unlinked", [BASE], f"recording {name}: {why}", name, call_id=call_id,
                                     cdr=ref(found) if found is not None else None))
            continue
        taken.add((found["file"], found["row"]))
        linked.links[call_id] = {"call_id": call_id, "file": name, "cdr": ref(found), "method": method,
                                 "offset_s": offset}
        mismatch = duration_mismatch(record, found, config)
        if mismatch:
            mismatch = f"{found['file']} row {found['row']}, recording {name}: {mismatch}"
            linked.flags.append(flag("duration_mismatch", [BASE, ABNORMAL], mismatch, name, call_id=call_id,
                                     cdr=ref(found)))
    for row in rows:
        if row["connected"] and (row["file"], row["row"]) not in taken:
            linked.flags.append(flag("no_recording", [BASE], no_recording_message(row), str(row["callee"]),
                                     cdr=ref(row)))
    return linked


def no_recording_message(row: dict) -> str:
    """A connected row without a recording: its file and row, the call, and the recording file it points to."""
    points = (f"; the row points to recording file {row['recording']}, which is not in the scan"
              if row.get("recording") else "; the row names no recording file")
    return (f"{row['file']} row {row['row']}: connected call {row['start']:%Y-%m-%d %H:%M:%S} {row['caller']} -> "
            f"{row['callee']} ({row['duration']} s) has no recording{points}")


def duration_mismatch(record: dict, row: dict, config: PackageConfig) -> str | None:
    """Why the recording's length does not fit the CDR talk time, or None."""
    length = (record.get("recording") or {}).get("duration_s")
    if length is None or row.get("duration") is None:
        return None
    gap = float(length) - float(row["duration"])
    if gap < -config.shorter_tolerance_s:
        return (f"recording {length:.1f} s, CDR talk time {row['duration']} s: {-gap:.1f} s missing "
                f"(cut or truncated)")
    if gap > config.longer_tolerance_s:
        return f"recording {length:.1f} s, CDR talk time {row['duration']} s: {gap:.1f} s longer than the call"
    return None
