"""Benchmark: full callaudit scan vs bare faster-whisper on the same files, side by side.

Each measurement runs in its own process so its peak RSS (from wait4) is its own.
Real-time factor = wall time / audio duration (lower is faster).

    python bench/bench.py [PATH ...] [--workers N] [--beam-size B]
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline import decode, engine  # noqa: E402

BARE_ASR = """
import sys
from faster_whisper import WhisperModel
from pipeline.models import resolve_model
model = WhisperModel(resolve_model(None), device="cpu", compute_type="int8", local_files_only=True)
for path in sys.argv[2:]:
    segments, _ = model.transcribe(path, language="zh", beam_size=int(sys.argv[1]))
    list(segments)
"""


def run_measured(argv: list[str]) -> tuple[float, float]:
    """Run a child process; return (wall seconds, peak RSS in MiB) from wait4."""
    start = time.perf_counter()
    proc = subprocess.Popen(argv, cwd=ROOT, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    _, status, usage = os.wait4(proc.pid, 0)
    wall = time.perf_counter() - start
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"benchmark step failed: {' '.join(argv)}\n{proc.stderr.read().decode()}")
    return wall, usage.ru_maxrss / 1024


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("paths", nargs="*", default=[str(ROOT / "fixtures" / "audio")])
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--beam-size", type=int, default=5)
    args = parser.parse_args()

    files = [r.path for r in engine.discover(args.paths)]
    audio_s = sum(decode.probe(f).duration_s for f in files)
    with tempfile.TemporaryDirectory() as out:
        scan_wall, scan_rss = run_measured(
            [sys.executable, "-m", "pipeline", "scan", *files, "--out", out,
             "--workers", str(args.workers), "--beam-size", str(args.beam_size)])
        records = [json.loads(line) for line in Path(out, "report.jsonl").read_text("utf-8").splitlines()]
    bare_wall, bare_rss = run_measured([sys.executable, "-c", BARE_ASR, str(args.beam_size), *files])

    print(f"{len(files)} files, {audio_s:.1f} s of audio, beam {args.beam_size}, "
          f"{args.workers} worker(s), {os.cpu_count()} cores")
    print(f"{'':24}{'wall s':>9}{'RTF':>8}{'peak RSS MiB':>14}")
    print(f"{'callaudit scan':24}{scan_wall:9.1f}{scan_wall / audio_s:8.3f}{scan_rss:14.0f}")
    print(f"{'bare faster-whisper':24}{bare_wall:9.1f}{bare_wall / audio_s:8.3f}{bare_rss:14.0f}")
    print(f"scan / bare ASR wall-time ratio: {scan_wall / bare_wall:.2f}")
    print(f"records: {sum(r['status'] == 'ok' for r in records)} ok, "
          f"{sum(r['status'] == 'error' for r in records)} error")


if __name__ == "__main__":
    main()
