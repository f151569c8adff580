"""Integrity over the whole archive, at the end of every scan: sweep for removed recordings, verdicts, anchor.

The format layer compares each recording with its siblings, so verdicts can only
be given once the scan has seen everything: `finish_scan` runs after the last
recording, computes the verdict of every call in the catalog from the ledger's
history, the catalog's current format signatures and the record's splices, and
rewrites only the records whose verdict changed (so a re-scan of an unchanged
archive rewrites nothing and gives the same answer whatever order it ran in).
It also stores the ledger's head (entry count and last hash) in the catalog, an
anchor `callaudit verify` checks: a ledger cut back to fewer entries fails.

It must not analyse audio or decide what goes into the ledger (custody does).
"""

from __future__ import annotations

import json
from pathlib import Path

from pipeline.integrity import custody as custody_mod
from pipeline.integrity import population, verdict
from pipeline.scan import outputs

HEAD_KEY = "custody_head"


def format_differences(records: list[dict], histories: dict[str, custody_mod.History]) -> dict[str, list[dict]]:
    """call_id -> the fields in which its format differs from its siblings' norm ([]: none; absent: too few siblings).

    Siblings are ordered by the file's mtime when a scan first saw it (kept in the
    ledger, so an edit after capture cannot move a file into another period).
    """
    members = [{"call_id": r["call_id"], "path": r["file"], "signature": r["format"],
                "mtime": (histories[r["file"]].first.get("mtime") or "") if r["file"] in histories else ""}
               for r in records if r.get("format")]
    return population.format_outliers(members)


def finish_scan(out_dir: Path, cat, custody: custody_mod.Custody, scopes: list[str] | None, archive: Path) -> None:
    """After a complete scan: `removed` entries, every record's verdict (changed ones rewritten), the head anchor."""
    custody.sweep(scopes, archive)
    records = cat.records()
    try:
        differences = format_differences(records, custody.history)
    except Exception as exc:  # noqa: BLE001  a bug in the comparison must not cost the scan its reports: the layer is not checked
        differences = {}
        custody.problems.append(f"format comparison failed ({type(exc).__name__}: {exc}); format layer not checked")
    for record in records:
        info = record.get("recording") or {}
        sha, audio = custody.seen.get(record["file"], (info.get("sha256"), info.get("audio_sha256")))
        evidence = custody_mod.evidence(custody.history.get(record["file"]), sha, audio)
        found = verdict.integrity(record, evidence, differences.get(record["call_id"]))
        if verdict.apply(record, found):
            cat.update_record(record)
            outputs.write_call_files(out_dir, record)
    cat.set_info(HEAD_KEY, json.dumps({"entries": len(custody.ledger.entries), "hash": custody.ledger.head}))
