"""`callaudit package` end to end: the mini call-center (fixtures/callcenter.py) scanned with the real model,
packaged, every planted defect found, the layout as specified, workbooks read back, the manifest verified and
readiness.html opened in a real browser."""

from __future__ import annotations

import hashlib
import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import openpyxl
import pytest
from conftest import ROOT, package
from helpers_browser import dump_dom, needs_chromium, pixels, render

from pipeline.scan.clips import decoded_duration

sys.path.insert(0, str(ROOT / "fixtures"))
import callcenter  # noqa: E402

CATEGORIES = ["基础通话记录", "合规性标识记录", "投诉处理通话记录", "敏感业务专项记录", "数据安全存储记录", "异常通话监控记录"]
SHEETS = {"基础通话记录": ["通话记录", "问题", "数据问题"], "合规性标识记录": ["营销通话", "问题", "数据问题"],
          "投诉处理通话记录": ["投诉通话", "问题", "数据问题"],
          "敏感业务专项记录": ["关键片段", "资质核验", "问题", "数据问题"],
          "数据安全存储记录": ["存储与加密", "访问记录", "备份核验", "备份差异", "销毁记录", "保存期限", "台账核验", "问题"],
          "异常通话监控记录": ["异常通话日报", "已处理", "未处理", "问题"]}
# The checks of the data-security category and of abnormal handling depend on the day and the center's own
# records, not on planted defects: tests/test_datasec_e2e.py covers them.
NOT_PLANTED = ("数据安全存储记录",)
pytestmark = pytest.mark.filterwarnings("ignore:Workbook contains no default style")  # our writer sets no cellStyles
SEGMENT = re.compile(r"^\d\d-\d\d-\d\d_\d\d-\d\d-\d\d_.+\.wav$")


def _key(flag: dict, files: dict[str, str]) -> str:
    if flag["call_id"]:
        return files[flag["call_id"]]
    if flag["cdr"]:
        return f"{flag['cdr']['file']}:{flag['cdr']['row']}".replace("[通话记录]", "")
    return flag["subject"]


def _planted_kinds(flags: list[dict], files: dict[str, str]) -> list[tuple[str, str]]:
    """(check, key) of the kinds of flag the call-center's truth plants: not the scan's own flags, nor the
    data-security category's and the unhandled abnormal findings (tests/test_datasec_e2e.py checks those)."""
    return sorted((f["check"], _key(f, files)) for f in flags if f["check"] != "scan"
                  and not set(NOT_PLANTED) & set(f["categories"]) and f["check"] != "abnormal_unhandled")


def test_every_planted_defect_is_found_and_nothing_else(center):
    files = {r["call_id"]: r["file"] for r in center["records"]}
    planted = sorted((p["check"], p["key"]) for p in center["truth"]["flags"])
    assert _planted_kinds(center["findings"]["flags"], files) == planted
    assert len(center["records"]) == len(center["truth"]["recordings"]) == 40
    candidates = [f["candidate"] for f in center["findings"]["flags"] if f["check"] == "no_consent" and f["candidate"]]
    assert candidates == [center["truth"]["consent_candidate"]]


def test_bad_rows_are_listed_never_fatal(center):
    listed = sorted(f"{p['file']}:{p['row']}:{p['field']}".replace("[通话记录]", "")
                    for p in center["findings"]["input_problems"])
    assert listed == sorted(p["key"] for p in center["truth"]["input_problems"])
    assert center["truth"]["abnormal"] == [{"check": a["check"], "day": a["day"]}
                                           for a in json.loads((center["pkg"] / "findings.json").read_text("utf-8"))
                                           ["categories"][5]["abnormal"]]


def test_exports_under_other_headers_find_the_same_problems(center):
    """The same data under synonym headers, full-width and spaced (callcenter.build(..., "synonyms")), a complaint
    file naming recordings instead of call ids, and one unexpected call type: packaged from the same scan (no second
    scan), it finds the same problems; the bad call type is a data problem and hides none of its call's findings."""
    base = center["base"]
    truth = callcenter.build(base / "variant", headers="synonyms")
    proc = package(base / "variant", base / "scan", base / "variant_pkg")
    assert proc.returncode == 0, proc.stderr
    findings = json.loads((base / "variant_pkg" / "findings.json").read_text("utf-8"))
    files = {r["call_id"]: r["file"] for r in center["records"]}
    assert _planted_kinds(findings["flags"], files) == _planted_kinds(center["findings"]["flags"], files) == sorted(
        (p["check"], p["key"]) for p in truth["flags"])
    def scan_flags(flags):
        return sorted((f["call_id"], f["problem"], f["rule"] or "", tuple(f["categories"])) for f in flags
                      if f["check"] == "scan")
    assert scan_flags(findings["flags"]) == scan_flags(center["findings"]["flags"])
    listed = sorted(f"{p['file']}:{p['row']}:{p['field']}".replace("[通话记录]", "") for p in findings["input_problems"])
    assert listed == sorted(p["key"] for p in truth["input_problems"])
    odd = next(p for p in findings["input_problems"] if p["field"] == "call_type")
    assert odd["value"] == callcenter.ODD_CALL_TYPE[1]
    medical = next(c for c, f in files.items() if f == _recording_of(truth, callcenter.ODD_CALL_TYPE[0]))
    assert any(f["check"] == "certificate_not_valid" and f["call_id"] == medical for f in findings["flags"])
    lost = next(f for f in findings["flags"] if f["check"] == "no_recording" and "files" in f["cdr"]["file"])
    assert "service_lost.wav" in lost["message"] and f"row {lost['cdr']['row']}" in lost["message"]


def _recording_of(truth: dict, name: str) -> str:
    """The archive path of a fixture call-center recording by its CALLS name (same order as truth["recordings"])."""
    return truth["recordings"][[c[0] for c in callcenter.CALLS].index(name)]


def test_the_scans_flags_reach_the_package(center):
    scan_flags = sorted((r["call_id"], f["problem"], f["rule"] or "") for r in center["records"] for f in r["flags"])
    passed = sorted((f["call_id"], f["problem"], f["rule"] or "") for f in center["findings"]["flags"]
                    if f["check"] == "scan")
    assert passed == scan_flags and scan_flags


def test_layout(center):
    pkg = center["pkg"]
    assert sorted(p.name for p in pkg.iterdir()) == sorted(["MANIFEST.sha256", "findings.json", "readiness.html",
                                                            *CATEGORIES])
    for category in CATEGORIES:
        assert (pkg / category / "index.xlsx").is_file()
    complaints = sorted(p for p in (pkg / "投诉处理通话记录").iterdir() if p.is_dir())
    assert len(complaints) == 4
    for folder in complaints:
        assert sorted(p.stem for p in folder.iterdir()) == ["处理记录", "录音"]
    sensitive = [p for p in (pkg / "敏感业务专项记录").iterdir() if p.is_dir()]
    assert sensitive
    for folder in sensitive:
        clips = [p for p in folder.iterdir() if p.suffix == ".wav"]
        assert (folder / "标注.txt").is_file() and clips
        assert all(SEGMENT.match(p.name) for p in clips), [p.name for p in clips]
        sheet = (folder / "标注.txt").read_text("utf-8").splitlines()
        assert sorted(f"{p.name[:8].replace('-', ':')}-{p.name[9:17].replace('-', ':')} {p.name[18:-4]}"
                      for p in clips) == sorted(sheet)


def rows(path: Path, sheet: str) -> list[tuple]:
    book = openpyxl.load_workbook(path, read_only=True)
    return list(book[sheet].iter_rows(values_only=True))


def test_indexes_read_back_with_openpyxl(center):
    pkg, flags = center["pkg"], center["findings"]["flags"]
    for category, sheets in SHEETS.items():
        book = openpyxl.load_workbook(pkg / category / "index.xlsx", read_only=True)
        assert book.sheetnames == sheets
        problems = rows(pkg / category / "index.xlsx", "问题")
        assert len(problems) - 1 == sum(1 for f in flags if category in f["categories"])
    base = rows(pkg / "基础通话记录" / "index.xlsx", "通话记录")
    assert len(base) - 1 == center["findings"]["cdr_rows"]
    assert sum(1 for r in base[1:] if r[10]) == 39               # every recording but the unclaimed one is linked
    complaints = {r[1].split("-")[0]: r for r in rows(pkg / "投诉处理通话记录" / "index.xlsx", "投诉通话")[1:]}
    assert complaints["complaint_cut"][12].startswith("疑似篡改") and "missing" in complaints["complaint_cut"][12]
    assert "时长对账" in complaints["complaint_cut"][12]
    assert center["findings"]["custody"]["ok"] and center["findings"]["custody"]["entries"] >= 40
    assert complaints["complaint_call_stereo"][11].startswith("明天")
    segments = rows(pkg / "敏感业务专项记录" / "index.xlsx", "关键片段")[1:]
    for call, span, label, clip, *_ in segments:
        path = pkg / "敏感业务专项记录" / clip
        assert path.is_file(), clip
        start, end = (sum(int(x) * m for x, m in zip(t.split(":"), (3600, 60, 1))) for t in span.split("-"))
        assert end - start - 1 <= decoded_duration(path) <= end - start + 2 * 0.5 + 0.1   # whole seconds + padding
    checks = rows(pkg / "敏感业务专项记录" / "index.xlsx", "资质核验")[1:]
    assert len(checks) == 10 and sum(1 for r in checks if r[-1]) == 5


def test_manifest_covers_every_file_and_proves_integrity(center, tmp_path):
    pkg = center["pkg"]
    lines = (pkg / "MANIFEST.sha256").read_text("utf-8").splitlines()
    listed = [line.split("  ", 1)[1] for line in lines]
    on_disk = sorted(p.relative_to(pkg).as_posix() for p in pkg.rglob("*") if p.is_file() and p.name != "MANIFEST.sha256")
    assert listed == on_disk == sorted(listed)
    for line in lines:
        digest, name = line.split("  ", 1)
        assert hashlib.sha256((pkg / name).read_bytes()).hexdigest() == digest
    check = subprocess.run(["sha256sum", "--quiet", "-c", "MANIFEST.sha256"], cwd=pkg, capture_output=True, text=True)
    assert check.returncode == 0, check.stdout + check.stderr
    copy = tmp_path / "copy"
    shutil.copytree(pkg, copy)
    clip = next((copy / "敏感业务专项记录").rglob("*.wav"))
    clip.write_bytes(clip.read_bytes()[:-1] + b"\0")
    tampered = subprocess.run(["sha256sum", "--quiet", "-c", "MANIFEST.sha256"], cwd=copy, capture_output=True,
                              text=True)
    assert tampered.returncode != 0 and clip.name in tampered.stdout


@needs_chromium
def test_readiness_in_a_real_browser(center, tmp_path):
    page = center["pkg"] / "readiness.html"
    dom = dump_dom(page, tmp_path)
    summary = center["findings"]["categories"]
    for category in summary:
        row = re.search(rf'<a href="#{category["category"]}">{category["category"]}</a></td><td>(\d+) [^<]*</td>'
                        rf'<td><span class="(\w+)">(\d+)</span>', dom)
        assert row, category["category"]
        assert (int(row[1]), row[2], int(row[3])) == (category["items"], "bad" if category["rejected"] else "ok",
                                                      category["rejected"])
    assert "无该号码的同意记录" in dom and "承诺时限未兑现" in dom and "证书属于他人" in dom
    console = render(page, tmp_path / "shot.png", tmp_path)
    assert console == ""
    img = pixels(tmp_path / "shot.png")
    red = ((img[..., 0] > 150) & (img[..., 1] < 60) & (img[..., 2] < 60)).sum()
    assert red > 50, "the rejected counts are not drawn in red"


def package_texts(folder: Path) -> list[str]:
    """Every file name and every text of a package (JSON, HTML, sheets, manifest, every workbook cell)."""
    texts = [p.relative_to(folder).as_posix() for p in folder.rglob("*")]
    for path in folder.rglob("*"):
        if path.suffix in (".json", ".html", ".txt", ".sha256"):
            texts.append(path.read_text("utf-8"))
        elif path.suffix == ".xlsx":
            book = openpyxl.load_workbook(path, read_only=True)
            texts += [str(c) for ws in book.worksheets for r in ws.iter_rows(values_only=True) for c in r if c]
    return texts


def test_redact_masks_every_personal_number(center):
    numbers = {callcenter.customer(i) for i in range(len(callcenter.CALLS))}
    plain = package_texts(center["pkg"])
    assert sum(1 for n in numbers if any(n in t for t in plain)) >= 30     # the plain package holds them
    texts = package_texts(center["redacted"])
    leaked = {n for n in numbers if any(n in t for t in texts)}
    assert not leaked
    assert any("*******" in t for t in texts)
    plain = json.loads((center["pkg"] / "findings.json").read_text("utf-8"))
    masked = json.loads((center["redacted"] / "findings.json").read_text("utf-8"))
    assert [f["check"] for f in masked["flags"]] == [f["check"] for f in plain["flags"]]


def test_usage_errors_exit_2(center, tmp_path):
    no_scan = package(center["base"] / "center", tmp_path, tmp_path / "out")
    assert no_scan.returncode == 2 and "holds no scan" in no_scan.stderr
    (tmp_path / "empty.csv").write_text("说明\n无\n", "utf-8")
    proc = subprocess.run([sys.executable, "-m", "pipeline", "package", "--scan", str(center["base"] / "scan"),
                           "--records", str(tmp_path / "empty.csv"), "--out", str(tmp_path / "out")],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 2 and "no call-detail row" in proc.stderr
    assert not (tmp_path / "out").exists()


def test_every_flag_passes_through_package_findings(center, tmp_path, monkeypatch):
    """Everything comes from package_findings: what it drops is nowhere in the package."""
    from pipeline.package import build as package_mod
    from pipeline.package.join import PackageOptions

    original = package_mod.package_findings
    monkeypatch.setattr(package_mod, "package_findings",
                        lambda *args: [f for f in original(*args) if f["check"] != "no_consent"])
    out = tmp_path / "pkg"
    shutil.copytree(center["pkg"], out)
    (out / "stray.txt").write_text("from an earlier package", "utf-8")
    center_dir = center["base"] / "center"
    options = PackageOptions(records=[str(center_dir / "exports")], consent=center_dir / "consent.csv",
                             complaints=center_dir / "complaints.csv", agents=center_dir / "agents.csv")
    package_mod.build_package(center["base"] / "scan", out, options)
    assert not (out / "stray.txt").exists()                    # the package is replaced whole
    texts = package_texts(out)
    assert not any("no_consent" in t or "无该号码的同意记录" in t for t in texts)
    kept = json.loads((out / "findings.json").read_text("utf-8"))["flags"]
    assert len(kept) == len(center["findings"]["flags"]) - 3


def test_reviewers_decisions_reach_the_package(center, tmp_path):
    """Decisions made in `callaudit serve` (stored by review_store, as the workbench does): a confirmed flag is
    packaged as confirmed, a dismissal approved by a second reviewer is not counted (but listed as dismissed),
    and a dismissal still waiting for approval keeps counting."""
    from pipeline.core import review_store

    scan = tmp_path / "scan"
    shutil.copytree(center["base"] / "scan", scan)
    flagged = [(r["call_id"], f) for r in center["records"] for f in r["flags"] if f["rule"]]
    (confirm_id, confirm), (dismiss_id, dismiss), (pending_id, pending) = flagged[:3]
    db = review_store.connect(scan)
    try:
        review_store.decide(db, call_id=confirm_id, flag=confirm, action="confirm", reviewer="zhangsan")
        review_store.decide(db, call_id=dismiss_id, flag=dismiss, action="dismiss", reviewer="zhangsan",
                            reason="the statement is there, misheard")
        review_store.approve(db, review_store.flag_id(dismiss_id, dismiss), "lisi", "approved")
        review_store.decide(db, call_id=pending_id, flag=pending, action="dismiss", reviewer="zhangsan",
                            reason="said by the customer")
    finally:
        db.close()
    proc = package(center["base"] / "center", scan, tmp_path / "pkg")
    assert proc.returncode == 0, proc.stderr
    findings = json.loads((tmp_path / "pkg" / "findings.json").read_text("utf-8"))

    def state(flags, call_id, flag):
        return [f["review"] for f in flags if f["check"] == "scan" and f["call_id"] == call_id
                and (f["problem"], f["rule"], f["start"]) == (flag["problem"], flag["rule"], flag["start"])]

    assert state(findings["flags"], confirm_id, confirm) == ["confirmed"]
    assert state(findings["flags"], pending_id, pending) == ["dismiss_pending"]
    assert state(findings["flags"], dismiss_id, dismiss) == []
    assert state(findings["dismissed"], dismiss_id, dismiss) == ["dismissed"]
    assert len(findings["flags"]) == len(center["findings"]["flags"]) - 1
    assert center["findings"]["dismissed"] == []
    assert "已由复核人员驳回" in (tmp_path / "pkg" / "readiness.html").read_text("utf-8")
    sheets = [rows(index, "问题") for index in (tmp_path / "pkg").glob("*/index.xlsx")]
    reviews = [row[sheet[0].index("复核")] for sheet in sheets for row in sheet[1:]]
    assert "confirmed" in reviews and "dismiss_pending" in reviews and "dismissed" not in reviews
