"""Call metadata from the call center's own records (`--meta CSV`).

The CSV's `file` column names a recording by its path relative to the scanned
root or by its basename (archives exported from a call platform usually carry
only the basename). Values here win over anything inferred from the audio.
It only reads the CSV: it never infers a value from a recording.
"""

from __future__ import annotations

import csv
from pathlib import PurePosixPath

CALL_TYPES = ("marketing", "service", "complaint", "consult", "unknown")
INDUSTRIES = ("finance", "medical", "education", "general", "unknown")
OPTIONAL_COLUMNS = ("call_id", "type", "industry", "direction", "agent_id", "caller", "callee",
                    "start_time", "agent_channel")
AGENT_CHANNELS = ("0", "1")   # stereo: 0 = left, 1 = right


class MetaError(ValueError):
    """The metadata CSV is malformed; the message names the file and line."""


def load_meta(csv_path: str) -> dict[str, dict]:
    """Read the CSV into {file key: row}, validating `type` and `industry` values.

    Each row is indexed under its `file` value as given (a relative path or a
    basename); `lookup` tries the relative path first, then the basename.
    """
    try:
        with open(csv_path, newline="", encoding="utf-8-sig") as handle:
            reader = csv.DictReader(handle)
            if not reader.fieldnames or "file" not in reader.fieldnames:
                raise MetaError(f"{csv_path}:1: the header must have a 'file' column")
            rows = {}
            for row in reader:
                line = reader.line_num
                key = (row.get("file") or "").strip()
                if not key:
                    raise MetaError(f"{csv_path}:{line}: empty 'file' value")
                clean = {k: (row.get(k) or "").strip() for k in OPTIONAL_COLUMNS if (row.get(k) or "").strip()}
                for column, allowed in (("type", CALL_TYPES), ("industry", INDUSTRIES),
                                        ("agent_channel", AGENT_CHANNELS)):
                    if column in clean and clean[column] not in allowed:
                        raise MetaError(f"{csv_path}:{line}: {column} '{clean[column]}' is not one of "
                                        f"{', '.join(allowed)}")
                rows[PurePosixPath(key.replace("\\", "/")).as_posix()] = clean
    except OSError as exc:
        raise MetaError(f"{csv_path}: cannot read: {exc.strerror or exc}") from exc
    except (UnicodeDecodeError, csv.Error) as exc:
        raise MetaError(f"{csv_path}: not a UTF-8 CSV file: {exc}") from exc
    return rows


def lookup(meta: dict[str, dict], relative_path: str) -> dict | None:
    """The metadata row of a recording, by relative path, else by basename."""
    return meta.get(relative_path) or meta.get(PurePosixPath(relative_path).name)
