"""Data security end to end on the mini call-center (the one scan of conftest's `center`, copied): retention,
witnessed destruction with a crash in the middle, backup verification, abnormal findings handled in the
workbench, and the package's 数据安全存储记录 and 异常通话监控记录 categories.

The call-center's calls are of 6-20 May 2025; judged on AS_OF = 2026-05-09 under a one-year policy, the calls
of 6-9 May are due (a year after the call, or after the complaint's closing), except a legal hold, the open
complaint and the complaint closed on 11 May.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import shutil
import sqlite3
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from conftest import ROOT, package
from helpers_serve import client, csrf_of, login

from pipeline.core import review_store
from pipeline.integrity import ledger
from pipeline.serve import accounts

sys.path.insert(0, str(ROOT / "fixtures"))
import callcenter  # noqa: E402

pytestmark = pytest.mark.filterwarnings("ignore:Workbook contains no default style")
AS_OF = "2026-05-09"
PASSWORDS = {"wang": "destroy-pass-123", "li": "witness-pass-123", "zhao": "reviewer-pass-123"}
HELD = "finance_marketing_complete"
KEPT_COMPLAINTS = ("complaint_call_stereo", "complaint_again_mp3")   # closed on 11 May; open (no handling record)
DUE = sorted(c[0] for c in callcenter.CALLS if c[6][0] <= 9 and c[0] not in (HELD, *KEPT_COMPLAINTS))
POLICY = """default:
  keep: 1y
types:
  投诉建议呼入: {keep: 1y, from: complaint_closed}
legal_holds:
  - file: "2025-05/rec_0000.wav"
    reason: 仲裁案 2026-031 / arbitration 2026-031
"""
STORAGE = {"location": "本地服务器 /srv/recordings（机房 A）", "transport_encryption": "SFTP (SSH)",
           "at_rest_encryption": "LUKS2 AES-256", "access_control": "质检组与投诉组账号",
           "access_approval": "质检主管审批开通账号", "approval_required": True, "backup": "每日增量至异地加密硬盘",
           "destruction": ""}


def cli(*args: str, stdin: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], input=stdin, capture_output=True, text=True,
                          cwd=ROOT, env={**os.environ, **(env or {})})


def hashes(folder: Path) -> dict[str, str]:
    return {p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
            for p in folder.rglob("*") if p.is_file()}


def statuses(proc: subprocess.CompletedProcess) -> dict[str, str]:
    """file -> status from `callaudit retention`'s listing."""
    assert proc.returncode == 0, proc.stderr
    return {line.split("\t")[2]: line.split("\t")[0] for line in proc.stdout.splitlines()}


def destroyed_entries(out: Path) -> list[dict]:
    return [e for e in ledger.read(out / ledger.FILENAME).entries if e["kind"] == "destroyed"]


def sheet(path: Path, name: str) -> list[dict]:
    rows = list(openpyxl.load_workbook(path, read_only=True)[name].iter_rows(values_only=True))
    return [dict(zip(rows[0], r)) for r in rows[1:]]


@pytest.fixture(scope="module")
def world(center, tmp_path_factory) -> dict:
    """A writable copy of the scanned call-center (archive and catalog, the catalog's paths pointing at the copy),
    three workbench accounts, the test policy, and package settings with the storage statement filled in."""
    base = tmp_path_factory.mktemp("datasec")
    source = center["base"] / "center"
    shutil.copytree(source, base / "center")
    shutil.copytree(center["base"] / "scan", base / "scan")
    out, archive = base / "scan", base / "center" / "archive"
    db = sqlite3.connect(out / "catalog.sqlite")
    db.execute("UPDATE files SET source_path = replace(source_path, ?, ?)", (str(source / "archive"), str(archive)))
    db.execute("UPDATE info SET value = ? WHERE key = 'root'", (str(archive),))   # the archive moved: its copy
    db.commit()
    assert all(Path(p).is_file() and str(p).startswith(str(archive))
               for (p,) in db.execute("SELECT source_path FROM files"))
    db.close()
    db = review_store.connect(out)
    for name, role in (("wang", "admin"), ("li", "approver"), ("zhao", "reviewer")):
        accounts.add_user(db, name, role, PASSWORDS[name], approved_by=None if name == "zhao" else "质检主管")
    db.close()
    (base / "policy.yaml").write_text(POLICY, "utf-8")
    config = (ROOT / "phrases" / "package.yaml").read_text("utf-8")
    head, _, _ = config.partition("\nstorage:")
    (base / "package.yaml").write_text(head + "\nstorage:\n" + "".join(
        f"  {k}: {json.dumps(v, ensure_ascii=False)}\n" for k, v in STORAGE.items()), "utf-8")
    names = dict(zip([c[0] for c in callcenter.CALLS], center["truth"]["recordings"]))
    return {"base": base, "out": out, "archive": archive, "center": base / "center", "names": names,
            "policy": base / "policy.yaml", "config": base / "package.yaml", "before": hashes(archive)}


def retention(world: dict, *extra: str, stdin: str = "", env: dict | None = None) -> subprocess.CompletedProcess:
    center = world["center"]
    return cli("retention", str(world["out"]), "--records", str(center / "exports"), "--complaints",
               str(center / "complaints.csv"), "--policy", str(world["policy"]), "--as-of", AS_OF, *extra,
               stdin=stdin, env=env)


DESTROY = ("--destroy", "--operator", "wang", "--witness", "li", "--passwords-stdin")
BOTH = f"{PASSWORDS['wang']}\n{PASSWORDS['li']}\n"


def test_1_the_plan_lists_what_is_due_and_why(world):
    listed = statuses(retention(world))
    names = world["names"]
    assert sorted(f for f, s in listed.items() if s == "due") == sorted(names[n] for n in DUE)
    assert [f for f, s in listed.items() if s == "hold"] == [names[HELD]]
    assert [f for f, s in listed.items() if s == "open_complaint"] == [names["complaint_again_mp3"]]
    assert listed[names["complaint_call_stereo"]] == "keep"         # closed on 11 May: kept until 2026-05-11
    assert set(listed.values()) == {"due", "hold", "open_complaint", "keep"}
    assert len(listed) == 40
    assert hashes(world["archive"]) == world["before"]               # listing deletes nothing


def test_2_a_destroy_needs_two_different_authenticated_people(world):
    for extra, stdin, said in [(("--destroy", "--operator", "wang", "--passwords-stdin"), BOTH, "witness"),
                               (("--destroy", "--operator", "wang", "--witness", "wang", "--passwords-stdin"), BOTH,
                                "two different people"),
                               (("--destroy", "--operator", "wang", "--witness", "nobody", "--passwords-stdin"), BOTH,
                                "no workbench account"),
                               (DESTROY, f"{PASSWORDS['wang']}\nwrong-password\n", "wrong password")]:
        proc = retention(world, *extra, stdin=stdin)
        assert proc.returncode == 2 and said in proc.stderr, proc.stderr
    assert hashes(world["archive"]) == world["before"]
    assert destroyed_entries(world["out"]) == []


def test_3_an_invalid_policy_names_file_and_line(world, tmp_path):
    bad = tmp_path / "policy.yaml"
    bad.write_text("default:\n  keep: 1y\ntypes:\n  营销外呼:\n    keep: one year\n", "utf-8")
    proc = cli("retention", str(world["out"]), "--policy", str(bad))
    assert proc.returncode == 2 and f"{bad}:5:" in proc.stderr and "'keep'" in proc.stderr
    bad.write_text("default:\n  keep: 1y\nlegal_holds:\n  - reason: 调查\n", "utf-8")
    proc = cli("retention", str(world["out"]), "--policy", str(bad))
    assert proc.returncode == 2 and f"{bad}:4:" in proc.stderr and "exactly one of" in proc.stderr


def test_4_a_crash_between_ledger_and_unlink_loses_nothing_unaccounted(world):
    archive, out, names = world["archive"], world["out"], world["names"]
    crashed = retention(world, *DESTROY, stdin=BOTH, env={"CALLAUDIT_TEST_KILL_AFTER_APPEND": "3"})
    assert crashed.returncode == -9, crashed.stderr                     # SIGKILL right after the 3rd append
    entries = destroyed_entries(out)
    assert len(entries) == 3
    assert [Path(e["source"]).exists() for e in entries] == [False, False, True]
    now = hashes(archive)
    gone = {e["path"] for e in entries[:2]}
    assert {f: h for f, h in world["before"].items() if f not in gone} == now   # nothing else touched
    assert ledger.read(out / ledger.FILENAME).breaks == []
    listed = statuses(retention(world))
    assert listed[entries[2]["path"]] == "interrupted" and all(listed[f] == "destroyed" for f in gone)

    proc = retention(world, *DESTROY, stdin=BOTH)
    assert proc.returncode == 0, proc.stderr
    assert "1 interrupted destructions completed" in proc.stderr
    entries = destroyed_entries(out)
    assert sorted(e["path"] for e in entries) == sorted(names[n] for n in DUE)     # one record per recording
    for e in entries:
        assert (e["operator"], e["witness"]) == ("wang", "li")
        assert e["sha256"] == world["before"][e["path"]] and e["size"] > 0 and e["method"].startswith("unlink")
        assert not Path(e["source"]).exists()
    kept = {f: h for f, h in world["before"].items() if f not in {e["path"] for e in entries}}
    assert hashes(archive) == kept                                          # what is not due is byte for byte there
    listed = statuses(retention(world))
    assert sorted(f for f, s in listed.items() if s == "destroyed") == sorted(names[n] for n in DUE)
    assert "due" not in listed.values()
    assert ledger.read(out / ledger.FILENAME).breaks == []


def test_5_backups_report_changed_missing_and_extra_copies_exactly(world):
    archive, out, names = world["archive"], world["out"], world["names"]
    first, second = world["base"] / "backup-local", world["base"] / "backup-cloud"
    shutil.copytree(archive, first)
    shutil.copytree(archive, second)
    changed, missing = names["para_course_trial"], names["piano_again"]
    data = bytearray((first / changed).read_bytes())
    data[len(data) // 2] ^= 0xFF
    (first / changed).write_bytes(bytes(data))
    (first / missing).unlink()
    destroyed = names[DUE[0]]
    (second / destroyed).write_bytes(b"a stale copy of a destroyed recording")

    absent = cli("verify", str(out), "--backup", str(first), str(world["base"] / "no-such-backup"))
    assert absent.returncode == 2 and "is not there" in absent.stderr
    assert not (out / "backups").exists()

    proc = cli("verify", str(out), "--backup", str(first), str(second))
    assert proc.returncode == 1, proc.stderr
    reports = list((out / "backups").glob("verified-*.json"))
    assert len(reports) == 1
    result = json.loads(reports[0].read_text("utf-8"))
    assert result["missing"] == [{"location": str(first.resolve()), "file": missing}]
    assert [(d["location"], d["file"], d["expected"]) for d in result["differing"]] == [
        (str(first.resolve()), changed, world["before"][changed])]
    assert result["extra"] == [{"location": str(second.resolve()), "file": destroyed, "destroyed": True}]
    remaining = 40 - len(DUE)
    assert result["recordings"] == remaining and result["matched"] == 2 * remaining - 2 and not result["clean"]
    assert f"missing\t{first.resolve()}\t{missing}" in proc.stdout
    entry = [e for e in ledger.read(out / ledger.FILENAME).entries if e["kind"] == "backup_verified"]
    assert len(entry) == 1 and (entry[0]["missing"], entry[0]["differing"], entry[0]["extra"]) == (1, 1, 1)
    assert entry[0]["report_sha256"] == hashlib.sha256(reports[0].read_bytes()).hexdigest()


NIGHT_ROW = ["通话编号", "主叫号码", "被叫号码", "通话起始时间", "通话时长(秒)", "通话类型", "通话结果", "坐席工号"]


def test_6_abnormal_findings_are_handled_in_the_workbench_and_packaged_apart(world):
    """Two night findings (the call-center's 16 May, and an export of 20 May added here): one handled in the
    workbench, one not; a playback by an account without an approver; then the package."""
    center, out = world["center"], world["out"]
    night = io.StringIO()
    csv.writer(night).writerows([NIGHT_ROW, ["CC0520030001", callcenter.LINE, callcenter.customer(80),
                                             "2025-05-20 03:05:00", 0, "回访外呼", "未接通", "A101"]])
    (center / "exports" / "cdr_2025-05_night.csv").write_bytes(night.getvalue().encode("utf-8-sig"))
    records = cli("records", str(center / "exports"), "--out", str(out))
    assert records.returncode == 0, records.stderr

    c = client(out)
    login(c, "wang", PASSWORDS["wang"])
    page = c.get("/abnormal").text
    keys = [line.split('data-key="')[1].split('"')[0] for line in page.splitlines() if 'data-key="' in line]
    assert len(keys) == 2 and page.count('data-state="open"') == 2
    first = c.get(f"/abnormal/{keys[0]}").text
    answer = c.post(f"/abnormal/{keys[0]}/handle", data={
        "csrf": csrf_of(first), "checked": "调取 16 日 03:10 的回访外呼记录，为系统定时任务误触发",
        "result": "停用该定时任务，向客户致歉", "measures": "夜间 02:00-05:00 外呼由系统拦截"})
    assert answer.status_code == 303
    assert c.get("/abnormal").text.count('data-state="handled"') == 1

    listener = client(out)
    login(listener, "zhao", PASSWORDS["zhao"])
    db = sqlite3.connect(out / "catalog.sqlite")
    present = [cid for cid, path in db.execute("SELECT call_id, source_path FROM files") if Path(path).exists()]
    db.close()
    assert listener.get(f"/calls/{present[0]}/recording").status_code == 200

    pkg = world["base"] / "pkg"
    proc = package(center, out, pkg, "--as-of", AS_OF, "--retention", str(world["policy"]),
                   "--config", str(world["config"]))
    assert proc.returncode == 0, proc.stderr
    world["pkg"] = pkg
    findings = json.loads((pkg / "findings.json").read_text("utf-8"))
    security = [f for f in findings["flags"] if "数据安全存储记录" in f["categories"]]
    assert sorted({f["check"] for f in security}) == ["backup_not_clean", "playback_unapproved",
                                                       "storage_statement_missing"]
    assert [f["subject"] for f in security if f["check"] == "storage_statement_missing"] == ["destruction"]
    assert [f["call_id"] for f in security if f["check"] == "playback_unapproved"] == [present[0]]
    unhandled = [f for f in findings["flags"] if f["check"] == "abnormal_unhandled"]
    assert len(unhandled) == 1 and "2025-05-20" in unhandled[0]["message"]

    index = pkg / "数据安全存储记录" / "index.xlsx"
    destroyed = sheet(index, "销毁记录")
    assert sorted(r["文件"] for r in destroyed) == sorted(world["names"][n] for n in DUE)
    assert {(r["销毁人"], r["监销人"]) for r in destroyed} == {("wang", "li")}
    plan = {r["文件"]: r["状态"] for r in sheet(index, "保存期限")}
    assert plan[world["names"][HELD]] == "hold" and sum(s == "destroyed" for s in plan.values()) == len(DUE)
    statement = {r["项目"]: r["声明"] for r in sheet(index, "存储与加密")}
    assert statement[next(k for k in statement if k.startswith("过期记录销毁方式"))] == "（缺失 missing）"
    assert statement[next(k for k in statement if k.startswith("存储加密"))] == "LUKS2 AES-256"
    assert [r["结论"] for r in sheet(index, "备份核验")] == ["有差异"]
    assert sorted(r["差异"] for r in sheet(index, "备份差异")) == ["不一致", "多余", "缺失"]
    assert [r["访问人 user"] for r in sheet(index, "访问记录")] == ["zhao"]
    assert sheet(index, "台账核验")[-1]["结果"] == "通过 / verifies"
    assert (pkg / "数据安全存储记录" / "custody.jsonl").read_bytes() == (out / "custody.jsonl").read_bytes()
    manifest = (pkg / "MANIFEST.sha256").read_text("utf-8")
    assert "数据安全存储记录/custody.jsonl" in manifest and "数据安全存储记录/backups/verified-" in manifest

    abnormal = pkg / "异常通话监控记录" / "index.xlsx"
    handled, open_ = sheet(abnormal, "已处理"), sheet(abnormal, "未处理")
    assert [(r["发现日期"], r["处理人"], r["整改措施"]) for r in handled] == [
        ("2025-05-16", "wang", "夜间 02:00-05:00 外呼由系统拦截")]
    assert [r["发现日期"] for r in open_] == ["2025-05-20"]

    html = (pkg / "readiness.html").read_text("utf-8")
    assert '<a href="#数据安全存储记录">数据安全存储记录</a>' in html
    for words in ("收听无审批人", "存储与加密声明缺项", "最近一次备份核验有差异", "异常通话未处理", "已处理 wang", "未处理"):
        assert words in html, words
    assert "超过保存期限未销毁" not in html and "录音缺失且无销毁记录" not in html


def test_7_the_default_package_has_the_sixth_category(center):
    """The session's package (shipped policy, empty statement): every field of the statement is listed as
    missing, no backup was verified, and the category covers every recording."""
    flags = [f for f in center["findings"]["flags"] if "数据安全存储记录" in f["categories"]]
    assert sorted(f["subject"] for f in flags if f["check"] == "storage_statement_missing") == sorted(
        ["location", "transport_encryption", "at_rest_encryption", "access_control", "access_approval",
         "approval_required", "backup", "destruction"])
    assert [f["check"] for f in flags if f["check"] == "no_backup_verified"] == ["no_backup_verified"]
    category = center["findings"]["categories"][4]
    assert category["category"] == "数据安全存储记录" and category["items"] == 40 and category["rejected"] > 0
