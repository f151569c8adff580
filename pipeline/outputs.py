"""Output stage: write call records to disk, atomically.

Every file is written to a temporary name in the same directory, flushed and
fsynced, then renamed over the target: a crash or kill -9 leaves either the old
file or the new one, never half of one.
"""

from __future__ import annotations

import json
import os
import tempfile
from pathlib import Path


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace `path` with `data` in one rename (the directory is created if needed)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    payload = data.encode("utf-8") if isinstance(data, str) else data
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(payload)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def to_json(record: dict) -> str:
    """One compact JSON line; Chinese kept readable rather than \\u-escaped."""
    return json.dumps(record, ensure_ascii=False, separators=(",", ":"))


def write_call(out_dir: Path, record: dict) -> Path:
    """Write `calls/<call_id>.json` (pretty-printed for people who open one call)."""
    path = out_dir / "calls" / f"{record['call_id']}.json"
    write_atomic(path, json.dumps(record, ensure_ascii=False, indent=2) + "\n")
    return path


def write_report(out_dir: Path, records: list[dict]) -> Path:
    """Write `report.jsonl`, one record per line, sorted by file for stable diffs."""
    path = out_dir / "report.jsonl"
    lines = (to_json(r) + "\n" for r in sorted(records, key=lambda r: r["file"]))
    write_atomic(path, "".join(lines))
    return path
