"""Worker processes that die: the crashing file gets a `worker_crashed` record, the rest of the scan goes on.

The scan runs in a subprocess whose decode stage calls os._exit for one file (a real
process death, as a segfault in native code or the out-of-memory killer would cause);
the other recordings are analysed with the real model.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
import textwrap

from conftest import FIXTURES, ROOT

DYING_SCAN = textwrap.dedent("""
    import os, sys
    from pathlib import Path
    from pipeline.scan import decode, engine
    from pipeline.scan.options import ScanOptions
    real_decode = decode.decode

    def dying_decode(path, *args, **kwargs):
        if Path(path).name.startswith("crash"):
            os._exit(70)  # the worker process dies on the spot
        return real_decode(path, *args, **kwargs)

    decode.decode = dying_decode
    stats = engine.ScanStats()
    engine.scan([sys.argv[1]], Path(sys.argv[2]), ScanOptions(workers=2), stats=stats)
    print(stats.line())
""")


def test_a_dying_worker_becomes_an_error_record_and_the_scan_goes_on(tmp_path):
    archive, out = tmp_path / "archive", tmp_path / "out"
    archive.mkdir()
    for name in ("service_call.wav", "marketing_variant_disclosure.amr"):
        shutil.copy(FIXTURES / name, archive / name)
    shutil.copy(FIXTURES / "fast_disclosure.flac", archive / "crash_me.flac")

    def run() -> str:
        proc = subprocess.run([sys.executable, "-c", DYING_SCAN, str(archive), str(out)],
                              capture_output=True, text=True, cwd=ROOT, timeout=600)
        assert proc.returncode == 0, proc.stderr[-3000:]
        return proc.stdout

    first = run()
    records = {r["file"]: r for r in map(json.loads, (out / "report.jsonl").read_text("utf-8").splitlines())}
    assert set(records) == {"crash_me.flac", "service_call.wav", "marketing_variant_disclosure.amr"}
    assert records["crash_me.flac"]["status"] == "error"
    assert records["crash_me.flac"]["error"]["code"] == "worker_crashed"
    for name in ("service_call.wav", "marketing_variant_disclosure.amr"):
        assert records[name]["status"] == "ok" and records[name]["segments"], name
    assert "3 found" in first and "3 analysed" in first
    second = run()   # the crash is not cached: tried again, and the others are untouched
    assert "2 unchanged (skipped)" in second and "1 analysed" in second
