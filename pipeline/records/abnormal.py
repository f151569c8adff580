"""Abnormal calling, per day: the daily abnormal-call report (异常通话日报) and the rows behind each finding.

On the rows that passed the row checks:

- burst: one calling number with more than `burst_calls` calls in any window of
  `burst_window_min` minutes. Every window [t, t + 60 min) that starts at one of
  the number's calls is counted; overlapping windows over the limit are merged
  into one finding whose rows are all the calls in them.
- night: calls starting from `night_from` until before `night_to` (02:00-05:00),
  except `night_exempt_types`; one finding per day.
- short_agent / short_number: an agent's, or a calling number's, connected
  calls of one day (at least `daily_min_calls` of them) of which more than
  `max_short_share` are under `short_call_s`; the rows are the short calls.
- marked: calls from or to a number of the `--marked-numbers` list; one finding
  per number and day.
- foreign: calls from or to a foreign number (+ or 00, not +86); one finding
  per number and day.

Findings are the dicts of pipeline.records.stats.finding with an `id`; their
rows are a table (id, file, row) so that a busy archive's thousands of rows stay
columnar.
It finds; it writes nothing (pipeline.records.command does).
"""

from __future__ import annotations

import csv
import io
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import polars as pl

from pipeline.records.check import number_check
from pipeline.records.config import RecordsConfig
from pipeline.records.read import SNIFF_BYTES, ReadError, detect_encoding
from pipeline.records.stats import finding

MARKED_HEADERS = ("number", "号码", "电话号码", "被标记号码", "标记号码", "phone")


@dataclass
class Abnormal:
    findings: list[dict]          # each with "id"
    rows: pl.DataFrame            # id, file, row


@dataclass
class Marked:
    """The marked-numbers list: normalised numbers with their label, and the entries that are not numbers."""

    numbers: dict[str, str]
    problems: list[dict]          # {"row", "value", "reason"}


def load_marked(path: str | Path, config: RecordsConfig) -> Marked:
    """Read `--marked-numbers CSV` (UTF-8 or GBK): a column number/号码 (else the first column), optional label."""
    try:
        raw = Path(path).read_bytes()
        text = raw.decode(detect_encoding(raw[:SNIFF_BYTES], len(raw) <= SNIFF_BYTES))
    except OSError as exc:
        raise ReadError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (ReadError, UnicodeDecodeError) as exc:
        raise ReadError(f"{path}: {exc}") from None
    lines = list(csv.reader(io.StringIO(text)))
    header = [c.strip().lower() for c in lines[0]] if lines else []
    column = next((header.index(h) for h in MARKED_HEADERS if h in header), None)
    start = 1 if column is not None else 0
    column = column or 0
    entries = pl.DataFrame({
        "row": list(range(start + 1, len(lines) + 1)),
        "caller": [r[column].strip() if len(r) > column and r[column].strip() else None for r in lines[start:]],
        "label": [",".join(c.strip() for i, c in enumerate(r) if i != column and c.strip()) for r in lines[start:]],
    }, schema={"row": pl.Int64, "caller": pl.String, "label": pl.String})
    number, problem, _ = number_check("caller", config)
    checked = entries.with_columns(number.alias("number"), problem.alias("problem"))
    problems = checked.filter(pl.col("problem").is_not_null()).select(
        "row", pl.col("caller").alias("value"), pl.col("problem").alias("reason")).to_dicts()
    good = checked.filter(pl.col("problem").is_null())
    return Marked(dict(zip(good["number"], good["label"])), problems)


def _number_keys() -> pl.Expr:
    """An integer per calling number, for fast grouping and sorting: the digits behind a leading 1
    (leading zeros kept; normalised numbers have at most 17 digits), and for the rare +numbers a
    64-bit hash moved above every digit key."""
    digits = pl.concat_str(pl.lit("1"), pl.col("caller")).str.to_integer(strict=False)
    hashed = (pl.col("caller").hash() % (1 << 62)).cast(pl.Int64) + (1 << 62)
    return pl.coalesce(digits, hashed)


def _bursts(clean: pl.DataFrame, config: RecordsConfig) -> pl.DataFrame:
    """One row per burst: caller, first, last, calls, peak (most calls in one window), rows [file, row].

    Only numbers with more than `burst_calls` calls in all are sorted and searched (cheap integer
    keys, most numbers of a year never qualify).
    """
    a = config.abnormal
    window = a.burst_window_min * 60
    calls = clean.filter(~pl.col("caller").is_in(list(a.burst_exempt))).select("caller", "start", "file", "row")
    calls = calls.with_columns(_number_keys().alias("key"))
    busy = calls.group_by("key").len().filter(pl.col("len") > a.burst_calls)["key"]
    calls = calls.filter(pl.col("key").is_in(busy.implode())).sort("key", "start")
    if calls.height == 0:
        return pl.DataFrame()
    code = calls["key"].rank("dense").to_numpy().astype(np.int64)
    seconds = calls["start"].dt.epoch("s").to_numpy()
    key = code * (1 << 40) + seconds          # one time line per number, numbers far apart
    ends = np.searchsorted(key, key + window, side="left")
    counts = ends - np.arange(key.size)
    over = np.flatnonzero(counts > a.burst_calls)
    if over.size == 0:
        return pl.DataFrame()
    depth = np.zeros(key.size + 1, np.int64)
    np.add.at(depth, over, 1)
    np.add.at(depth, ends[over], -1)
    inside = np.cumsum(depth[:-1]) > 0
    episode = np.cumsum(inside & ~np.concatenate(([False], inside[:-1])))
    return (calls.with_columns(pl.Series("episode", episode), pl.Series("count", counts))
            .filter(pl.Series(inside))
            .group_by("episode", maintain_order=True)
            .agg(pl.col("caller").first(), pl.col("start").min().alias("first"), pl.col("start").max().alias("last"),
                 pl.len().alias("calls"), pl.col("count").max().alias("peak"), pl.struct("file", "row").alias("rows")))


def _grouped(calls: pl.DataFrame, keys: list[str]) -> pl.DataFrame:
    """Per key (and day): the calls' count, first time and rows, in day order."""
    return (calls.group_by(keys).agg(pl.len().alias("calls"), pl.col("start").min().alias("first"),
                                     pl.struct("file", "row").alias("rows"))
            .sort("first"))


def _short_share(clean: pl.DataFrame, by: str, config: RecordsConfig) -> pl.DataFrame:
    """Per day and agent (or calling number) over the short-call limit: counts and the short calls' rows."""
    a, t = config.abnormal, config.thresholds
    short = pl.col("duration") < t.short_call_s
    connected = clean.filter(pl.col("connected") & pl.col(by).is_not_null())
    over = (connected.group_by("day", by).agg(pl.len().alias("connected"), short.sum().alias("short"))
            .filter((pl.col("connected") >= a.daily_min_calls)
                    & (pl.col("short") / pl.col("connected") > t.max_short_share)))
    return (connected.filter(short).join(over, on=["day", by])
            .group_by("day", by).agg(pl.col("connected", "short").first(), pl.col("start").min().alias("first"),
                                     pl.struct("file", "row").alias("rows"))
            .with_columns(pl.col(by).cast(pl.String)).sort("first"))


def find_abnormal(clean: pl.DataFrame, config: RecordsConfig, marked: Marked | None) -> Abnormal:
    """Every abnormal-calling finding of the module docstring, with its rows."""
    a, t = config.abnormal, config.thresholds
    clean = clean.with_columns(pl.col("start").dt.date().alias("day"))
    found: list[tuple[dict, pl.Series]] = []
    for b in _bursts(clean, config).iter_rows(named=True):
        found.append((finding("abnormal", "burst", b["caller"],
                              f"{b['caller']}: {b['calls']} calls {b['first']:%H:%M:%S}-{b['last']:%H:%M:%S}, up to "
                              f"{b['peak']} in {a.burst_window_min} min (more than {a.burst_calls})",
                              value=b["peak"], threshold=a.burst_calls, day=str(b["first"].date())), b["rows"]))
    minute = pl.col("start").dt.hour().cast(pl.Int32) * 60 + pl.col("start").dt.minute().cast(pl.Int32)
    night = clean.filter(minute.is_between(a.night_from_min, a.night_to_min, closed="left")
                         & ~pl.col("call_type").cast(pl.String).is_in(list(a.night_exempt_types)))
    window = f"{a.night_from_min // 60:02d}:{a.night_from_min % 60:02d}-{a.night_to_min // 60:02d}:" \
             f"{a.night_to_min % 60:02d}"
    for g in _grouped(night, ["day"]).iter_rows(named=True):
        found.append((finding("abnormal", "night", window, f"{g['calls']} call(s) between {window}",
                              value=g["calls"], day=str(g["day"])), g["rows"]))
    for by, check in (("agent", "short_agent"), ("caller", "short_number")):
        for g in _short_share(clean, by, config).iter_rows(named=True):
            share = g["short"] / g["connected"]
            found.append((finding("abnormal", check, g[by],
                                  f"{g[by]}: {g['short']} of {g['connected']} connected calls under "
                                  f"{t.short_call_s:g} s ({share:.0%}, more than {t.max_short_share:.0%})",
                                  value=round(share, 4), threshold=t.max_short_share, day=str(g["day"])), g["rows"]))
    lists = [("foreign", "foreign number", None)]
    if marked and marked.numbers:
        lists.append(("marked", "marked number", marked.numbers))
    for check, what, numbers in lists:
        for side in ("caller", "callee"):
            hits = clean.filter(pl.col(side).is_in(list(numbers)) if numbers is not None
                                else pl.col("foreign").str.contains(side))
            for g in _grouped(hits.with_columns(pl.col(side).alias("number")), ["day", "number"]).iter_rows(named=True):
                label = f" ({numbers[g['number']]})" if numbers and numbers[g["number"]] else ""
                found.append((finding("abnormal", check, g["number"],
                                      f"{what} {g['number']}{label} as {side} in {g['calls']} call(s)",
                                      value=g["calls"], day=str(g["day"])), g["rows"]))
    found.sort(key=lambda f: (f[0]["day"], f[0]["check"], str(f[0]["subject"])))
    findings, parts = [], []
    for number, (item, rows) in enumerate(found, 1):
        item["id"] = f"A{number}"
        findings.append(item)
        parts.append(pl.DataFrame({"rows": rows}).unnest("rows").with_columns(pl.lit(item["id"]).alias("id")))
    rows = (pl.concat(parts).select("id", pl.col("file").cast(pl.String), "row") if parts
            else pl.DataFrame(schema={"id": pl.String, "file": pl.String, "row": pl.Int64}))
    return Abnormal(findings, rows)
