"""Files on disk: atomic replacement and content hashes, the two things every command needs.

An output is written to a temporary name in the same directory, fsynced and renamed
over the target, so a crash or kill -9 leaves the old file or the new one, never half
of one. Nothing here knows what a recording, a record or a package is.
"""

from __future__ import annotations

import contextlib
import hashlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path

from pipeline.core.errors import InputError


@contextlib.contextmanager
def atomic_target(path: Path) -> Iterator[Path]:
    """A temporary path beside `path` to write to; fsynced and renamed over `path` when the block succeeds.

    For outputs written by a library straight to a file (a workbook); on an error the
    temporary file is removed and `path` is untouched.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        yield Path(tmp)
        with open(tmp, "rb+") as handle:
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def write_atomic(path: Path, data: str | bytes) -> None:
    """Replace `path` with `data` in one rename (the directory is created if needed)."""
    payload = data.encode("utf-8") if isinstance(data, str) else data
    with atomic_target(path) as tmp:
        tmp.write_bytes(payload)


def file_sha256(path: str) -> str:
    """Content hash: identifies a recording whatever its name (used to skip re-scans).

    Only regular files are read: opening a FIFO named `x.wav` would block forever.
    """
    if not os.path.isfile(path):
        raise InputError("unreadable", "not a regular file (missing, broken link, FIFO or device)")
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()
