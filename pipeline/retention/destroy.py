"""Witnessed destruction of recordings past retention: a ledger entry first, then the file is deleted.

For each recording the plan calls `due`, in this order: its size and sha256 are
read, a `destroyed` entry (call id, archive path, source path on disk, size,
sha256, time, method, operator, witness) is appended to the custody
ledger and fsynced, then the file is unlinked and its folder fsynced. A crash
between the two leaves an entry whose file still exists; the next plan calls it
`interrupted` and the next destroy completes it (the same content, already
recorded and witnessed). So every deleted file is accounted for, and nothing is
deleted that is not recorded.

Only the recording file is deleted: nothing else is written or removed (clips
and packages cut from it are copies the center handles separately). Operator and
witness are two different workbench accounts, each logged in with its password.
"""

from __future__ import annotations

import os
import signal
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core import review_store
from pipeline.core.errors import UsageError
from pipeline.core.fileio import file_sha256
from pipeline.core.schema_datasec import DestructionRecord, RetentionItem
from pipeline.integrity import ledger
from pipeline.serve import accounts

KIND = "destroyed"
METHOD = "unlink: file deleted from the file system (blocks not overwritten)"
# Test hook only: kill this process with SIGKILL right after the N-th ledger append, before its unlink.
CRASH_ENV = "CALLAUDIT_TEST_KILL_AFTER_APPEND"


@dataclass
class Destroyed:
    """What a destroy run did."""

    records: list[DestructionRecord] = field(default_factory=list)   # destroyed now
    completed: list[str] = field(default_factory=list)               # interrupted destructions finished (call ids)
    refused: list[tuple[str, str]] = field(default_factory=list)     # (call id, why) left in place


def check_people(out_dir: Path, operator: str, witness: str, passwords: tuple[str, str]) -> None:
    """Operator and witness are two different accounts of DIR's workbench, each with its right password."""
    if not operator or not witness:
        raise UsageError("a destruction needs an operator (--operator) and a witness (--witness)")
    if operator == witness:
        raise UsageError(f"the operator and the witness must be two different people (both are {operator})")
    db = review_store.connect(out_dir)
    try:
        known = {u.name for u in accounts.users(db)}
        for role, name, password in (("operator", operator, passwords[0]), ("witness", witness, passwords[1])):
            if name not in known:
                raise UsageError(f"the {role} {name!r} is no workbench account of {out_dir} "
                                 f"(add it with `callaudit users add {out_dir} {name}`)")
            if accounts.authenticate(db, name, password) is None:
                raise UsageError(f"wrong password for the {role} {name!r}: nothing destroyed")
    finally:
        db.close()


def _local_time() -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S%z")


def _unlink(path: str) -> None:
    os.unlink(path)
    fd = os.open(os.path.dirname(path) or ".", os.O_RDONLY)
    try:
        os.fsync(fd)      # the deletion itself is durable before the next recording is touched
    finally:
        os.close(fd)


def _crash_point(appended: int) -> None:
    wanted = os.environ.get(CRASH_ENV)
    if wanted and appended == int(wanted):
        os.kill(os.getpid(), signal.SIGKILL)


def destroy(out_dir: Path, items: list[RetentionItem], operator: str, witness: str,
            signer: ledger.Signer | None = None) -> Destroyed:
    """Destroy every `due` recording of the plan and complete every `interrupted` one (see the module docstring).

    Call `check_people` first; this function trusts its operator and witness.
    """
    done = Destroyed()
    log = ledger.Ledger.open(out_dir, signer)
    try:
        if log.breaks:
            raise UsageError(f"{log.path}: the custody ledger does not verify ({log.breaks[0].message}); "
                             "nothing destroyed: run `callaudit verify` first")
        recorded = {e["call_id"]: e for e in log.entries if e.get("kind") == KIND}
        for item in items:
            if item["status"] == "interrupted":
                entry = recorded[item["call_id"]]
                if file_sha256(item["path"]) == entry["sha256"]:
                    _unlink(item["path"])
                    done.completed.append(item["call_id"])
        for item in (i for i in items if i["status"] == "due"):
            path = item["path"]
            size = os.stat(path).st_size
            sha = file_sha256(path)
            record: DestructionRecord = {"call_id": item["call_id"], "path": item["file"], "source": path,
                                         "size": size, "sha256": sha, "time": _local_time(), "method": METHOD,
                                         "operator": operator, "witness": witness, "reason": item["reason"]}
            log.append(KIND, dict(record))
            _crash_point(len(done.records) + 1)
            _unlink(path)
            done.records.append(record)
    finally:
        log.close()
    return done


def destructions(out_dir: Path) -> dict[str, dict]:
    """call_id -> its latest `destroyed` entry in DIR's ledger ({} without a ledger)."""
    contents = ledger.read(Path(out_dir) / ledger.FILENAME)
    return {e["call_id"]: e for e in contents.entries if e.get("kind") == KIND and "call_id" in e}
