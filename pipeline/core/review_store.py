"""Review decisions, reviewer accounts, sessions and the recording access log, in DIR/catalog.sqlite.

The review workbench (`callaudit serve`) writes here; `report` and `package`
read the decisions through `decisions(out_dir)` and `effective_state(decision)`.

**Migration.** The tables are created by `migrate(db)` (CREATE TABLE IF NOT EXISTS,
then `info.review_schema` = REVIEW_SCHEMA): additive only, so a catalog from before
the workbench opens unchanged, a scan never touches these tables, and an older
callaudit still reads a catalog that has them (its schema key is untouched).

**Flag identity.** A decision is keyed by `flag_id(call_id, flag)`, a short hash of
what makes a flag that flag: call, problem, rule, channel and start (rounded to
0.1 s). A re-scan that reproduces the flag keeps its decision; a flag that moves or
disappears leaves its decision orphaned (still in the history, applied to nothing).

**History.** Decisions and approvals are append-only: the current decision of a flag
is its latest row, and its approval the approval row of that decision.
It stores and reads decisions; it holds no web code (the workbench in pipeline.serve calls it).
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import io
import sqlite3
import time
from pathlib import Path

from pipeline.core import catalog as catalog_mod
from pipeline.core import fileio

REVIEW_SCHEMA = "1"
ACTIONS = ("confirm", "dismiss", "second_look")
STATES = ("open", "confirmed", "second_look", "dismiss_pending", "dismissed")
# Every flag tied to a catalog statement (its `rule`) and every splice needs a second
# reviewer to be dismissed. The record does not say whether a too_fast/inaudible
# statement's rule was required, so those count too: erring strict costs one approval.
FOUR_EYES_PROBLEMS = ("splice", "integrity")
ACCESS_COLUMNS = ("user", "call_id", "file", "media", "kind", "started_at", "last_at", "listened_s", "bytes",
                  "approver")

_MIGRATION = """
CREATE TABLE IF NOT EXISTS review_users (
    name          TEXT PRIMARY KEY,
    role          TEXT NOT NULL,
    password_hash TEXT NOT NULL,
    approved_by   TEXT,                -- who authorised this account's access to recordings (审批人)
    created_at    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS review_sessions (
    token_hash TEXT PRIMARY KEY,       -- sha256 of the cookie's token: a copy of the database logs no one in
    user       TEXT NOT NULL,
    csrf       TEXT NOT NULL,
    created_at REAL NOT NULL,
    seen_at    REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS review_decisions (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    flag_id    TEXT NOT NULL,
    call_id    TEXT NOT NULL,
    problem    TEXT NOT NULL,
    rule       TEXT,
    action     TEXT NOT NULL,
    reason     TEXT NOT NULL,
    note       TEXT NOT NULL,
    four_eyes  INTEGER NOT NULL,
    reviewer   TEXT NOT NULL,
    decided_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS review_decisions_by_flag ON review_decisions (flag_id, id);
CREATE TABLE IF NOT EXISTS review_approvals (
    decision_id INTEGER PRIMARY KEY REFERENCES review_decisions (id),
    approver    TEXT NOT NULL,
    verdict     TEXT NOT NULL,          -- approved / rejected
    note        TEXT NOT NULL,
    at          REAL NOT NULL
);
CREATE TABLE IF NOT EXISTS review_access (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    session    TEXT NOT NULL,           -- token_hash of the session: groups the range requests of one playback
    user       TEXT NOT NULL,
    call_id    TEXT NOT NULL,
    file       TEXT NOT NULL,
    media      TEXT NOT NULL,           -- "recording" or the clip's path under DIR
    kind       TEXT NOT NULL,           -- play / download
    started_at REAL NOT NULL,
    last_at    REAL NOT NULL,
    listened_s REAL NOT NULL,           -- reported by the player (time actually played)
    bytes      INTEGER NOT NULL,        -- served by the server
    approver   TEXT
);
CREATE INDEX IF NOT EXISTS review_access_by_session ON review_access (session, media, id);
"""


class ReviewError(ValueError):
    """A decision or approval that is not allowed; the message says why (shown to the user)."""


@dataclasses.dataclass(frozen=True)
class Decision:
    """The current decision on one flag, with its approval when one was given."""

    flag_id: str
    call_id: str
    problem: str
    rule: str | None
    action: str                      # confirm / dismiss / second_look
    reason: str                      # why dismissed (required for dismiss)
    note: str
    four_eyes: bool                  # a dismissal that needs a second reviewer's approval
    reviewer: str
    decided_at: float
    approver: str | None = None
    verdict: str | None = None       # approved / rejected
    approved_at: float | None = None


def flag_id(call_id: str, flag: dict) -> str:
    """The stable identifier of a flag: every decision, report and package keys flags by it."""
    start = flag.get("start")
    parts = [call_id, flag["problem"], flag.get("rule") or "", "" if flag.get("channel") is None else
             str(flag["channel"]), "" if start is None else f"{float(start):.1f}"]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def needs_four_eyes(flag: dict) -> bool:
    """Dismissing this flag needs a second reviewer: a statement of the catalog, or a splice."""
    return bool(flag.get("rule")) or flag["problem"] in FOUR_EYES_PROBLEMS


def effective_state(decision: Decision | None) -> str:
    """What a flag counts as: one of STATES. Only `dismissed` is no longer an open problem.

    A four-eyes dismissal is `dismiss_pending` until approved; a rejected one is open again.
    """
    if decision is None:
        return "open"
    if decision.action == "confirm":
        return "confirmed"
    if decision.action == "second_look":
        return "second_look"
    if not decision.four_eyes or decision.verdict == "approved":
        return "dismissed"
    return "open" if decision.verdict == "rejected" else "dismiss_pending"


def is_open(state: str) -> bool:
    """A flag still counted as a problem (everything but an effective dismissal)."""
    return state != "dismissed"


# -- database ------------------------------------------------------------------------
def migrate(db: sqlite3.Connection) -> None:
    """Add the review tables to a catalog (idempotent, additive)."""
    db.executescript(_MIGRATION)
    db.execute("INSERT OR REPLACE INTO info VALUES ('review_schema', ?)", (REVIEW_SCHEMA,))


def connect(out_dir: Path) -> sqlite3.Connection:
    """A connection to DIR's catalog with the review tables (migrated on first use).

    Opened through pipeline.catalog, so a missing or foreign database is a CatalogDBError.
    """
    with catalog_mod.Catalog(Path(out_dir), create=False) as cat:
        migrate(cat.db)
    db = sqlite3.connect(Path(out_dir) / catalog_mod.FILENAME, timeout=30, isolation_level=None,
                         check_same_thread=False)
    db.execute("PRAGMA busy_timeout=30000")
    return db


def _has_tables(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE name='review_decisions'").fetchone() is not None


# -- decisions -----------------------------------------------------------------------
_CURRENT = """
SELECT d.flag_id, d.call_id, d.problem, d.rule, d.action, d.reason, d.note, d.four_eyes, d.reviewer, d.decided_at,
       a.approver, a.verdict, a.at
FROM review_decisions d LEFT JOIN review_approvals a ON a.decision_id = d.id
WHERE d.id IN (SELECT MAX(id) FROM review_decisions GROUP BY flag_id)
"""


def current_decisions(db: sqlite3.Connection) -> dict[str, Decision]:
    """flag_id -> its current decision; {} for a catalog that was never reviewed."""
    if not _has_tables(db):
        return {}
    return {row[0]: Decision(row[0], row[1], row[2], row[3], row[4], row[5], row[6], bool(row[7]), row[8], row[9],
                             row[10], row[11], row[12]) for row in db.execute(_CURRENT)}


def decisions(out_dir: Path) -> dict[str, Decision]:
    """flag_id -> current decision of DIR's catalog (read only; {} when never reviewed)."""
    with catalog_mod.Catalog(Path(out_dir), create=False) as cat:
        return current_decisions(cat.db)


def flag_states(records: list[dict], decided: dict[str, Decision]) -> dict[str, str]:
    """flag_id -> effective state, for every flag of these records."""
    return {fid: effective_state(decided.get(fid))
            for r in records for fid in (flag_id(r["call_id"], f) for f in r.get("flags", []))}


def decide(db: sqlite3.Connection, *, call_id: str, flag: dict, action: str, reviewer: str, reason: str = "",
           note: str = "") -> Decision:
    """Record a reviewer's decision on a flag (a new row: earlier ones stay in the history)."""
    if action not in ACTIONS:
        raise ReviewError(f"unknown action {action!r}: one of {', '.join(ACTIONS)}")
    reason, note = reason.strip(), note.strip()
    if action == "dismiss" and not reason:
        raise ReviewError("a dismissal needs a reason")
    four_eyes = action == "dismiss" and needs_four_eyes(flag)
    fid, now = flag_id(call_id, flag), time.time()
    with catalog_mod.transaction(db):
        db.execute("INSERT INTO review_decisions (flag_id, call_id, problem, rule, action, reason, note, four_eyes, "
                   "reviewer, decided_at) VALUES (?,?,?,?,?,?,?,?,?,?)",
                   (fid, call_id, flag["problem"], flag.get("rule"), action, reason, note, int(four_eyes),
                    reviewer, now))
    return current_decisions(db)[fid]


def approve(db: sqlite3.Connection, fid: str, approver: str, verdict: str, note: str = "") -> Decision:
    """The second reviewer's verdict (approved / rejected) on a pending four-eyes dismissal."""
    if verdict not in ("approved", "rejected"):
        raise ReviewError(f"unknown verdict {verdict!r}")
    with catalog_mod.transaction(db):
        row = db.execute("SELECT id, reviewer, action, four_eyes FROM review_decisions WHERE flag_id=? "
                         "ORDER BY id DESC LIMIT 1", (fid,)).fetchone()
        if row is None or row[2] != "dismiss" or not row[3]:
            raise ReviewError("no dismissal of this flag waits for approval")
        if row[1] == approver:
            raise ReviewError("a dismissal needs a second reviewer: you cannot approve your own")
        if db.execute("SELECT 1 FROM review_approvals WHERE decision_id=?", (row[0],)).fetchone():
            raise ReviewError("this dismissal was already decided")
        db.execute("INSERT INTO review_approvals VALUES (?,?,?,?,?)", (row[0], approver, verdict, note.strip(),
                                                                      time.time()))
    return current_decisions(db)[fid]


def history(db: sqlite3.Connection, call_id: str) -> list[dict]:
    """Every decision and approval on a call's flags, oldest first (shown on the call page)."""
    rows = db.execute("SELECT d.flag_id, d.problem, d.rule, d.action, d.reason, d.note, d.reviewer, d.decided_at, "
                      "a.approver, a.verdict, a.at FROM review_decisions d "
                      "LEFT JOIN review_approvals a ON a.decision_id=d.id WHERE d.call_id=? ORDER BY d.id", (call_id,))
    keys = ("flag_id", "problem", "rule", "action", "reason", "note", "reviewer", "decided_at", "approver", "verdict",
            "approved_at")
    return [dict(zip(keys, row)) for row in rows]


# -- access log ----------------------------------------------------------------------
PLAYBACK_GAP_S = 30 * 60   # range requests of one media within this gap belong to one playback


def log_served(db: sqlite3.Connection, *, session: str, user: str, approver: str | None, call_id: str, file: str,
               media: str, kind: str) -> int:
    """Log a request for a recording or clip before it is served; returns the access row it belongs to.

    A player fetches a file in many range requests: those of one session and media
    within PLAYBACK_GAP_S are one access. A download is always an access of its own.
    The bytes sent are added by `add_bytes` once the response is over.
    """
    now = time.time()
    with catalog_mod.transaction(db):
        row = None
        if kind == "play":
            row = db.execute("SELECT id FROM review_access WHERE session=? AND media=? AND kind='play' AND last_at>=? "
                             "ORDER BY id DESC LIMIT 1", (session, media, now - PLAYBACK_GAP_S)).fetchone()
        if row:
            db.execute("UPDATE review_access SET last_at=? WHERE id=?", (now, row[0]))
            return row[0]
        cur = db.execute("INSERT INTO review_access (session, user, call_id, file, media, kind, started_at, last_at, "
                         "listened_s, bytes, approver) VALUES (?,?,?,?,?,?,?,?,0,0,?)",
                         (session, user, call_id, file, media, kind, now, now, approver))
        return cur.lastrowid


def add_bytes(db: sqlite3.Connection, access_id: int, nbytes: int) -> None:
    """Count bytes a response sent into its access row (after the response, even an aborted one)."""
    with catalog_mod.transaction(db):
        db.execute("UPDATE review_access SET bytes=bytes+? WHERE id=?", (nbytes, access_id))


MAX_LISTENED_REPORT_S = 60.0   # the player reports every few seconds; more in one report is not believed


def log_listened(db: sqlite3.Connection, *, session: str, media: str, seconds: float) -> bool:
    """Add time the player says it played to the session's latest access of that media."""
    seconds = min(max(float(seconds), 0.0), MAX_LISTENED_REPORT_S)
    with catalog_mod.transaction(db):
        row = db.execute("SELECT id FROM review_access WHERE session=? AND media=? AND kind='play' "
                         "ORDER BY id DESC LIMIT 1", (session, media)).fetchone()
        if row:
            db.execute("UPDATE review_access SET listened_s=round(listened_s+?, 1), last_at=? WHERE id=?",
                       (seconds, time.time(), row[0]))
    return row is not None


def access_rows(db: sqlite3.Connection) -> list[dict]:
    """The access log, oldest first, as ACCESS_COLUMNS (times as local `YYYY-MM-DD HH:MM:SS`)."""
    if not _has_tables(db):
        return []
    rows = db.execute(f"SELECT {', '.join(ACCESS_COLUMNS)} FROM review_access ORDER BY id")
    out = []
    for row in rows:
        item = dict(zip(ACCESS_COLUMNS, row))
        for key in ("started_at", "last_at"):
            item[key] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item[key]))
        item["approver"] = item["approver"] or ""
        out.append(item)
    return out


ACCESS_HEADERS = {"user": "访问人 user", "call_id": "录音编号 call_id", "file": "文件 file", "media": "对象 media",
                  "kind": "方式 kind", "started_at": "开始时间 start", "last_at": "最后访问 last",
                  "listened_s": "收听时长(秒) listened_s", "bytes": "传输字节 bytes", "approver": "审批人 approver"}


def access_csv(rows: list[dict]) -> str:
    """The data-security access record (数据安全存储记录) as CSV, UTF-8 with BOM for spreadsheet programs."""
    buf = io.StringIO()
    writer = csv.writer(buf, lineterminator="\r\n")
    writer.writerow([ACCESS_HEADERS[c] for c in ACCESS_COLUMNS])
    writer.writerows([[row[c] for c in ACCESS_COLUMNS] for row in rows])
    return "\ufeff" + buf.getvalue()


def write_access_log(out_dir: Path, target: Path) -> int:
    """`callaudit access-log DIR --out FILE.csv|FILE.xlsx`; returns the number of accesses written."""
    from pipeline.core import (
        xlsx_writer,  # polars and the workbook writer: only for the XLSX export
    )
    with catalog_mod.Catalog(Path(out_dir), create=False) as cat:
        rows = access_rows(cat.db)
    if target.suffix.lower() == ".xlsx":
        import polars as pl
        table = pl.DataFrame({ACCESS_HEADERS[c]: [row[c] for row in rows] for c in ACCESS_COLUMNS},
                             schema={ACCESS_HEADERS[c]: (pl.Float64 if c == "listened_s" else pl.Int64 if c == "bytes"
                                                         else pl.String) for c in ACCESS_COLUMNS})
        xlsx_writer.write_workbook(target, [("访问记录", table)])
    else:
        fileio.write_atomic(target, access_csv(rows))
    return len(rows)
