"""Exports as they come: header synonyms, unknown headers named, a bad field listed without losing its row,
complaints linked by recording file name, CDR findings naming file, row and recording (synthetic files)."""

from __future__ import annotations

from datetime import datetime

import pytest

from pipeline.package.complaints import check_complaints, load_handling
from pipeline.package.config import load_package_config
from pipeline.package.inputs import read_input
from pipeline.package.join import TOLERATED_CDR_FIELDS
from pipeline.package.link import link_recordings
from pipeline.records.check import check_rows
from pipeline.records.config import header_key, load_records_config
from pipeline.records.read import read_all

CONFIG = load_package_config()
RECORDS = load_records_config()
T0 = datetime(2025, 5, 6, 10, 0, 0)


@pytest.mark.parametrize(("written", "alias"), [("ＣＡＬＬ　ＩＤ", "call id"), ("通话时长（秒）", "通话时长"),
                                                ("Agent_ID", "agent id"), (" 被 叫 ", "被叫"), ("满意度（％）", "满意度")])
def test_headers_compare_without_case_spaces_full_width_or_units(written, alias):
    assert header_key(written) == header_key(alias)


@pytest.mark.parametrize(("kind", "header", "field"), [
    ("complaints", "录音文件", "recording"), ("complaints", "用户满意度", "satisfaction"),
    ("complaints", "解决时间", "resolved_at"), ("agents", "资格类型", "certificate_type"),
    ("consent", "授权时间", "consented_at")])
def test_the_shipped_synonyms(kind, header, field):
    assert header_key(header) in {header_key(a) for a in CONFIG.columns[kind][field]}


def test_an_unknown_header_names_the_file_the_header_and_the_fields_still_missing(tmp_path):
    path = tmp_path / "complaints.csv"
    path.write_text("通话编号,来电号码,受理时间,满意评分,办结时间\nK1,13800000000,2025-05-06 10:00:00,满意,"
                    "2025-05-07 10:00:00\n", "utf-8")
    rows, problems = read_input(path, "complaints", CONFIG)
    assert len(rows) == 1                                          # the rows are still read
    [problem] = problems
    assert problem["file"] == "complaints.csv" and problem["row"] is None
    assert "'满意评分'" in problem["reason"] and "满意度 (satisfaction)" in problem["reason"]
    assert "处理方案 (plan)" in problem["reason"] and "phrases/package.yaml" in problem["reason"]


def test_a_required_column_under_an_unknown_header_says_which(tmp_path):
    path = tmp_path / "agents.csv"
    path.write_text("坐席工号,证照号,证书类型\nA1,3200451,理财规划师\n", "utf-8")
    rows, problems = read_input(path, "agents", CONFIG)
    assert rows == [] and "'证照号'" in problems[0]["reason"] and "证书编号 (certificate_no)" in problems[0]["reason"]


def test_a_cdr_header_no_alias_knows_is_named(tmp_path):
    path = tmp_path / "cdr.csv"
    path.write_text("主叫号码,被叫号码,通话起始时间,通话时长,通话类型,接听结果\n"
                    "01060000101,13800000000,2025-05-06 10:00:00,30,营销外呼,接通\n", "utf-8")
    _, [source] = read_all([path], RECORDS, {})
    assert source.header_note and "cdr.csv" in source.header_note and "'接听结果'" in source.header_note
    assert "通话结果 (result)" in source.header_note


def _cdr(tmp_path, call_type: str, result: str = "接通"):
    path = tmp_path / "cdr.csv"
    path.write_text("通话编号,录音文件,主叫号码,被叫号码,通话起始时间,通话时长,通话类型,通话结果,坐席工号\n"
                    f"K1,k1.wav,13800000000,95566,2025-05-06 10:00:00,30,{call_type},{result},A1\n", "utf-8")
    table, _ = read_all([path], RECORDS, {})
    return table


def test_a_bad_call_type_is_listed_and_the_row_kept_for_the_package(tmp_path):
    table = _cdr(tmp_path, "健康咨询呼入")
    strict = check_rows(table, RECORDS, None)
    assert strict.clean.height == 0                              # `records` statistics take no such row
    kept = check_rows(table, RECORDS, None, TOLERATED_CDR_FIELDS)
    assert kept.clean.height == 1 and kept.clean["call_type"].cast(str).to_list() == ["健康咨询呼入"]
    assert [(r["field"], r["value"]) for r in kept.issues.iter_rows(named=True)] == [("call_type", "健康咨询呼入")]


def test_a_bad_result_keeps_the_row_as_not_connected(tmp_path):
    kept = check_rows(_cdr(tmp_path, "客服咨询呼入", "成功"), RECORDS, None, TOLERATED_CDR_FIELDS)
    assert kept.clean["connected"].to_list() == [False] and kept.issues["field"].to_list() == ["result"]


def test_a_bad_number_still_rejects_the_row(tmp_path):
    path = tmp_path / "cdr.csv"
    path.write_text("主叫号码,被叫号码,通话起始时间,通话时长,通话类型,通话结果\n"
                    "12,95566,2025-05-06 10:00:00,30,客服咨询呼入,接通\n", "utf-8")
    table, _ = read_all([path], RECORDS, {})
    assert check_rows(table, RECORDS, None, TOLERATED_CDR_FIELDS).clean.height == 0


def test_no_recording_names_the_file_the_row_and_the_recording_it_points_to():
    row = {"file": "cdr.xlsx[通话记录]", "row": 7, "caller": "13800000000", "callee": "95566", "start": T0,
           "duration": 40, "connected": True, "recording": "service_lost.wav", "call_id": None}
    [flag] = link_recordings([], [row], CONFIG).flags
    assert flag["check"] == "no_recording" and flag["cdr"] == {"file": "cdr.xlsx[通话记录]", "row": 7}
    assert "cdr.xlsx[通话记录] row 7" in flag["message"] and "service_lost.wav" in flag["message"]


def test_a_complaint_links_by_the_recording_file_name():
    handling, _ = load_handling([{"recording": "Complaints/A.WAV", "caller": None, "received_at": "2025-05-06 18:00:00",
                                  "agent": "A1", "category": "物流", "plan": "补发", "result": "已补发",
                                  "satisfaction": "满意", "resolved_at": "2025-05-07 10:00:00", "_row": 2,
                                  "_file": "complaints.csv"}])
    row = {"file": "cdr.csv", "row": 2, "caller": "13800000000", "callee": "95566", "start": T0, "duration": 30,
           "call_type": "投诉建议呼入", "connected": True, "call_id": None, "recording": None}
    record = {"file": "2025-05/a.wav", "call_id": "a", "status": "ok", "recording": {"duration_s": 30.0},
              "call": {"type": "complaint", "industry": "general"}, "segments": [], "annotations": [], "flags": []}
    linked = link_recordings([], [row], CONFIG)
    linked.links = {"a": {"call_id": "a", "file": "2025-05/a.wav", "cdr": {"file": "cdr.csv", "row": 2},
                          "method": "numbers_time", "offset_s": 0.0}}
    calls, flags = check_complaints([row], {"a": record}, linked, handling, CONFIG)
    assert calls[0]["handling"]["_row"] == 2 and flags == []    # 8 hours after the call: only the name links it
