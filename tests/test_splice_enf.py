"""The mains-hum (ENF) detector: hum presence, phase jumps, level changes, the lowest harmonic."""

from __future__ import annotations

import numpy as np
import pytest
from helpers_splice import hum_signal, n_grid, no_edges, peak_time, tamper

from pipeline.scan.splice.enf import enf_track, hum_presence
from pipeline.scan.splice.fusion import THRESHOLDS, pick_peaks
from pipeline.scan.splice.grid import GRID_S


def test_hum_presence():
    assert hum_presence(hum_signal(), 8000)["base"] == 50.0
    noise = np.random.default_rng(2).normal(0, 0.01, 80000)
    assert hum_presence(noise, 8000)["base"] is None


@pytest.mark.parametrize("length_s", [0.31, 0.237])   # half a hum period; an odd fraction
def test_enf_phase_jump_at_crossfaded_pause_cut(length_s):
    sr = 8000
    x = hum_signal(sr=sr)
    a, b, fade = 5 * sr, 5 * sr + int(length_s * sr), int(0.01 * sr)
    y = tamper.crossfade_join(x[: a + fade], x[b:], fade)
    track, presence = enf_track(y, sr, n_grid(y, sr))
    track = no_edges(track)
    assert presence["base"] == 50.0
    assert track.max() >= THRESHOLDS["enf"] and abs(peak_time(track) - 5.0) <= 0.2
    control, _ = enf_track(x, sr, n_grid(x, sr))
    assert no_edges(control).max() < THRESHOLDS["enf"]


def test_enf_level_change_at_insert_without_hum():
    """2 s of audio from a hum-free line inserted: the hum level changes at both joins, not inside."""
    sr = 8000
    x = hum_signal(12.0, sr)
    piece = np.random.default_rng(11).normal(0, 0.003, 2 * sr)
    y = np.concatenate([x[: 5 * sr], piece, x[5 * sr:]])
    track, _ = enf_track(y, sr, n_grid(y, sr))
    peaks = pick_peaks(no_edges(track) / THRESHOLDS["enf"])
    assert [round(p * GRID_S) for p in peaks] == [5, 7]


def test_enf_uses_lowest_harmonic():
    """Speech-like energy on the 150 Hz harmonic (a voiced burst) does not count as a hum discontinuity."""
    sr = 8000
    x = hum_signal(12.0, sr)
    t = np.arange(x.size) / sr
    burst = (np.abs(t - 6.0) < 0.4) * 0.05 * np.sin(2 * np.pi * 151 * t)
    track, presence = enf_track(x + burst, sr, n_grid(x, sr))
    assert min(f for f, _ in presence["harmonics"]) == 50.0
    assert no_edges(track).max() < THRESHOLDS["enf"]


def test_enf_off_without_hum():
    x = np.random.default_rng(7).normal(0, 0.01, 80000)
    track, presence = enf_track(x, 8000, n_grid(x, 8000))
    assert track is None and presence["base"] is None
