"""`callaudit package` checks on small synthetic data: settings, linking, consent, complaints, qualifications."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from pipeline.core.settings import CatalogError
from pipeline.package.agents import check_qualifications, load_register, resolve
from pipeline.package.complaints import (
    check_complaints,
    chinese_number,
    load_handling,
    promises,
    recurring,
)
from pipeline.package.config import DEFAULT_CONFIG, load_package_config
from pipeline.package.consent import check_consent, load_consents
from pipeline.package.inputs import normalise_number, parse_time, read_input
from pipeline.package.link import link_recordings
from pipeline.scan.phrase_catalog import catalog_files

CONFIG = load_package_config()
T0 = datetime(2025, 5, 6, 10, 0, 0)


def cdr(row: int, caller="01060000101", callee="13878267048", start=T0, duration=30, call_type="营销外呼",
        connected=True, agent="A1", call_id=None, recording=None) -> dict:
    return {"file": "cdr.csv", "row": row, "caller": caller, "callee": callee, "start": start, "duration": duration,
            "call_type": call_type, "result": "接通" if connected else "未接通", "connected": connected,
            "agent": agent, "call_id": call_id, "recording": recording}


def rec(file: str, call_id: str | None = None, duration=30.0, call_type="marketing", industry="general",
        texts=(), annotations=()) -> dict:
    return {"file": file, "call_id": call_id or file.rsplit("/", 1)[-1].split(".")[0], "status": "ok",
            "recording": {"duration_s": duration}, "call": {"type": call_type, "industry": industry},
            "segments": [{"text": t} for t in texts], "annotations": list(annotations), "flags": [], "splices": []}


# -- settings ----------------------------------------------------------------------------
@pytest.mark.parametrize("edit,message", [
    ("link:\n  start_tolerance: 5\n", "unknown key 'start_tolerance'"),
    ("link:\n  filename_pattern: '(?P<caller>\\d+)'\n", "needs the named groups"),
    ("complaints:\n  promises:\n    - pattern: '明天'\n", "exactly one of hours, unit_hours, end_of_day"),
    ("complaints:\n  promises:\n    - {pattern: '小时内', unit_hours: 1}\n", "group capturing the number"),
    ("complaints:\n  recurring: {min_per_month: 0}\n", "'min_per_month' must be greater than 0"),
    ("link: 120\n", "'link' must be a mapping"),
    ("qualifications: [max_edits]\n", "'qualifications' must be a mapping"),
])
def test_settings_mistakes_name_file_and_line(tmp_path, edit, message):
    shipped = DEFAULT_CONFIG.read_text("utf-8")
    columns = shipped[shipped.index("columns:"):]
    path = tmp_path / "package.yaml"
    path.write_text(edit + columns, "utf-8")
    with pytest.raises(CatalogError, match=message) as error:
        load_package_config(path)
    assert str(error.value).startswith(f"{path}:")


def test_shipped_settings_load_and_stay_out_of_the_phrase_catalog():
    assert "package.yaml" not in [p.name for p in catalog_files(DEFAULT_CONFIG.parent)]
    assert CONFIG.start_tolerance_s == 120 and CONFIG.recurring_min_per_month == 5 and CONFIG.recurring_months == 3
    assert len(CONFIG.promises) == 4 and CONFIG.columns["consent"]["number"][0] == "号码"


# -- inputs ------------------------------------------------------------------------------
def test_side_input_reads_gbk_and_lists_bad_rows(tmp_path):
    path = tmp_path / "consent.csv"
    path.write_bytes("号码,同意时间\n138 7826 7048,2025年5月1日 09:00:00\n13812,2025-05-01 09:00:00,多余\n".encode("gbk"))
    rows, problems = read_input(path, "consent", CONFIG)
    assert [(r["_row"], r["number"]) for r in rows] == [(2, "138 7826 7048")]
    assert problems[0]["row"] == 3 and "3 fields" in problems[0]["reason"]
    assert parse_time(rows[0]["consented_at"]) == datetime(2025, 5, 1, 9)
    assert normalise_number("+86 138-7826-7048") == normalise_number('="13878267048"') == "13878267048"


def test_side_input_without_a_required_column_is_one_problem(tmp_path):
    path = tmp_path / "agents.csv"
    path.write_text("坐席工号,姓名\nA1,王明\n", "utf-8")
    rows, problems = read_input(path, "agents", CONFIG)
    assert rows == [] and "no column for certificate_no" in problems[0]["reason"]


# -- linking -----------------------------------------------------------------------------
def test_link_by_call_id_file_and_numbers_with_the_nearest_start():
    rows = [cdr(2, call_id="C1"), cdr(3, recording="x/b.wav", start=T0 + timedelta(hours=1)),
            cdr(4, start=T0 + timedelta(hours=2)), cdr(5, start=T0 + timedelta(hours=2, seconds=100)),
            cdr(6, start=T0 + timedelta(hours=3), connected=False)]
    name = f"{T0 + timedelta(hours=2, seconds=90):%Y%m%d_%H%M%S}_01060000101_13878267048.wav"
    records = [rec("a.wav", call_id="C1"), rec("y/b.wav"), rec(f"m/{name}"), rec("stray.wav")]
    linked = link_recordings(records, rows, CONFIG)
    assert {cid: (l["cdr"]["row"], l["method"]) for cid, l in linked.links.items()} == {
        "C1": (2, "call_id"), "b": (3, "file"), name[:-4]: (5, "numbers_time")}
    assert linked.links[name[:-4]]["offset_s"] == -10.0
    checks = sorted((f["check"], f["call_id"] or f["cdr"]["row"]) for f in linked.flags)
    assert checks == [("no_recording", 4), ("unlinked", "stray")]          # row 6 was not connected


def test_link_outside_the_start_tolerance_is_unlinked():
    name = f"{T0 + timedelta(seconds=CONFIG.start_tolerance_s + 1):%Y%m%d_%H%M%S}_01060000101_13878267048.wav"
    linked = link_recordings([rec(name)], [cdr(2)], CONFIG)
    assert [f["check"] for f in linked.flags] == ["unlinked", "no_recording"]


@pytest.mark.parametrize("length,flagged", [(30.0, False), (27.5, False), (26.5, True), (59.0, False), (61.0, True)])
def test_duration_mismatch_beyond_the_tolerances(length, flagged):
    linked = link_recordings([rec("a.wav", call_id="C1", duration=length)], [cdr(2, call_id="C1")], CONFIG)
    assert [f["check"] for f in linked.flags] == (["duration_mismatch"] if flagged else [])


# -- consent -----------------------------------------------------------------------------
def consent_rows(*rows):
    return [{"number": n, "consented_at": g, "withdrawn_at": w, "_row": i, "_file": "consent.csv"}
            for i, (n, g, w) in enumerate(rows, 2)]


def test_consent_number_time_and_withdrawal():
    consents, problems = load_consents(consent_rows(
        ("+86 138-7826-7048", "2025-05-01 09:00:00", None),      # row 2: matches call 2 (normalised)
        ("13707615990", "2025-05-01 09:00:00", None),             # row 3: one digit off call 3's callee
        ("13536964950", "2025-05-06 11:00:00", None),             # row 4: after call 4
        ("13695123401", "2025-04-01 09:00:00", "2025-05-05 09:00:00"),   # row 5: withdrawn before call 5
        ("13812", "2025-05-01 09:00:00", None), ("13878267048", "上月", None)))
    assert [(p["row"], p["field"]) for p in problems] == [(6, "number"), (7, "consented_at")]
    rows = [cdr(2), cdr(3, callee="13707615999"), cdr(4, callee="13536964950"), cdr(5, callee="13695123401"),
            cdr(6, callee="13311112222", call_type="回访外呼"), cdr(7, callee="13344445555", call_type="回访外呼")]
    records = {"r7": rec("r7.wav", call_id="r7", call_type="marketing")}
    linked = link_recordings([], rows, CONFIG)
    linked.links = {"r7": {"call_id": "r7", "file": "r7.wav", "cdr": {"file": "cdr.csv", "row": 7},
                           "method": "call_id", "offset_s": None}}
    calls, flags = check_consent(rows, records, linked, consents, CONFIG)
    assert [c["cdr"]["row"] for c in calls] == [2, 3, 4, 5, 7]          # 6: a follow-up call, not marketing
    assert [(f["check"], f["cdr"]["row"], f["candidate"]) for f in flags] == [
        ("no_consent", 3, "13707615990"), ("consent_after_call", 4, None), ("consent_withdrawn", 5, None),
        ("no_consent", 7, None)]                                          # 7: marketing by what was said


# -- complaints --------------------------------------------------------------------------
@pytest.mark.parametrize("text,value", [("24", 24), ("二十四", 24), ("四十八", 48), ("十", 10), ("两", 2),
                                        ("一百", 100), ("十二", 12), ("几", None)])
def test_chinese_numbers(text, value):
    assert chinese_number(text) == value


@pytest.mark.parametrize("said,deadline", [
    ("我们会在24小时内为您核实", T0 + timedelta(hours=24)), ("二十四小时之内给您回复", T0 + timedelta(hours=24)),
    ("三个工作日内处理完毕", T0 + timedelta(days=3)), ("明天一定送达", datetime(2025, 5, 8)),
    ("今天给您答复", datetime(2025, 5, 7))])
def test_promise_deadlines(said, deadline):
    assert promises(rec("a.wav", texts=["好的", said]), T0, CONFIG)[0][1] == deadline


def handling_rows(*rows):
    header = ("call_id", "caller", "received_at", "agent", "category", "plan", "result", "satisfaction", "resolved_at")
    return [dict(zip(header, r)) | {"_row": i, "_file": "complaints.csv"} for i, r in enumerate(rows, 2)]


def test_complaint_handling_link_fields_and_promise():
    handling, problems = load_handling(handling_rows(
        ("", "13878267048", "2025-05-06 10:01:00", "A1", "物流", "补发", "已补发", "满意", "2025-05-09 10:00:00"),
        ("K2", "", "2025-05-06 11:00:00", "A1", "物流", "", "已处理", "", "2025-05-06 15:00:00"),
        ("", "13999999999", "昨天", "A1", "物流", "补发", "已补发", "满意", "2025-05-06 15:00:00")))
    assert [(p["row"], p["field"]) for p in problems] == [(4, "received_at")]
    rows = [cdr(2, caller="13878267048", callee="95566", call_type="投诉建议呼入"),
            cdr(3, caller="13707615999", callee="95566", call_type="投诉建议呼入", call_id="K2",
                start=T0 + timedelta(hours=1)),
            cdr(4, caller="13536964950", callee="95566", call_type="投诉建议呼入", start=T0 + timedelta(hours=2))]
    records = {"a": rec("a.wav", call_id="a", call_type="complaint", texts=["明天一定给您送到，24小时内为您核实"])}
    linked = link_recordings([], rows, CONFIG)
    linked.links = {"a": {"call_id": "a", "file": "a.wav", "cdr": {"file": "cdr.csv", "row": 2}, "method": "file",
                          "offset_s": None}}
    calls, flags = check_complaints(rows, records, linked, handling, CONFIG)
    assert [c["handling"]["_row"] if c["handling"] else None for c in calls] == [2, 3, None]
    assert [(f["check"], f["cdr"]["row"]) for f in flags] == [
        ("promise_broken", 2), ("handling_fields_missing", 3), ("no_handling_record", 4)]
    assert "处理方案、满意度" in flags[1]["message"] and "24小时内" in flags[0]["message"]


def test_recurring_needs_the_monthly_count_in_consecutive_months():
    def month_rows(category, counts):
        return [{"category": category, "received": datetime(2025, m, 1 + i)} for m, n in counts.items()
                for i in range(n)]
    handling = (month_rows("物流", {1: 5, 2: 7, 3: 5}) + month_rows("质量", {1: 5, 2: 4, 3: 5, 4: 5})
                + month_rows("态度", {1: 5, 3: 5, 4: 5}) + month_rows("价格", {11: 5, 12: 5})
                + [{"category": "价格", "received": datetime(2026, 1, d)} for d in range(1, 6)])
    flagged = [f["subject"] for f in recurring(handling, CONFIG)]
    assert flagged == ["价格", "物流"]                  # across a new year; 质量 and 态度 break the run


# -- qualifications ----------------------------------------------------------------------
def register_rows():
    rows = [("A1", "王明", "3200451", "理财规划师", "2024-01-01", "2026-12-31"),
            ("A2", "李强", "4406128", "基金从业资格", "2022-01-01", "2025-03-31"),
            ("A3", "赵磊", "5199990", "基金从业资格", "2024-01-01", ""),
            ("A4", "陈静", "110420187", "基金从业资格", "2024-01-01", ""),
            ("A5", "", "", "", "", ""), ("A6", "", "7700123", "", "", "2025-02-30")]
    header = ("agent", "name", "certificate_no", "certificate_type", "valid_from", "valid_to")
    return [dict(zip(header, (v or None for v in r))) | {"_row": i, "_file": "agents.csv"}
            for i, r in enumerate(rows, 2)]


def test_register_resolution_tolerates_a_dropped_digit_of_the_own_agent():
    register, problems = load_register(register_rows())
    assert [(p["row"], p["field"]) for p in problems] == [(6, "certificate_no"), (7, "valid_to")]
    assert resolve("320451", "A1", register, 2)["agent"] == "A1"       # one digit dropped by the ASR
    assert resolve("4406128", "A1", register, 2)["agent"] == "A2"      # exact: someone else's
    assert resolve("5108236", "A3", register, 2) is None               # five digits off: unknown


def test_qualification_flags():
    register, _ = load_register(register_rows())
    stated = lambda n: {"rule": "qualification", "credited": True, "fields": {"certificate_no": n}}  # noqa: E731
    records = {"a": rec("a.wav", "a", industry="finance", annotations=[stated("320451")]),
               "b": rec("b.wav", "b", industry="finance", annotations=[stated("4406128")]),
               "c": rec("c.wav", "c", industry="finance", annotations=[stated("5108236")]),
               "d": rec("d.wav", "d", industry="medical", annotations=[stated("110420187")])}
    rows = [cdr(2, agent="A1", call_id="a"), cdr(3, agent="A1", call_id="b"), cdr(4, agent="A3", call_id="c"),
            cdr(5, agent="A4", call_id="d")]
    linked = link_recordings(list(records.values()), rows, CONFIG)
    statements, flags = check_qualifications(records, linked, register, CONFIG)
    assert [s["heard"] for s in statements] == ["320451", "4406128", "5108236", "110420187"]
    assert [(f["check"], f["call_id"]) for f in flags] == [
        ("certificate_other_agent", "b"), ("certificate_not_valid", "b"), ("certificate_unknown", "c"),
        ("certificate_type", "d")]
    assert flags[2]["candidate"] == "5199990"


# -- redaction -----------------------------------------------------------------------------
def test_masker_masks_numbers_in_text_and_names_but_keeps_ids_and_paths():
    from pipeline.package.masker import Masker

    mask = Masker(True)
    assert mask("call to 138 7826 7048 and 13878267048") == "call to *** **** 7048 and *******7048"
    name = "20250512_092800_01060000101_13465246068-4a2c6c37"
    assert mask(name) == "20250512_092800_*******0101_*******6068-4a2c6c37"
    assert mask.name(name) == "20250512_092800_xxxxxxx0101_xxxxxxx6068-4a2c6c37"
    clip = f"{mask.name(name)}/00-00-01_00-00-03_营销电话标识.wav"
    assert mask(clip) == clip and mask("CC0506100701") == "CC0506100701"   # paths in the package, call ids
    assert Masker(False)(name) == name and Masker(False).name(name) == name


def test_a_missing_side_file_is_a_listed_problem(tmp_path):
    rows, problems = read_input(tmp_path / "nope.csv", "complaints", CONFIG)
    assert rows == [] and problems[0]["file"] == "nope.csv" and problems[0]["row"] is None
