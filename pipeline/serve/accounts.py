"""Reviewer accounts, sessions and the login rate limit of the review workbench.

Passwords are hashed with Argon2id (argon2-cffi, its default parameters: 64 MiB,
3 passes); the database keeps only the hash. A session is a random 32-byte token in
an HttpOnly, SameSite=Strict cookie; the catalog keeps its sha256 with the user and
the session's CSRF token, so logging out or an idle timeout ends it on the server.
It holds no web code: the routes (pages, guard) call it.
"""

from __future__ import annotations

import dataclasses
import hashlib
import re
import secrets
import sqlite3
import threading
import time
from collections import deque

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

from pipeline.core.catalog import transaction
from pipeline.core.review_store import ReviewError

ROLES = ("reviewer", "approver", "admin")
CAN_APPROVE = ("approver", "admin")
MIN_PASSWORD = 10
NAME_PATTERN = re.compile(r"^[\w.@-]{1,64}$")
SESSION_IDLE_S = 8 * 3600     # a working day: a session unused this long must log in again

_hasher = PasswordHasher()
# Verified against when the user does not exist, so a wrong name costs as much time as a wrong password.
_DUMMY_HASH = _hasher.hash(secrets.token_hex(16))


@dataclasses.dataclass(frozen=True)
class User:
    name: str
    role: str
    approved_by: str | None

    @property
    def can_approve(self) -> bool:
        return self.role in CAN_APPROVE


@dataclasses.dataclass(frozen=True)
class Session:
    token_hash: str
    user: User
    csrf: str


def add_user(db: sqlite3.Connection, name: str, role: str, password: str, approved_by: str | None = None) -> User:
    """Create or replace (new password, role) an account; replacing it logs its sessions out."""
    if not NAME_PATTERN.match(name):
        raise ReviewError(f"user name {name!r}: letters, digits, . _ @ - only, at most 64")
    if role not in ROLES:
        raise ReviewError(f"role {role!r}: one of {', '.join(ROLES)}")
    if len(password) < MIN_PASSWORD:
        raise ReviewError(f"password too short: at least {MIN_PASSWORD} characters")
    with transaction(db):
        db.execute("INSERT OR REPLACE INTO review_users VALUES (?,?,?,?,?)",
                   (name, role, _hasher.hash(password), approved_by, time.time()))
        db.execute("DELETE FROM review_sessions WHERE user=?", (name,))   # a new password ends every old session
    return User(name, role, approved_by)


def users(db: sqlite3.Connection) -> list[User]:
    return [User(*row) for row in db.execute("SELECT name, role, approved_by FROM review_users ORDER BY name")]


def authenticate(db: sqlite3.Connection, name: str, password: str) -> User | None:
    """The user when the password is right, else None (same work for an unknown name)."""
    row = db.execute("SELECT password_hash, role, approved_by FROM review_users WHERE name=?", (name,)).fetchone()
    try:
        _hasher.verify(row[0] if row else _DUMMY_HASH, password)
    except (VerificationError, InvalidHashError):
        return None
    return User(name, row[1], row[2]) if row else None


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode("ascii", "replace")).hexdigest()


def open_session(db: sqlite3.Connection, user: User) -> str:
    """A new session for `user`; returns the cookie's token (only its hash is stored)."""
    token, now = secrets.token_urlsafe(32), time.time()
    with transaction(db):
        db.execute("DELETE FROM review_sessions WHERE seen_at<?", (now - SESSION_IDLE_S,))
        db.execute("INSERT INTO review_sessions VALUES (?,?,?,?,?)",
                   (_digest(token), user.name, secrets.token_urlsafe(32), now, now))
    return token


def session(db: sqlite3.Connection, token: str | None) -> Session | None:
    """The live session of a cookie token, refreshed; None when unknown, expired or its user is gone."""
    if not token:
        return None
    digest, now = _digest(token), time.time()
    row = db.execute("SELECT s.csrf, s.seen_at, u.name, u.role, u.approved_by FROM review_sessions s "
                     "JOIN review_users u ON u.name = s.user WHERE s.token_hash=?", (digest,)).fetchone()
    if row is None or row[1] < now - SESSION_IDLE_S:
        return None
    if now - row[1] > 60:   # refresh at most once a minute: a page of range requests writes nothing
        with transaction(db):
            db.execute("UPDATE review_sessions SET seen_at=? WHERE token_hash=?", (now, digest))
    return Session(digest, User(row[2], row[3], row[4]), row[0])


def close_session(db: sqlite3.Connection, token_hash: str) -> None:
    with transaction(db):
        db.execute("DELETE FROM review_sessions WHERE token_hash=?", (token_hash,))


class LoginLimiter:
    """At most `attempts` logins per (user name, client address) in a sliding `window_s`, counting
    every attempt until one succeeds.

    An attempt is counted before its password is checked: the Argon2 check takes about half a
    second, and guesses sent at once would all pass a check made before any failure was counted.
    Kept in memory: a restart forgets it, which costs an attacker a restart they cannot cause.
    """

    def __init__(self, attempts: int = 5, window_s: float = 60.0):
        self.attempts, self.window_s = attempts, window_s
        self._tries: dict[tuple[str, str], deque[float]] = {}
        self._lock = threading.Lock()

    def attempt(self, name: str, address: str) -> int:
        """Count a login attempt; returns 0 when it may go ahead, else the seconds until one may."""
        with self._lock:
            wait = self._wait((name, address))
            if not wait:
                self._tries.setdefault((name, address), deque()).append(time.monotonic())
            return wait

    def retry_after(self, name: str, address: str) -> int:
        """Seconds until this key may try again; 0 when it may now."""
        with self._lock:
            return self._wait((name, address))

    def succeeded(self, name: str, address: str) -> None:
        with self._lock:
            self._tries.pop((name, address), None)

    def _wait(self, key: tuple[str, str]) -> int:
        times = self._tries.get(key)
        while times and times[0] < time.monotonic() - self.window_s:
            times.popleft()
        if not times:
            self._tries.pop(key, None)   # names merely tried once do not pile up
            return 0
        if len(times) < self.attempts:
            return 0
        return max(1, int(times[0] + self.window_s - time.monotonic()) + 1)
