"""Bad input to `callaudit records`: a clear error for what cannot be read, and every other row still checked."""

from __future__ import annotations

import json
from datetime import date, datetime, timedelta
from pathlib import Path

import polars as pl
import pytest

from pipeline.core.settings import CatalogError
from pipeline.records.abnormal import find_abnormal
from pipeline.records.command import RecordsOptions, check_records
from pipeline.records.config import load_records_config
from pipeline.scan.phrase_catalog import load_catalog

ROOT = Path(__file__).resolve().parent.parent
HEADER = "主叫号码,被叫号码,通话起始时间,通话时长,通话类型,通话结果"
GOOD = "13800138000,95566,2025-05-01 10:00:{:02d},60,客服咨询呼入,接通"
PERIOD = (date(2025, 5, 1), date(2025, 5, 1))


def write_good(folder: Path, rows: int = 5) -> Path:
    path = folder / "good.csv"
    path.write_text("\n".join([HEADER] + [GOOD.format(i) for i in range(rows)]) + "\n", "utf-8")
    return path


def check(folder: Path, *paths: Path) -> tuple[dict, pl.DataFrame]:
    summary = check_records([str(p) for p in paths], folder / "out", RecordsOptions(period=PERIOD))
    issues = pl.read_csv(folder / "out" / "records" / "issues.csv", infer_schema=False)
    return summary, issues


def files(summary: dict) -> dict[str, dict]:
    return {s["name"]: s for s in summary["files"]}


def test_truncated_csv_reports_the_cut_row_and_keeps_the_rest(tmp_path):
    whole = "\n".join([HEADER] + [GOOD.format(i) for i in range(4)])
    cut = tmp_path / "cut.csv"
    cut.write_bytes(whole.encode()[:-12])          # the last row loses its end (no newline either)
    summary, issues = check(tmp_path, cut, write_good(tmp_path))
    rows = issues.filter(pl.col("file") == "cut.csv")
    assert rows["row"].unique().to_list() == ["5"] and "ends inside this row" in rows["message"][0]
    assert summary["counts"]["accepted_rows"] == 3 + 5


def test_binary_file_named_csv_is_an_error_and_other_files_are_checked(tmp_path):
    junk = tmp_path / "photo.csv"
    junk.write_bytes(bytes(range(256)) * 40)
    summary, issues = check(tmp_path, junk, write_good(tmp_path))
    assert "binary data" in files(summary)["photo.csv"]["error"]
    assert issues.filter(pl.col("file") == "photo.csv")["check"].to_list() == ["unreadable"]
    assert summary["counts"]["accepted_rows"] == 5


def test_header_only_file_says_there_are_no_rows(tmp_path):
    empty = tmp_path / "empty.csv"
    empty.write_text(HEADER + "\n", "utf-8")
    summary, _ = check(tmp_path, empty, write_good(tmp_path))
    assert files(summary)["empty.csv"]["notes"] == ["no data rows after the header"]
    assert summary["counts"]["rows"] == 5


def test_mixed_encodings_mark_the_foreign_rows_only(tmp_path):
    mixed = tmp_path / "mixed.csv"
    lines = [HEADER.encode()] + [GOOD.format(i).encode() for i in range(6)]
    lines[3] = GOOD.format(2).encode("gbk")         # one GBK row in a UTF-8 file
    mixed.write_bytes(b"\n".join(lines) + b"\n")
    gbk = tmp_path / "gbk.csv"
    rows = [HEADER.encode("gbk")] + [GOOD.format(i).encode("gbk") for i in range(6)]
    rows[5] = GOOD.format(4).encode("utf-8")         # one UTF-8 row in a GBK file
    gbk.write_bytes(b"\r\n".join(rows) + b"\r\n")
    summary, issues = check(tmp_path, mixed, gbk)
    assert files(summary)["mixed.csv"]["encoding"] == "UTF-8" and files(summary)["gbk.csv"]["encoding"] == "GBK"
    marked = issues.filter(pl.col("check") == "row")
    assert sorted(zip(marked["file"], marked["row"])) == [("gbk.csv", "6"), ("mixed.csv", "4")]
    assert all("mixed encodings" in m for m in marked["message"])
    assert summary["counts"]["accepted_rows"] == 10


def test_a_200_mb_line_is_one_rejected_row(tmp_path):
    big = tmp_path / "big.csv"
    with open(big, "w", encoding="utf-8") as handle:
        handle.write(HEADER + "\n" + GOOD.format(0) + "\n")
        handle.write("13800138000,95566,2025-05-01 10:00:01,60,客服咨询呼入," + "接" * (200 * 1024 * 1024 // 3) + "\n")
        handle.write(GOOD.format(2) + "\n")
    summary, issues = check(tmp_path, big)
    assert issues.filter(pl.col("kind") == "field").select("row", "field").rows() == [("3", "result")]
    assert "characters (at most 200)" in issues["message"].to_list()[0]
    assert summary["counts"]["accepted_rows"] == 2


def test_column_map_for_unknown_headers(tmp_path):
    odd = tmp_path / "odd.csv"
    odd.write_text("A号,B号,时刻,秒,种类,状态\n" + GOOD.format(0) + "\n", "utf-8")
    summary, _ = check(tmp_path, odd)
    assert "no header" in files(summary)["odd.csv"]["error"]
    mapping = tmp_path / "map.yaml"
    mapping.write_text("caller: A号\ncallee: B号\nstart_time: 时刻\nduration: 秒\ncall_type: 种类\nresult: 状态\n", "utf-8")
    from pipeline.records.config import load_column_map
    summary = check_records([str(odd)], tmp_path / "mapped", RecordsOptions(period=PERIOD,
                                                                           column_map=load_column_map(mapping)))
    assert summary["counts"]["accepted_rows"] == 1


def calls_from(number: str, count: int, spacing_s: int) -> pl.DataFrame:
    start = datetime(2025, 5, 1, 10)
    return pl.DataFrame({
        "file": ["x.csv"] * count, "row": list(range(2, count + 2)), "caller": [number] * count,
        "callee": ["13800138000"] * count, "start": [start + timedelta(seconds=spacing_s * i) for i in range(count)],
        "duration": [60] * count, "call_type": ["营销外呼"] * count, "result": ["接通"] * count,
        "connected": [True] * count, "agent": [None] * count, "line": [None] * count, "foreign": [None] * count,
    }, schema_overrides={"agent": pl.String, "line": pl.String, "foreign": pl.String})


@pytest.mark.parametrize("count,spacing,expected", [
    (50, 60, 0),      # 50 calls in 49 minutes: at the limit, not over it
    (51, 60, 51),     # 51 calls in 50 minutes
    (51, 72, 0),      # 51 calls over 60 minutes: the 51st starts exactly 60 min after the first
    (60, 71, 60),     # 60 calls over 70 minutes: windows of 51 overlap into one finding of all 60
])
def test_burst_window_boundaries(count, spacing, expected):
    found = find_abnormal(calls_from("01060000001", count, spacing), load_records_config(), None)
    bursts = [f for f in found.findings if f["check"] == "burst"]
    assert len(bursts) == (1 if expected else 0)
    assert found.rows.height == expected


def test_bad_settings_are_reported_with_file_and_line(tmp_path):
    config = tmp_path / "records.yaml"
    text = (ROOT / "phrases" / "records.yaml").read_text("utf-8")
    config.write_text(text.replace("  接通: {connected: true}", "  接通: {connected: yes please}"), "utf-8")
    with pytest.raises(CatalogError, match=r"records\.yaml:\d+: call result '接通' needs connected"):
        load_records_config(config)
    assert load_catalog(ROOT / "phrases").rules            # the phrase catalog leaves records.yaml alone


def test_nothing_readable_writes_outputs_and_says_so(tmp_path):
    junk = tmp_path / "junk.csv"
    junk.write_bytes(b"\x00" * 100)
    summary, issues = check(tmp_path, junk)
    assert summary["counts"]["rows"] == 0
    assert issues.filter(pl.col("kind") == "file")["check"].to_list() == ["unreadable"]
    assert json.loads((tmp_path / "out" / "records" / "summary.json").read_text("utf-8"))["files"][0]["error"]
