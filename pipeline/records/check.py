"""Check each call-detail record row: the six fields present and in the form the regulator accepts.

Input is the reader's table of raw text (pipeline.records.read); output is the
typed table of the rows that passed (the cleaned copy every statistic uses) and
one problem per field per rejected row (file, row, field, value, reason). A row
is rejected when any field has a problem; all its problems are listed.

- Numbers: 11-digit mobile, landline with its area code (0 + 2-3 digits + 7-8
  digits), or a service number from `service_numbers` (95xxx, 400/800, ...).
  Spaces, dashes and brackets are ignored; +86/0086 is domestic. A number with
  another + or 00 prefix is valid but foreign: the row is kept and reported as
  a finding (a domestic licence does not cover it).
- Start time: to the second, as 2025-05-01 14:00:00, 2025/5/1 14:00:05,
  2025年5月1日 14:00:05, 20250501140005 or an Excel serial; 14:00 alone is
  rejected as not to the second; it must fall inside the period.
- Duration: seconds (75, 75秒) or H:MM:SS, also an Excel time cell; not negative,
  at most `limits.max_duration_s`.
- Call type and result: one of the accepted values; a value the regulator has
  rejected before gets its recorded reason.
It checks and types rows; it computes no statistic and writes no file.
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass
from datetime import date, datetime, timedelta

import polars as pl

from pipeline.records.config import FIELDS, OPTIONAL_FIELDS, RecordsConfig

MOBILE = r"1[3-9]\d{9}"
LANDLINE = r"0(?:10|2\d)\d{8}|0[3-9]\d{2}\d{7,8}"
FOREIGN = r"^(?:\+|00)\d{6,15}$"
EXCEL_EPOCH = datetime(1899, 12, 30)        # serial 0 for dates after 1900-02-28 (Excel's leap-year bug)
TIME_CELL_ZERO = datetime(1899, 12, 31)     # how a duration cell (a day fraction) reads as a date
VALUE_CHARS = 60                            # values are quoted in issues up to this length
CLEAN_INPUT = ("file", "row", "caller", "callee", "start", "seconds", "call_type", "result", "agent", "line", "foreign",
               "call_id", "recording")


@dataclass
class Checked:
    """The outcome of the row checks."""

    clean: pl.DataFrame          # rows that passed: file, row, caller, callee, start, duration, call_type,
                                 # result, connected, agent, line, foreign (which side is foreign, or null)
    issues: pl.DataFrame         # file, row, field, value, reason: one per rejected field ("row": unreadable)
    period: tuple[date, date]
    rows: int                    # rows checked
    rejected: int                # rows with at least one problem


def number_check(name: str, config: RecordsConfig) -> tuple[pl.Expr, pl.Expr, pl.Expr]:
    """(normalised number, problem or null, foreign flag) of a phone-number column."""
    service = "|".join(f"(?:{p})" for p in config.service_numbers)
    raw = pl.col(name)
    number = raw.str.replace_all(r"[\s\-()（）]", "").str.replace(r"^(?:\+86|0086)", "")
    foreign = number.str.contains(FOREIGN).fill_null(False)
    valid = number.str.contains(f"^(?:{MOBILE}|{LANDLINE}|{service})$")
    problem = (pl.when(raw.is_null()).then(pl.lit("missing"))
               .when(foreign | valid).then(None)
               .when(number.str.contains(r"^\d(?:\.\d+)?[eE]\+?\d+$"))
               .then(pl.lit("number in scientific notation (mangled by a spreadsheet): the digits are lost"))
               .when(number.str.contains(r"^[1-9]\d{6,7}$"))
               .then(pl.lit("landline without its area code (write e.g. 010-88886666)"))
               .otherwise(pl.lit("not a mobile number (11 digits), a landline with area code or an accepted "
                                 "service number")))
    return number, problem, foreign


def _start_time() -> tuple[pl.Expr, pl.Expr]:
    """(parsed start time, problem or null), the period check left to `_period_problem`."""
    raw = pl.col("start_time")
    text = (raw.str.replace(r"^(\d{4})[/.年](\d{1,2})[/.月](\d{1,2})日?", "$1-$2-$3")
            .str.replace(r"^(\d{4}-\d{1,2}-\d{1,2})[T ]+", "$1 ").str.replace_all("：", ":"))
    seconds = text.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S%.f", strict=False)
    compact = raw.str.strptime(pl.Datetime("us"), "%Y%m%d%H%M%S", strict=False)
    serial = (pl.when(raw.str.contains(r"^\d{5}(?:\.\d+)?$"))
              .then(pl.lit(EXCEL_EPOCH) + pl.duration(seconds=(raw.cast(pl.Float64, strict=False) * 86400)
                                                      .round(0).cast(pl.Int64))))
    parsed = pl.coalesce(seconds, compact, serial).dt.truncate("1s")
    minutes = text.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M", strict=False)
    day = text.str.strptime(pl.Datetime("us"), "%Y-%m-%d", strict=False)
    problem = (pl.when(raw.is_null()).then(pl.lit("missing"))
               .when(parsed.is_not_null()).then(None)
               .when(minutes.is_not_null()).then(pl.lit("time not to the second (HH:MM without seconds)"))
               .when(day.is_not_null()).then(pl.lit("a date without the time of day"))
               .otherwise(pl.lit("not a date and time (e.g. 2025-05-01 14:00:00)")))
    return parsed, problem


def _duration(config: RecordsConfig) -> tuple[pl.Expr, pl.Expr]:
    """(seconds, problem or null) of the duration column."""
    raw = pl.col("duration").str.replace(r"\s*(?:s|秒)$", "")
    plain = raw.cast(pl.Float64, strict=False).round(0)
    hms = raw.str.extract_groups(r"^(\d+):([0-5]\d):([0-5]\d)$")
    clock = (hms.struct.field("1").cast(pl.Int64) * 3600 + hms.struct.field("2").cast(pl.Int64) * 60
             + hms.struct.field("3").cast(pl.Int64))
    cell = raw.str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False)
    zero = pl.when(cell >= pl.lit(TIME_CELL_ZERO)).then(pl.lit(TIME_CELL_ZERO)).otherwise(pl.lit(EXCEL_EPOCH))
    from_cell = pl.when(cell.dt.year() <= 1900).then((cell - zero).dt.total_seconds())
    seconds = pl.coalesce(plain.cast(pl.Int64, strict=False), clock, from_cell)
    problem = (pl.when(pl.col("duration").is_null()).then(pl.lit("missing"))
               .when(seconds.is_null()).then(pl.lit("not seconds or H:MM:SS (e.g. 75 or 00:01:15)"))
               .when(seconds < 0).then(pl.lit("negative duration"))
               .when(seconds > config.max_duration_s)
               .then(pl.lit(f"longer than {config.max_duration_s} s: not a plausible call")))
    return seconds, problem


def _vocabulary(name: str, accepted: dict, rejected: dict[str, str], what: str) -> pl.Expr:
    """Problem of a call-type or call-result value: the recorded reason for a rejected value, else a generic one."""
    raw = pl.col(name)
    generic = f"not an accepted {what} (accepted: {' / '.join(accepted)})"
    reasons = pl.DataFrame({"value": list(rejected), "reason": list(rejected.values())}, schema={
        "value": pl.String, "reason": pl.String})
    known = raw.replace_strict(reasons["value"], reasons["reason"], default=pl.lit(generic), return_dtype=pl.String)
    return (pl.when(raw.is_null()).then(pl.lit("missing"))
            .when(raw.is_in(list(accepted))).then(None)
            .otherwise(known))


def infer_period(starts: pl.Series) -> tuple[date, date]:
    """No --period: the calendar year most parsed start times fall in (this year when there are none)."""
    years = Counter(starts.drop_nulls().dt.year().to_list())
    year = years.most_common(1)[0][0] if years else date.today().year
    return date(year, 1, 1), date(year, 12, 31)


def _too_long(name: str, limit: int) -> pl.Expr:
    return (pl.when(pl.col(name).str.len_chars() > limit)
            .then(pl.format(f"a value of {{}} characters (at most {limit})", pl.col(name).str.len_chars())))


def _trimmed(name: str) -> pl.Expr:
    """A raw value without surrounding spaces, quotes or Excel's ="..." guard; empty is null."""
    value = pl.col(name).str.strip_chars().str.replace(r'^=?"(.*)"$', "$1").str.strip_chars()
    return pl.when(value != "").then(value).alias(name)


def _connected(config: RecordsConfig) -> pl.Expr:
    return pl.col("result").replace_strict(list(config.call_results), list(config.call_results.values()),
                                           default=False, return_dtype=pl.Boolean).alias("connected")


def _fast_path(config: RecordsConfig) -> tuple[list[pl.Expr], pl.Expr]:
    """Typed columns for rows already in the commonest clean form, and the mask of those rows.

    A row the mask accepts passes every check of `_full_path` (the period aside); the other
    rows go through `_full_path`, so the result is the same, only cheaper on clean exports.
    """
    service = "|".join(f"(?:{p})" for p in config.service_numbers)
    plain_number = f"^(?:{MOBILE}|{LANDLINE}|{service})$"
    start = pl.col("start_time").str.strptime(pl.Datetime("us"), "%Y-%m-%d %H:%M:%S", strict=False)
    seconds = pl.col("duration").cast(pl.Int64, strict=False)
    ok = pl.all_horizontal(
        pl.col("read_problem").is_null(),
        pl.col("caller").str.contains(plain_number), pl.col("callee").str.contains(plain_number),
        start.is_not_null(), seconds.is_between(0, config.max_duration_s),
        pl.col("call_type").is_in(list(config.call_types)), pl.col("result").is_in(list(config.call_results)),
        *(pl.col(n).is_null() | pl.col(n).str.len_bytes().is_between(1, config.max_field_chars)
          for n in OPTIONAL_FIELDS),
    ).fill_null(False)
    return [start.alias("start"), seconds.alias("seconds"), pl.lit(None, pl.String).alias("foreign")], ok


def _full_path(rows: pl.DataFrame, config: RecordsConfig) -> pl.DataFrame:
    """Every check on trimmed values: typed columns plus one `p_<field>` problem column per field."""
    rows = rows.with_columns(*(_trimmed(name) for name in FIELDS))
    numbers = {name: number_check(name, config) for name in ("caller", "callee")}
    start, start_problem = _start_time()
    seconds, duration_problem = _duration(config)
    absent = pl.col("absent").fill_null("").str.split(",")
    problems = {
        **{n: numbers[n][1] for n in numbers}, "start_time": start_problem, "duration": duration_problem,
        "call_type": _vocabulary("call_type", config.call_types, config.rejected.get("call_type", {}), "call type"),
        "result": _vocabulary("result", config.call_results, config.rejected.get("result", {}), "call result"),
    }
    problems = {name: pl.coalesce(pl.when(absent.list.contains(name)).then(pl.lit("the file has no column for it")),
                                  _too_long(name, config.max_field_chars), problems.get(name))
                for name in FIELDS}
    return rows.with_columns(
        *(numbers[n][0].alias(f"number_{n}") for n in numbers), start.alias("start"), seconds.alias("seconds"),
        pl.concat_str([pl.when(numbers[n][2]).then(pl.lit(n)) for n in numbers], separator="+",
                      ignore_nulls=True).alias("foreign"),
        pl.col("read_problem").alias("p_row"), *(expr.alias(f"p_{name}") for name, expr in problems.items()),
    ).with_columns(pl.when(pl.col("foreign") != "").then(pl.col("foreign")).alias("foreign"))


def _issues(rows: pl.DataFrame) -> pl.DataFrame:
    """One issue per problem column value of the (few) rows that have problems."""
    parts = [rows.filter(pl.col(f"p_{name}").is_not_null()).select(
        pl.col("file").cast(pl.String), "row", pl.lit(name).alias("field"),
        (pl.col(name).str.slice(0, VALUE_CHARS) if name != "row" else pl.lit(None, pl.String)).alias("value"),
        pl.col(f"p_{name}").alias("reason")) for name in ("row", *FIELDS)]
    return pl.concat(parts, how="vertical")


def check_rows(table: pl.DataFrame, config: RecordsConfig, period: tuple[date, date] | None) -> Checked:
    """Validate every row of the reader's table; see the module docstring for the rules."""
    typed, ok = _fast_path(config)
    table = table.with_columns(*typed, ok.alias("ok"))
    slow = _full_path(table.filter(~pl.col("ok")).drop("start", "seconds", "foreign"), config)
    fast = table.filter(pl.col("ok"))
    del table
    period = period or infer_period(pl.concat([fast["start"], slow["start"]]))
    first = datetime.combine(period[0], datetime.min.time())
    end = datetime.combine(period[1] + timedelta(days=1), datetime.min.time())
    outside = ((pl.col("start") < first) | (pl.col("start") >= end)).fill_null(False)
    reason = pl.lit(f"outside the period {period[0]}..{period[1]}")
    late = fast.filter(outside).select("file", "row", "start_time", "start", "seconds", "foreign", "read_problem")
    slow = pl.concat([slow, late], how="diagonal_relaxed").with_columns(
        pl.coalesce("p_start_time", pl.when(outside).then(reason)).alias("p_start_time"))
    fast = fast.filter(~outside)
    problem_columns = [f"p_{name}" for name in ("row", *FIELDS)]
    bad = pl.any_horizontal(pl.col(problem_columns).is_not_null())
    issues = _issues(slow).sort("file", "row", maintain_order=True)
    rejected = slow.filter(bad)
    passed = slow.filter(~bad).with_columns(pl.col("number_caller").alias("caller"),
                                            pl.col("number_callee").alias("callee"))
    clean = pl.concat([fast.select(CLEAN_INPUT), passed.select(CLEAN_INPUT)], how="vertical")
    clean = clean.select(
        "file", "row", "caller", "callee", "start", pl.col("seconds").cast(pl.Int32).alias("duration"),
        pl.col("call_type").cast(pl.Categorical), pl.col("result").cast(pl.Categorical), _connected(config),
        pl.col("agent").cast(pl.Categorical), pl.col("line").cast(pl.Categorical), "foreign", "call_id", "recording",
    ).sort("file", "row")
    return Checked(clean, issues, period, fast.height + slow.height, rejected.height)

