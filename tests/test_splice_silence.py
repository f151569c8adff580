"""The digital-silence detector (supporting evidence)."""

from __future__ import annotations

import numpy as np
from helpers_splice import n_grid, silence_and_dc_step

from pipeline.scan.splice.silence import digital_silence_runs, digital_silence_track


def test_digital_silence_runs():
    sr = 8000
    assert digital_silence_runs(silence_and_dc_step(sr), sr) == [(1.0, 1.05)]


def test_digital_silence_track_marks_the_run_cells():
    sr = 8000
    x = silence_and_dc_step(sr)
    track = digital_silence_track(x, sr, n_grid(x, sr))
    assert np.flatnonzero(track).tolist() == list(range(100, 106)) and set(track) == {0.0, 1.0}
    short = np.random.default_rng(1).normal(0, 0.01, sr)
    short[100:150] = 0.0                         # 6 ms: shorter than min_s
    assert digital_silence_runs(short, sr) == [] and not digital_silence_track(short, sr, n_grid(short, sr)).any()
