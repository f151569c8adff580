"""Which recordings a scan covers: the archive root, the files under it, and each call's id.

Walks folders and names calls from their path relative to the archive root (and the
metadata row); it never opens or decodes a recording, and never writes anything.
"""

from __future__ import annotations

import hashlib
import os
import re
from dataclasses import dataclass
from pathlib import Path

from pipeline.core.errors import UsageError

AUDIO_EXTENSIONS = frozenset(
    ".wav .mp3 .m4a .aac .ogg .opus .oga .flac .amr .awb .gsm .au .wma .webm .mp4 .3gp .mka .aif .aiff".split()
)


@dataclass
class Recording:
    """A file to scan: its path on disk and its path relative to the archive root."""

    path: str
    relative: str               # with the content (sha256), what identifies the call
    sha256: str | None = None   # when the scan already hashed the file, so probe need not again
    transcript: dict | None = None  # a stored transcript of this content: only the checks run


def absolute_path(path: str | Path) -> Path:
    """Absolute without resolving links: a link's own path is where the archive has the file."""
    return Path(os.path.abspath(path))


def archive_root(paths: list[str], given: str | None = None, stored: str | None = None) -> Path:
    """The folder call paths are relative to: `--root`, else the output folder's, else the given paths' parent.

    The default is the common parent of the given paths (a folder counts as its own
    parent), so `scan a/x.wav b/x.wav` keeps the two apart. An output folder keeps
    the root of its first scan: scanning a subfolder into it later keeps every
    call's relative path (and so its call_id) instead of renaming it.
    """
    absolute = [absolute_path(p) for p in paths]
    default = Path(os.path.commonpath([p if p.is_dir() else p.parent for p in absolute]))
    root = absolute_path(given) if given else Path(stored) if stored else default
    if stored and root != Path(stored):
        raise UsageError(f"this output folder's archive root is {stored}; --root {root} would rename its calls "
                         "(use another --out)")
    for path in absolute:
        if not path.is_relative_to(root):
            raise UsageError(f"{path} is outside the archive root {root}"
                             + (" of this output folder (use another --out)" if stored else " (see --root)"))
    return root


def discover(paths: list[str], root: Path | None = None) -> list[Recording]:
    """Expand files and folders (recursively) into recordings, in a stable order.

    Files named explicitly are always scanned; inside folders only known audio
    extensions are (a folder of recordings also holds CSVs, notes, truth files).
    Symlinked folders are not followed, so link loops cannot trap the walk.
    Relative paths are taken from `root` (default: `archive_root(paths)`).
    """
    root = root or archive_root(paths)
    found: dict[Path, Recording] = {}

    def add(path: Path) -> None:
        full = absolute_path(path)
        found.setdefault(full, Recording(str(path), full.relative_to(root).as_posix()))

    for given in paths:
        top = Path(given)
        if top.is_dir():
            for folder, dirs, files in os.walk(top):
                dirs.sort()
                for name in sorted(files):
                    if Path(name).suffix.lower() in AUDIO_EXTENSIONS:
                        add(Path(folder) / name)
        else:
            add(top)
    return list(found.values())


def call_id_for(relative: str, meta_row: dict | None) -> str:
    """A file-system-safe id: readable stem plus a short hash of the path relative to the archive root.

    The hash keeps two `001.wav` in different folders apart; ids from metadata are
    used when given, but sanitised the same way so they can never escape the output
    folder. The scan makes ids unique within one output folder (`unique_call_id`).
    """
    wanted = (meta_row or {}).get("call_id") or Path(relative).stem
    safe = re.sub(r"[^\w.-]+", "_", wanted).strip("._")[:60] or "call"
    if meta_row and meta_row.get("call_id") and safe == meta_row["call_id"]:
        return safe
    return f"{safe}-{hashlib.sha1(relative.encode('utf-8')).hexdigest()[:8]}"


def unique_call_id(wanted: str, relative: str, taken: dict[str, str]) -> str:
    """`wanted`, or when another file of this output folder holds it, `wanted` plus a hash of the path."""
    call_id, digits = wanted, 8
    while taken.setdefault(call_id, relative) != relative:
        call_id = f"{wanted}-{hashlib.sha1(relative.encode('utf-8')).hexdigest()[:digits]}"
        digits += 4
    return call_id
