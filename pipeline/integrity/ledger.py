"""The custody ledger: OUT/custody.jsonl, an append-only, hash-chained log of evidence events.

One JSON line per event. Every entry carries `seq` (its line number, from 0),
`kind`, `at` (UTC time of the append), the kind's own fields, `prev` (the previous
entry's hash; 64 zeros for the first) and `hash`: sha256 over the canonical JSON
(sorted keys, no spaces, UTF-8) of the entry without `hash` and `sig`. With a
signing key the entry also names the key (`key`, inside the hash) and carries
`sig`, the Ed25519 signature of its hash (base64). Changing any byte of an entry
changes its hash; changing the hash breaks the next entry's `prev`; re-hashing the
whole tail needs the private key once entries are signed.

An append is one `os.write` of the whole line on an O_APPEND descriptor followed
by fsync, so a kill -9 leaves every earlier entry whole. A final line without its
newline (a crash in the write, or power loss) is "torn": `Ledger.open` moves it
aside to custody.jsonl.<time>.torn and truncates the ledger to its last whole
line, so evidence is never silently dropped. Damage anywhere else is a
verification failure (`check`), never repaired.

This module knows entries and bytes, not recordings: what goes into an entry is
decided by pipeline.integrity.custody. It must not rewrite or remove entries, and
only one process may append (the scan's main process; workers return data).
"""

from __future__ import annotations

import base64
import hashlib
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path

from pipeline.core.errors import UsageError

FILENAME = "custody.jsonl"
GENESIS = "0" * 64
RESERVED = ("seq", "kind", "at", "prev", "key", "hash", "sig")

# The fields each kind of entry must carry. A later kind (issue #27: `destroyed`,
# `backup_verified`) is one line here.
KINDS: dict[str, tuple[str, ...]] = {
    "first_seen": ("call_id", "path", "size", "mtime", "sha256", "audio_sha256", "format", "first_seen_at"),
    "modified": ("call_id", "path", "previous", "current"),
    "removed": ("call_id", "path", "last", "missing_since"),
    "restored": ("call_id", "path", "current"),
    "destroyed": ("call_id", "path", "source", "size", "sha256", "time", "method", "operator", "witness"),
    "backup_verified": ("time", "locations", "recordings", "matched", "missing", "differing", "extra", "clean",
                        "report", "report_sha256"),
}


def canonical(entry: dict) -> bytes:
    """The bytes an entry's hash is taken over: sorted keys, no spaces, UTF-8, without `hash` and `sig`."""
    body = {k: v for k, v in entry.items() if k not in ("hash", "sig")}
    return json.dumps(body, sort_keys=True, ensure_ascii=False, separators=(",", ":"),
                      allow_nan=False).encode("utf-8")


def entry_hash(entry: dict) -> str:
    return hashlib.sha256(canonical(entry)).hexdigest()


def utc_now() -> str:
    """ISO 8601 UTC with microseconds: the ledger's one time format."""
    now = time.time()
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(now)) + f".{int(now % 1 * 1e6):06d}Z"


# -- keys: Ed25519 from `cryptography`, nothing home-made ----------------------------
def key_id(public_key) -> str:
    """A short name of a public key: sha256 of its raw 32 bytes, first 16 hex digits."""
    from cryptography.hazmat.primitives import serialization
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass
class Signer:
    """An Ed25519 private key that signs each entry's hash."""

    private_key: object

    @classmethod
    def load(cls, path: str | Path) -> Signer:
        from cryptography.hazmat.primitives import serialization
        from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
        try:
            key = serialization.load_pem_private_key(Path(path).read_bytes(), password=None)
        except (OSError, ValueError, TypeError) as exc:
            raise UsageError(f"{path}: not an unencrypted PEM private key ({exc})") from exc
        if not isinstance(key, Ed25519PrivateKey):
            raise UsageError(f"{path}: not an Ed25519 key (make one with `callaudit custody-keygen`)")
        return cls(key)

    @property
    def key_id(self) -> str:
        return key_id(self.private_key.public_key())

    def sign(self, digest: str) -> str:
        return base64.b64encode(self.private_key.sign(digest.encode("ascii"))).decode("ascii")


def load_public_key(path: str | Path):
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
    try:
        key = serialization.load_pem_public_key(Path(path).read_bytes())
    except (OSError, ValueError, TypeError) as exc:
        raise UsageError(f"{path}: not a PEM public key ({exc})") from exc
    if not isinstance(key, Ed25519PublicKey):
        raise UsageError(f"{path}: not an Ed25519 public key")
    return key


def write_key_pair(private_path: Path, public_path: Path) -> str:
    """A new Ed25519 key pair: the private key 0600 (never overwritten), the public one beside it. Returns its id."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
    for path in (private_path, public_path):
        if path.exists():
            raise UsageError(f"{path} exists: a custody key is never overwritten (its ledgers need it)")
    key = Ed25519PrivateKey.generate()
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    _write_new(private_path, pem)
    public_path.write_bytes(key.public_key().public_bytes(serialization.Encoding.PEM,
                                                          serialization.PublicFormat.SubjectPublicKeyInfo))
    return key_id(key.public_key())


# -- reading and checking ------------------------------------------------------------
@dataclass
class Break:
    """One thing wrong with the ledger or the recordings: where, and what."""

    kind: str        # entry_unreadable, entry_changed, chain_broken, signature_bad, unsigned, ...
    seq: int | None  # the ledger line (from 0) concerned, if any
    message: str
    call_id: str | None = None


@dataclass
class Contents:
    """A ledger as read: its whole entries, what is wrong with them, and a torn tail if any."""

    entries: list[dict] = field(default_factory=list)
    breaks: list[Break] = field(default_factory=list)
    torn: bytes = b""
    head: str = GENESIS   # the hash the next entry links to

    @property
    def signed(self) -> int:
        return sum(1 for e in self.entries if "sig" in e)


def read(path: Path, public_key=None) -> Contents:
    """Parse and check a ledger file: every entry's hash, every link, and signatures when `public_key` is given.

    A missing file is an empty ledger. Nothing is written.
    """
    data = path.read_bytes() if path.exists() else b""
    whole, _, torn = data.rpartition(b"\n")
    out = Contents(torn=torn)
    wanted_key = key_id(public_key) if public_key is not None else None
    prev = GENESIS
    for seq, line in enumerate(whole.split(b"\n") if whole else []):
        try:
            entry = json.loads(line.decode("utf-8"))
            if not isinstance(entry, dict):
                raise TypeError("not an object")
        except (UnicodeDecodeError, ValueError, TypeError) as exc:
            out.breaks.append(Break("entry_unreadable", seq, f"entry {seq} is not a JSON object ({exc})"))
            out.entries.append({"seq": seq, "kind": "unreadable"})
            prev = None
            continue
        out.entries.append(entry)
        out.breaks += _check_entry(entry, seq, prev, public_key, wanted_key)
        prev = entry.get("hash")
        out.head = prev if isinstance(prev, str) else GENESIS
    return out


def _check_entry(entry: dict, seq: int, prev: str | None, public_key, wanted_key: str | None) -> list[Break]:
    """What is wrong with one parsed entry given the previous entry's hash (None: that one was unreadable)."""
    found, cid = [], entry.get("call_id")
    if entry.get("hash") != entry_hash(entry):
        found.append(Break("entry_changed", seq, f"entry {seq} was changed after it was written "
                                                 "(its hash does not match its content)", cid))
    if entry.get("seq") != seq:
        found.append(Break("chain_broken", seq, f"entry {seq} says it is entry {entry.get('seq')} "
                                                "(entries removed or inserted before it)", cid))
    if prev is not None and entry.get("prev") != prev:
        found.append(Break("chain_broken", seq, f"chain broken at entry {seq}: it does not link to entry {seq - 1}",
                           cid))
    kind = entry.get("kind")
    missing = [k for k in KINDS.get(kind, ()) if k not in entry]
    if kind not in KINDS or missing:
        found.append(Break("entry_changed", seq, f"entry {seq}: kind {kind!r}"
                           + (f" lacks {', '.join(missing)}" if missing else " is unknown"), cid))
    if public_key is not None:
        found += _check_signature(entry, seq, public_key, wanted_key)
    return found


def _check_signature(entry: dict, seq: int, public_key, wanted_key: str) -> list[Break]:
    from cryptography.exceptions import InvalidSignature
    if "sig" not in entry:
        return [Break("unsigned", seq, f"entry {seq} is not signed", entry.get("call_id"))]
    if entry.get("key") != wanted_key:
        return [Break("signature_bad", seq, f"entry {seq} was signed by key {entry.get('key')}, not {wanted_key}",
                      entry.get("call_id"))]
    try:
        public_key.verify(base64.b64decode(entry["sig"], validate=True), str(entry.get("hash")).encode("ascii"))
    except (InvalidSignature, ValueError, UnicodeEncodeError):
        return [Break("signature_bad", seq, f"entry {seq}: signature does not verify", entry.get("call_id"))]
    return []


# -- appending -----------------------------------------------------------------------
class Ledger:
    """An open ledger the scan appends to. `open` repairs a torn tail; interior breaks stay in `breaks`."""

    def __init__(self, path: Path, contents: Contents, signer: Signer | None = None, torn_to: Path | None = None):
        self.path = path
        self.entries = contents.entries
        self.breaks = contents.breaks
        self.torn_to = torn_to
        self.signer = signer
        self._head = contents.head
        self._fd: int | None = None

    @classmethod
    def open(cls, out_dir: Path, signer: Signer | None = None) -> Ledger:
        path = Path(out_dir) / FILENAME
        contents = read(path)
        torn_to = _set_aside_torn(path, contents.torn) if contents.torn else None
        return cls(path, contents, signer, torn_to)

    def append(self, kind: str, fields: dict) -> dict:
        """Write one entry of `kind` (its required fields checked) and return it; durable when this returns."""
        if kind not in KINDS:
            raise ValueError(f"unknown ledger entry kind {kind!r}")
        missing = [k for k in KINDS[kind] if k not in fields]
        clash = [k for k in fields if k in RESERVED]
        if missing or clash:
            raise ValueError(f"{kind} entry: missing {missing}, reserved {clash}")
        entry = {"seq": len(self.entries), "kind": kind, "at": utc_now(), **fields, "prev": self._head}
        if self.signer is not None:
            entry["key"] = self.signer.key_id
        entry["hash"] = entry_hash(entry)
        if self.signer is not None:
            entry["sig"] = self.signer.sign(entry["hash"])
        line = json.dumps(entry, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode("utf-8") + b"\n"
        if self._fd is None:
            new = not self.path.exists()
            self._fd = os.open(self.path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
            if new:
                _fsync_dir(self.path.parent)
        written = os.write(self._fd, line)
        if written != len(line):  # a full disk: the partial line is a torn tail the next open sets aside
            raise OSError(f"{self.path}: short write ({written} of {len(line)} bytes)")
        os.fsync(self._fd)
        self.entries.append(entry)
        self._head = entry["hash"]
        return entry

    @property
    def head(self) -> str:
        return self._head

    def close(self) -> None:
        if self._fd is not None:
            os.close(self._fd)
            self._fd = None



def _set_aside_torn(path: Path, torn: bytes) -> Path:
    """Copy a torn final line to its own file (fsynced), then cut it from the ledger."""
    aside = path.with_name(f"{path.name}.{time.strftime('%Y%m%dT%H%M%S', time.gmtime())}.{os.getpid()}.torn")
    _write_new(aside, torn)
    with open(path, "rb+") as handle:
        handle.truncate(path.stat().st_size - len(torn))
        os.fsync(handle.fileno())
    return aside


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def _write_new(path: Path, data: bytes) -> None:
    """Create `path` owner-only (never over an existing file), write `data` and fsync it."""
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    try:
        os.write(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
