"""Where the model comes from: the default model checked against upstream, names only from the local cache."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import FIXTURES, ROOT

from pipeline.core import models


def test_default_model_is_checked_against_the_upstream_checksums(tmp_path):
    """Every file, not only model.bin, and against the Hugging Face repository's sha256."""
    assert models.verify_default_model() == models.UPSTREAM_SHA256["model.bin"]
    copy = tmp_path / "whisper-base"
    copy.mkdir()
    (copy / "model.bin").symlink_to(models.DEFAULT_MODEL_DIR / "model.bin")
    for name in models.SIDE_FILES:
        (copy / name).write_bytes((models.DEFAULT_MODEL_DIR / name).read_bytes())
    assert models.verify_default_model(copy) == models.UPSTREAM_SHA256["model.bin"]
    (copy / "config.json").write_text((copy / "config.json").read_text() + " ")
    with pytest.raises(models.ModelError, match="config.json"):
        models.verify_default_model(copy)


def test_model_name_not_in_the_local_cache_is_a_usage_error(tmp_path):
    """No download at run time: a clear message naming the model, exit status 2, no traceback."""
    env = {**os.environ, "HF_HOME": str(tmp_path / "hf"), "HF_HUB_OFFLINE": "1"}
    proc = subprocess.run([sys.executable, "-m", "pipeline", "scan", str(FIXTURES / "service_call.wav"),
                           "--out", str(tmp_path / "out"), "--model", "small", "--workers", "1"],
                          capture_output=True, text=True, cwd=ROOT, env=env, timeout=300)
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "--model small" in proc.stderr and "never downloads" in proc.stderr
    assert "Traceback" not in proc.stderr
