"""How each abnormal-calling finding was handled (发现-处理-整改), append-only, in DIR/catalog.sqlite.

The records stage finds abnormal calling (pipeline.records.abnormal); the
workbench (`callaudit serve`, pipeline.serve.abnormal) records for each finding
how it was checked (核查过程), what was done (处理结果) and what changed (整改措施),
by whom and when; the package (pipeline.package.datasec) lists every finding with
its handling. A finding is keyed by `finding_key`: its check, subject and day,
which a rerun of the records stage reproduces (its running id A1, A2, ... does not).

**History.** Rows are only ever added: the current handling of a finding is its
latest row. Triggers refuse UPDATE and DELETE, so not even a bug in callaudit can
rewrite what a handler wrote. The table is created on first write (additive, like
pipeline.core.review_store's tables).
"""

from __future__ import annotations

import hashlib
import sqlite3
import time

from pipeline.core import catalog as catalog_mod
from pipeline.core.review_store import ReviewError
from pipeline.core.schema_datasec import AbnormalHandling

MAX_TEXT = 4000   # characters of each account: a paragraph, not a file

_MIGRATION = """
CREATE TABLE IF NOT EXISTS abnormal_handling (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    finding    TEXT NOT NULL,          -- finding_key(check, subject, day)
    check_name TEXT NOT NULL,
    subject    TEXT NOT NULL,
    day        TEXT NOT NULL,
    checked    TEXT NOT NULL,          -- 核查过程
    result     TEXT NOT NULL,          -- 处理结果
    measures   TEXT NOT NULL,          -- 整改措施
    handler    TEXT NOT NULL,
    handled_at REAL NOT NULL
);
CREATE INDEX IF NOT EXISTS abnormal_handling_by_finding ON abnormal_handling (finding, id);
CREATE TRIGGER IF NOT EXISTS abnormal_handling_no_update BEFORE UPDATE ON abnormal_handling
BEGIN SELECT RAISE(ABORT, 'abnormal_handling is append-only'); END;
CREATE TRIGGER IF NOT EXISTS abnormal_handling_no_delete BEFORE DELETE ON abnormal_handling
BEGIN SELECT RAISE(ABORT, 'abnormal_handling is append-only'); END;
"""
FIELDS = {"checked": "核查过程", "result": "处理结果", "measures": "整改措施"}
_COLUMNS = "finding, check_name, subject, day, checked, result, measures, handler, handled_at"


def finding_key(finding: dict) -> str:
    """The stable identity of an abnormal finding: its check, subject and day."""
    parts = [str(finding["check"]), str(finding.get("subject") or ""), str(finding.get("day") or "")]
    return hashlib.sha256("\x1f".join(parts).encode("utf-8")).hexdigest()[:16]


def _row(row: tuple) -> AbnormalHandling:
    keys = ("finding", "check", "subject", "day", "checked", "result", "measures", "handler", "handled_at")
    item = dict(zip(keys, row))
    item["handled_at"] = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(item["handled_at"]))
    return item  # type: ignore[return-value]


def _has_table(db: sqlite3.Connection) -> bool:
    return db.execute("SELECT 1 FROM sqlite_master WHERE name='abnormal_handling'").fetchone() is not None


def handle(db: sqlite3.Connection, finding: dict, handler: str, checked: str, result: str,
           measures: str) -> AbnormalHandling:
    """Record a handling of `finding` (a new row; earlier ones stay). All three accounts are required."""
    given = {"checked": checked.strip(), "result": result.strip(), "measures": measures.strip()}
    empty = [label for key, label in FIELDS.items() if not given[key]]
    if empty:
        raise ReviewError(f"{'、'.join(empty)} required / every part of the account is needed")
    if any(len(v) > MAX_TEXT for v in given.values()):
        raise ReviewError(f"each account is at most {MAX_TEXT} characters")
    db.executescript(_MIGRATION)
    key = finding_key(finding)
    with catalog_mod.transaction(db):
        db.execute(f"INSERT INTO abnormal_handling ({_COLUMNS}) VALUES (?,?,?,?,?,?,?,?,?)",
                   (key, finding["check"], str(finding.get("subject") or ""), str(finding.get("day") or ""),
                    given["checked"], given["result"], given["measures"], handler, time.time()))
    return current(db)[key]


def current(db: sqlite3.Connection) -> dict[str, AbnormalHandling]:
    """finding_key -> its latest handling; {} when nothing was ever handled."""
    if not _has_table(db):
        return {}
    rows = db.execute(f"SELECT {_COLUMNS} FROM abnormal_handling WHERE id IN "
                      "(SELECT MAX(id) FROM abnormal_handling GROUP BY finding)")
    return {row[0]: _row(row) for row in rows}


def history(db: sqlite3.Connection, key: str) -> list[AbnormalHandling]:
    """Every handling of one finding, oldest first."""
    if not _has_table(db):
        return []
    return [_row(r) for r in db.execute(f"SELECT {_COLUMNS} FROM abnormal_handling WHERE finding=? ORDER BY id",
                                        (key,))]


def handled(out_dir) -> dict[str, AbnormalHandling]:
    """finding_key -> current handling of DIR's catalog (read only)."""
    with catalog_mod.Catalog(out_dir, create=False) as cat:
        return current(cat.db)
