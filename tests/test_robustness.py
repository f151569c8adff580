"""Hostile archives: broken and odd inputs get stable error codes, the scan goes on,
good files are analysed exactly as in a clean scan, nothing escapes the output folder,
outputs are owner-only, no network is needed, and kill -9 at random points loses nothing.
"""

import json
import os
import random
import re
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import FIXTURES, ROOT, write_audio

from pipeline.core import redact
from pipeline.scan import decode

GOOD = ["service_call.wav", "marketing_variant_disclosure.amr"]
LONG_NAME = "录音_" + "x" * 180 + ".wav"

# file name in the corpus -> expected error code (None: a valid recording, status ok)
EXPECTED = {
    "empty.wav": "empty",
    "notes.mp3": "not_audio",
    "random_bytes.wav": "not_audio",
    "picture.wav": "not_audio",
    "video_without_audio.mp4": "not_audio",
    "header_only.wav": "decode_failed",
    "amr_magic_only.amr": "decode_failed",
    "blip.wav": "too_short",
    "over_the_limit.flac": "too_long",
    "broken_link.wav": "unreadable",
    "fifo.wav": "unreadable",
    "truncated_upload.mp3": None,
    "garbage_in_the_middle.mp3": None,
    "amr_named_wav.wav": None,
    "客户 投诉 录音（一）.wav": None,
    LONG_NAME: None,
    "digital_silence.wav": None,
}


def build_corpus(root: Path) -> None:
    """At least 15 kinds of broken or hostile input, generated here, beside good recordings."""
    for name in GOOD:
        shutil.copy(FIXTURES / name, root / name)
    (root / "empty.wav").write_bytes(b"")
    (root / "notes.mp3").write_text("客户资料，不是录音\n" * 50, encoding="utf-8")
    (root / "random_bytes.wav").write_bytes(np.random.default_rng(7).bytes(20_000))
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "color=red:size=32x32", "-frames:v", "1",
                    "-f", "image2", "-c:v", "png", str(root / "picture.wav")], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-f", "lavfi", "-i", "testsrc=duration=2:size=64x64:rate=5",
                    "-an", str(root / "video_without_audio.mp4")], check=True)
    (root / "header_only.wav").write_bytes((FIXTURES / "finance_marketing_complete.wav").read_bytes()[:44])
    (root / "amr_magic_only.amr").write_bytes(b"#!AMR\n")
    tone = 0.3 * np.sin(2 * np.pi * 440 * np.arange(1600) / 16000)
    write_audio(root / "blip.wav", tone.astype(np.float32))
    write_audio(root / "over_the_limit.flac", np.zeros(16000 * 70, np.float32), 16000, "-c:a", "flac")
    (root / "broken_link.wav").symlink_to(root / "gone.wav")
    os.mkfifo(root / "fifo.wav")
    mp3 = (FIXTURES / "marketing_no_disclosure_meta.mp3").read_bytes()
    (root / "truncated_upload.mp3").write_bytes(mp3[: len(mp3) // 3])
    garbled = bytearray(mp3)
    garbled[len(mp3) // 2: len(mp3) // 2 + 2000] = np.random.default_rng(3).bytes(2000)
    (root / "garbage_in_the_middle.mp3").write_bytes(bytes(garbled))
    shutil.copy(FIXTURES / "marketing_variant_disclosure.amr", root / "amr_named_wav.wav")
    shutil.copy(FIXTURES / "service_call.wav", root / "客户 投诉 录音（一）.wav")
    shutil.copy(FIXTURES / "service_call.wav", root / LONG_NAME)
    write_audio(root / "digital_silence.wav", np.zeros(16000 * 5, np.float32))
    (root / "folder_named.wav").mkdir()
    (root / "loop").symlink_to(root)
    (root / "meta.csv").write_text(
        "file,call_id,type\n"
        f"{GOOD[0]},../../../escaped,service\n"
        f"{GOOD[1]},/tmp/absolute\x7f{'y' * 300},marketing\n", encoding="utf-8")


def run_scan(*args: str, env: dict | None = None, prefix: tuple = ()) -> subprocess.CompletedProcess:
    return subprocess.run([*prefix, sys.executable, "-m", "pipeline", "scan", *args],
                          capture_output=True, text=True, cwd=ROOT, env=env)


@pytest.fixture(scope="module")
def hostile_scan(tmp_path_factory):
    base = tmp_path_factory.mktemp("hostile")
    root, out = base / "archive", base / "out"
    root.mkdir()
    build_corpus(root)
    proc = run_scan(str(root), "--out", str(out), "--meta", str(root / "meta.csv"), "--max-duration", "60")
    assert proc.returncode == 0, proc.stderr
    records = [json.loads(line) for line in (out / "report.jsonl").read_text("utf-8").splitlines()]
    return {"base": base, "out": out, "records": {r["file"]: r for r in records}}


def test_every_input_gets_its_outcome_and_the_scan_finishes(hostile_scan):
    records = hostile_scan["records"]
    assert set(records) == set(EXPECTED) | set(GOOD)
    for name, code in EXPECTED.items():
        record = records[name]
        if code is None:
            assert record["status"] == "ok", (name, record["error"])
        else:
            assert (record["status"], record["error"]["code"]) == ("error", code), (name, record["error"])
            assert record["error"]["message"]


def without_clips(items: list[dict]) -> list[dict]:
    """Clip paths name the call id, which differs between two scans of the same audio."""
    return [{k: v for k, v in item.items() if k != "clip"} for item in items]


def test_good_files_match_a_clean_scan(hostile_scan, fixture_scan):
    same_audio = {"service_call.wav": "service_call", "客户 投诉 录音（一）.wav": "service_call",
                  LONG_NAME: "service_call", "marketing_variant_disclosure.amr": "marketing_variant_disclosure",
                  "amr_named_wav.wav": "marketing_variant_disclosure"}
    for name, stem in same_audio.items():
        got, clean = hostile_scan["records"][name], fixture_scan["records"][stem]
        for key in ("segments", "annotations", "splices"):
            assert without_clips(got[key]) == without_clips(clean[key]), (name, key)


def test_nothing_is_written_outside_the_output_folder(hostile_scan):
    base, out = hostile_scan["base"], hostile_scan["out"]
    assert sorted(p.name for p in base.iterdir()) == ["archive", "out"]
    assert not Path("/tmp/absolute").exists()
    for record in hostile_scan["records"].values():
        call_file = (out / "calls" / f"{record['call_id']}.json").resolve()
        assert call_file.is_file() and call_file.parent == (out / "calls").resolve()
        assert len(record["call_id"]) <= 80 and "/" not in record["call_id"]


def test_outputs_are_owner_only(hostile_scan):
    out = hostile_scan["out"]
    for path in [out, *out.rglob("*")]:
        mode = path.stat().st_mode & 0o777
        assert mode & 0o077 == 0, f"{path} is {oct(mode)}"


def test_scan_needs_no_network(tmp_path):
    if subprocess.run(["unshare", "-n", "true"], capture_output=True).returncode != 0:
        pytest.skip("unshare -n needs root (CI runs as root)")
    proc = run_scan(str(FIXTURES / "service_call.wav"), "--out", str(tmp_path), "--workers", "1",
                    prefix=("unshare", "-n"))
    assert proc.returncode == 0, proc.stderr
    record = json.loads((tmp_path / "report.jsonl").read_text("utf-8"))
    assert record["status"] == "ok" and record["segments"]


def callback_number_recording(path: Path) -> Path:
    """Fixture speech joined into a spoken digit run Whisper base writes as a 15-digit (bank-card-like) number:
    the complaint call's order number followed by a doctor's licence number, without their lead-ins."""
    sr = 16000
    order = decode.decode(str(FIXTURES / "complaint_call_stereo.wav"), sample_rate=sr).samples[1]
    licence = decode.decode(str(FIXTURES / "medical_consult_disclaimer.wav"), sample_rate=sr).samples[0]
    pause = np.zeros(int(0.5 * sr), np.float32)
    joined = np.concatenate([pause, order[int(13.45 * sr): int(15.15 * sr)], np.zeros(int(0.05 * sr), np.float32),
                             licence[int(5.62 * sr): int(7.40 * sr)], pause])
    return write_audio(path, joined, sr)


def personal_numbers(text: str) -> list[str]:
    shadow = "".join(redact.DIGIT_OF.get(c, c) for c in text)
    return [text[m.start():m.end()] for m in redact.NUMBER_RUN.finditer(shadow)
            if redact.is_personal_number(re.sub(r"[-\s]", "", m.group()))]


def test_redact_masks_personal_numbers_end_to_end(tmp_path, fixture_scan):
    """A spoken personal number is masked in every output, the catalog's stored transcripts included;
    the complaint call's order number is not personal and stays."""
    archive = tmp_path / "archive"
    archive.mkdir()
    callback_number_recording(archive / "callback.wav")
    shutil.copy(FIXTURES / "complaint_call_stereo.wav", archive / "complaint_call_stereo.wav")
    proc = run_scan(str(archive / "callback.wav"), "--out", str(tmp_path / "clean"), "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    clean = json.loads((tmp_path / "clean" / "report.jsonl").read_text("utf-8"))
    spoken = [n for s in clean["segments"] for n in personal_numbers(s["text"])]
    assert spoken, f"precondition: the joined digits no longer transcribe to a personal number: {clean['segments']}"

    out = tmp_path / "redacted"
    proc = run_scan(str(archive), "--out", str(out), "--redact", "--workers", "1")
    assert proc.returncode == 0, proc.stderr
    records = {r["file"]: r for r in map(json.loads, (out / "report.jsonl").read_text("utf-8").splitlines())}
    masked = records["callback.wav"]
    assert [s["text"] for s in masked["segments"]] == [redact.mask_text(s["text"]) for s in clean["segments"]]
    assert not [n for s in masked["segments"] for n in personal_numbers(s["text"])]
    assert "".join(w["word"] for w in masked["segments"][0]["words"]) == masked["segments"][0]["text"]
    for path in [p for p in out.rglob("*") if p.is_file() and p.suffix != ".wav"]:
        data = path.read_bytes()
        for number in spoken:
            assert number.encode("utf-8") not in data, f"{number} left in {path}"
    complaint = fixture_scan["records"]["complaint_call_stereo"]
    assert [s["text"] for s in records["complaint_call_stereo.wav"]["segments"]] == \
        [s["text"] for s in complaint["segments"]]


def test_kill_at_random_points_loses_and_duplicates_nothing(tmp_path, fixture_scan):
    files = ["service_call.wav", "marketing_variant_disclosure.amr", "medical_consult_no_disclaimer.wav",
             "education_sale_refund.mp3"]
    archive = tmp_path / "archive"
    archive.mkdir()
    for name in files:
        shutil.copy(FIXTURES / name, archive / name)
    out = tmp_path / "out"
    rng = random.Random(2026)
    argv = [sys.executable, "-m", "pipeline", "scan", str(archive), "--out", str(out), "--workers", "1"]
    for _ in range(3):
        proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                                start_new_session=True)
        time.sleep(rng.uniform(3.0, 12.0))
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
    final = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
    assert final.returncode == 0, final.stderr
    lines = (out / "report.jsonl").read_text("utf-8").splitlines()
    records = [json.loads(line) for line in lines]
    assert sorted(r["file"] for r in records) == sorted(files)
    assert len({r["call_id"] for r in records}) == len(files)
    for record in records:
        clean = fixture_scan["records"][Path(record["file"]).stem]
        assert (record["segments"], record["flags"]) == (clean["segments"], clean["flags"]), record["file"]
    assert not list(out.rglob("*.tmp")) and not list(out.rglob(".*.tmp"))
