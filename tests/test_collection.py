"""Plain `pytest` (the console script: the project folder is not on sys.path) collects every test."""

import os
import subprocess
import sys
from pathlib import Path

from conftest import ROOT


def test_plain_pytest_collects_the_whole_suite(tmp_path):
    # Only this checkout's `pipeline` package is made importable (whatever the editable install points
    # at); the project folder itself stays off sys.path, as for a developer typing `pytest`.
    (tmp_path / "pipeline").symlink_to(ROOT / "pipeline")
    pytest_script = Path(sys.executable).with_name("pytest")
    proc = subprocess.run([str(pytest_script), "--collect-only", "-q", "-p", "no:cacheprovider"],
                          capture_output=True, text=True, cwd=ROOT, timeout=300,
                          env={**os.environ, "PYTHONPATH": str(tmp_path)})
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-2000:]
