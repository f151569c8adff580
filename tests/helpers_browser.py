"""A real browser for the tests: headless chromium renders the pages callaudit writes."""

from __future__ import annotations

import json
import shutil
import subprocess
from pathlib import Path

import numpy as np
import pytest

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
needs_chromium = pytest.mark.skipif(CHROMIUM is None, reason="chromium missing: `make system-deps`")
FLAGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--no-first-run", "--hide-scrollbars"]


def render(page: Path, png: Path, tmp_path: Path, size: str = "1280,2000") -> str:
    """Screenshot `page` with headless chromium; returns its console messages (empty when clean)."""
    proc = subprocess.run(
        [CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'chromium-profile'}", "--enable-logging=stderr", "--v=0",
         f"--screenshot={png}", f"--window-size={size}", page.resolve().as_uri()],
        capture_output=True, text=True, timeout=120)
    assert png.is_file(), proc.stderr[-2000:]
    return "\n".join(line for line in proc.stderr.splitlines() if ":CONSOLE" in line)


def pixels(png: Path) -> np.ndarray:
    """The screenshot as an (h, w, 3) uint8 array (decoded by ffmpeg, no imaging library needed)."""
    probe = subprocess.run(["ffprobe", "-v", "error", "-show_entries", "stream=width,height", "-of", "json",
                            str(png)], capture_output=True, text=True, check=True)
    size = json.loads(probe.stdout)["streams"][0]
    raw = subprocess.run(["ffmpeg", "-v", "error", "-i", str(png), "-f", "rawvideo", "-pix_fmt", "rgb24", "-"],
                         capture_output=True, check=True).stdout
    return np.frombuffer(raw, np.uint8).reshape(size["height"], size["width"], 3)


def dump_dom(page: Path, tmp_path: Path) -> str:
    """The page's DOM as chromium built it (what a reader sees, after parsing)."""
    proc = subprocess.run([CHROMIUM, *FLAGS, f"--user-data-dir={tmp_path / 'chromium-dom'}", "--dump-dom",
                           page.resolve().as_uri()], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0 and "<body" in proc.stdout, proc.stderr[-2000:]
    return proc.stdout
