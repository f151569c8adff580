"""Command line: `callaudit scan PATH... --out DIR`, `report DIR`, `flags DIR`, `records CDR... --out DIR`,
`package --scan DIR --records CDR... --out PKG`, `serve DIR`, `users add DIR NAME`, `access-log DIR --out FILE`,
`verify DIR`, `custody-keygen KEY.pem`. Only parses arguments and wires stages: no check, format or file layout is decided here.

Exit status: 0 when the batch finished (files that failed have error records in
the report; `verify`: 1 when the custody ledger or a recording has a break), 2 for usage errors (bad arguments, unreadable metadata or phrase
catalog, missing model, a path outside the output folder's archive root).
"""

from __future__ import annotations

import argparse
import getpass
import ipaddress
import json
import os
import sys
from collections import Counter
from pathlib import Path

from tqdm import tqdm

from pipeline.core import fileio, review_store
from pipeline.core.catalog import CatalogDBError
from pipeline.core.errors import UsageError
from pipeline.core.meta import MetaError, load_meta
from pipeline.core.models import ModelError
from pipeline.core.settings import CatalogError
from pipeline.integrity import ledger as custody_ledger
from pipeline.integrity import verify as custody_verify
from pipeline.package import build as package
from pipeline.package.config import DEFAULT_CONFIG as PACKAGE_CONFIG
from pipeline.package.join import PackageOptions
from pipeline.records import command as records
from pipeline.records.config import load_column_map, parse_period
from pipeline.records.read import ReadError
from pipeline.scan import clips, engine, outputs, report
from pipeline.scan.decode import MAX_DURATION_S
from pipeline.scan.discovery import archive_root, discover
from pipeline.scan.options import DEFAULT_PHRASES_DIR, ScanOptions
from pipeline.scan.phrase_catalog import load_catalog
from pipeline.scan.speakers import SpeakerOptions
from pipeline.scan.vad import VadOptions
from pipeline.scan.workers import Backend
from pipeline.serve import accounts


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="callaudit", description=__doc__.splitlines()[0])
    commands = parser.add_subparsers(dest="command", required=True)
    scan = commands.add_parser("scan", help="scan recordings and write the compliance report")
    scan.add_argument("paths", nargs="+", metavar="PATH", help="recording files or folders (recursive)")
    scan.add_argument("--out", required=True, type=Path, help="output folder")
    scan.add_argument("--root", metavar="DIR",
                      help="archive root call paths are relative to (default: the output folder's, else the "
                           "common parent of PATHs)")
    scan.add_argument("--prune", action="store_true",
                      help="drop every call of the output folder this scan did not see (default: only vanished "
                           "files under the given PATHs)")
    scan.add_argument("--meta", help="CSV of call metadata (column 'file' plus call_id,type,industry,...)")
    scan.add_argument("--model", help="'default' (bundled Whisper base), a CTranslate2 model folder, "
                                      "or a faster-whisper model name already in the local Hugging Face cache "
                                      "(never downloaded)")
    scan.add_argument("--workers", type=int, default=os.cpu_count() or 1,
                      help="worker processes, each with its own model (default: all cores)")
    scan.add_argument("--beam-size", type=int, default=5, help="ASR beam size (1 = greedy, faster)")
    scan.add_argument("--language", default="zh", help="ASR language (default zh)")
    scan.add_argument("--vad-aggressiveness", type=int, choices=range(4), default=VadOptions.aggressiveness,
                      help="webrtcvad aggressiveness 0-3 (higher drops more noise)")
    scan.add_argument("--phrases", default=str(DEFAULT_PHRASES_DIR),
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
    scan.add_argument("--custody-key", metavar="KEY.pem",
                      help="sign each new custody ledger entry with this Ed25519 private key "
                           "(see `callaudit custody-keygen`)")
    ver = commands.add_parser("verify", help="check DIR's custody ledger (hash chain, signatures) and re-hash "
                                             "every recording it lists; exit 1 on any break")
    ver.add_argument("out", type=Path, metavar="DIR", help="output folder of an earlier scan")
    ver.add_argument("--public-key", metavar="PUBLIC.pem", help="also verify every entry's Ed25519 signature")
    ver.add_argument("--json", type=Path, metavar="FILE", help="also write the result as JSON to FILE")
    keygen = commands.add_parser("custody-keygen", help="write a new Ed25519 key pair for signing custody ledgers")
    keygen.add_argument("private", type=Path, metavar="KEY.pem", help="the private key (written 0600; keep it safe)")
    keygen.add_argument("--public", type=Path, metavar="PUBLIC.pem",
                        help="the public key (default: KEY.pub.pem beside it)")
    rep = commands.add_parser("report", help="regenerate report.jsonl/.csv/.html of DIR from its catalog")
    rep.add_argument("out", type=Path, metavar="DIR", help="output folder of an earlier scan")
    flags = commands.add_parser("flags", help="list the flagged calls of DIR (file, call_id, problem, rule, time)")
    flags.add_argument("out", type=Path, metavar="DIR", help="output folder of an earlier scan")
    flags.add_argument("--problem", choices=tuple(outputs.PROBLEM_LABELS),
                       help="only this problem")
    flags.add_argument("--rule", help="only this rule id")
    cdr = commands.add_parser("records", help="check call-detail record exports (基础通话记录) for the licence "
                                              "inspection: fields, coverage, ratios, abnormal calling")
    cdr.add_argument("paths", nargs="+", metavar="CDR", help="CSV (UTF-8/GBK) or XLSX exports, or folders of them")
    cdr.add_argument("--out", required=True, type=Path, help="output folder (results go to DIR/records/)")
    cdr.add_argument("--period", metavar="FIRST:LAST",
                     help="the period the records must cover, e.g. 2025-01-01:2025-12-31 "
                          "(default: the calendar year most calls fall in)")
    cdr.add_argument("--columns", metavar="MAP.yaml", help="field: header mapping for exports whose headers are not "
                                                            "in the alias table")
    cdr.add_argument("--marked-numbers", metavar="CSV", type=Path, help="numbers marked as harassment (column "
                                                                         "number/号码, optional label)")
    cdr.add_argument("--config", type=Path, default=records.DEFAULT_CONFIG,
                     help="check settings (default phrases/records.yaml)")
    srv = commands.add_parser("serve", help="the review workbench: a local web app over DIR where reviewers "
                                            "confirm or dismiss flags; every playback is logged")
    srv.add_argument("out", type=Path, metavar="DIR", help="output folder of an earlier scan")
    srv.add_argument("--host", default="127.0.0.1", help="address to listen on (default 127.0.0.1: this machine only)")
    srv.add_argument("--port", type=int, default=8750, help="port (default 8750)")
    srv.add_argument("--meta", help="the scan's metadata CSV: agent_id and start_time for the agent and date filters")
    users = commands.add_parser("users", help="reviewer accounts of the workbench")
    users_cmd = users.add_subparsers(dest="users_command", required=True)
    add = users_cmd.add_parser("add", help="create an account (or set a new password and role)")
    add.add_argument("out", type=Path, metavar="DIR", help="output folder the account may review")
    add.add_argument("name", help="user name")
    add.add_argument("--role", choices=accounts.ROLES, default="reviewer",
                     help="reviewer: decide; approver: also approve dismissals; admin: also the access log")
    add.add_argument("--approved-by", metavar="NAME", help="who authorised this account's access to recordings "
                                                           "(审批人, written into the access log)")
    add.add_argument("--password-stdin", action="store_true", help="read the password from standard input "
                                                                    "(default: asked twice on the terminal)")
    listing = users_cmd.add_parser("list", help="list the accounts")
    listing.add_argument("out", type=Path, metavar="DIR", help="output folder")
    log = commands.add_parser("access-log", help="export who played or downloaded which recording or clip "
                                                 "(the data-security access record)")
    log.add_argument("folder", type=Path, metavar="DIR", help="output folder served by `callaudit serve`")
    log.add_argument("--out", dest="to", required=True, type=Path, metavar="FILE", help="FILE.csv or FILE.xlsx")
    pkg = commands.add_parser("package", help="the inspection package: recordings linked to call, consent, complaint "
                                              "and agent records, in the regulator's categories")
    pkg.add_argument("--scan", required=True, type=Path, metavar="DIR", help="output folder of a scan")
    pkg.add_argument("--records", required=True, nargs="+", metavar="CDR", help="call-detail record exports or folders")
    pkg.add_argument("--consent", type=Path, metavar="CSV", help="consent records (number, consent time, withdrawal)")
    pkg.add_argument("--complaints", type=Path, metavar="CSV", help="complaint-handling records")
    pkg.add_argument("--agents", type=Path, metavar="CSV", help="agent register: certificate number, type, validity")
    pkg.add_argument("--out", required=True, type=Path, metavar="PKG", help="package folder (replaced as a whole)")
    pkg.add_argument("--redact", action="store_true", help="mask phone numbers in every text of the package")
    pkg.add_argument("--config", type=Path, default=PACKAGE_CONFIG,
                     help="package settings (default phrases/package.yaml)")
    pkg.add_argument("--records-config", type=Path, default=records.DEFAULT_CONFIG,
                     help="call-detail record settings (default phrases/records.yaml)")
    pkg.add_argument("--columns", metavar="MAP.yaml", help="field: header mapping for the CDR exports")
    return parser


def _backend(name: str) -> Backend | None:
    """The analysis backend of `--engine`: None for local worker processes; Ray is imported only when asked for."""
    if name == "ray":
        from pipeline.scan import distributed
        return distributed.analyse_all_ray
    return None


def run_scan(args: argparse.Namespace) -> int:
    os.umask(0o077)  # recordings are personal data: every output is owner-only (0700 / 0600)
    load_catalog(args.phrases)  # a catalog error is a usage error: report it before any work
    options = ScanOptions(
        model=args.model, language=args.language, beam_size=args.beam_size,
        vad=VadOptions(aggressiveness=args.vad_aggressiveness), phrases_dir=args.phrases,
        workers=max(1, args.workers), meta=load_meta(args.meta) if args.meta else {},
        redact=args.redact, max_duration_s=args.max_duration, time_limit_s=args.time_limit,
        address=args.address,
        speakers=SpeakerOptions(agent_channel=args.agent_channel, vad_aggressiveness=args.vad_aggressiveness),
    )
    recordings = discover(args.paths, archive_root(args.paths, args.root))
    if not recordings:
        print(f"callaudit: no recordings found under {' '.join(args.paths)}", file=sys.stderr)
        return 2
    if args.clip_padding < 0 or args.splice_context < 0:
        print("callaudit: --clip-padding and --splice-context must be >= 0", file=sys.stderr)
        return 2
    clip_options = clips.ClipOptions(args.clips, args.clip_padding, args.splice_context)
    signer = custody_ledger.Signer.load(args.custody_key) if args.custody_key else None
    stats = engine.ScanStats()
    with tqdm(total=len(recordings), unit="call", file=sys.stderr, desc="scanning") as bar:
        records = engine.scan(args.paths, args.out, options, on_record=lambda _: bar.update(),
                              clip_options=clip_options, stats=stats, root=args.root, prune=args.prune,
                              backend=_backend(args.engine), signer=signer)
    print(stats.line(), file=sys.stderr)
    failed = [r for r in records if r["status"] == "error"]
    problems = Counter(f"{f['problem']}:{f['rule'] or '-'}" for r in records for f in r["flags"])
    print(f"{len(records)} recordings, {len(failed)} failed, "
          f"{sum(1 for r in records if r['flags'])} flagged -> {args.out / 'report.jsonl'}", file=sys.stderr)
    for key, count in sorted(problems.items()):
        print(f"  {key}: {count}", file=sys.stderr)
    return 0


def run_verify(args: argparse.Namespace) -> int:
    key = custody_ledger.load_public_key(args.public_key) if args.public_key else None
    result = custody_verify.verify(args.out, key)
    sys.stdout.write(custody_verify.format_text(result))
    if args.json:
        fileio.write_atomic(args.json, json.dumps(result, ensure_ascii=False, indent=1) + "\n")
    return 0 if result["ok"] else 1


def run_custody_keygen(args: argparse.Namespace) -> int:
    public = args.public or args.private.with_name(args.private.name.removesuffix(".pem") + ".pub.pem")
    key = custody_ledger.write_key_pair(args.private, public)
    print(f"custody key {key}: private {args.private} (0600, keep it off the scanned machine's shared folders), "
          f"public {public} (give it to whoever verifies)", file=sys.stderr)
    return 0


def run_report(args: argparse.Namespace) -> int:
    records = engine.regenerate_reports(args.out)
    print(f"{len(records)} calls -> {args.out / 'report.html'}", file=sys.stderr)
    return 0


def run_flags(args: argparse.Namespace) -> int:
    for line in report.flagged_lines(engine.catalog_records(args.out), args.problem, args.rule):
        print(line)
    return 0


def run_records(args: argparse.Namespace) -> int:
    os.umask(0o077)  # call records are personal data, as recordings are
    try:
        period = parse_period(args.period) if args.period else None
    except ValueError as exc:
        print(f"callaudit: {exc}", file=sys.stderr)
        return 2
    options = records.RecordsOptions(config_path=args.config, period=period,
                                     column_map=load_column_map(args.columns) if args.columns else {},
                                     marked_numbers=args.marked_numbers)
    summary = records.check_records(args.paths, args.out, options)
    records.print_summary(summary)
    if (args.out / "catalog.sqlite").is_file():
        try:
            engine.regenerate_reports(args.out)   # report.html links the new records page
        except CatalogDBError as exc:
            print(f"callaudit: report.html not relinked ({exc}); run `callaudit report {args.out}`", file=sys.stderr)
    if summary["counts"]["rows"] == 0:
        print("callaudit: no call records could be read", file=sys.stderr)
        return 2
    return 0


def run_serve(args: argparse.Namespace) -> int:
    from pipeline.serve import app as serve  # the web stack is loaded only to serve
    from pipeline.serve.workbench import ServeOptions
    os.umask(0o077)
    if not _loopback(args.host):
        print(f"callaudit: warning: listening on {args.host}: other machines can reach the workbench, and it "
              "speaks plain HTTP; put a TLS proxy in front of it", file=sys.stderr)
    options = ServeOptions(host=args.host, port=args.port, meta=load_meta(args.meta) if args.meta else {})
    app = serve.build_app(args.out, options)
    print(f"callaudit: review workbench on http://{args.host}:{args.port}/ (Ctrl-C stops it)", file=sys.stderr)
    serve.run(app, options)
    return 0


def _loopback(host: str) -> bool:
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return host == "localhost"


def run_users(args: argparse.Namespace) -> int:
    db = review_store.connect(args.out)
    try:
        if args.users_command == "list":
            for user in accounts.users(db):
                print(f"{user.name}\t{user.role}\t{user.approved_by or '-'}")
            return 0
        if args.password_stdin:
            password = sys.stdin.readline().rstrip("\n")
        else:
            password = getpass.getpass(f"password for {args.name}: ")
            if getpass.getpass("again: ") != password:
                print("callaudit: the passwords differ", file=sys.stderr)
                return 2
        user = accounts.add_user(db, args.name, args.role, password, args.approved_by)
    except review_store.ReviewError as exc:
        print(f"callaudit: {exc}", file=sys.stderr)
        return 2
    finally:
        db.close()
    print(f"{user.name} ({user.role}) may now log in to `callaudit serve {args.out}`", file=sys.stderr)
    return 0


def run_access_log(args: argparse.Namespace) -> int:
    if args.to.suffix.lower() not in (".csv", ".xlsx"):
        print("callaudit: --out must end in .csv or .xlsx", file=sys.stderr)
        return 2
    os.umask(0o077)   # who listened to which call is personal data too
    count = review_store.write_access_log(args.folder, args.to)
    print(f"{count} accesses -> {args.to}", file=sys.stderr)
    return 0


def run_package(args: argparse.Namespace) -> int:
    os.umask(0o077)  # the package holds recordings and call records: personal data
    options = PackageOptions(records=args.records, consent=args.consent, complaints=args.complaints,
                             agents=args.agents, config_path=args.config, records_config=args.records_config,
                             column_map=load_column_map(args.columns) if args.columns else {},
                             redact=args.redact)
    summary = package.build_package(args.scan, args.out, options)
    for c in summary["categories"]:
        print(f"  {c['category']}: {c['items']} {c['item_name']}, {c['rejected']} will be rejected", file=sys.stderr)
    print(f"{len(summary['flags'])} flags, {len(summary['input_problems'])} input problems -> "
          f"{args.out / 'readiness.html'}", file=sys.stderr)
    return 0


COMMANDS = {"scan": run_scan, "report": run_report, "flags": run_flags, "records": run_records,
            "package": run_package, "serve": run_serve, "users": run_users, "access-log": run_access_log,
            "verify": run_verify, "custody-keygen": run_custody_keygen}


def main(argv: list[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    try:
        return COMMANDS[args.command](args)
    except (MetaError, CatalogError, ModelError, CatalogDBError, UsageError, ReadError) as exc:
        print(f"callaudit: {exc}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
