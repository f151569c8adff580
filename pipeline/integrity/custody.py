"""Chain of custody for a scan: compare each recording with its ledger history and append what changed.

The scan's main process calls `Custody.observe` once per recording it sees (a
cached or unchanged one too: the bytes' sha256 is computed by every scan anyway,
and the decoded audio's hash travels in the record), and `Custody.sweep` once at
the end of a complete scan. A recording's history is keyed by its path relative to
the archive root (an output folder keeps its root, so the path is stable; call
ids follow metadata). The first sighting appends `first_seen`; changed bytes
append `modified` (with the previous and the current fingerprint); a recording
under the scanned paths that is gone appends `removed`, once; one that comes back
appends `restored`. An unchanged archive appends nothing.

This module decides what goes into the ledger; it must not write the ledger other
than through `ledger.Ledger.append`, decode audio (the decode stage's samples are
hashed where they are decoded, `audio_sha256`) or run in a worker process.
"""

from __future__ import annotations

import hashlib
import os
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from pipeline.integrity import ledger as ledger_mod


def audio_sha256(samples: np.ndarray, sample_rate: int) -> str:
    """sha256 of the decoded audio (the decode stage's float32 samples, rate and channel count included).

    Stable for the same bytes and the same ffmpeg build; used to tell an edit of the
    audio from one of the tags or container only.
    """
    data = np.ascontiguousarray(samples, dtype=np.float32)
    digest = hashlib.sha256(f"f32le:{sample_rate}:{data.shape[0]}:".encode("ascii"))
    digest.update(data.tobytes())
    return digest.hexdigest()


@dataclass
class History:
    """What the ledger says about one path: as first seen, as last seen, and the entries concerned."""

    path: str
    call_id: str
    first: dict                  # the first_seen entry's fingerprint, format signature and file mtime
    first_entry: int
    latest: dict                 # the fingerprint of the newest first_seen / modified / restored entry
    removed: bool = False
    entries: list[int] = field(default_factory=list)
    modified_entries: list[int] = field(default_factory=list)


def fingerprint(entry_or_fields: dict) -> dict:
    """The comparable part of an observation: size, both hashes and when it was seen."""
    return {k: entry_or_fields.get(k) for k in ("size", "sha256", "audio_sha256", "seen_at")}


def histories(entries: list[dict]) -> dict[str, History]:
    """Fold ledger entries into one History per path (entries of other kinds are kept as references only)."""
    out: dict[str, History] = {}
    for entry in entries:
        add_entry(out, entry)
    return out


def add_entry(histories: dict[str, History], entry: dict) -> None:
    """Fold one more ledger entry into `histories`."""
    path, kind, seq = entry.get("path"), entry.get("kind"), entry.get("seq")
    if not isinstance(path, str):
        return
    if kind == "first_seen" and path not in histories:
        seen = {**fingerprint(entry), "seen_at": entry.get("first_seen_at"), "format": entry.get("format"),
                "mtime": entry.get("mtime")}
        histories[path] = History(path, entry.get("call_id"), seen, seq, fingerprint(seen))
    history = histories.get(path)
    if history is None:
        return
    history.entries.append(seq)
    if kind == "modified":
        history.latest = fingerprint(entry.get("current") or {})
        history.modified_entries.append(seq)
    elif kind == "removed":
        history.removed = True
    elif kind == "restored":
        history.removed = False
        history.latest = fingerprint(entry.get("current") or {})
    if entry.get("call_id"):
        history.call_id = entry["call_id"]


class Custody:
    """The custody ledger of one output folder during one scan (only the scan's main process writes it)."""

    def __init__(self, ledger: ledger_mod.Ledger):
        self.ledger = ledger
        self.history = histories(ledger.entries)
        self.seen: dict[str, tuple[str | None, str | None]] = {}   # path -> (sha256, audio_sha256) this scan
        self.appended: Counter = Counter()
        self.removed_now: list[str] = []
        self.problems: list[str] = []   # what the end-of-scan pass could not do, for the summary line

    @classmethod
    def open(cls, out_dir: Path, signer: ledger_mod.Signer | None = None) -> Custody:
        return cls(ledger_mod.Ledger.open(out_dir, signer))

    def close(self) -> None:
        self.ledger.close()

    def observe(self, call_id: str, relative: str, path: str, sha256: str | None, audio: str | None,
                format_signature: dict | None = None) -> None:
        """Compare one recording (as this scan found it) with its history and append what is new."""
        self.seen[relative] = (sha256, audio)
        if not sha256:
            return  # unreadable now: nothing to fingerprint (the record says why)
        try:
            facts = os.stat(path)
        except OSError:
            return
        size = facts.st_size
        now = {"size": size, "sha256": sha256, "audio_sha256": audio, "seen_at": ledger_mod.utc_now()}
        history = self.history.get(relative)
        if history is None:
            mtime = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(facts.st_mtime))  # when the call system wrote it
            self._append("first_seen", {"call_id": call_id, "path": relative, "size": size, "mtime": mtime,
                                        "sha256": sha256,
                                        "audio_sha256": audio, "format": format_signature,
                                        "first_seen_at": now["seen_at"]})
        elif history.removed:
            self._append("restored", {"call_id": call_id, "path": relative, "current": now})
            if history.latest["sha256"] != sha256:
                self._append("modified", {"call_id": call_id, "path": relative, "previous": history.latest,
                                          "current": now})
        elif history.latest["sha256"] != sha256:
            self._append("modified", {"call_id": call_id, "path": relative, "previous": history.latest,
                                      "current": now})

    def sweep(self, scopes: list[str] | None, archive: Path) -> list[str]:
        """After a complete scan: append `removed` for each recording under `scopes` that is gone (None: anywhere)."""
        def in_scope(file: str) -> bool:
            return scopes is None or any(s == "." or file == s or file.startswith(s + "/") for s in scopes)

        for path, history in sorted(self.history.items()):
            if history.removed or path in self.seen or not in_scope(path) or (archive / path).exists():
                continue
            self._append("removed", {"call_id": history.call_id, "path": path, "last": history.latest,
                                     "missing_since": ledger_mod.utc_now()})
            self.removed_now.append(path)
        return self.removed_now

    def _append(self, kind: str, fields: dict) -> None:
        add_entry(self.history, self.ledger.append(kind, fields))
        self.appended[kind] += 1

    def summary(self) -> str:
        """The scan's stderr line about custody."""
        parts = [f"{self.appended[k]} {k.replace('_', ' ')}" for k in ("first_seen", "modified", "removed", "restored")
                 if self.appended[k]]
        text = f"custody: {len(self.ledger.entries)} ledger entries, " + (", ".join(parts) or "nothing new")
        if self.removed_now:
            text += "; removed: " + ", ".join(self.removed_now)
        if self.ledger.torn_to:
            text += f"; a torn final line (interrupted write) was set aside to {self.ledger.torn_to.name}"
        text += "".join(f"; {p}" for p in self.problems)
        if self.ledger.breaks:
            text += f"; LEDGER DAMAGED ({len(self.ledger.breaks)} breaks): run `callaudit verify`"
        return text


def evidence(history: History | None, sha256: str | None, audio: str | None) -> dict:
    """The custody layer's finding for a recording whose bytes now hash to `sha256` (see verdict.py).

    An unchanged recording's finding names its first_seen entry, not times: two
    output folders of one archive then hold the same records (the times are in
    the ledger); a modified one carries both fingerprints with their dates.
    """
    if history is None or not sha256:
        return {"checked": False, "first_seen_entry": None, "modified_after_capture": None}
    out = {"checked": True, "first_seen_entry": history.first_entry,
           "modified_after_capture": None}
    if history.first["sha256"] != sha256:
        current = dict(history.latest) if history.latest["sha256"] == sha256 else \
            {"size": None, "sha256": sha256, "audio_sha256": audio, "seen_at": None}
        first_audio = history.first.get("audio_sha256")
        current_audio = current.get("audio_sha256") or audio
        out["modified_after_capture"] = {
            "first": fingerprint(history.first), "current": current,
            "audio_changed": None if not (first_audio and current_audio) else first_audio != current_audio,
            "entries": history.modified_entries,
        }
    return out


def removed_recordings(out_dir: Path) -> list[dict]:
    """Every recording the ledger of `out_dir` says is gone: path, call id, last fingerprint, since when."""
    contents = ledger_mod.read(Path(out_dir) / ledger_mod.FILENAME)
    gone = {h.path for h in histories(contents.entries).values() if h.removed}
    last: dict[str, dict] = {}
    for entry in contents.entries:
        if entry.get("kind") == "removed" and entry.get("path") in gone:
            last[entry["path"]] = entry
    return [{"path": e["path"], "call_id": e.get("call_id"), "sha256": (e.get("last") or {}).get("sha256"),
             "missing_since": e.get("missing_since"), "entry": e.get("seq")} for _, e in sorted(last.items())]
