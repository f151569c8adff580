"""Complaints: each complaint call, its handling record, the promise it heard, and recurring categories.

A complaint call (CDR type in `complaints.complaint_call_types`, or a linked
recording the scan classified as a complaint) is matched to its handling record
by call id, else by the recording's file name, else by the caller's number and a received time within
`receive_tolerance_min` of the call. Flags: `no_handling_record`;
`handling_fields_missing` (received time, agent, plan, result, satisfaction,
resolution time); `promise_broken` (a promise in the transcript, "24小时内为您核实",
"明天一定送达", sets a deadline from the call's start that the resolution time
passes); `recurring_category` (a category with `min_per_month` complaints or more
in each of `months` consecutive months, counted over every handling record).
The splice verdict of each complaint recording joins the scan's splice flags
and a duration mismatch (a complaint must be recorded whole).
Plain data in and out: it reads no file and writes none.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from pathlib import PurePosixPath

from pipeline.core.schema_package import InputProblem, PackageFlag
from pipeline.package.config import PackageConfig
from pipeline.package.inputs import normalise_number, parse_time, row_problem
from pipeline.package.link import COMPLAINTS, Linked, flag, ref

CATEGORY = COMPLAINTS
REQUIRED = {"received_at": "受理时间", "agent": "受理坐席", "plan": "处理方案", "result": "处理结果",
            "satisfaction": "满意度", "resolved_at": "办结时间"}
TIMES = {"received_at": "received", "resolved_at": "resolved"}   # text field -> parsed key
_DIGITS = dict(zip("零一二两三四五六七八九", (0, 1, 2, 2, 3, 4, 5, 6, 7, 8, 9)))


def chinese_number(text: str) -> int | None:
    """24, 二十四, 四十八, 十, 两, 一百 -> int; None when it is not a number."""
    if text.isdigit():
        return int(text)
    total, digit = 0, None
    for char in text:
        if char in _DIGITS:
            digit = _DIGITS[char]
        elif char in "十百":
            total += (1 if digit is None else digit) * (10 if char == "十" else 100)
            digit = None
        else:
            return None
    return total + (digit or 0)


def load_handling(rows: list[dict]) -> tuple[list[dict], list[InputProblem]]:
    """Handling rows with parsed times (None when absent); an unreadable time is listed and counts as absent."""
    parsed, problems = [], []
    for row in rows:
        times = {}
        for name in TIMES:
            times[name] = parse_time(row.get(name))
            if row.get(name) and times[name] is None:
                problems.append(row_problem("complaints", row, name, "not a date and time (e.g. 2025-05-01 14:00:00)"))
        parsed.append({**row, "caller": normalise_number(row.get("caller")) or None,
                       **{TIMES[name]: value for name, value in times.items()}})
    return parsed, problems


def promises(record: dict | None, start: datetime, config: PackageConfig) -> list[tuple[str, datetime]]:
    """(the words heard, the deadline they set) for each promise in the call's transcript, earliest first."""
    found = []
    for segment in (record or {}).get("segments", []):
        for promise in config.promises:
            for match in promise.pattern.finditer(segment["text"]):
                if promise.end_of_day is not None:
                    deadline = datetime.combine(start.date() + timedelta(days=promise.end_of_day + 1),
                                                datetime.min.time())
                elif promise.unit_hours is not None:
                    count = chinese_number(match.group(1))
                    if count is None:
                        continue
                    deadline = start + timedelta(hours=count * promise.unit_hours)
                else:
                    deadline = start + timedelta(hours=promise.hours)
                found.append((match.group(0), deadline))
    return sorted(found, key=lambda p: p[1])


def _file_name(path: str | None) -> str:
    """A recording's file name as two exports may both write it: no folders, case ignored."""
    return PurePosixPath(str(path or "").replace("\\", "/")).name.lower()


def _handling_of(row: dict, recording: str | None, handling: list[dict], config: PackageConfig) -> dict | None:
    """The call's handling record: by call id, by the recording's file name, else by caller and received time."""
    if row.get("call_id"):
        for h in handling:
            if h.get("call_id") and h["call_id"] == str(row["call_id"]):
                return h
    names = {_file_name(n) for n in (recording, row.get("recording")) if n}
    for h in handling:
        if h.get("recording") and _file_name(h["recording"]) in names:
            return h
    near = [(abs((h["received"] - row["start"]).total_seconds()), h) for h in handling
            if h["caller"] and h["caller"] == str(row["caller"]) and h["received"] is not None]
    near = [(gap, h) for gap, h in near if gap <= config.receive_tolerance_min * 60]
    return min(near, key=lambda item: (item[0], item[1]["_row"]))[1] if near else None


def check_complaints(cdr_rows: list[dict], records_by_id: dict[str, dict], linked: Linked, handling: list[dict],
                     config: PackageConfig) -> tuple[list[dict], list[PackageFlag]]:
    """(per complaint call: row, recording, handling record, promises; the flags, recurring categories included)."""
    calls, flags = [], []
    for row in cdr_rows:
        call_id = linked.call_of(row)
        record = records_by_id.get(call_id)
        inferred = ((record or {}).get("call") or {}).get("type")
        if str(row.get("call_type")) not in config.complaint_call_types and inferred != "complaint":
            continue
        h = _handling_of(row, (linked.links.get(call_id) or {}).get("file"), handling, config)
        heard = promises(record, row["start"], config)
        call = {"cdr": ref(row), "call_id": call_id, "row": row, "handling": h, "promises": heard}
        calls.append(call)
        when = f"complaint call {row['start']:%Y-%m-%d %H:%M:%S} from {row['caller']}"
        if h is None:
            flags.append(flag("no_handling_record", [CATEGORY], f"{when}: no handling record (by call id, recording file "
                              f"name, or the caller within {config.receive_tolerance_min:g} min)", str(row["caller"]),
                              call_id, ref(row)))
            continue
        where = {"file": h["_file"], "row": h["_row"]}
        missing = [label for name, label in REQUIRED.items()
                   if not h.get(name) or (name in TIMES and h[TIMES[name]] is None)]
        if missing:
            flags.append(flag("handling_fields_missing", [CATEGORY], f"{when}: the handling record lacks "
                              f"{'、'.join(missing)}", str(row["caller"]), call_id, ref(row), where))
        if heard and h["resolved"] is not None and h["resolved"] > heard[0][1]:
            words, deadline = heard[0]
            flags.append(flag("promise_broken", [CATEGORY], f"{when}: the agent promised “{words}” (due before "
                              f"{deadline:%Y-%m-%d %H:%M}), resolved {h['resolved']:%Y-%m-%d %H:%M}",
                              words, call_id, ref(row), where))
    return calls, flags + recurring(handling, config)


def recurring(handling: list[dict], config: PackageConfig) -> list[PackageFlag]:
    """A flag per category with `min_per_month`+ complaints in each of `months` consecutive months."""
    counts: dict[str, dict[tuple[int, int], int]] = {}
    for h in handling:
        if h.get("category") and h["received"] is not None:
            month = (h["received"].year, h["received"].month)
            counts.setdefault(h["category"], {}).setdefault(month, 0)
            counts[h["category"]][month] += 1
    flags = []
    for category, months in sorted(counts.items()):
        run: list[tuple[int, int]] = []
        best: list[tuple[int, int]] = []
        for month in sorted(months):
            follows = run and (month[0] * 12 + month[1]) - (run[-1][0] * 12 + run[-1][1]) == 1
            if months[month] >= config.recurring_min_per_month:
                run = run + [month] if follows else [month]
                best = run if len(run) > len(best) else best
            else:
                run = []
        if len(best) >= config.recurring_months:
            detail = ", ".join(f"{y}-{m:02d}: {months[(y, m)]}" for y, m in best)
            flags.append(flag("recurring_category", [CATEGORY], f"complaint category {category} recurs "
                              f"{config.recurring_min_per_month}+ times a month for {len(best)} months in a row "
                              f"({detail}): an improvement report is required", category))
    return flags
