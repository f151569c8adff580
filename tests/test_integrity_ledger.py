"""The custody ledger and `verify` over hand-made entries and real scans with a fake analyser (no model).

A changed byte anywhere in an entry must be found (every line of a small real
ledger is tried), as must a removed or reordered entry, a ledger cut back behind
the catalog's anchor, a forged signature, and a changed or vanished recording.
A scan killed with SIGKILL while it appends leaves a ledger that verifies.
"""

from __future__ import annotations

import json
import os
import signal
import stat
import subprocess
import sys
import time
from pathlib import Path

import pytest
from helpers_records import make_record, make_recording

from pipeline.core.errors import UsageError
from pipeline.integrity import custody, ledger, verify
from pipeline.scan import clips, engine, workers


@pytest.fixture
def fake_analysis(monkeypatch):
    """Hand-made records instead of the analysis, each with an audio hash as the decode stage gives it."""
    def fake_analyse_all(recordings, options):
        for rec in recordings:
            record = make_record(Path(rec.path), rec.relative, call_id="ignored")
            record["recording"]["audio_sha256"] = "a" * 63 + str(len(Path(rec.path).read_bytes()) % 10)
            yield record, {"recording": record["recording"], "segments": record["segments"]}

    monkeypatch.setattr(workers, "analyse_all", fake_analyse_all)


@pytest.fixture
def archive(tmp_path) -> Path:
    root = tmp_path / "archive"
    (root / "sub").mkdir(parents=True)
    make_recording(root / "a.wav", 3.0)
    make_recording(root / "sub" / "b.wav", 3.5)
    make_recording(root / "c.wav", 4.0)
    return root


def scan(archive: Path, out: Path, signer=None) -> engine.ScanStats:
    stats = engine.ScanStats()
    engine.scan([str(archive)], out, engine.ScanOptions(), clip_options=clips.ClipOptions("none"), stats=stats,
                signer=signer)
    return stats


def lines(out: Path) -> list[dict]:
    return [json.loads(line) for line in (out / ledger.FILENAME).read_text("utf-8").splitlines()]


def breaks(out: Path, key=None) -> list[str]:
    return [b["kind"] for b in verify.verify(out, key)["breaks"]]


# -- the ledger alone -----------------------------------------------------------------
def test_entries_chain_and_required_fields(tmp_path):
    book = ledger.Ledger.open(tmp_path)
    first = book.append("removed", {"call_id": "x", "path": "x.wav", "last": {}, "missing_since": "now"})
    second = book.append("restored", {"call_id": "x", "path": "x.wav", "current": {}})
    book.close()
    assert first["prev"] == ledger.GENESIS and second["prev"] == first["hash"]
    assert first["hash"] == ledger.entry_hash(first) and second["seq"] == 1
    assert stat.S_IMODE((tmp_path / ledger.FILENAME).stat().st_mode) == 0o600
    with pytest.raises(ValueError, match="missing"):
        ledger.Ledger.open(tmp_path).append("removed", {"call_id": "x"})
    with pytest.raises(ValueError, match="reserved"):
        ledger.Ledger.open(tmp_path).append("restored", {"call_id": "x", "path": "p", "current": {}, "hash": "0"})
    with pytest.raises(ValueError, match="unknown"):
        ledger.Ledger.open(tmp_path).append("destroyed?", {})
    contents = ledger.read(tmp_path / ledger.FILENAME)
    assert contents.breaks == [] and contents.head == second["hash"]


def test_torn_final_line_is_set_aside_not_dropped(tmp_path):
    book = ledger.Ledger.open(tmp_path)
    book.append("restored", {"call_id": "x", "path": "x.wav", "current": {}})
    book.close()
    path = tmp_path / ledger.FILENAME
    whole = path.read_bytes()
    with open(path, "ab") as handle:
        handle.write(b'{"seq":1,"kind":"first_se')   # what a crash in the write leaves
    result = verify.verify(tmp_path)
    assert result["ok"] and "torn" in result["notes"][0]
    reopened = ledger.Ledger.open(tmp_path)
    assert reopened.torn_to is not None and reopened.torn_to.read_bytes() == b'{"seq":1,"kind":"first_se'
    assert path.read_bytes() == whole and reopened.breaks == []
    reopened.append("restored", {"call_id": "x", "path": "x.wav", "current": {}})
    reopened.close()
    assert verify.verify(tmp_path)["ok"] and len(lines(tmp_path)) == 2


def test_keygen_signatures_and_forgery(tmp_path):
    private, public = tmp_path / "k.pem", tmp_path / "k.pub.pem"
    ledger.write_key_pair(private, public)
    assert stat.S_IMODE(private.stat().st_mode) == 0o600
    with pytest.raises(UsageError, match="never overwritten"):
        ledger.write_key_pair(private, tmp_path / "other.pem")
    out = tmp_path / "out"
    out.mkdir()
    book = ledger.Ledger.open(out, ledger.Signer.load(private))
    for n in range(3):
        book.append("restored", {"call_id": f"c{n}", "path": f"{n}.wav", "current": {}})
    book.close()
    key = ledger.load_public_key(public)
    assert verify.verify(out, key)["ok"] and verify.verify(out, key)["signed"] == 3
    # someone without the key rewrites entry 1 and re-hashes the chain from there: hashes fine, signatures not
    entries = lines(out)
    entries[1]["path"] = "forged.wav"
    for i in range(1, 3):
        entries[i]["prev"] = entries[i - 1]["hash"]
        entries[i]["hash"] = ledger.entry_hash(entries[i])
    (out / ledger.FILENAME).write_text("".join(json.dumps(e) + "\n" for e in entries), "utf-8")
    assert breaks(out) == []                   # without the public key a re-hashed chain cannot be told
    assert breaks(out, key) == ["signature_bad", "signature_bad"]
    other_private, other_public = tmp_path / "o.pem", tmp_path / "o.pub.pem"
    ledger.write_key_pair(other_private, other_public)
    assert set(breaks(out, ledger.load_public_key(other_public))) == {"signature_bad"}
    unsigned = tmp_path / "unsigned"
    unsigned.mkdir()
    book = ledger.Ledger.open(unsigned)
    book.append("restored", {"call_id": "c", "path": "p.wav", "current": {}})
    book.close()
    assert breaks(unsigned, key) == ["unsigned"]


# -- with scans -----------------------------------------------------------------------
def test_scan_records_first_seen_and_a_rescan_appends_nothing(tmp_path, archive, fake_analysis):
    out = tmp_path / "out"
    stats = scan(archive, out)
    entries = lines(out)
    assert [e["kind"] for e in entries] == ["first_seen"] * 3
    assert {e["path"] for e in entries} == {"a.wav", "c.wav", "sub/b.wav"}
    a = next(e for e in entries if e["path"] == "a.wav")
    assert a["size"] == (archive / "a.wav").stat().st_size and a["audio_sha256"].startswith("aaa")
    assert "3 first seen" in stats.custody
    before = (out / ledger.FILENAME).read_bytes()
    calls_before = {p.name: p.stat().st_mtime_ns for p in (out / "calls").iterdir()}
    stats = scan(archive, out)
    assert (out / ledger.FILENAME).read_bytes() == before and "nothing new" in stats.custody
    assert {p.name: p.stat().st_mtime_ns for p in (out / "calls").iterdir()} == calls_before
    report = [json.loads(line) for line in (out / "report.jsonl").read_text("utf-8").splitlines()]
    assert {r["integrity"]["verdict"] for r in report} == {"suspect"}   # make_record carries a splice
    assert all(r["integrity"]["layers_checked"] == ["custody", "waveform"] for r in report)
    assert verify.verify(out)["ok"]


def test_changed_and_removed_recordings(tmp_path, archive, fake_analysis):
    out = tmp_path / "out"
    scan(archive, out)
    make_recording(archive / "a.wav", 2.5)        # edited in place
    (archive / "c.wav").unlink()                  # deleted
    assert set(breaks(out)) == {"recording_changed", "recording_missing"}
    stats = scan(archive, out)
    kinds = [e["kind"] for e in lines(out)]
    assert kinds == ["first_seen"] * 3 + ["modified", "removed"]
    assert "removed: c.wav" in stats.custody
    record = json.loads(next((out / "calls").glob("a-*.json")).read_text("utf-8"))
    modified = record["integrity"]["modified_after_capture"]
    assert record["integrity"]["verdict"] == "modified_after_capture"
    assert modified["first"]["sha256"] != modified["current"]["sha256"] == record["recording"]["sha256"]
    assert modified["first"]["seen_at"] < modified["current"]["seen_at"] and modified["entries"] == [3]
    assert [f["rule"] for f in record["flags"] if f["problem"] == "integrity"] == ["modified_after_capture"]
    assert custody.removed_recordings(out)[0]["path"] == "c.wav"
    assert "c.wav" in (out / "report.html").read_text("utf-8")
    result = verify.verify(out)
    assert result["ok"] and result["removed"] == [{"path": "c.wav", "call_id": result["removed"][0]["call_id"]}]
    assert scan(archive, out).custody.endswith("nothing new")     # still modified, nothing appended
    make_recording(archive / "c.wav", 4.0)                          # the same recording comes back
    scan(archive, out)
    assert [e["kind"] for e in lines(out)][-1] == "restored"
    assert verify.verify(out)["ok"]


def test_a_changed_byte_in_any_entry_is_a_break(tmp_path, archive, fake_analysis):
    out = tmp_path / "out"
    scan(archive, out)
    make_recording(archive / "a.wav", 2.5)
    (archive / "c.wav").unlink()
    scan(archive, out)
    path = out / ledger.FILENAME
    pristine = path.read_bytes()
    offsets, start = [], 0
    for line in pristine.split(b"\n")[:-1]:
        offsets.append((start, len(line)))
        start += len(line) + 1
    assert len(offsets) == 5
    for first, length in offsets:
        for where in (first + 2, first + length // 2, first + length - 3):   # key, a value, the hash
            data = bytearray(pristine)
            data[where] ^= 0x01
            path.write_bytes(bytes(data))
            assert not verify.verify(out)["ok"], f"byte {where} of line {offsets.index((first, length))}"
    lines_ = pristine.split(b"\n")[:-1]
    for cut in (lines_[:2] + lines_[3:], [lines_[1], lines_[0]] + lines_[2:], lines_[:-1]):
        path.write_bytes(b"\n".join(cut) + b"\n")
        assert not verify.verify(out)["ok"]          # removed, reordered, cut back behind the catalog's anchor
    path.write_bytes(pristine)
    assert verify.verify(out)["ok"]
    (archive / "sub" / "b.wav").write_bytes((archive / "sub" / "b.wav").read_bytes()[:-1] + b"\x01")
    assert breaks(out) == ["recording_changed"]


KILLED_SCAN = """
import sys, time
from pathlib import Path
sys.path[:0] = [{tests!r}, {root!r}]
from helpers_records import make_record
from pipeline.scan import clips, engine, workers

def slow(recordings, options):
    for rec in recordings:
        record = make_record(Path(rec.path), rec.relative, call_id="ignored")
        yield record, {{"recording": record["recording"], "segments": record["segments"]}}
        time.sleep(0.3)

workers.analyse_all = slow
engine.scan([{archive!r}], Path({out!r}), engine.ScanOptions(), clip_options=clips.ClipOptions("none"))
"""


def test_kill_9_mid_scan_leaves_a_ledger_that_verifies(tmp_path, fake_analysis):
    archive = tmp_path / "archive"
    archive.mkdir()
    for n in range(12):
        make_recording(archive / f"{n:02d}.wav", 1.0 + n / 10)
    out = tmp_path / "out"
    code = KILLED_SCAN.format(tests=str(Path(__file__).parent), root=str(Path(__file__).parents[1]),
                              archive=str(archive), out=str(out))
    proc = subprocess.Popen([sys.executable, "-c", code])
    deadline = time.time() + 60
    while time.time() < deadline and len(lines(out) if (out / ledger.FILENAME).exists() else []) < 2:
        time.sleep(0.05)
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait()
    seen = lines(out)
    assert 2 <= len(seen) < 12, "the scan was not killed while appending"
    assert verify.verify(out)["ok"]
    with open(out / ledger.FILENAME, "ab") as handle:     # a crash inside the write itself
        handle.write(b'{"seq":99,"kind":"fir')
    assert verify.verify(out)["ok"]
    scan(archive, out)   # resumes: the torn tail set aside, the rest appended once
    assert sorted(e["path"] for e in lines(out)) == [f"{n:02d}.wav" for n in range(12)]
    assert list(out.glob("custody.jsonl.*.torn")) and verify.verify(out)["ok"]
