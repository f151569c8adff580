"""Shared test helpers: synthetic signals and the one real scan of the fixture archive."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parent.parent
FIXTURES = ROOT / "fixtures" / "audio"
SR = 16_000


def voiced(duration_s: float, f0: float = 150.0, sr: int = SR, level: float = 0.1) -> np.ndarray:
    """A speech-like buzz: harmonics of f0 with a 4 Hz syllable envelope (webrtcvad calls it speech)."""
    t = np.arange(int(duration_s * sr)) / sr
    harmonics = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 20))
    envelope = 0.5 * (1 + np.sin(2 * np.pi * 4 * t - np.pi / 2))
    return (level * harmonics * envelope).astype(np.float32)


def write_audio(path: Path, samples: np.ndarray, sr: int = SR, *codec_args: str) -> Path:
    """Encode float samples (channels, n) with ffmpeg, e.g. codec_args=('-c:a', 'libmp3lame')."""
    samples = np.atleast_2d(samples)
    raw = np.ascontiguousarray(samples.T, dtype=np.float32).tobytes()
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "f32le", "-ar", str(sr), "-ac", str(samples.shape[0]),
                    "-i", "pipe:", *codec_args, str(path)], input=raw, check=True)
    return path


def load_truths(folder: Path = FIXTURES) -> dict[str, dict]:
    return {p.name[: -len(".truth.json")]: json.loads(p.read_text("utf-8"))
            for p in sorted(folder.glob("*.truth.json"))}


def scan_folder(folder: Path, out: Path, *options: str) -> dict:
    """Scan a folder with the real CLI and model; report.jsonl records by file stem.

    CALLAUDIT_TEST_WORKERS=1 scans with one worker of two CTranslate2 threads instead of
    one thread per core: int8 results differ with the thread count as with the CPU's
    kernels (CT2_FORCE_CPU_ISA), and the suite must pass under each.
    """
    workers = os.environ.get("CALLAUDIT_TEST_WORKERS")
    options = (*options, "--workers", workers) if workers else options
    proc = subprocess.run([sys.executable, "-m", "pipeline", "scan", str(folder), *options, "--out", str(out)],
                          capture_output=True, text=True, cwd=ROOT)
    assert proc.returncode == 0, proc.stderr
    lines = (out / "report.jsonl").read_text("utf-8").splitlines()
    records = {Path(r["file"]).stem: r for r in map(json.loads, lines)}
    return {"out": out, "records": records, "stderr": proc.stderr}


@pytest.fixture(scope="session")
def truths() -> dict[str, dict]:
    return load_truths()


@pytest.fixture(scope="session")
def fixture_scan(tmp_path_factory) -> dict:
    """Scan the whole fixture archive once with the real CLI and model; records by file stem."""
    return scan_folder(FIXTURES, tmp_path_factory.mktemp("scan"), "--meta", str(ROOT / "fixtures" / "meta.csv"))


# -- the mini call-center (fixtures/callcenter.py), scanned once for every package test ---------------------------
def package(center: Path, scan: Path, out: Path, *extra: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "pipeline", "package", "--scan", str(scan),
                           "--records", str(center / "exports"), "--consent", str(center / "consent.csv"),
                           "--complaints", str(center / "complaints.csv"), "--agents", str(center / "agents.csv"),
                           "--out", str(out), *extra], capture_output=True, text=True, cwd=ROOT)


@pytest.fixture(scope="session")
def center(tmp_path_factory) -> dict:
    """The mini call-center built, scanned once (no scan clips: the package cuts its own) and packaged twice."""
    sys.path.insert(0, str(ROOT / "fixtures"))
    import callcenter

    base = tmp_path_factory.mktemp("callcenter")
    truth = callcenter.build(base / "center")
    scan = scan_folder(base / "center" / "archive", base / "scan", "--meta", str(base / "center" / "meta.csv"),
                       "--clips", "none")
    runs = {name: package(base / "center", base / "scan", base / name, *extra)
            for name, extra in (("pkg", ()), ("redacted", ("--redact",)))}
    for proc in runs.values():
        assert proc.returncode == 0, proc.stderr
    findings = json.loads((base / "pkg" / "findings.json").read_text("utf-8"))
    return {"base": base, "truth": truth, "records": list(scan["records"].values()), "pkg": base / "pkg",
            "redacted": base / "redacted", "findings": findings, "stderr": runs["pkg"].stderr}


REVIEW_FILES = ("fast_disclosure.flac", "finance_missing_risk_warning.flac", "marketing_no_disclosure_meta.mp3")


@pytest.fixture(scope="session")
def review_scan(tmp_path_factory) -> dict:
    """A small real scan for the review workbench: three fixture recordings with wav clips
    (too_fast x2, missing risk warning, missing disclosure with an agent in the metadata)."""
    archive = tmp_path_factory.mktemp("review-archive")
    for name in REVIEW_FILES:
        (archive / name).write_bytes((FIXTURES / name).read_bytes())
    return scan_folder(archive, tmp_path_factory.mktemp("review") / "out", "--meta",
                       str(ROOT / "fixtures" / "meta.csv"), "--clips", "wav")
