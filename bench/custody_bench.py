"""Custody ledger cost: bytes per entry, append time (fsync each), read-and-check rate, with and without signatures.

Writes N `first_seen` entries carrying a real MP3 format signature into a temporary
folder, then reads the ledger back the way every scan and `callaudit verify` do.
Run: python bench/custody_bench.py [N]   (docs/integrity.md quotes its output)
"""

from __future__ import annotations

import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from pipeline.integrity import ledger, signature

FIXTURE = Path(__file__).resolve().parents[1] / "fixtures" / "audio" / "education_sale_refund.mp3"


def run(n: int, signed: bool) -> str:
    folder = Path(tempfile.mkdtemp(prefix="custody-bench-"))
    signer = public = None
    if signed:
        ledger.write_key_pair(folder / "k.pem", folder / "k.pub.pem")
        signer, public = ledger.Signer.load(folder / "k.pem"), ledger.load_public_key(folder / "k.pub.pem")
    fmt = signature.format_signature(str(FIXTURE))
    book = ledger.Ledger.open(folder, signer)
    start = time.perf_counter()
    for i in range(n):
        book.append("first_seen", {"call_id": f"c{i}", "path": f"2025-05/{i:06d}.mp3", "size": 112088,
                                   "mtime": "2025-05-12T09:28:00Z", "sha256": f"{i:064x}", "audio_sha256": f"{i + 1:064x}",
                                   "format": fmt, "first_seen_at": ledger.utc_now()})
    append_s = time.perf_counter() - start
    book.close()
    size = (folder / ledger.FILENAME).stat().st_size
    start = time.perf_counter()
    contents = ledger.read(folder / ledger.FILENAME, public)
    read_s = time.perf_counter() - start
    assert not contents.breaks
    return (f"signed={signed}: {size / n:.0f} B/entry, append {append_s / n * 1000:.2f} ms/entry (fsync each), "
            f"read+check {n / read_s:.0f} entries/s" + (" (signatures verified)" if signed else ""))


if __name__ == "__main__":
    count = int(sys.argv[1]) if len(sys.argv) > 1 else 2000
    for signed in (False, True):
        print(run(count, signed))
