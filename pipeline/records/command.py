"""`callaudit records`: check a year of call-detail records (基础通话记录) the way the licence inspection does.

Stages, one module each: read the exports (`read`), check every row
(`check`), coverage and ratios (`stats`), abnormal calling
(`abnormal`), then the outputs under DIR/records/: summary.json,
issues.csv, records.xlsx (core.xlsx_writer) and records.html (`html_report`).

Engine: polars. A columnar engine is needed for a large center's year (5
million rows in well under a minute on 2 cores); polars was chosen over DuckDB
because the checks need (1) the exact file row of every rejected value, which
polars gives as a row index of a streamed scan while DuckDB's parallel CSV scan
has no line number; (2) nothing downloaded at run time: DuckDB reads GBK and
writes XLSX only through extensions fetched from the network, polars needs
neither (GBK is transcoded here, XLSX is read by fastexcel and written by
core.xlsx_writer); (3) vectorised string, date and window work on the same
dataframes the small reports are built from, with no SQL strings to assemble.
It wires the stages and writes their outputs; it holds no check of its own.
"""

from __future__ import annotations

import json
import sys
import time
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path

import polars as pl

from pipeline.core import fileio, xlsx_writer
from pipeline.records import html_report
from pipeline.records.abnormal import Abnormal, find_abnormal, load_marked
from pipeline.records.check import Checked, check_rows
from pipeline.records.config import (
    DEFAULT_CONFIG,
    FIELD_LABELS,
    RecordsConfig,
    load_records_config,
)
from pipeline.records.read import Source, discover, read_all
from pipeline.records.stats import (
    GROUPS,
    coverage,
    daily_counts,
    ratio_findings,
    ratio_table,
)

ISSUE_COLUMNS = ("kind", "check", "id", "file", "row", "field", "value", "subject", "day", "message")
CLEAN_HEADERS = {"file": "文件", "row": "行号", "caller": "主叫号码", "callee": "被叫号码", "start": "通话起始时间",
                 "duration": "通话时长(秒)", "call_type": "通话类型", "result": "通话结果", "connected": "接通",
                 "agent": "坐席", "line": "线路", "foreign": "境外号码",
                 "call_id": "通话编号", "recording": "录音文件"}
ROWS_CELL_CHARS = 32_000              # an Excel cell holds 32,767 characters


@dataclass(frozen=True)
class RecordsOptions:
    """What `callaudit records` is asked to do."""

    config_path: Path = DEFAULT_CONFIG          # phrases/records.yaml
    period: tuple[date, date] | None = None     # None: the calendar year most calls fall in
    column_map: dict[str, str] = field(default_factory=dict)   # --columns: field -> header
    marked_numbers: Path | None = None          # --marked-numbers CSV


def _findings_frame(findings: list[dict]) -> pl.DataFrame:
    return pl.DataFrame([{k: (str(v) if v is not None else None) for k, v in f.items()} for f in findings],
                        schema={k: pl.String for k in ("kind", "check", "id", "subject", "day", "value", "threshold",
                                                        "message")})


def issues_table(checked: Checked, sources: list[Source], marked_name: str | None, marked_problems: list[dict],
                 findings: list[dict], abnormal: Abnormal) -> pl.DataFrame:
    """Every rejected row, unreadable file, bad marked-list entry and finding: one row each (a row per call
    behind an abnormal finding)."""
    text = {c: pl.String for c in ISSUE_COLUMNS} | {"row": pl.Int64}
    files = pl.DataFrame([{"kind": "file", "check": "unreadable" if s.error else "note", "file": s.name,
                           "message": s.error or note} for s in sources for note in ([s.error] if s.error else s.notes)],
                         schema={"kind": pl.String, "check": pl.String, "file": pl.String, "message": pl.String})
    fields = checked.issues.select(pl.lit("field").alias("kind"), pl.col("field").alias("check"), "file", "row",
                                   "field", "value", pl.col("reason").alias("message"))
    marked = pl.DataFrame([{"kind": "marked_list", "check": "number", "file": marked_name, "row": p["row"],
                            "field": "number", "value": p["value"], "message": p["reason"]} for p in marked_problems],
                          schema={"kind": pl.String, "check": pl.String, "file": pl.String, "row": pl.Int64,
                                  "field": pl.String, "value": pl.String, "message": pl.String})
    table = _findings_frame(findings)
    plain = table.filter(pl.col("kind") != "abnormal").select("kind", "check", "subject", "day", "value", "message")
    behind = table.filter(pl.col("kind") == "abnormal").join(abnormal.rows, on="id", how="left").select(
        "kind", "check", "id", "file", "row", "subject", "day", "message")
    parts = [files, fields, marked, plain, behind]
    return pl.concat([p.select(pl.col(c).cast(t) if c in p.columns else pl.lit(None, t).alias(c)
                               for c, t in text.items()) for p in parts], how="vertical")


def _rows_text(rows: pl.DataFrame) -> pl.DataFrame:
    """id -> "a.csv:12, a.csv:13, ..." (cut to what a cell holds)."""
    joined = rows.group_by("id", maintain_order=True).agg(
        pl.concat_str("file", pl.lit(":"), pl.col("row").cast(pl.String)).str.join(", ").alias("rows"))
    return joined.with_columns(
        pl.when(pl.col("rows").str.len_chars() > ROWS_CELL_CHARS)
        .then(pl.col("rows").str.slice(0, ROWS_CELL_CHARS) + pl.lit(" … (all in issues.csv)"))
        .otherwise(pl.col("rows")).alias("rows"))


def build_summary(checked: Checked, sources: list[Source], config: RecordsConfig, period_given: bool,
                  coverage_summary: dict, ratios: dict[str, pl.DataFrame], findings: list[dict]) -> dict:
    """summary.json: files, counts, coverage, ratios, findings (without their rows), thresholds."""
    by_field = dict(checked.issues.group_by("field").len().sort("field").iter_rows())
    kinds = {k: sum(1 for f in findings if f["kind"] == k) for k in ("coverage", "ratio", "abnormal")}
    by_check: dict[str, int] = {}
    for f in findings:
        by_check[f["check"]] = by_check.get(f["check"], 0) + 1
    return {
        "period": [str(checked.period[0]), str(checked.period[1])],
        "period_source": "given" if period_given else "inferred (the calendar year most calls fall in)",
        "files": [s.as_dict() for s in sources],
        "counts": {"rows": checked.rows, "accepted_rows": checked.clean.height, "rejected_rows": checked.rejected,
                   "field_problems": checked.issues.height, "by_field": by_field, **kinds, "by_check": by_check},
        "coverage": coverage_summary,
        "ratios": {by: table.to_dicts() for by, table in ratios.items()},
        "thresholds": {"min_connect_rate": config.thresholds.min_connect_rate,
                       "min_average_talk_s": config.thresholds.min_average_talk_s,
                       "short_call_s": config.thresholds.short_call_s,
                       "max_short_share": config.thresholds.max_short_share,
                       "min_calls": config.thresholds.min_calls, "low_day_fraction": config.low_day_fraction,
                       "burst_calls": config.abnormal.burst_calls, "burst_window_min": config.abnormal.burst_window_min,
                       "daily_min_calls": config.abnormal.daily_min_calls},
        "findings": findings,
    }


def _heat(clean: pl.DataFrame) -> list[list[int]]:
    counts = clean.group_by(pl.col("start").dt.weekday().alias("d"), pl.col("start").dt.hour().alias("h")).len()
    grid = [[0] * 24 for _ in range(7)]
    for d, h, n in counts.iter_rows():
        grid[d - 1][h] = n
    return grid


def write_outputs(out: Path, summary: dict, issues: pl.DataFrame, checked: Checked, daily: pl.DataFrame,
                  ratios: dict[str, pl.DataFrame], abnormal: Abnormal, lap=lambda stage: None) -> dict[str, str]:
    """DIR/records/: summary.json, issues.csv, records.xlsx, records.html; each written atomically.

    `lap(stage)` is called after the workbook and after the rest, for the summary's stage timings;
    summary.json is written last, so it has them.
    """
    folder = out / "records"
    paths = {name: folder / name for name in ("summary.json", "issues.csv", "records.xlsx", "records.html")}
    summary["outputs"] = {k: str(v) for k, v in paths.items()}
    fileio.write_atomic(paths["issues.csv"], "\ufeff" + issues.write_csv())
    findings = _findings_frame(summary["findings"])
    report = (findings.filter(pl.col("kind") == "abnormal").join(_rows_text(abnormal.rows), on="id", how="left")
              .select(pl.col("day").alias("日期"), pl.col("id").alias("编号"), pl.col("check").alias("检查"),
                      pl.col("subject").alias("对象"), pl.col("value").alias("数值"), pl.col("message").alias("说明"),
                      pl.col("rows").alias("记录行")))
    problems = issues.filter(pl.col("kind").is_in(["file", "field", "marked_list"])).select(
        pl.col("file").alias("文件"), pl.col("row").alias("行号"),
        pl.col("field").replace(FIELD_LABELS).alias("字段"), pl.col("value").alias("值"),
        pl.col("message").alias("原因"))
    overview = pl.DataFrame({"项目": ["期间 period", "记录 rows", "合格 accepted", "不合格 rejected", "覆盖缺口 gaps",
                                    "指标问题 ratio findings", "异常通话 abnormal findings"],
                             "值": [" .. ".join(summary["period"]), *(str(summary["counts"][k]) for k in (
                                 "rows", "accepted_rows", "rejected_rows", "coverage", "ratio", "abnormal"))]})
    files = pl.DataFrame([{"文件": s["name"], "格式": s["format"], "编码": s["encoding"], "表头行": s["header_row"],
                           "行数": s["rows"], "说明": s["error"] or "; ".join(s["notes"])} for s in summary["files"]],
                         schema={"文件": pl.String, "格式": pl.String, "编码": pl.String, "表头行": pl.Int64,
                                 "行数": pl.Int64, "说明": pl.String})
    others = findings.filter(pl.col("kind") != "abnormal").select(
        pl.col("kind").alias("类别"), pl.col("check").alias("检查"), pl.col("subject").alias("对象"),
        pl.col("value").alias("数值"), pl.col("threshold").alias("门槛"), pl.col("message").alias("说明"))
    xlsx_writer.write_workbook(paths["records.xlsx"], [
        ("汇总", overview), ("文件", files), ("字段问题", problems), ("覆盖与指标问题", others),
        ("每日通话量", daily.rename({"day": "日期", "calls": "通话数"})),
        *((f"{name}指标", ratios[by]) for by, name in (("month", "月度"), ("agent", "坐席"), ("line", "线路"))),
        ("异常通话日报", report), ("清洗后记录", checked.clean.rename(CLEAN_HEADERS)),
    ])
    lap("workbook")
    fileio.write_atomic(paths["records.html"], html_report.format_page(
        summary, ratios["month"].to_dicts(), _heat(checked.clean), summary["findings"],
        scan_report=(out / "report.html").is_file()))
    lap("other_outputs")
    fileio.write_atomic(paths["summary.json"], json.dumps(summary, ensure_ascii=False, indent=1, default=str) + "\n")
    return {k: str(v) for k, v in paths.items()}


def check_records(paths: list[str], out: Path, options: RecordsOptions) -> dict:
    """Run every stage on the exports under `paths` and write DIR/records/; returns the summary.

    The summary's `seconds` gives the wall time of each stage (read, check, stats, abnormal, outputs).
    """
    clock = [time.perf_counter()]
    seconds: dict[str, float] = {}

    def lap(stage: str) -> None:
        clock.append(time.perf_counter())
        seconds[stage] = round(clock[-1] - clock[-2], 2)

    config = load_records_config(options.config_path)
    marked = load_marked(options.marked_numbers, config) if options.marked_numbers else None
    table, sources = read_all(discover(paths), config, options.column_map)
    lap("read")
    checked = check_rows(table, config, options.period)
    del table
    lap("check")
    daily = daily_counts(checked.clean, checked.period)
    coverage_summary, findings = coverage(daily, config)
    ratios = {by: ratio_table(checked.clean, by, config) for by in GROUPS}
    for by, table in ratios.items():
        findings += ratio_findings(table, by, config)
    lap("coverage_and_ratios")
    abnormal = find_abnormal(checked.clean, config, marked)
    findings += abnormal.findings
    lap("abnormal")
    summary = build_summary(checked, sources, config, options.period is not None, coverage_summary, ratios, findings)
    summary["seconds"] = seconds
    issues = issues_table(checked, sources, options.marked_numbers.name if options.marked_numbers else None,
                          marked.problems if marked else [], findings, abnormal)
    write_outputs(out, summary, issues, checked, daily, ratios, abnormal, lap)
    return summary


def print_summary(summary: dict, stream=sys.stderr) -> None:
    """The lines `callaudit records` prints when it is done."""
    c = summary["counts"]
    for s in summary["files"]:
        state = f"error: {s['error']}" if s["error"] else f"{s['rows']} rows, {s['encoding'] or s['format']}"
        print(f"  {s['name']}: {state}" + "".join(f"; {n}" for n in s["notes"]), file=stream)
    print(f"{c['rows']} rows, {c['rejected_rows']} rejected ({c['field_problems']} field problems), "
          f"{c['coverage']} coverage gaps, {c['ratio']} ratio findings, {c['abnormal']} abnormal findings "
          f"-> {summary['outputs']['summary.json']}", file=stream)
