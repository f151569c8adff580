"""End to end with the real CLI and model on three short fixtures: kill -9 and resume, re-scan skips,
a phrase-catalog edit re-checks without transcribing.

Three scans of three recordings: an uninterrupted reference, a scan killed with
SIGKILL after its first call is committed (while it works on the next), and that
scan restarted. The restarted scan's report.jsonl must equal the reference's; a
re-scan of the reference archive must transcribe nothing; after an edit of the
phrase catalog the scan re-runs the checks only, from the stored transcripts.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest
from conftest import FIXTURES, ROOT

SUBSET = ["finance_marketing_complete.wav", "fast_disclosure.flac", "marketing_variant_disclosure.amr"]


def cli(*args: str, **kwargs) -> list[str]:
    return [sys.executable, "-m", "pipeline", *args]


def stats_line(stderr: str) -> str:
    return next(line for line in stderr.splitlines() if line.startswith("catalog: "))


def committed(out: Path) -> int:
    """Calls committed to the catalog so far (read-only; 0 before the catalog exists)."""
    path = out / "catalog.sqlite"
    if not path.exists():
        return 0
    try:
        db = sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=1)
        try:
            return db.execute("SELECT COUNT(*) FROM files").fetchone()[0]
        finally:
            db.close()
    except sqlite3.Error:
        return 0


def records(out: Path) -> list[dict]:
    lines = (out / "report.jsonl").read_text("utf-8").splitlines()
    return sorted(map(json.loads, lines), key=lambda r: r["file"])


@pytest.fixture(scope="session")
def archive(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("archive")
    for name in SUBSET:
        shutil.copy(FIXTURES / name, root / name)
    return root


@pytest.fixture(scope="session")
def reference(archive, tmp_path_factory) -> dict:
    out = tmp_path_factory.mktemp("reference")
    started = time.monotonic()
    proc = subprocess.run(cli("scan", str(archive), "--out", str(out)), capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    return {"out": out, "stderr": proc.stderr, "seconds": time.monotonic() - started}


def test_first_scan_analyses_everything(reference):
    assert stats_line(reference["stderr"]) == (
        f"catalog: {len(SUBSET)} found, 0 unchanged (skipped), 0 reused, 0 re-checked, {len(SUBSET)} analysed, "
        "0 removed")
    assert len(records(reference["out"])) == len(SUBSET)


def test_rescan_of_unchanged_archive_transcribes_nothing(reference, archive, tmp_path):
    out = tmp_path / "again"
    shutil.copytree(reference["out"], out)
    started = time.monotonic()
    proc = subprocess.run(cli("scan", str(archive), "--out", str(out)), capture_output=True, text=True, cwd=ROOT)
    seconds = time.monotonic() - started
    assert proc.returncode == 0, proc.stderr
    assert stats_line(proc.stderr) == (
        f"catalog: {len(SUBSET)} found, {len(SUBSET)} unchanged (skipped), 0 reused, 0 re-checked, 0 analysed, "
        "0 removed")
    assert records(out) == records(reference["out"])
    print(f"scan {reference['seconds']:.1f} s, unchanged re-scan {seconds:.1f} s")
    assert seconds < reference["seconds"] / 2


def test_killed_scan_resumes_to_the_same_report(reference, archive, tmp_path):
    out = tmp_path / "killed"
    proc = subprocess.Popen(cli("scan", str(archive), "--out", str(out)), cwd=ROOT,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    deadline = time.monotonic() + 600
    while committed(out) < 1 and proc.poll() is None and time.monotonic() < deadline:
        time.sleep(0.1)
    assert proc.poll() is None, "the scan finished before it could be killed"
    time.sleep(1.0)  # well inside the next call's analysis
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=30)
    proc.stderr.close()
    done = committed(out)
    assert 1 <= done < len(SUBSET)
    assert not (out / "report.jsonl").exists()

    resumed = subprocess.run(cli("scan", str(archive), "--out", str(out)), capture_output=True, text=True, cwd=ROOT)
    assert resumed.returncode == 0, resumed.stderr
    line = stats_line(resumed.stderr)
    assert f"{done} unchanged (skipped)" in line and f"{len(SUBSET) - done} analysed" in line
    assert records(out) == records(reference["out"])
    assert not list(out.rglob("*.tmp*"))
    calls = sorted(p.name for p in (out / "calls").iterdir())
    assert calls == sorted(p.name for p in (reference["out"] / "calls").iterdir())
    clips = sorted(p.relative_to(out).as_posix() for p in (out / "clips").rglob("*") if p.is_file())
    assert clips == sorted(p.relative_to(reference["out"]).as_posix()
                           for p in (reference["out"] / "clips").rglob("*") if p.is_file())


def test_catalog_edit_rechecks_from_stored_transcripts(reference, archive, tmp_path):
    """A comment and a raised threshold in rules.yaml: nothing transcribed, the new threshold applied."""
    out = tmp_path / "edited"
    shutil.copytree(reference["out"], out)
    phrases = tmp_path / "phrases"
    shutil.copytree(ROOT / "phrases", phrases)
    rules_yaml = phrases / "rules.yaml"
    rules_yaml.write_text("# a reviewer's note\n" + rules_yaml.read_text("utf-8"), "utf-8")
    proc = subprocess.run(cli("scan", str(archive), "--out", str(out), "--phrases", str(phrases)),
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(SUBSET)} re-checked, 0 analysed" in stats_line(proc.stderr)
    before = records(reference["out"])
    after = records(out)
    assert [{k: v for k, v in r.items() if k != "provenance"} for r in after] == \
        [{k: v for k, v in r.items() if k != "provenance"} for r in before]
    assert all(r["provenance"]["catalog"]["sha256"] != b["provenance"]["catalog"]["sha256"]
               for r, b in zip(after, before))

    text = rules_yaml.read_text("utf-8")
    assert "\ndefaults:\n  min_score: 72\n" in text
    strict = text.replace("\ndefaults:\n  min_score: 72\n", "\ndefaults:\n  min_score: 99.5\n")
    rules_yaml.write_text(strict, "utf-8")
    proc = subprocess.run(cli("scan", str(archive), "--out", str(out), "--phrases", str(phrases)),
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    assert f"{len(SUBSET)} re-checked, 0 analysed" in stats_line(proc.stderr)
    strict_records = records(out)
    assert [r["segments"] for r in strict_records] == [r["segments"] for r in before]
    assert sum(len(r["annotations"]) for r in strict_records) < sum(len(r["annotations"]) for r in before)
