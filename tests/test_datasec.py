"""Data security, piece by piece, on small real files and real SQLite catalogs (no scan): the retention policy and
its file:line errors, the plan's every status, the people check of a destroy, the destroy's ledger-first order,
the backup comparison, the append-only abnormal handling store and the storage statement. The end-to-end run on
the fixture call-center is tests/test_datasec_e2e.py."""

from __future__ import annotations

import hashlib
import sqlite3
from datetime import date
from pathlib import Path

import pytest

from pipeline.core import abnormal_store, review_store
from pipeline.core.catalog import Catalog
from pipeline.core.errors import UsageError
from pipeline.core.settings import CatalogError
from pipeline.integrity import backups, ledger
from pipeline.package import datasec
from pipeline.package.config import PackageConfig, load_package_config
from pipeline.package.link import Linked
from pipeline.retention import destroy
from pipeline.retention.plan import Complaint, add_period, plan
from pipeline.retention.policy import DEFAULT_POLICY, Rule, load_policy
from pipeline.scan.phrase_catalog import catalog_files
from pipeline.serve import accounts

TODAY = date(2026, 5, 9)


def write(path: Path, text: str) -> Path:
    path.write_text(text, "utf-8")
    return path


# -- policy --------------------------------------------------------------------------------
def test_the_shipped_policy_keeps_a_year_and_complaints_a_year_after_closing():
    policy = load_policy(DEFAULT_POLICY)
    assert policy.default == Rule(years=1, days=0, start="call")
    assert policy.rule("投诉建议呼入").start == "complaint_closed" and policy.rule("营销外呼") == policy.default
    assert policy.holds == ()
    assert "retention.yaml" not in [p.name for p in catalog_files(DEFAULT_POLICY.parent)]   # not a phrase catalog


@pytest.mark.parametrize("text, line, words", [
    ("types: {}\n", 1, "missing 'default'"),
    ("default:\n  keep: 1y\n  kept: 2y\n", 3, "unknown key 'kept'"),
    ("default:\n  keep: 12 months\n", 2, "a period such as 1y"),
    ("default:\n  keep: 0d\n", 2, "longer than 0"),
    ("default:\n  keep: 1y\n  from: closing\n", 3, "'from' must be one of"),
    ("default: {keep: 1y}\ntypes:\n  营销外呼: {from: call}\n", 3, "needs 'keep'"),
    ("default: {keep: 1y}\nlegal_holds:\n  - file: '*.wav'\n", 3, "needs a 'reason'"),
    ("default: {keep: 1y}\nlegal_holds:\n  - {file: '*.wav', call_id: X, reason: r}\n", 3, "exactly one of"),
    ("default: {keep: 1y}\nlegal_holds:\n  - file: '*.wav'\n    reason: r\n    until: soon\n", 5, "must be a date"),
    ("default: {keep: 1y}\nlegal_holds: {file: x}\n", 2, "must be a list"),
    ("default: {keep: 1y}\ndefault: {keep: 2y}\n", 2, "duplicate key"),
])
def test_policy_mistakes_name_file_and_line(tmp_path, text, line, words):
    path = write(tmp_path / "retention.yaml", text)
    with pytest.raises(CatalogError) as caught:
        load_policy(path)
    assert str(caught.value).startswith(f"{path}:{line}:") and words in str(caught.value)


def test_a_period_is_calendar_years_or_days():
    assert add_period(date(2024, 2, 29), Rule(years=1)) == date(2025, 2, 28)
    assert add_period(date(2025, 5, 8), Rule(years=1)) == date(2026, 5, 8)
    assert add_period(date(2025, 5, 8), Rule(years=0, days=30)) == date(2025, 6, 7)


# -- plan ----------------------------------------------------------------------------------
def recording(folder: Path, name: str, content: bytes) -> tuple[dict, str]:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return ({"call_id": name.split("/")[-1].split(".")[0], "file": name,
             "recording": {"sha256": hashlib.sha256(content).hexdigest()}, "call": {"type": "service"}}, str(path))


def test_the_plan_gives_every_recording_a_status_and_a_reason(tmp_path):
    policy = load_policy(write(tmp_path / "p.yaml", "default: {keep: 1y}\ntypes:\n  complaint: {keep: 30d, from: "
                               "complaint_closed}\nlegal_holds:\n  - {file: 'a/held*', reason: 仲裁, until: 2027-01-01}\n"
                               "  - {file: 'a/expired*', reason: 旧案, until: 2026-01-01}\n"))
    made = [recording(tmp_path, f"a/{stem}_{stamp}_01060000101_13800138000.wav", stem.encode())
            for stem, stamp in (("old", "20250501_100000"), ("young", "20250601_100000"),
                                ("held", "20250501_100000"), ("expired", "20250501_100000"),
                                ("changed", "20250501_100000"), ("gone", "20250501_100000"))]
    made.append(recording(tmp_path, "a/nodate.wav", b"x"))
    made.append(recording(tmp_path, "a/complaint_20250301_100000_13800138000_95566.wav", b"c"))
    made.append(recording(tmp_path, "a/closed_20250301_100000_13800138000_95566.wav", b"d"))
    records = [r for r, _ in made]
    for r in records[-2:]:
        r["call"]["type"] = "complaint"
    sources = {r["call_id"]: p for r, p in made}
    Path(sources["changed_20250501_100000_01060000101_13800138000"]).write_bytes(b"edited")
    Path(sources["gone_20250501_100000_01060000101_13800138000"]).unlink()
    complaints = {"complaint_20250301_100000_13800138000_95566": Complaint(None, "h.csv:2"),
                  "closed_20250301_100000_13800138000_95566": Complaint(date(2026, 4, 1), "h.csv:3")}
    items = {i["file"].split("/")[1].split("_")[0].split(".")[0]: i for i in
             plan(records, sources, Linked(), complaints, policy, PackageConfig(), TODAY, {})}
    assert {k: v["status"] for k, v in items.items()} == {
        "old": "due", "young": "keep", "held": "hold", "expired": "due", "changed": "changed", "gone": "missing",
        "nodate": "undated", "complaint": "open_complaint", "closed": "due"}
    assert items["old"]["due_on"] == "2026-05-01" and items["young"]["reason"].startswith("kept until 2026-06-01")
    assert "仲裁" in items["held"]["reason"] and "h.csv:2" in items["complaint"]["reason"]
    assert items["closed"]["due_on"] == "2026-05-01"                       # 30 days after closing, not the call
    no_records = {i["call_id"]: i["status"] for i in plan(records, sources, Linked(), None, policy,
                                                         PackageConfig(), TODAY, {})}
    assert no_records["closed_20250301_100000_13800138000_95566"] == "open_complaint"  # closing unknown: kept


def test_destroyed_and_interrupted_come_from_the_ledger(tmp_path):
    (record, path), = [recording(tmp_path, "a/x_20250501_100000_01060000101_13800138000.wav", b"abc")]
    entry = {"sha256": record["recording"]["sha256"], "time": "t", "operator": "a", "witness": "b"}
    policy = load_policy(DEFAULT_POLICY)
    run = lambda: plan([record], {record["call_id"]: path}, Linked(), None, policy, PackageConfig(), TODAY,  # noqa: E731
                       {record["call_id"]: entry})[0]["status"]
    assert run() == "interrupted"
    Path(path).unlink()
    assert run() == "destroyed"
    Path(path).write_bytes(b"new content")
    assert run() == "changed"


# -- destroy -------------------------------------------------------------------------------
@pytest.fixture
def archive(tmp_path) -> dict:
    """An output folder with a real (empty) catalog, two accounts, and two due recordings plus one kept."""
    out = tmp_path / "out"
    Catalog(out).close()
    db = review_store.connect(out)
    accounts.add_user(db, "wang", "admin", "destroy-pass-1")
    accounts.add_user(db, "li", "approver", "witness-pass-1")
    db.close()
    made = [recording(tmp_path / "arch", f"a/{n}_{s}_01060000101_13800138000.wav", n.encode() * 100)
            for n, s in (("one", "20250501_100000"), ("two", "20250502_100000"), ("keep", "20260501_100000"))]
    items = plan([r for r, _ in made], {r["call_id"]: p for r, p in made}, Linked(), None,
                 load_policy(DEFAULT_POLICY), PackageConfig(), TODAY, {})
    return {"out": out, "items": items, "paths": [p for _, p in made]}


def test_a_destroy_checks_both_people_first(archive):
    out = archive["out"]
    for operator, witness, passwords, words in [
            ("wang", "", ("destroy-pass-1", ""), "a witness"), ("", "li", ("", "witness-pass-1"), "an operator"),
            ("wang", "wang", ("destroy-pass-1", "destroy-pass-1"), "two different people"),
            ("wang", "zhao", ("destroy-pass-1", "x"), "no workbench account"),
            ("wang", "li", ("destroy-pass-1", "wrong"), "wrong password for the witness")]:
        with pytest.raises(UsageError, match=words):
            destroy.check_people(out, operator, witness, passwords)
    destroy.check_people(out, "wang", "li", ("destroy-pass-1", "witness-pass-1"))


def test_each_destruction_is_in_the_ledger_before_its_file_goes(archive, monkeypatch):
    out, paths = archive["out"], archive["paths"]
    seen = []
    real_unlink = destroy._unlink

    def unlink(path):   # at the moment of each deletion, the ledger already holds its record
        seen.append([e["source"] for e in ledger.read(out / ledger.FILENAME).entries])
        real_unlink(path)

    monkeypatch.setattr(destroy, "_unlink", unlink)
    done = destroy.destroy(out, archive["items"], "wang", "li")
    assert [r["source"] for r in done.records] == paths[:2]
    assert seen == [paths[:1], paths[:2]]
    assert not Path(paths[0]).exists() and not Path(paths[1]).exists() and Path(paths[2]).exists()
    assert set(destroy.destructions(out)) == {r["call_id"] for r in done.records}


def test_a_broken_ledger_stops_a_destroy(archive):
    out = archive["out"]
    log = ledger.Ledger.open(out)
    log.append("destroyed", {"call_id": "z", "path": "f", "source": "/nowhere", "size": 1, "sha256": "0" * 64,
                             "time": "t", "method": "m", "operator": "a", "witness": "b"})
    log.close()
    text = (out / ledger.FILENAME).read_text("utf-8").replace('"witness":"b"', '"witness":"c"')
    (out / ledger.FILENAME).write_text(text, "utf-8")
    with pytest.raises(UsageError, match="does not verify"):
        destroy.destroy(out, archive["items"], "wang", "li")
    assert all(Path(p).exists() for p in archive["paths"])


# -- backups -------------------------------------------------------------------------------
def test_backup_comparison_is_exact(tmp_path):
    first, second = tmp_path / "b1", tmp_path / "b2"
    for folder in (first, second):
        (folder / "m").mkdir(parents=True)
        (folder / "m" / "a.wav").write_bytes(b"A")
        (folder / "m" / "b.wav").write_bytes(b"B")
    (first / "m" / "b.wav").write_bytes(b"b")
    (second / "m" / "a.wav").unlink()
    (second / "m" / "gone.wav").write_bytes(b"G")
    (second / "m" / "other.txt").write_bytes(b"?")
    sha = {n: hashlib.sha256(n.encode()).hexdigest() for n in "AB"}
    found = backups.compare({"m/a.wav": sha["A"], "m/b.wav": sha["B"]}, {"m/gone.wav"}, [first, second])
    assert found["matched"] == 2
    assert found["missing"] == [{"location": str(second), "file": "m/a.wav"}]
    assert found["differing"] == [{"location": str(first), "file": "m/b.wav",
                                   "sha256": hashlib.sha256(b"b").hexdigest(), "expected": sha["B"]}]
    assert found["extra"] == [{"location": str(second), "file": "m/gone.wav", "destroyed": True},
                              {"location": str(second), "file": "m/other.txt", "destroyed": False}]


def test_a_backup_location_that_is_not_there_is_a_usage_error(archive, tmp_path):
    with pytest.raises(UsageError, match="is not there"):
        backups.verify_backups(archive["out"], [tmp_path / "missing"])
    assert not (archive["out"] / backups.FOLDER).exists()
    assert not (archive["out"] / ledger.FILENAME).exists()


# -- abnormal handling ---------------------------------------------------------------------
FINDING = {"check": "night", "subject": "02:00-05:00", "day": "2025-04-08", "id": "A6"}


def test_abnormal_handling_is_append_only(archive):
    db = review_store.connect(archive["out"])
    with pytest.raises(review_store.ReviewError, match="整改措施"):
        abnormal_store.handle(db, FINDING, "wang", "checked", "result", " ")
    assert abnormal_store.current(db) == {}
    abnormal_store.handle(db, FINDING, "wang", "调取录音", "培训", "系统拦截")
    latest = abnormal_store.handle(db, {**FINDING, "id": "A7"}, "li", "复核", "扣绩效", "自动预警")
    assert abnormal_store.current(db) == {abnormal_store.finding_key(FINDING): latest}   # the id is no identity
    assert [h["handler"] for h in abnormal_store.history(db, latest["finding"])] == ["wang", "li"]
    for statement in ("UPDATE abnormal_handling SET result='改写'", "DELETE FROM abnormal_handling"):
        with pytest.raises(sqlite3.IntegrityError, match="append-only"):
            db.execute(statement)
    assert len(abnormal_store.history(db, latest["finding"])) == 2
    db.close()


# -- the storage statement and the category's flags -------------------------------------------------
def test_the_shipped_statement_is_empty_and_listed_as_missing():
    config = load_package_config()
    assert set(config.storage.values()) == {None}
    assert datasec.missing(config.storage) == list(datasec.FIELDS)


def test_a_statement_of_the_wrong_type_names_its_line(tmp_path):
    text = (Path(__file__).parent.parent / "phrases" / "package.yaml").read_text("utf-8")
    lines = text.splitlines()
    at = next(i for i, line in enumerate(lines) if line.strip().startswith("approval_required:"))
    lines[at] = "  approval_required: yes please"
    path = write(tmp_path / "package.yaml", "\n".join(lines) + "\n")
    with pytest.raises(CatalogError, match=rf"^{path}:{at + 1}: 'approval_required' must be true or false"):
        load_package_config(path)


def security(**changes) -> datasec.Security:
    base = dict(statement=dict.fromkeys(datasec.FIELDS, "x") | {"approval_required": False}, access=[],
                verifications=[{"time": "2025-06-01T10:00:00+0800", "clean": True, "missing": [], "differing": [],
                                "extra": []}], destructions=[],
                ledger={"path": "l", "present": True, "entries": 1, "signed": 0, "breaks": []}, plan=[],
                since=date(2025, 1, 1), as_of=TODAY, flags=[])
    return datasec.Security(**{**base, **changes})


def test_the_category_flags_each_gap():
    assert datasec._flags(security()) == []
    unwitnessed = [{"call_id": "c1", "path": "a.wav", "time": "t", "operator": "wang", "witness": ""},
                   {"call_id": "c2", "path": "b.wav", "time": "t", "operator": "wang", "witness": "wang"},
                   {"call_id": "c3", "path": "c.wav", "time": "t", "operator": "wang", "witness": "li"}]
    assert [f["call_id"] for f in datasec._flags(security(destructions=unwitnessed))] == ["c1", "c2"]
    played = [{"user": "zhao", "kind": "play", "media": "recording", "started_at": "2025-06-01 10:00:00",
               "call_id": "c9", "approver": ""}]
    assert datasec._flags(security(access=played)) == []                  # approval not required
    required = dict.fromkeys(datasec.FIELDS, "x") | {"approval_required": True}
    assert [f["check"] for f in datasec._flags(security(access=played, statement=required))] == [
        "playback_unapproved"]
    old = [{"time": "2024-12-31T10:00:00+0800", "clean": True, "missing": [], "differing": [], "extra": []}]
    assert [f["check"] for f in datasec._flags(security(verifications=old))] == ["no_backup_verified"]
    assert [f["check"] for f in datasec._flags(security(ledger={"breaks": ["entry 3 changed"]}))] == ["ledger_broken"]
