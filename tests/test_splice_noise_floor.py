"""The noise-floor change-point detector (supporting evidence)."""

from __future__ import annotations

import numpy as np
from helpers_splice import TOLERANCE_S, n_grid, no_edges, peak_time, tamper, tone

from pipeline.scan.splice.fusion import SUPPORT_Z
from pipeline.scan.splice.noise_floor import noise_floor_track


def test_noise_floor_change_point():
    sr = 8000
    rng = np.random.default_rng(6)
    syll = np.concatenate([tone(0.25, sr, k) * (k % 2) for k in range(100)])     # speech-ish bursts, 25 s
    quiet = tamper.coloured_noise(syll.size, "pink", rng) * 10 ** (-50 / 20)
    loud = tamper.coloured_noise(syll.size, "white", rng) * 10 ** (-26 / 20)   # a noisy handset
    x = syll.copy()
    half = x.size // 2
    x[:half] += quiet[:half]
    x[half:] += loud[half:]
    track = no_edges(noise_floor_track(x, sr, n_grid(x, sr)))
    assert track.max() >= SUPPORT_Z["noise_floor"]
    assert abs(peak_time(track) - half / sr) <= TOLERANCE_S
    control = no_edges(noise_floor_track(syll + quiet, sr, n_grid(x, sr)))
    assert control.max() < SUPPORT_Z["noise_floor"]
