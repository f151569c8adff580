"""The G.711 grid detector, against ffmpeg's decoder and on a synthetic PCM archive."""

from __future__ import annotations

import numpy as np
from conftest import write_audio
from helpers_splice import n_grid, peak_time

from pipeline.scan.decode import decode
from pipeline.scan.splice.fusion import THRESHOLDS
from pipeline.scan.splice.g711 import g711_grid_track, g711_tables


def test_g711_tables_match_ffmpeg(tmp_path):
    """ffmpeg's mu-law decoder yields only values from our table."""
    x = np.random.default_rng(3).normal(0, 0.1, 8000).astype(np.float32)
    path = write_audio(tmp_path / "mu.wav", x, 8000, "-c:a", "pcm_mulaw")
    y = decode(str(path), sample_rate=8000).samples[0]
    pcm = np.round(y * 32768).astype(int)
    assert np.isin(pcm, g711_tables()["mulaw"]).all()


def test_g711_grid_finds_crossfade_in_pcm_archive():
    sr = 8000
    table = g711_tables()["mulaw"]
    x = np.random.default_rng(4).normal(0, 0.05, 6 * sr)
    on_grid = table[np.abs(table[None, :] - (x * 32768)[:, None]).argmin(axis=1)] / 32768.0
    edited = on_grid.copy()
    i = 3 * sr
    edited[i: i + 80] = 0.5 * on_grid[i: i + 80] + 0.5 * on_grid[i + 500: i + 580]   # 10 ms crossfade
    track, info = g711_grid_track(edited, sr, n_grid(edited, sr))
    assert info["law"] == "mulaw" and info["on_grid"] > 0.99
    assert track.max() >= THRESHOLDS["g711_grid"] and abs(peak_time(track) - 3.0) < 0.05
    clean, _ = g711_grid_track(on_grid, sr, n_grid(on_grid, sr))
    assert clean.max() < THRESHOLDS["g711_grid"]
    noise = np.random.default_rng(5).normal(0, 0.05, 6 * sr)        # not G.711: detector stays off
    assert g711_grid_track(noise, sr, n_grid(noise, sr))[0] is None


def test_g711_grid_off_unless_8khz():
    x = np.random.default_rng(4).normal(0, 0.05, 16000)
    assert g711_grid_track(x, 16000, n_grid(x, 16000)) == (None, {})
