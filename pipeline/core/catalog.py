"""Catalog: `DIR/catalog.sqlite`, what has been scanned into an output folder.

Three tables carry the results:

* `transcripts` caches the transcript stage (decode, VAD, quiet boost, ASR) by
  (recording sha256, key); the key covers the model's sha256, the ASR and VAD
  settings and that stage's code, never the phrase catalog
  (pipeline.scan.cache_keys.transcript_key).
* `analyses` caches each finished record by (recording sha256, fingerprint); the
  fingerprint adds the phrase catalog, thresholds, the checks' code and the file's
  metadata row. A re-scan of an unchanged recording finds its record here and
  neither decodes nor transcribes it; after a phrase catalog edit it misses, the
  transcript hits, and only the checks run again.
* `files` is the archive as last scanned: one row per call (call_id), with the
  final record (clip paths included) and the recording's path on disk (for the
  report's waveforms). report.jsonl/.csv/.html are regenerated from it.

`info` keeps the archive root of the output folder (relative paths, and so
call_ids, are taken from it by every scan).

Each finished recording is committed in one transaction after its files are on
disk, so a scan killed at any moment resumes where it stopped: committed calls
are skipped, the one in flight is redone (its files are replaced atomically).
The database runs in WAL mode with synchronous=FULL.
It stores and returns records; it never computes one (the scan stages do).
"""

from __future__ import annotations

import hashlib
import json
import sqlite3
import time
from pathlib import Path

SCHEMA_VERSION = "1"
FILENAME = "catalog.sqlite"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS info (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS analyses (
    sha256      TEXT NOT NULL,
    fingerprint TEXT NOT NULL,
    record      TEXT NOT NULL,
    created_at  REAL NOT NULL,
    PRIMARY KEY (sha256, fingerprint)
);
CREATE TABLE IF NOT EXISTS transcripts (
    sha256      TEXT NOT NULL,
    key         TEXT NOT NULL,
    transcript  TEXT NOT NULL,
    created_at  REAL NOT NULL,
    PRIMARY KEY (sha256, key)
);
CREATE TABLE IF NOT EXISTS files (
    call_id     TEXT PRIMARY KEY,
    file        TEXT NOT NULL,
    source_path TEXT,
    sha256      TEXT,
    fingerprint TEXT NOT NULL,
    clip_key    TEXT NOT NULL,
    record      TEXT NOT NULL,
    scan_id     TEXT NOT NULL,
    updated_at  REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS files_by_file ON files (file);
CREATE TABLE IF NOT EXISTS peaks (
    sha256 TEXT NOT NULL,
    points INTEGER NOT NULL,
    data   TEXT NOT NULL,
    PRIMARY KEY (sha256, points)
);
"""


class CatalogDBError(RuntimeError):
    """The catalog cannot be opened (not a callaudit catalog, or a newer schema)."""


def fingerprint(parts: dict) -> str:
    """A short stable hash of the options (a JSON-able dict) that change a result."""
    blob = json.dumps(parts, sort_keys=True, ensure_ascii=False, separators=(",", ":"))
    return hashlib.sha256(blob.encode("utf-8")).hexdigest()[:32]


class Catalog:
    """The sqlite catalog of one output folder. Use as a context manager or call close().

    `exclusive=True` (a scan) also takes DIR/catalog.lock, so two scans never write one folder.
    """

    def __init__(self, out_dir: Path, create: bool = True, exclusive: bool = False):
        self.path = Path(out_dir) / FILENAME
        if not create and not self.path.exists():
            raise CatalogDBError(f"{self.path}: no catalog here (run `callaudit scan ... --out {out_dir}` first)")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._lock = _lock(self.path.with_name("catalog.lock")) if exclusive else None
        self.db = sqlite3.connect(self.path, timeout=30, isolation_level=None)
        try:
            self.db.execute("PRAGMA journal_mode=WAL")
            self.db.execute("PRAGMA synchronous=FULL")
            self.db.executescript(_SCHEMA)
            row = self.db.execute("SELECT value FROM info WHERE key='schema'").fetchone()
            if row is None:
                self.db.execute("INSERT INTO info VALUES ('schema', ?)", (SCHEMA_VERSION,))
            elif row[0] != SCHEMA_VERSION:
                raise CatalogDBError(f"{self.path}: catalog schema {row[0]}, this callaudit reads {SCHEMA_VERSION}")
        except sqlite3.DatabaseError as exc:
            self.close()
            raise CatalogDBError(f"{self.path}: not a callaudit catalog: {exc}") from exc

    def __enter__(self) -> "Catalog":
        return self

    def __exit__(self, *exc) -> None:
        self.close()

    def close(self) -> None:
        self.db.close()
        if self._lock is not None:
            self._lock.close()   # releases the lock
            self._lock = None

    # -- archive settings -----------------------------------------------------------
    def get_info(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM info WHERE key=?", (key,)).fetchone()
        return row[0] if row else None

    def set_info(self, key: str, value: str) -> None:
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO info VALUES (?, ?)", (key, value))

    # -- transcripts and analyses caches ------------------------------------------------
    def transcript(self, sha256: str | None, key: str) -> dict | None:
        """The stored transcript of a recording's content under these ASR settings, or None."""
        return self._stored("SELECT transcript FROM transcripts WHERE sha256=? AND key=?", sha256, key)

    def lookup(self, sha256: str | None, fp: str) -> dict | None:
        """The cached analysis of a recording's content under these options, or None."""
        return self._stored("SELECT record FROM analyses WHERE sha256=? AND fingerprint=?", sha256, fp)

    def _stored(self, query: str, sha256: str | None, key: str) -> dict | None:
        """The JSON one of the caches keeps for a recording's content under a settings key, or None."""
        if not sha256:
            return None
        row = self.db.execute(query, (sha256, key)).fetchone()
        return json.loads(row[0]) if row else None

    def file_row(self, call_id: str) -> dict | None:
        row = self.db.execute("SELECT file, source_path, sha256, fingerprint, clip_key, record FROM files "
                              "WHERE call_id=?", (call_id,)).fetchone()
        if row is None:
            return None
        keys = ("file", "source_path", "sha256", "fingerprint", "clip_key", "record")
        out = dict(zip(keys, row))
        out["record"] = json.loads(out["record"])
        return out

    def store(self, *, record: dict, analysis: dict | None, source_path: str | None, sha256: str | None,
              fp: str, clip_key: str, scan_id: str, transcript: dict | None = None,
              transcript_fp: str = "") -> list[str]:
        """Commit one finished call (its analysis when cacheable, its new transcript) in one transaction.

        Returns the call_ids this file had before under another id (their files are stale).
        """
        now = time.time()
        with self._transaction():
            if transcript is not None and sha256:
                self.db.execute("INSERT OR REPLACE INTO transcripts VALUES (?,?,?,?)",
                                (sha256, transcript_fp, json.dumps(transcript, ensure_ascii=False), now))
            if analysis is not None and sha256:
                self.db.execute("INSERT OR REPLACE INTO analyses VALUES (?,?,?,?)",
                                (sha256, fp, json.dumps(analysis, ensure_ascii=False), now))
            replaced = [r[0] for r in self.db.execute("SELECT call_id FROM files WHERE file=? AND call_id<>?",
                                                      (record["file"], record["call_id"]))]
            self.db.execute("DELETE FROM files WHERE file=? AND call_id<>?", (record["file"], record["call_id"]))
            self.db.execute("INSERT OR REPLACE INTO files VALUES (?,?,?,?,?,?,?,?,?)",
                            (record["call_id"], record["file"], source_path, sha256, fp, clip_key,
                             json.dumps(record, ensure_ascii=False), scan_id, now))
        return replaced

    def update_record(self, record: dict) -> None:
        """Replace a call's final record (the archive-wide integrity verdict comes after its analysis)."""
        with self._transaction():
            self.db.execute("UPDATE files SET record=? WHERE call_id=?",
                            (json.dumps(record, ensure_ascii=False), record["call_id"]))

    def touch(self, call_id: str, scan_id: str, source_path: str | None) -> None:
        """Mark an unchanged call as seen by this scan."""
        with self._transaction():
            self.db.execute("UPDATE files SET scan_id=?, source_path=? WHERE call_id=?",
                            (scan_id, source_path, call_id))

    def prune(self, scan_id: str, scopes: list[str] | None = None) -> list[str]:
        """Forget calls this (complete) scan did not see; returns their call_ids.

        `scopes` limits it to calls whose file is one of these relative paths or lies
        under one of these folders ("." is the whole archive); None means every call.
        """
        def in_scope(file: str) -> bool:
            return scopes is None or any(s == "." or file == s or file.startswith(s + "/") for s in scopes)

        gone = [cid for cid, file in self.db.execute("SELECT call_id, file FROM files WHERE scan_id<>?", (scan_id,))
                if in_scope(file)]
        with self._transaction():
            self.db.executemany("DELETE FROM files WHERE call_id=?", [(cid,) for cid in gone])
        return gone

    def call_ids(self) -> dict[str, str]:
        """call_id -> file of every call in this output folder."""
        return dict(self.db.execute("SELECT call_id, file FROM files"))

    # -- archive view ---------------------------------------------------------------
    def records(self) -> list[dict]:
        """Every call's record, sorted by file then call_id."""
        rows = self.db.execute("SELECT record FROM files ORDER BY file, call_id").fetchall()
        return [json.loads(r[0]) for r in rows]

    def sources(self) -> dict[str, str]:
        """call_id -> path of the recording on disk, as of the scan that saw it."""
        return {cid: src for cid, src in self.db.execute("SELECT call_id, source_path FROM files") if src}

    def stats(self) -> dict[str, int]:
        calls = self.db.execute("SELECT COUNT(*) FROM files").fetchone()[0]
        cached = self.db.execute("SELECT COUNT(*) FROM analyses").fetchone()[0]
        transcripts = self.db.execute("SELECT COUNT(*) FROM transcripts").fetchone()[0]
        return {"calls": calls, "analyses": cached, "transcripts": transcripts}

    # -- waveform cache -------------------------------------------------------------
    def get_peaks(self, sha256: str | None, points: int) -> list | None:
        if not sha256:
            return None
        row = self.db.execute("SELECT data FROM peaks WHERE sha256=? AND points=?", (sha256, points)).fetchone()
        return json.loads(row[0]) if row else None

    def put_peaks(self, sha256: str | None, points: int, data: list) -> None:
        if not sha256:
            return
        with self._transaction():
            self.db.execute("INSERT OR REPLACE INTO peaks VALUES (?,?,?)", (sha256, points, json.dumps(data)))

    def _transaction(self):
        return _Tx(self.db)


def transaction(db: sqlite3.Connection) -> "_Tx":
    """`with transaction(db): ...` for modules that keep their own tables in the catalog (pipeline.review_store)."""
    return _Tx(db)


class _Tx:
    """BEGIN IMMEDIATE ... COMMIT (ROLLBACK on error); the connection runs in autocommit mode."""

    def __init__(self, db: sqlite3.Connection):
        self.db = db

    def __enter__(self):
        self.db.execute("BEGIN IMMEDIATE")

    def __exit__(self, exc_type, *_):
        self.db.execute("ROLLBACK" if exc_type else "COMMIT")


def _lock(path: Path):
    """An exclusive lock on `path`, held while the returned file is open (none where fcntl is missing)."""
    handle = open(path, "a+")
    try:
        import fcntl
    except ImportError:  # Windows: no lock
        return handle
    try:
        fcntl.flock(handle.fileno(), fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        handle.close()
        raise CatalogDBError(f"{path.parent}: another scan is writing this folder") from exc
    return handle
