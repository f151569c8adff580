"""Benchmark: full callaudit scan vs bare faster-whisper vs the non-ASR stages, on one generated archive.

    python bench/bench.py [--quick] [--repeat N] [--ray] [--no-long]

1. Generates (deterministically, into bench/out/, cached) an archive of call audio
   from the committed fixtures: 2-3 calls per file joined by hold silences / low line
   noise of 5-60 s, in rotating archive codecs (G.711 mu/A-law, GSM, MP3, AAC, Opus,
   FLAC), >= 30 min in all (--quick: >= 8 min), and one ~60 min recording.
2. Measures, each in its own child process (peak RSS from os.wait4 = the largest
   single process; peak PSS of the whole process tree sampled every 0.2 s):
   - `python -m pipeline scan` with a fresh catalog, 1 worker x all cores threads and
     N workers x 1 thread (the local engine's split), optionally --engine ray;
   - bare faster-whisper: one WhisperModel (same folder, int8, beam 5, zh, all cores)
     and `model.transcribe(path)` on every file, sequentially;
   - the non-ASR stages: the same `Analyser.analyse_file` with the ASR stubbed by the
     transcript of the 1-worker scan (decode, VAD, quiet boost, matching, delivery,
     splice detection: everything but Whisper);
   - the re-check after a phrase-catalog edit: `python -m pipeline scan` into a copy of
     the default scan's output folder with a `--phrases` copy whose rules.yaml has one
     word of a comment changed (the stored transcripts are checked again, nothing is
     transcribed; target: under 10% of the default scan);
   - a scan of the ~60 min recording alone (memory bound of one long call).
Real-time factor = wall / audio duration. Timings on a shared machine are noisy:
--repeat N runs every timed step N times and reports medians.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import threading
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "bench" / "out"
FIXTURES = ROOT / "fixtures" / "audio"
SR = 16_000
SEED = 20241128
# (extension, ffmpeg codec args, sample rate): what call-center archives hold.
CODECS = [
    ("wav", ["-c:a", "pcm_mulaw"], 8000),
    ("mp3", ["-c:a", "libmp3lame", "-b:a", "32k"], 16000),
    ("flac", ["-c:a", "flac"], 16000),
    ("ogg", ["-c:a", "libopus", "-b:a", "24k"], 16000),
    ("m4a", ["-c:a", "aac", "-b:a", "48k"], 16000),
    ("wav", ["-c:a", "libgsm_ms"], 8000),
    ("wav", ["-c:a", "pcm_alaw"], 8000),
]


# -- archive generation -----------------------------------------------------------------
def _load_fixture(path: Path) -> np.ndarray:
    raw = subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-i", str(path), "-f", "f32le", "-ac", "1",
                          "-ar", str(SR), "pipe:"], capture_output=True, check=True).stdout
    return np.frombuffer(raw, dtype=np.float32)


def _gap(rng: np.random.Generator) -> np.ndarray:
    """5-60 s of hold silence: near-digital silence or low line noise (-65..-50 dBFS)."""
    n = int(rng.uniform(5, 60) * SR)
    level = 10 ** (rng.uniform(-65, -50) / 20) if rng.random() < 0.7 else 10 ** (-80 / 20)
    return (rng.standard_normal(n) * level).astype(np.float32)


def _encode(path: Path, samples: np.ndarray, codec: tuple) -> None:
    ext, args, rate = codec
    subprocess.run(["ffmpeg", "-v", "error", "-nostdin", "-y", "-f", "f32le", "-ar", str(SR), "-ac", "1",
                    "-i", "pipe:", "-ar", str(rate), *args, "-map_metadata", "-1", "-fflags", "+bitexact",
                    str(path)], input=np.clip(samples, -1, 1).tobytes(), check=True)


def _calls() -> list[tuple[str, np.ndarray]]:
    return [(p.stem, _load_fixture(p)) for p in sorted(FIXTURES.iterdir())
            if p.suffix != ".json" and not p.name.endswith(".truth.json")]


def make_archive(name: str, min_s: float, calls_per_file: tuple[int, int], single: bool = False) -> tuple[Path, float]:
    """Generate bench/out/<name>/ once (cached by manifest); return (folder, seconds of audio)."""
    folder = OUT / name
    manifest = folder / "manifest.json"
    params = {"seed": SEED, "min_s": min_s, "calls_per_file": calls_per_file, "single": single, "version": 1}
    if manifest.is_file():
        saved = json.loads(manifest.read_text())
        if saved["params"] == json.loads(json.dumps(params)):
            return folder, saved["audio_s"]
    shutil.rmtree(folder, ignore_errors=True)
    folder.mkdir(parents=True)
    rng = np.random.default_rng(SEED)
    calls = _calls()
    order: list[int] = []
    total, index, files = 0.0, 0, []
    while total < min_s:
        pieces = [_gap(rng)] if rng.random() < 0.5 else []
        count = 10**9 if single else int(rng.integers(calls_per_file[0], calls_per_file[1] + 1))
        length = sum(p.size for p in pieces) / SR
        for _ in range(count):
            if not order:
                order = list(rng.permutation(len(calls)))
            pieces += [calls[order.pop()][1], _gap(rng)]
            length += (pieces[-2].size + pieces[-1].size) / SR
            if single and total + length >= min_s:
                break
        samples = np.concatenate(pieces)
        codec = CODECS[index % len(CODECS)] if not single else CODECS[1]
        path = folder / f"call_{index:03d}.{codec[0]}"
        _encode(path, samples, codec)
        files.append(path.name)
        total += samples.size / SR
        index += 1
    manifest.write_text(json.dumps({"params": params, "audio_s": round(total, 1), "files": files}, indent=1))
    return folder, round(total, 1)


# -- measurement --------------------------------------------------------------------------
def _tree_pss_kib(pid: int) -> int:
    """PSS of a process and all its descendants (shared pages counted once overall)."""
    total, stack = 0, [pid]
    while stack:
        p = stack.pop()
        try:
            for line in open(f"/proc/{p}/smaps_rollup"):
                if line.startswith("Pss:"):
                    total += int(line.split()[1])
                    break
            for task in os.listdir(f"/proc/{p}/task"):
                stack += [int(c) for c in open(f"/proc/{p}/task/{task}/children").read().split()]
        except (OSError, ValueError):
            pass
    return total


def run_measured(argv: list[str], env: dict | None = None, stdout: bool = False) -> dict:
    """Run a child; wall seconds, peak RSS MiB of its largest process (wait4), peak tree PSS MiB (sampled).

    `stdout`: also return what the child printed, as "stdout" (it should print little).
    """
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.PIPE if stdout else subprocess.DEVNULL,
                            stderr=subprocess.PIPE,
                            env={**os.environ, "RAY_USAGE_STATS_ENABLED": "0", **(env or {})})
    peak = [0]
    done = threading.Event()

    def sample() -> None:
        while not done.wait(0.2):
            peak[0] = max(peak[0], _tree_pss_kib(proc.pid))

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    stderr = proc.stderr.read()
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    done.set()
    sampler.join()
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(argv)}\n{stderr.decode()[-3000:]}")
    result = {"wall_s": wall, "rss_mib": usage.ru_maxrss / 1024, "tree_pss_mib": peak[0] / 1024}
    if stdout:
        result["stdout"] = proc.stdout.read().decode()
    return result


BARE_ASR = """
import os, sys
from faster_whisper import WhisperModel
from pipeline.models import resolve_model
model = WhisperModel(resolve_model(None), device="cpu", compute_type="int8", cpu_threads=os.cpu_count(),
                     local_files_only=True)
for path in sys.argv[1:]:
    segments, _ = model.transcribe(path, language="zh", beam_size=5)
    list(segments)
"""

# Everything Analyser.analyse_file does, with Whisper replaced by the transcript a real scan produced.
NON_ASR = """
import copy, json, sys
from pipeline import engine, transcribe
report, folder = sys.argv[1], sys.argv[2]
cached = {r["file"]: r["segments"] for r in map(json.loads, open(report, encoding="utf-8"))}
current = [None]
def stub(model, samples, rate, speech, options=None):
    segments = [{k: v for k, v in s.items() if k != "recovered"} for s in copy.deepcopy(cached[current[0]])]
    return transcribe.Transcript(segments)
transcribe.load_model = lambda *a, **k: None
transcribe.transcribe = stub
analyser = engine.Analyser(engine.ScanOptions())
for rec in engine.discover([folder]):
    current[0] = rec.relative
    record, _ = analyser.analyse_file(rec)
    assert record["status"] == "ok", record["error"]
"""


def scan_cmd(folder: Path, out: Path, workers: int, *extra: str) -> list[str]:
    shutil.rmtree(out, ignore_errors=True)
    return [sys.executable, "-m", "pipeline", "scan", str(folder), "--out", str(out), "--workers", str(workers),
            "--clips", "none", *extra]


def edited_phrases() -> Path:
    """A copy of phrases/ with one word of a comment in rules.yaml changed: a catalog edit that needs no ASR."""
    folder = OUT / "phrases-edited"
    shutil.rmtree(folder, ignore_errors=True)
    shutil.copytree(ROOT / "phrases", folder)
    rules = folder / "rules.yaml"
    text = rules.read_text("utf-8")
    assert "Per-rule threshold" in text
    rules.write_text(text.replace("Per-rule threshold", "Per-rule score threshold", 1), "utf-8")
    return folder


def recheck_cmd(folder: Path, scanned: Path, out: Path, workers: int, phrases: Path) -> list[str]:
    """A scan into a fresh copy of an earlier scan's output folder, with the edited catalog."""
    shutil.rmtree(out, ignore_errors=True)
    shutil.copytree(scanned, out)
    return [sys.executable, "-m", "pipeline", "scan", str(folder), "--out", str(out), "--workers", str(workers),
            "--clips", "none", "--phrases", str(phrases)]


def measure(label: str, make_argv, repeat: int, results: dict, env: dict | None = None) -> dict:
    runs = []
    for i in range(repeat):
        runs.append(run_measured(make_argv(), env))
        print(f"  {label} run {i + 1}/{repeat}: {runs[-1]['wall_s']:.1f} s", file=sys.stderr, flush=True)
    results[label] = {key: statistics.median(r[key] for r in runs) for key in runs[0]}
    results[label]["walls"] = [round(r["wall_s"], 1) for r in runs]
    return results[label]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=">= 8 min archive instead of >= 30 min")
    parser.add_argument("--repeat", type=int, default=1, help="runs per timed step; medians are reported")
    parser.add_argument("--ray", action="store_true", help="also time --engine ray (local instance)")
    parser.add_argument("--no-long", action="store_true", help="skip the ~60 min recording")
    args = parser.parse_args()
    cores = os.cpu_count() or 1

    print("generating archive ...", file=sys.stderr, flush=True)
    folder, audio_s = make_archive("archive-quick" if args.quick else "archive",
                                   8 * 60 if args.quick else 30 * 60, (2, 3))
    files = sorted(str(p) for p in folder.iterdir() if p.name != "manifest.json")
    r: dict = {}
    w1 = OUT / "scan-w1"
    measure("scan 1 worker x %d threads" % cores, lambda: scan_cmd(folder, w1, 1), args.repeat, r)
    default_label, default_out = "scan 1 worker x %d threads" % cores, w1
    if cores > 1:
        default_label, default_out = f"scan {cores} workers x 1 thread", OUT / "scan-wN"
        measure(default_label, lambda: scan_cmd(folder, default_out, cores), args.repeat, r)
    phrases = edited_phrases()
    measure("re-check after a phrase edit",
            lambda: recheck_cmd(folder, default_out, OUT / "recheck", cores, phrases), args.repeat, r)
    if args.ray:
        measure(f"scan --engine ray ({cores} actors)",
                lambda: scan_cmd(folder, OUT / "scan-ray", cores, "--engine", "ray"), args.repeat, r)
    measure("bare faster-whisper", lambda: [sys.executable, "-c", BARE_ASR, *files], args.repeat, r)
    measure("non-ASR stages (ASR stubbed)",
            lambda: [sys.executable, "-c", NON_ASR, str(w1 / "report.jsonl"), str(folder)], args.repeat, r)
    long_s = None
    if not args.no_long:
        print("generating ~60 min recording ...", file=sys.stderr, flush=True)
        long_folder, long_s = make_archive("long", 60 * 60, (0, 0), single=True)
        measure("scan of one ~60 min call, 1 worker", lambda: scan_cmd(long_folder, OUT / "scan-long", 1), 1, r)

    print(f"\n{len(files)} files, {audio_s / 60:.1f} min of audio ({folder.relative_to(ROOT)}), "
          f"{cores} cores, repeat {args.repeat} (medians)")
    print(f"{'':40}{'wall s':>8}{'RTF':>8}{'RSS MiB':>9}{'tree PSS MiB':>14}")
    for label, m in r.items():
        dur = long_s if label.startswith("scan of one") else audio_s
        print(f"{label:40}{m['wall_s']:8.1f}{m['wall_s'] / dur:8.3f}{m['rss_mib']:9.0f}{m['tree_pss_mib']:14.0f}")
    scans = {k: v for k, v in r.items() if k.startswith("scan ") and not k.startswith("scan of one")}
    best_label = min(scans, key=lambda k: scans[k]["wall_s"])
    best, bare = scans[best_label], r["bare faster-whisper"]
    non_asr = r["non-ASR stages (ASR stubbed)"]
    w1_wall = r["scan 1 worker x %d threads" % cores]["wall_s"]
    wN = scans.get(f"scan {cores} workers x 1 thread")
    recheck = r["re-check after a phrase edit"]
    checks = [
        (f"best scan ({best_label}) / bare ASR wall", best["wall_s"] / bare["wall_s"], 0.8),
        ("non-ASR stages / 1-worker scan wall", non_asr["wall_s"] / w1_wall, 0.10),
        (f"re-check after phrase edit / {default_label}", recheck["wall_s"] / r[default_label]["wall_s"], 0.10),
    ]
    if wN:
        checks.append((f"peak tree PSS, {cores} workers (GiB)", wN["tree_pss_mib"] / 1024, 1.5))
        print(f"scaling: {cores} workers / 1 worker wall = {wN['wall_s'] / w1_wall:.2f}")
    for name, value, target in checks:
        print(f"{name:52}{value:7.2f}  target <= {target:<5} {'ok' if value <= target else 'MISSED'}")
    OUT.mkdir(exist_ok=True)
    (OUT / "results.json").write_text(json.dumps({"audio_s": audio_s, "long_s": long_s, "cores": cores,
                                                  "steps": r}, indent=1))


if __name__ == "__main__":
    main()
