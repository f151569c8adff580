"""`callaudit records`: the planted problems of fixtures/records/ are found, with their rows, and nothing else."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import fastexcel
import polars as pl
import pytest

from pipeline.core import xlsx_writer
from pipeline.records.command import RecordsOptions, check_records
from pipeline.records.config import parse_period

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "records"
EXPORTS = sorted(str(p) for p in FIXTURES.iterdir() if p.name.startswith("cdr_"))
TRUTH = json.loads((FIXTURES / "truth.json").read_text("utf-8"))
PERIOD = parse_period(":".join(TRUTH["period"]))


def run_fixtures(out: Path) -> dict:
    options = RecordsOptions(period=PERIOD, marked_numbers=FIXTURES / "marked.csv")
    check_records(EXPORTS, out, options)
    return {"summary": json.loads((out / "records" / "summary.json").read_text("utf-8")),
            "issues": pl.read_csv(out / "records" / "issues.csv", infer_schema=False)}


@pytest.fixture(scope="module")
def result(tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("records")
    return {"out": out, **run_fixtures(out)}


def test_every_rejected_field_is_found_with_its_row_and_nothing_else(result):
    fields = result["issues"].filter(pl.col("kind") == "field")
    found = sorted((r["file"], int(r["row"]), r["field"]) for r in fields.iter_rows(named=True))
    assert found == sorted((p["file"], p["row"], p["field"]) for p in TRUTH["field_problems"])
    assert all(fields["message"].is_not_null())
    assert result["summary"]["counts"]["rejected_rows"] == len({(f, r) for f, r, _ in found})


def test_the_regulators_rejected_examples_carry_their_reasons(result):
    fields = result["issues"].filter(pl.col("kind") == "field")
    reason = dict(zip(fields["value"], fields["message"]))
    assert "接通" in reason["成功"] and "具体状态" in reason["成功"]
    assert "客服咨询呼入" in reason["呼入"]
    assert "area code" in reason["88886666"]
    assert "second" in reason["2025-02-03 10:15"]
    assert "scientific" in reason["1.38001E+10"]


def test_coverage_gaps_and_ratio_findings_are_exactly_the_planted_ones(result):
    findings = result["summary"]["findings"]
    for kind, truth in (("coverage", TRUTH["coverage"]), ("ratio", TRUTH["ratios"])):
        found = sorted((f["check"], f["subject"]) for f in findings if f["kind"] == kind)
        assert found == sorted((t["check"], t["subject"]) for t in truth), kind


def test_abnormal_calling_is_found_with_the_rows_behind_each_finding(result):
    behind = result["issues"].filter(pl.col("kind") == "abnormal")
    found: dict[tuple, list] = {}
    for r in behind.iter_rows(named=True):
        found.setdefault((r["check"], r["subject"], r["day"]), []).append([r["file"], int(r["row"])])
    truth = {(t["check"], t["subject"], t["day"]): sorted(t["rows"]) for t in TRUTH["abnormal"]}
    assert {k: sorted(v) for k, v in found.items()} == truth
    daily = [f["day"] for f in result["summary"]["findings"] if f["kind"] == "abnormal"]
    assert daily == sorted(daily)                      # the daily report is in day order


def test_marked_list_entries_and_file_notes(result):
    issues = result["issues"]
    marked = issues.filter(pl.col("kind") == "marked_list")
    assert [(int(r["row"]), r["value"]) for r in marked.iter_rows(named=True)] == \
        [(m["row"], m["value"]) for m in TRUTH["marked_list"]]
    notes = issues.filter(pl.col("kind") == "file")
    assert notes["file"].to_list() == ["cdr_2025-09_12.xlsx[说明]"]   # the notes sheet, skipped and said so
    encodings = {s["name"]: s["encoding"] for s in result["summary"]["files"]}
    assert encodings == {"cdr_2025-01_04_utf8.csv": "UTF-8 with BOM", "cdr_2025-05_08_gbk.csv": "GBK",
                         "cdr_2025-09_12.xlsx[通话记录]": None, "cdr_2025-09_12.xlsx[说明]": None}


def test_workbook_sheets_and_cleaned_copy(result):
    book = fastexcel.read_excel(str(result["out"] / "records" / "records.xlsx"))
    for sheet in ("汇总", "字段问题", "每日通话量", "月度指标", "异常通话日报", "清洗后记录"):
        assert sheet in book.sheet_names
    clean = book.load_sheet("清洗后记录").to_polars()
    counts = result["summary"]["counts"]
    assert clean.height == counts["accepted_rows"] == counts["rows"] - counts["rejected_rows"]
    assert clean["通话起始时间"].dtype == pl.Datetime
    problems = book.load_sheet("字段问题").to_polars()
    assert problems.height == result["issues"].filter(pl.col("kind").is_in(["field", "marked_list", "file"])).height
    months = book.load_sheet("月度指标").to_polars()
    assert months["month"].to_list() == [f"2025-{m:02d}" for m in range(1, 13) if m != 6]


def test_cleaned_copy_is_split_at_the_sheet_limit(tmp_path, monkeypatch):
    monkeypatch.setattr(xlsx_writer, "EXCEL_MAX_ROWS", 1000)
    summary = check_records(EXPORTS, tmp_path, RecordsOptions(period=PERIOD))
    book = fastexcel.read_excel(str(tmp_path / "records" / "records.xlsx"))
    parts = [n for n in book.sheet_names if n.startswith("清洗后记录")]
    accepted = summary["counts"]["accepted_rows"]
    assert len(parts) == -(-accepted // 999) and parts[1] == "清洗后记录 (2)"
    heights = [book.load_sheet(n).height for n in parts]
    assert sum(heights) == accepted and max(heights) == 999


def test_records_page_is_self_contained_with_charts(result, tmp_path):
    page = (result["out"] / "records" / "records.html").read_text("utf-8")
    assert page.count("<svg") == 3 and "<script" not in page and "http" not in page.replace(
        "http://www.w3.org/2000/svg", "")
    assert "异常通话日报" in page and "../report.html" not in page
    (tmp_path / "report.html").write_text("<html></html>")      # a scan's report in the same folder
    check_records(EXPORTS[:1], tmp_path, RecordsOptions(period=PERIOD))
    assert 'href="../report.html"' in (tmp_path / "records" / "records.html").read_text("utf-8")


def test_cli_records_and_usage_errors(tmp_path):
    def cli(*args):
        return subprocess.run([sys.executable, "-m", "pipeline", "records", *args], capture_output=True, text=True,
                              cwd=ROOT)
    done = cli(EXPORTS[0], "--out", str(tmp_path / "a"), "--period", "2025-01-01:2025-04-30")
    assert done.returncode == 0, done.stderr
    assert "UTF-8 with BOM" in done.stderr and (tmp_path / "a" / "records" / "issues.csv").is_file()
    bad = cli(EXPORTS[0], "--out", str(tmp_path / "b"), "--period", "2025-13-01:2025-12-31")
    assert bad.returncode == 2 and "--period" in bad.stderr
    config = tmp_path / "records.yaml"
    text = (ROOT / "phrases" / "records.yaml").read_text("utf-8").replace("  min_calls: 20", "  min_call: 20")
    config.write_text(text, "utf-8")
    bad = cli(EXPORTS[0], "--out", str(tmp_path / "c"), "--config", str(config))
    line = text.splitlines().index(next(t for t in text.splitlines() if t.startswith("  min_call:"))) + 1
    assert bad.returncode == 2 and f"records.yaml:{line}: unknown key 'min_call'" in bad.stderr
