"""The state one workbench server shares: its options, the output folder and the records in it.

`Workbench` reloads the records when a scan changes the catalog, keeps one sqlite
connection per thread, checks a recording is still the scanned content before it is
served and resolves clip paths inside DIR/clips only. It renders nothing and decides
no access: the routes and the guard (`guard`) do.
"""

from __future__ import annotations

import dataclasses
import json
import threading
from pathlib import Path, PurePosixPath
from stat import S_ISREG

from starlette.concurrency import run_in_threadpool

from pipeline.core import catalog as catalog_mod
from pipeline.core import fileio, review_store
from pipeline.core import meta as meta_mod
from pipeline.scan import report
from pipeline.serve import accounts


@dataclasses.dataclass(frozen=True)
class ServeOptions:
    """How the workbench runs. Defaults: localhost only, 5 failed logins per user and address a minute."""

    host: str = "127.0.0.1"
    port: int = 8750
    meta: dict[str, dict] = dataclasses.field(default_factory=dict)   # --meta rows: agent_id, start_time
    login_attempts: int = 5
    login_window_s: float = 60.0

    def allowed_hosts(self) -> list[str]:
        """Host header values accepted: this server's own names (a DNS-rebinding page sends another).

        Bound to every address (0.0.0.0, ::), the names clients use are unknown: any is accepted.
        """
        if self.host in ("0.0.0.0", "::"):
            return ["*"]
        return sorted({self.host, "127.0.0.1", "localhost", "[::1]", "::1"})


class Workbench:
    """The state one server shares: the output folder, its records (reloaded when a scan changes
    them), one sqlite connection per thread, the login limiter."""

    def __init__(self, out_dir: Path, options: ServeOptions):
        self.out_dir = Path(out_dir).resolve()
        self.clips_dir = self.out_dir / "clips"
        self.options = options
        self.limiter = accounts.LoginLimiter(options.login_attempts, options.login_window_s)
        review_store.connect(self.out_dir).close()   # migrate once; CatalogDBError for a folder without a catalog
        self._local = threading.local()
        self._lock = threading.Lock()
        self._records: tuple[tuple, list[dict], dict[str, dict], dict[str, str]] | None = None
        self._verified: dict[tuple, bool] = {}
        self._peaks: dict[tuple, list | None] = {}

    @property
    def db(self):
        """This thread's connection (sqlite connections are not shared between threads)."""
        if not hasattr(self._local, "db"):
            self._local.db = review_store.connect(self.out_dir)
        return self._local.db

    async def run(self, fn, *args, **kwargs):
        """`fn(db, *args, **kwargs)` in a worker thread, with that thread's connection (from async code)."""
        return await run_in_threadpool(lambda: fn(self.db, *args, **kwargs))

    def peaks(self, record: dict) -> list | None:
        """A call's waveform envelope (report.call_peaks), kept in memory once read or decoded."""
        key = (record["call_id"], (record.get("recording") or {}).get("sha256"))
        if key not in self._peaks:
            with catalog_mod.Catalog(self.out_dir, create=False) as cat:
                self._peaks[key] = report.call_peaks(cat, record, cat.sources().get(record["call_id"]))
        return self._peaks[key]

    def records(self) -> tuple[list[dict], dict[str, dict], dict[str, str]]:
        """(records, by call_id, clip path -> call_id), reloaded when the catalog's calls change."""
        stamp = tuple(self.db.execute("SELECT COUNT(*), MAX(updated_at) FROM files").fetchone())
        with self._lock:
            if self._records is None or self._records[0] != stamp:
                rows = [json.loads(r[0]) for r in self.db.execute("SELECT record FROM files ORDER BY file, call_id")]
                clips = {item["clip"]: r["call_id"] for r in rows
                         for item in r.get("annotations", []) + r.get("splices", []) if item.get("clip")}
                self._records = (stamp, rows, {r["call_id"]: r for r in rows}, clips)
            return self._records[1], self._records[2], self._records[3]

    def source(self, call_id: str, sha256: str | None) -> Path | None:
        """The recording of a call on disk, when it is still the content that was scanned."""
        row = self.db.execute("SELECT source_path FROM files WHERE call_id=?", (call_id,)).fetchone()
        if not row or not row[0]:
            return None
        path = Path(row[0])
        try:
            stat = path.stat()
        except OSError:
            return None
        if not S_ISREG(stat.st_mode):   # now a folder, FIFO or device: not the recording that was scanned
            return None
        key = (str(path), stat.st_size, stat.st_mtime_ns, sha256)
        if key not in self._verified:   # hashed once per file version, not per range request
            self._verified[key] = bool(sha256) and fileio.file_sha256(str(path)) == sha256
        return path if self._verified[key] else None

    def clip(self, relative: str) -> Path | None:
        """A file under DIR/clips named by a request path, or None: no absolute paths, no `..`,
        no NUL, and the resolved file (symlinks followed) must lie inside DIR/clips."""
        if not relative or "\x00" in relative or "\\" in relative:
            return None
        pure = PurePosixPath(relative)
        if pure.is_absolute() or ".." in pure.parts:
            return None
        try:
            resolved = (self.clips_dir / pure).resolve(strict=True)
        except (OSError, RuntimeError):
            return None
        if not resolved.is_relative_to(self.clips_dir.resolve()) or not resolved.is_file():
            return None
        return resolved

    def meta_row(self, record: dict) -> dict:
        return meta_mod.lookup(self.options.meta, record["file"]) or {}

