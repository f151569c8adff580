"""Command line: `callaudit scan PATH... --out DIR`. Only parses arguments and wires stages.

Exit status: 0 when the batch finished (files that failed have error records in
the report), 2 for usage errors (bad arguments, unreadable metadata or phrase
catalog, missing model).
"""

from __future__ import annotations

import argparse
import os
import sys
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from pipeline import engine
from pipeline.meta import MetaError, load_meta
from pipeline.models import ModelError
from pipeline.rules import CatalogError


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callaudit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    scan = commands.add_parser("scan", help="scan recordings and write the compliance report")
    scan.add_argument("paths", nargs="+", metavar="PATH", help="recording files or folders (recursive)")
    scan.add_argument("--out", required=True, type=Path, help="output folder")
    scan.add_argument("--meta", help="CSV of call metadata (column 'file' plus call_id,type,industry,...)")
    scan.add_argument("--model", help="'default' (bundled Whisper base), a CTranslate2 model folder, "
                                      "or a faster-whisper model name")
    scan.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                      help="worker processes, each with its own model (default: all cores)")
    scan.add_argument("--beam-size", type=int, default=5, help="ASR beam size (1 = greedy, faster)")
    scan.add_argument("--language", default="zh", help="ASR language (default zh)")
    scan.add_argument("--vad-aggressiveness", type=int, choices=range(4), default=2,
                      help="webrtcvad aggressiveness 0-3 (higher drops more noise)")
    scan.add_argument("--phrases", default=str(engine.DEFAULT_PHRASES_DIR),
                      help="folder of phrase-catalog YAML files")
    return parser


def run_scan(args: argparse.Namespace) -> int:
    options = engine.ScanOptions(
        model=args.model, language=args.language, beam_size=args.beam_size,
        vad_aggressiveness=args.vad_aggressiveness, phrases_dir=args.phrases,
        workers=max(1, args.workers), meta=load_meta(args.meta) if args.meta else {},
    )
    recordings = engine.discover(args.paths)
    if not recordings:
        print(f"callaudit: no recordings found under {' '.join(args.paths)}", file=sys.stderr)
        return 2
    with tqdm(total=len(recordings), unit="call", file=sys.stderr, desc="scanning") as bar:
        records = engine.scan(args.paths, args.out, options, on_record=lambda _: bar.update())
    failed = [r for r in records if r["status"] == "error"]
    problems = Counter(f"{f['problem']}:{f['rule'] or '-'}" for r in records for f in r["flags"])
    print(f"{len(records)} recordings, {len(failed)} failed, "
          f"{sum(1 for r in records if r['flags'])} flagged -> {args.out / 'report.jsonl'}", file=sys.stderr)
    for key, count in sorted(problems.items()):
        print(f"  {key}: {count}", file=sys.stderr)
    return 0


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return run_scan(args)
    except (MetaError, CatalogError, ModelError) as exc:
        print(f"callaudit: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
