"""Recording integrity end to end: the real CLI and model on a small "call system" archive.

Seven committed fixtures, 8 s of each, encoded once with one fixed encoder
configuration (what one call system writes), and an eighth file that was cut
and re-saved by ffmpeg with its defaults before any scan saw it. Scanned with a
signing key; the format layer must flag the pre-scan edit and none of the seven.
Then one recording is edited in place (a cut, re-saved by ffmpeg) and one deleted:
the re-scan flags the edit as modified after capture with both fingerprints and
reports the deletion; `verify` passes on the clean ledger and fails on a flipped
byte in the ledger or in a recording; the workbench's call page shows the verdict.
"""

from __future__ import annotations

import csv
import io
import json
import re
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT, scan_folder
from helpers_serve import PASSWORD, client, login

from pipeline.core import review_store
from pipeline.serve import accounts

SOURCES = ("unintelligible_disclosure.mp3", "marketing_variant_disclosure.amr", "fast_disclosure.flac",
           "finance_marketing_complete.wav", "quiet_disclosure.flac", "medical_consult_no_disclaimer.wav",
           "education_sale_refund.mp3")
CALL_SYSTEM = ("-t", "8", "-ar", "8000", "-ac", "1", "-c:a", "libmp3lame", "-b:a", "16k")
CUT = "[0]atrim=0:3[a];[0]atrim=5:8,asetpts=PTS-STARTPTS[b];[a][b]concat=n=2:v=0:a=1"


def ffmpeg(*args: str) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", *args], check=True)


def callaudit(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", *args], capture_output=True, text=True, cwd=ROOT)


def ledger_kinds(out: Path) -> list[str]:
    return [json.loads(line)["kind"] for line in (out / "custody.jsonl").read_text("utf-8").splitlines()]


@pytest.fixture(scope="module")
def archive(tmp_path_factory) -> dict:
    base = tmp_path_factory.mktemp("integrity")
    folder = base / "archive"
    folder.mkdir()
    for n, name in enumerate(SOURCES, 1):
        ffmpeg("-i", str(ROOT / "fixtures" / "audio" / name), *CALL_SYSTEM, str(folder / f"call_{n:04d}.mp3"))
    ffmpeg("-i", str(folder / "call_0003.mp3"), "-filter_complex", CUT, str(folder / "call_0008.mp3"))
    keygen = callaudit("custody-keygen", str(base / "center.pem"))
    assert keygen.returncode == 0, keygen.stderr
    key = ("--custody-key", str(base / "center.pem"))
    out = base / "out"
    first = scan_folder(folder, out, "--clips", "none", *key)
    ledger_after_first = (out / "custody.jsonl").read_bytes()
    again = scan_folder(folder, out, "--clips", "none", *key)
    ledger_after_again = (out / "custody.jsonl").read_bytes()
    edited = base / "edited.mp3"
    ffmpeg("-i", str(folder / "call_0005.mp3"), "-filter_complex", CUT, str(edited))
    edited.replace(folder / "call_0005.mp3")        # in place, as an editor saving over the file does
    (folder / "call_0006.mp3").unlink()
    third = scan_folder(folder, out, "--clips", "none", *key)
    return {"base": base, "folder": folder, "out": out, "first": first, "again": again, "third": third,
            "ledger_after_first": ledger_after_first, "ledger_after_again": ledger_after_again,
            "public": base / "center.pub.pem"}


def integrity_rules(record: dict) -> list[str]:
    return [f["rule"] for f in record["flags"] if f["problem"] == "integrity"]


def test_the_call_systems_own_files_pass_and_the_edit_made_before_the_first_scan_is_a_format_outlier(archive):
    records = archive["first"]["records"]
    assert ledger_kinds(archive["out"])[:8] == ["first_seen"] * 8
    for stem in (f"call_{n:04d}" for n in range(1, 8)):
        found = records[stem]["integrity"]
        assert integrity_rules(records[stem]) == [], stem
        assert found["verdict"] != "modified_after_capture" and {"custody", "format"} <= set(found["layers_checked"])
        assert next(layer for layer in found["layers"] if layer["layer"] == "format")["result"] == "pass", stem
    cut = records["call_0008"]
    assert cut["integrity"]["verdict"] == "suspect" and integrity_rules(cut) == ["format_outlier"]
    fields = {d["field"] for d in cut["integrity"]["layers"][1]["evidence"]["differences"]}
    assert "bit_rate" in fields
    assert next(f for f in cut["flags"] if f["problem"] == "integrity")["message"].count("7/7") >= 1


def test_a_rescan_of_an_unchanged_archive_appends_nothing_and_gives_the_same_verdicts(archive):
    assert archive["ledger_after_again"] == archive["ledger_after_first"]
    assert "nothing new" in archive["again"]["stderr"]
    assert {k: r["integrity"] for k, r in archive["again"]["records"].items()} == \
        {k: r["integrity"] for k, r in archive["first"]["records"].items()}


def test_an_edit_in_place_is_modified_after_capture_and_a_deletion_is_reported(archive):
    out, third = archive["out"], archive["third"]
    assert ledger_kinds(out) == ["first_seen"] * 8 + ["modified", "removed"]
    record = third["records"]["call_0005"]
    found = record["integrity"]
    modified = found["modified_after_capture"]
    assert found["verdict"] == "modified_after_capture"
    assert modified["first"]["sha256"] == archive["first"]["records"]["call_0005"]["recording"]["sha256"]
    assert modified["current"]["sha256"] == record["recording"]["sha256"] != modified["first"]["sha256"]
    assert modified["audio_changed"] is True and modified["first"]["size"] > modified["current"]["size"]
    assert modified["first"]["seen_at"] < modified["current"]["seen_at"]
    assert integrity_rules(record) == ["modified_after_capture", "format_outlier"]
    assert "call_0006" not in third["records"]
    assert "removed: call_0006.mp3" in third["stderr"]
    html = (out / "report.html").read_text("utf-8")
    assert "已删除的录音" in html and "call_0006.mp3" in html
    rows = {r["file"]: r for r in csv.DictReader(io.StringIO((out / "report.csv").read_text("utf-8-sig")))}
    assert rows["call_0005.mp3"]["integrity"].startswith("首次扫描后被修改")
    assert rows["call_0001.mp3"]["integrity"].startswith("未见篡改")


def test_verify_passes_clean_and_fails_on_a_flipped_byte(archive):
    out, public = archive["out"], str(archive["public"])
    clean = callaudit("verify", str(out), "--public-key", public, "--json", str(archive["base"] / "v.json"))
    assert clean.returncode == 0, clean.stdout + clean.stderr
    result = json.loads((archive["base"] / "v.json").read_text("utf-8"))
    assert result["ok"] and result["signed"] == result["entries"] == 10 and result["signatures_checked"]
    assert [r["path"] for r in result["removed"]] == ["call_0006.mp3"]
    ledger = out / "custody.jsonl"
    pristine = ledger.read_bytes()
    line3 = sum(len(line) + 1 for line in pristine.split(b"\n")[:3])
    where = pristine.index(b'"size":', line3) + 8
    ledger.write_bytes(pristine[:where] + bytes([pristine[where] ^ 1]) + pristine[where + 1:])
    try:
        broken = callaudit("verify", str(out))
        assert broken.returncode == 1 and "entry 3 was changed" in broken.stdout
    finally:
        ledger.write_bytes(pristine)
    recording = archive["folder"] / "call_0002.mp3"
    original = recording.read_bytes()
    recording.write_bytes(original[:-100] + bytes([original[-100] ^ 1]) + original[-99:])
    try:
        changed = callaudit("verify", str(out))
        assert changed.returncode == 1 and "call_0002.mp3 changed since ledger entry" in changed.stdout
    finally:
        recording.write_bytes(original)
    assert callaudit("verify", str(out)).returncode == 0


def test_the_workbench_call_page_shows_the_integrity_box(archive):
    out = archive["out"]
    db = review_store.connect(out)
    accounts.add_user(db, "rita", "reviewer", PASSWORD)
    db.close()
    c = client(out)
    login(c, "rita")
    call_id = archive["third"]["records"]["call_0005"]["call_id"]
    box = re.search(r'<div class="card" id="integrity">.*?</table>', c.get(f"/calls/{call_id}").text, re.S).group(0)
    assert "首次扫描后被修改" in box and 'id="modified"' in box and "音频内容已变" in box
    assert "bit_rate" in box and "不能证明" in box
    intact = archive["third"]["records"]["call_0001"]["call_id"]
    assert "未见篡改" in c.get(f"/calls/{intact}").text
