"""Where a scan's time goes: per-stage wall time of `Analyser.analyse_file` plus clip cutting.

    python bench/profile_stages.py [FOLDER] [--threads N] [--cprofile N]

Runs the analysis of every recording under FOLDER (default: the speech-dense bench
archive, bench/out/dense/, made by `bench.py --dense-only`) in this one process with
`--threads` CTranslate2 threads, timing each stage function (the module attributes the
engine calls are wrapped, nothing else changes). The ASR's batched passes are split by
beam size (the greedy first pass; the beam re-decoding of doubtful windows and holes),
with the windows each decoded. `--cprofile N` also prints the N functions with the most
cumulative time. To see the default 2 workers x 1 thread split, run two of these with
`--threads 1` on halves of the archive (`--part 0/2`, `--part 1/2`).
"""

from __future__ import annotations

import argparse
import cProfile
import functools
import os
import pstats
import sys
import tempfile
import time
from collections import defaultdict
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from pipeline.core import meta
from pipeline.scan import (  # noqa: E402  # noqa: E402
    classify,
    clips,
    conversation,
    decode,
    delivery,
    levels,
    match,
    recovery,
    speakers,
    splice,
    transcribe,
    vad,
)
from pipeline.scan.analyser import Analyser  # noqa: E402
from pipeline.scan.discovery import discover  # noqa: E402
from pipeline.scan.options import ScanOptions  # noqa: E402

TIMES: dict[str, float] = defaultdict(float)
COUNTS: dict[str, int] = defaultdict(int)


def timed(module, name: str, label: str | None = None, windows: bool = False) -> None:
    """Replace module.name by a wrapper adding its wall time to TIMES[label].

    `windows`: the wrapped function is `transcribe._decode_windows`; its time goes to one
    label per beam size and COUNTS counts the windows it decoded.
    """
    original = getattr(module, name)
    fixed = label or f"{module.__name__.split('.')[-1]}.{name}"

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            key = f"  batched passes, beam {args[4]}" if windows else fixed
            TIMES[key] += time.perf_counter() - start
            COUNTS[key] += len(args[2]) if windows else 1

    setattr(module, name, wrapper)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("folder", nargs="?", default=str(ROOT / "bench" / "out" / "dense"))
    parser.add_argument("--threads", type=int, default=os.cpu_count() or 1)
    parser.add_argument("--part", default="0/1", help="K/N: analyse every N-th recording from the K-th")
    parser.add_argument("--cprofile", type=int, default=0)
    args = parser.parse_args()
    for module, name in ((decode, "probe"), (decode, "decode"), (vad, "detect_speech"),
                         (levels, "reference_levels"), (recovery, "boost_quiet"), (speakers, "assign_roles"),
                         (delivery, "fast_speech"), (classify, "classify_call"), (match, "check_call"),
                         (delivery, "assess"), (splice, "detect_splices"), (conversation, "measure"),
                         (transcribe, "load_model"), (transcribe, "hallucination")):
        timed(module, name)
    timed(transcribe, "transcribe", "transcribe (all ASR)")
    timed(transcribe, "_decode_windows", windows=True)
    part, parts = map(int, args.part.split("/"))
    folder = Path(args.folder)
    rows = meta.load_meta(str(folder / "meta.csv")) if (folder / "meta.csv").is_file() else {}
    analyser = Analyser(ScanOptions(cpu_threads=args.threads, meta=rows))
    recordings = discover([str(folder)])[part::parts]
    profiler = cProfile.Profile() if args.cprofile else None
    start = time.perf_counter()
    with tempfile.TemporaryDirectory() as out:
        for rec in recordings:
            if profiler:
                profiler.enable()
            record, _ = analyser.analyse_file(rec)
            clip_start = time.perf_counter()
            clips.cut_clips(record, rec.path, Path(out), clips.ClipOptions())
            TIMES["clips.cut_clips"] += time.perf_counter() - clip_start
            COUNTS["clips.cut_clips"] += 1
            if profiler:
                profiler.disable()
            assert record["status"] == "ok", record["error"]
    total = time.perf_counter() - start
    print(f"{len(recordings)} recordings, {args.threads} threads, {total:.1f} s, load {os.getloadavg()[0]:.2f}")
    for label, seconds in sorted(TIMES.items(), key=lambda kv: -kv[1]):
        print(f"{label:32}{seconds:8.2f} s {100 * seconds / total:5.1f} %  x{COUNTS[label]}")
    if profiler:
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(args.cprofile)


if __name__ == "__main__":
    main()
