"""The retention plan: for every recording of an output folder, whether it may be destroyed today, and why.

A recording is dated by its call-detail row (linked by pipeline.package.link),
else by the start time in its file name (`link.filename_pattern`); one that
cannot be dated is never due. Its call type is its row's call type, else the
type the scan classified; the policy's rule for that type sets the period and
where it starts: the call's day, or the day its complaint was closed. A
complaint recording whose complaint is open (no resolution time, or no handling
record at all) is never due, whatever its type; nor is a recording under a legal
hold. A recording already destroyed (a `destroyed` entry in the ledger) is
reported as such; one whose file is gone without such an entry is `missing`,
evidence unaccounted for.

Plain data in, plain data out: this module reads no file but the recordings'
existence and hashes; it deletes nothing (pipeline.retention.destroy does).
"""

from __future__ import annotations

import fnmatch
import os
from dataclasses import dataclass
from datetime import date, datetime

from pipeline.core.fileio import file_sha256
from pipeline.core.schema_datasec import RetentionItem
from pipeline.package.config import PackageConfig
from pipeline.package.link import Linked, file_name_keys
from pipeline.retention.policy import Hold, RetentionPolicy, Rule


@dataclass(frozen=True)
class Complaint:
    """A recording's complaint: closed on `closed` (None: still open, or no handling record)."""

    closed: date | None
    where: str                     # the handling record (file:row), or why there is none


def add_period(day: date, rule: Rule) -> date:
    """`day` plus the rule's period (29 February plus a year is 28 February)."""
    if rule.years:
        try:
            return day.replace(year=day.year + rule.years)
        except ValueError:
            return day.replace(year=day.year + rule.years, day=28)
    return date.fromordinal(day.toordinal() + rule.days)


def complaints_by_call(complaint_calls: list[dict]) -> dict[str, Complaint]:
    """call_id -> its complaint, from pipeline.package.complaints.check_complaints's calls."""
    out = {}
    for call in complaint_calls:
        if not call["call_id"]:
            continue
        h = call["handling"]
        if h is None:
            out[call["call_id"]] = Complaint(None, "no handling record")
        else:
            resolved = h.get("resolved")
            out[call["call_id"]] = Complaint(resolved.date() if resolved else None, f"{h['_file']}:{h['_row']}")
    return out


def _hold_of(record: dict, row: dict | None, holds: tuple[Hold, ...], today: date) -> Hold | None:
    for hold in holds:
        if hold.until is not None and hold.until < today:
            continue
        numbers = {str(row.get("caller")), str(row.get("callee"))} if row else set()
        if ((hold.call_id and hold.call_id in (record["call_id"], str((row or {}).get("call_id"))))
                or (hold.file and fnmatch.fnmatch(record["file"], hold.file))
                or (hold.number and hold.number in numbers)):
            return hold
    return None


def _call_day(record: dict, row: dict | None, config: PackageConfig) -> date | None:
    if row is not None and isinstance(row.get("start"), datetime):
        return row["start"].date()
    keys = file_name_keys(record["file"], config)
    return keys[2].date() if keys else None


def plan(records: list[dict], sources: dict[str, str], linked: Linked, complaints: dict[str, Complaint] | None,
         policy: RetentionPolicy, config: PackageConfig, today: date,
         destroyed: dict[str, dict]) -> list[RetentionItem]:
    """Every recording's RetentionItem, sorted by file.

    `complaints` is None when no complaint-handling records were given: a recording
    whose rule starts at the complaint's closing is then kept (its closing is unknown).
    `destroyed` maps call_id -> its latest destruction record in the ledger.
    """
    items: list[RetentionItem] = []
    for record in sorted(records, key=lambda r: r["file"]):
        call_id, path = record["call_id"], sources.get(record["call_id"])
        row = linked.row_of(call_id)
        call_type = str(row["call_type"]) if row and row.get("call_type") else (record.get("call") or {}).get("type")
        day = _call_day(record, row, config)
        rule = policy.rule(call_type)
        item: RetentionItem = {"call_id": call_id, "file": record["file"], "path": path, "status": "keep",
                               "reason": "", "call_type": call_type, "call_day": day.isoformat() if day else None,
                               "due_on": None}
        items.append(item)
        present = bool(path) and os.path.isfile(path)
        done = destroyed.get(call_id)
        if done is not None:
            same = present and file_sha256(path) == done["sha256"]
            item["status"] = "interrupted" if same else "destroyed"
            item["reason"] = (f"destruction recorded {done['time']} by {done['operator']} (witness "
                              f"{done['witness']}) but the file is still there: the destroy was interrupted"
                              if same else f"destroyed {done['time']} by {done['operator']}, witness {done['witness']}")
            if present and not same:
                item["status"], item["reason"] = "changed", (f"destroyed {done['time']}, but a file with other "
                                                             "content is now at its path")
            continue
        if not present:
            item["status"], item["reason"] = "missing", "the file is gone and no destruction is recorded"
            continue
        sha = (record.get("recording") or {}).get("sha256")
        hold = _hold_of(record, row, policy.holds, today)
        complaint = (complaints or {}).get(call_id)
        if hold is not None:
            item["status"] = "hold"
            item["reason"] = f"legal hold ({policy.path}:{hold.line}): {hold.reason}" + (
                f", until {hold.until}" if hold.until else "")
        elif complaint is not None and complaint.closed is None:
            item["status"], item["reason"] = "open_complaint", f"complaint not closed ({complaint.where})"
        elif rule.start == "complaint_closed" and complaint is None:
            item["status"] = "open_complaint"
            item["reason"] = ("no complaint-handling records given (--complaints): closing unknown"
                              if complaints is None else "a complaint call without a linked handling record")
        elif day is None:
            item["status"], item["reason"] = "undated", "no call-detail row and no start time in the file name"
        else:
            start = complaint.closed if rule.start == "complaint_closed" and complaint else day
            due = add_period(start, rule)
            item["due_on"] = due.isoformat()
            if due > today:
                item["reason"] = f"kept until {due} ({rule.text()}, type {call_type or '-'})"
            elif not sha or file_sha256(path) != sha:
                item["status"] = "changed"
                item["reason"] = "due, but its content differs from the scan's: scan it again before destroying"
            else:
                item["status"] = "due"
                item["reason"] = f"due since {due} ({rule.text()} {start}, type {call_type or '-'})"
    return items
