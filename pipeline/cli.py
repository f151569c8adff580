"""Command line: `callaudit scan PATH... --out DIR`, `report DIR`, `flags DIR`. Only parses arguments and wires stages.

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

from pipeline import clips, engine, outputs, report
from pipeline.catalog import CatalogDBError
from pipeline.decode import MAX_DURATION_S
from pipeline.meta import MetaError, load_meta
from pipeline.models import ModelError
from pipeline.rules import CatalogError, load_catalog


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
    scan.add_argument("--agent-channel", type=int, choices=(0, 1),
                      help="stereo: the agent's channel (0 left, 1 right); default: the metadata's agent_channel, "
                           "else inferred")
    scan.add_argument("--redact", action="store_true",
                      help="mask phone, ID-card and bank-card numbers in transcripts and reports")
    scan.add_argument("--max-duration", type=float, default=MAX_DURATION_S, metavar="S",
                      help="refuse recordings longer than this (default 4 h), bounding memory")
    scan.add_argument("--time-limit", type=float, default=300.0, metavar="S",
                      help="per-file time allowance, plus 1 s per second of audio (default 300)")
    scan.add_argument("--engine", choices=("local", "ray"), default="local",
                      help="local: worker processes on this machine (default); ray: Ray actors, one model each")
    scan.add_argument("--address", metavar="ADDR",
                      help="with --engine ray: join this Ray cluster (HEAD:6379) instead of starting one locally")
    scan.add_argument("--clips", choices=clips.MODES, default="wav",
                      help="evidence clips per statement and splice: wav (default), source (the "
                           "recording's codec and container), none")
    scan.add_argument("--clip-padding", type=float, default=0.5, metavar="S",
                      help="seconds of audio kept before and after each statement's clip (default 0.5)")
    scan.add_argument("--splice-context", type=float, default=2.0, metavar="S",
                      help="seconds of audio kept on each side of a suspected splice (default 2)")
    rep = commands.add_parser("report", help="regenerate report.jsonl/.csv/.html of DIR from its catalog")
    rep.add_argument("out", type=Path, metavar="DIR", help="output folder of an earlier scan")
    flags = commands.add_parser("flags", help="list the flagged calls of DIR (file, call_id, problem, rule, time)")
    flags.add_argument("out", type=Path, metavar="DIR", help="output folder of an earlier scan")
    flags.add_argument("--problem", choices=tuple(outputs.PROBLEM_LABELS),
                       help="only this problem")
    flags.add_argument("--rule", help="only this rule id")
    return parser


def run_scan(args: argparse.Namespace) -> int:
    os.umask(0o077)  # recordings are personal data: every output is owner-only (0700 / 0600)
    load_catalog(args.phrases)  # a catalog error is a usage error: report it before any work
    options = engine.ScanOptions(
        model=args.model, language=args.language, beam_size=args.beam_size,
        vad_aggressiveness=args.vad_aggressiveness, phrases_dir=args.phrases,
        workers=max(1, args.workers), meta=load_meta(args.meta) if args.meta else {},
        redact=args.redact, max_duration_s=args.max_duration, time_limit_s=args.time_limit,
        engine=args.engine, address=args.address, agent_channel=args.agent_channel,
    )
    recordings = engine.discover(args.paths)
    if not recordings:
        print(f"callaudit: no recordings found under {' '.join(args.paths)}", file=sys.stderr)
        return 2
    if args.clip_padding < 0 or args.splice_context < 0:
        print("callaudit: --clip-padding and --splice-context must be >= 0", file=sys.stderr)
        return 2
    clip_options = clips.ClipOptions(args.clips, args.clip_padding, args.splice_context)
    stats = engine.ScanStats()
    with tqdm(total=len(recordings), unit="call", file=sys.stderr, desc="scanning") as bar:
        records = engine.scan(args.paths, args.out, options, on_record=lambda _: bar.update(),
                              clip_options=clip_options, stats=stats)
    print(stats.line(), file=sys.stderr)
    failed = [r for r in records if r["status"] == "error"]
    problems = Counter(f"{f['problem']}:{f['rule'] or '-'}" for r in records for f in r["flags"])
    print(f"{len(records)} recordings, {len(failed)} failed, "
          f"{sum(1 for r in records if r['flags'])} flagged -> {args.out / 'report.jsonl'}", file=sys.stderr)
    for key, count in sorted(problems.items()):
        print(f"  {key}: {count}", file=sys.stderr)
    return 0


def run_report(args: argparse.Namespace) -> int:
    records = engine.regenerate_reports(args.out)
    print(f"{len(records)} calls -> {args.out / 'report.html'}", file=sys.stderr)
    return 0


def run_flags(args: argparse.Namespace) -> int:
    for line in report.flagged_lines(engine.catalog_records(args.out), args.problem, args.rule):
        print(line)
    return 0


COMMANDS = {"scan": run_scan, "report": run_report, "flags": run_flags}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (MetaError, CatalogError, ModelError, CatalogDBError) as exc:
        print(f"callaudit: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
