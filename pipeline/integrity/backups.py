"""Backup verification, `callaudit verify OUT --backup DIR...`: is every recording's copy in every backup the same?

Each recording of the catalog is expected at the same archive-relative path under
each backup location (a local disk, a mounted cloud-bucket folder) with the
sha256 the scan recorded. Listed: copies missing, copies differing (with both
hashes), and extra files a location holds that are no recording of the catalog,
marked when they are the copy of a recording destroyed under the retention policy
(a destroyed recording must go from the backups too). A destroyed recording's copy
is not expected. The result is written as a dated JSON file under OUT/backups/ and
as a `backup_verified` entry (counts and the file's sha256) in the custody ledger.

It reads every copy in full (sha256); it proves the copies equal the scanned
recordings, not that a backup can be restored by the center's own tools, nor
anything about the encryption of the location.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path

from pipeline.core import fileio
from pipeline.core.catalog import Catalog
from pipeline.core.errors import UsageError
from pipeline.core.fileio import file_sha256
from pipeline.core.schema_datasec import BackupVerification
from pipeline.integrity import ledger

KIND = "backup_verified"
FOLDER = "backups"


def _files(location: Path) -> set[str]:
    return {p.relative_to(location).as_posix() for p in location.rglob("*") if p.is_file()}


def compare(recordings: dict[str, str], destroyed_files: set[str], locations: list[Path]) -> dict:
    """The comparison of the module docstring; `recordings` maps archive path -> expected sha256."""
    matched, missing, differing, extra = 0, [], [], []
    for location in locations:
        present = _files(location)
        for file, expected in sorted(recordings.items()):
            if file not in present:
                missing.append({"location": str(location), "file": file})
                continue
            actual = file_sha256(str(location / file))
            if actual == expected:
                matched += 1
            else:
                differing.append({"location": str(location), "file": file, "sha256": actual, "expected": expected})
        extra += [{"location": str(location), "file": file, "destroyed": file in destroyed_files}
                  for file in sorted(present - set(recordings))]
    return {"matched": matched, "missing": missing, "differing": differing, "extra": extra}


def verify_backups(out_dir: Path, locations: list[Path], signer: ledger.Signer | None = None) -> BackupVerification:
    """Compare, write OUT/backups/verified-<UTC time>.json and the ledger entry; returns the verification."""
    from pipeline.retention.destroy import (
        destructions,  # retention knows what was destroyed
    )

    out_dir = Path(out_dir)
    for location in locations:
        if not Path(location).is_dir():
            raise UsageError(f"backup location {location} is not there (not a folder): nothing verified")
    gone = destructions(out_dir)
    with Catalog(out_dir, create=False) as catalog:
        rows = catalog.db.execute("SELECT call_id, file, sha256 FROM files ORDER BY file").fetchall()
    recordings = {file: sha for call_id, file, sha in rows if sha and call_id not in gone}
    destroyed_files = {file for call_id, file, _ in rows if call_id in gone}
    stamp = time.gmtime()
    found = compare(recordings, destroyed_files, [Path(p).resolve() for p in locations])
    report = out_dir / FOLDER / f"verified-{time.strftime('%Y%m%dT%H%M%SZ', stamp)}-{os.getpid()}.json"
    result: BackupVerification = {"time": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
                                  "locations": [str(Path(p).resolve()) for p in locations],
                                  "recordings": len(recordings), **found,
                                  "report": report.relative_to(out_dir).as_posix(),
                                  "clean": not (found["missing"] or found["differing"] or found["extra"])}
    fileio.write_atomic(report, json.dumps(result, ensure_ascii=False, indent=1) + "\n")
    log = ledger.Ledger.open(out_dir, signer)
    try:
        log.append(KIND, {"time": result["time"], "locations": result["locations"],
                          "recordings": result["recordings"], "matched": result["matched"],
                          "missing": len(result["missing"]), "differing": len(result["differing"]),
                          "extra": len(result["extra"]), "clean": result["clean"], "report": result["report"],
                          "report_sha256": file_sha256(str(report))})
    finally:
        log.close()
    return result


def verifications(out_dir: Path) -> list[BackupVerification]:
    """Every backup verification of DIR, oldest first, as its JSON file holds it (the ledger names each)."""
    contents = ledger.read(Path(out_dir) / ledger.FILENAME)
    out = []
    for entry in contents.entries:
        if entry.get("kind") != KIND:
            continue
        path = Path(out_dir) / entry["report"]
        try:
            data = json.loads(path.read_text("utf-8"))
        except (OSError, ValueError):
            data = {k: entry[k] for k in ("time", "locations", "recordings", "matched", "report", "clean")}
            data.update(missing=[], differing=[], extra=[], unreadable=f"{entry['report']} is gone or unreadable")
        else:
            if file_sha256(str(path)) != entry["report_sha256"]:
                data["unreadable"] = f"{entry['report']} was changed after its verification"
        out.append(data)
    return out


def print_verification(result: BackupVerification) -> None:
    """What `verify --backup` prints: every missing, differing and extra copy, then the counts."""
    import sys
    for m in result["missing"]:
        print(f"missing\t{m['location']}\t{m['file']}")
    for d in result["differing"]:
        print(f"differs\t{d['location']}\t{d['file']}\t{d['sha256']} (expected {d['expected']})")
    for e in result["extra"]:
        print(f"extra\t{e['location']}\t{e['file']}" + ("\t(a destroyed recording)" if e["destroyed"] else ""))
    print(f"backups: {result['recordings']} recordings x {len(result['locations'])} locations, {result['matched']} "
          f"copies match, {len(result['missing'])} missing, {len(result['differing'])} differ, "
          f"{len(result['extra'])} extra -> {result['report']}", file=sys.stderr)
