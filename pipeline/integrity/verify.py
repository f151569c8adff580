"""`callaudit verify OUT`: check the custody ledger's chain and every recording it lists; exit non-zero on a break.

Re-walks DIR/custody.jsonl (every entry's hash, every link, the signatures when
a public key is given), checks the ledger still reaches the head the catalog
anchored at the end of the last scan (a ledger cut back fails), and re-hashes
every recording the ledger says is present against its latest entry. Breaks:
an entry changed or unreadable, the chain broken, a bad or missing signature,
the ledger cut back, a recording changed or missing without a `removed` entry.
A torn final line (a write interrupted by a crash) is a note, not a break: the
next scan sets it aside. Modifications the ledger recorded are findings, listed.

It writes nothing (except the `--json` result the caller asks for) and never
repairs: verification must be repeatable by anyone holding a copy of the folder.
"""

from __future__ import annotations

import json
import sqlite3
from dataclasses import asdict
from pathlib import Path

from pipeline.core import fileio
from pipeline.core.errors import InputError, UsageError
from pipeline.integrity import archive as archive_mod
from pipeline.integrity import custody as custody_mod
from pipeline.integrity import ledger as ledger_mod


def catalog_info(out_dir: Path) -> dict[str, str]:
    """The catalog's info table, read-only (verify changes nothing); empty without a catalog."""
    path = Path(out_dir) / "catalog.sqlite"
    if not path.is_file():
        return {}
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return dict(db.execute("SELECT key, value FROM info"))
    except sqlite3.DatabaseError:
        return {}
    finally:
        db.close()


def verify(out_dir: Path, public_key=None) -> dict:
    """The verification result of an output folder: counts, breaks (each with its entry), notes, findings, ok."""
    out_dir = Path(out_dir)
    path = out_dir / ledger_mod.FILENAME
    if not path.exists() and not (out_dir / "catalog.sqlite").is_file():
        raise UsageError(f"{out_dir} holds no scan (no custody.jsonl, no catalog.sqlite)")
    contents = ledger_mod.read(path, public_key)
    breaks = [asdict(b) for b in contents.breaks]
    notes = [] if path.exists() else [f"{path.name}: no ledger (no scan has written one yet)"]
    if contents.torn:
        notes.append(f"a torn final line of {len(contents.torn)} bytes (a write interrupted by a crash); "
                     "the next scan sets it aside")
    notes += [f"{p.name}: a torn line set aside by an earlier scan" for p in sorted(out_dir.glob(f"{path.name}.*.torn"))]
    info = catalog_info(out_dir)
    breaks += _anchor_breaks(contents.entries, info.get(archive_mod.HEAD_KEY))
    root = Path(info["root"]) if info.get("root") else None
    present = changed = 0
    histories = custody_mod.histories(contents.entries)
    for rel, history in sorted(histories.items()):
        if history.removed:
            continue
        if root is None:
            notes.append("no catalog: the archive root is unknown, recordings not re-hashed")
            break
        try:
            sha = fileio.file_sha256(str(root / rel))
        except (OSError, InputError):
            breaks.append({"kind": "recording_missing", "seq": history.entries[-1], "call_id": history.call_id,
                           "message": f"{rel} is missing and the ledger has no `removed` entry for it"})
            continue
        present += 1
        if sha != history.latest["sha256"]:
            changed += 1
            breaks.append({"kind": "recording_changed", "seq": history.entries[-1], "call_id": history.call_id,
                           "message": f"{rel} changed since ledger entry {history.entries[-1]} "
                                      f"(sha256 {history.latest['sha256'][:12]}… → {sha[:12]}…)"})
    modified = [{"path": h.path, "call_id": h.call_id, "entries": h.modified_entries}
                for h in histories.values() if h.modified_entries]
    removed = [{"path": h.path, "call_id": h.call_id} for h in histories.values() if h.removed]
    return {"ledger": str(path), "entries": len(contents.entries), "signed": contents.signed,
            "signatures_checked": public_key is not None,
            "key": ledger_mod.key_id(public_key) if public_key is not None else None,
            "head": contents.head, "recordings": len(histories), "present": present, "changed": changed,
            "removed": removed, "modified_after_capture": modified, "breaks": breaks, "notes": notes,
            "ok": not breaks}


def _anchor_breaks(entries: list[dict], anchor: str | None) -> list[dict]:
    """The catalog's head (entries, hash) at the end of the last scan must still be in the ledger."""
    if not anchor:
        return []
    head = json.loads(anchor)
    count = head["entries"]
    if count == 0:
        return []
    if len(entries) < count or entries[count - 1].get("hash") != head["hash"]:
        return [{"kind": "ledger_cut", "seq": count - 1, "call_id": None,
                 "message": f"the last scan ended at entry {count - 1} with hash {head['hash'][:12]}…; "
                            f"the ledger now has {len(entries)} entries and does not reach it"}]
    return []


def format_text(result: dict) -> str:
    """What `callaudit verify` prints: a verdict line, then each break, finding and note."""
    lines = [("OK" if result["ok"] else f"BROKEN ({len(result['breaks'])} breaks)")
             + f": {result['entries']} ledger entries ({result['signed']} signed"
             + (", signatures verified" if result["signatures_checked"] else ", signatures not checked: give "
                "--public-key" if result["signed"] else "") + f"), {result['recordings']} recordings, "
             f"{result['present']} present and re-hashed, {len(result['removed'])} recorded as removed"]
    lines += [f"  break: {b['message']}" for b in result["breaks"]]
    lines += [f"  modified after capture (recorded): {m['path']} (entries {', '.join(map(str, m['entries']))})"
              for m in result["modified_after_capture"]]
    lines += [f"  removed (recorded): {r['path']}" for r in result["removed"]]
    lines += [f"  note: {n}" for n in result["notes"]]
    return "\n".join(lines) + "\n"
