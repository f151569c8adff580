"""The `callaudit retention` sub-command: its arguments and its wiring (pipeline.cli delegates both here).

Only parses and wires: who destroys is settled (pipeline.retention.destroy.check_people)
before anything is read, then the plan is built and printed, then, with --destroy,
the due recordings are destroyed. No retention rule is decided here.
"""

from __future__ import annotations

import argparse
import getpass
import os
import sys
from datetime import date
from pathlib import Path

from pipeline.integrity import ledger
from pipeline.package.config import DEFAULT_CONFIG as PACKAGE_CONFIG
from pipeline.records.config import load_column_map
from pipeline.retention import command as retention
from pipeline.retention import destroy
from pipeline.retention.policy import DEFAULT_POLICY


def add_parser(commands) -> None:
    """Add `retention` to the CLI's sub-commands."""
    ret = commands.add_parser("retention", help="recordings past their retention period, and their witnessed "
                                                "destruction (销毁记录) into the custody ledger")
    ret.add_argument("out", type=Path, metavar="OUT", help="output folder of a scan")
    ret.add_argument("--records", nargs="+", default=[], metavar="CDR", help="call-detail exports: call days and types")
    ret.add_argument("--complaints", type=Path, metavar="FILE", help="complaint-handling records: closing days")
    ret.add_argument("--policy", type=Path, default=DEFAULT_POLICY, help="retention policy (default "
                                                                         "phrases/retention.yaml)")
    ret.add_argument("--config", type=Path, default=PACKAGE_CONFIG,
                     help="package settings: linking and complaint call types (default phrases/package.yaml)")
    ret.add_argument("--columns", metavar="MAP.yaml", help="field: header mapping for the CDR exports")
    ret.add_argument("--as-of", type=date.fromisoformat, metavar="YYYY-MM-DD", help="judge on this day (default today)")
    ret.add_argument("--destroy", action="store_true", help="delete the recordings that are due (needs both names)")
    ret.add_argument("--operator", default="", help="销毁人: the workbench account destroying")
    ret.add_argument("--witness", default="", help="监销人: another workbench account supervising")
    ret.add_argument("--passwords-stdin", action="store_true",
                     help="read the operator's and the witness's passwords from two lines of standard input")
    ret.add_argument("--custody-key", type=Path, metavar="KEY.pem", help="sign the ledger entries with this key")


def _passwords(args: argparse.Namespace) -> tuple[str, str]:
    if args.passwords_stdin:
        return sys.stdin.readline().rstrip("\n"), sys.stdin.readline().rstrip("\n")
    if args.operator and args.witness and args.operator != args.witness:
        return (getpass.getpass(f"password of the operator {args.operator}: "),
                getpass.getpass(f"password of the witness {args.witness}: "))
    return "", ""          # check_people says what is missing


def run(args: argparse.Namespace) -> int:
    os.umask(0o077)
    if args.destroy:
        destroy.check_people(args.out, args.operator, args.witness, _passwords(args))
    options = retention.RetentionOptions(records=args.records, complaints=args.complaints, policy=args.policy,
                                         config=args.config, today=args.as_of,
                                         column_map=load_column_map(args.columns) if args.columns else {})
    items = retention.build_plan(args.out, options)
    retention.print_plan(items)
    if not args.destroy:
        return 0
    signer = ledger.Signer.load(args.custody_key) if args.custody_key else None
    done = destroy.destroy(args.out, items, args.operator, args.witness, signer)
    print(f"{len(done.records)} recordings destroyed, {len(done.completed)} interrupted destructions completed "
          f"-> {args.out / ledger.FILENAME}", file=sys.stderr)
    return 0
