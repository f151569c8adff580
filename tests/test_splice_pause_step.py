"""The pause-step detector: a background step inside a pause."""

from __future__ import annotations

import numpy as np
from helpers_splice import n_grid, no_edges, peak_time, tamper, tone

from pipeline.scan.splice.fusion import THRESHOLDS
from pipeline.scan.splice.pause_step import pause_step_track


def test_pause_step_at_insert_in_a_pause():
    """Host pause in pink noise, then 'another line' (white noise 10 dB louder) from the pause's middle."""
    sr = 8000
    rng = np.random.default_rng(9)
    syll = np.concatenate([tone(0.25, sr, k) * (k % 2) for k in range(24)])          # 6 s of bursts
    pause = np.zeros(sr)                                                                # 1 s pause
    x = np.concatenate([syll, pause, syll])
    host = tamper.coloured_noise(x.size, "pink", rng) * 10 ** (-50 / 20)
    donor = tamper.coloured_noise(x.size, "white", rng) * 10 ** (-40 / 20)
    at = syll.size + sr // 2
    y = x + np.where(np.arange(x.size) < at, host, donor)
    track = no_edges(pause_step_track(y, sr, n_grid(y, sr)))
    assert track.max() >= THRESHOLDS["pause_step"] and abs(peak_time(track) - at / sr) <= 0.05
    control = no_edges(pause_step_track(x + host, sr, n_grid(x, sr)))
    assert control.max() < 0.5 * THRESHOLDS["pause_step"]
