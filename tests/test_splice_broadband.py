"""The broadband-burst detector (supporting evidence)."""

from __future__ import annotations

from helpers_splice import hard_cut, n_grid, no_edges, peak_time, tone

from pipeline.scan.splice.broadband import broadband_track
from pipeline.scan.splice.fusion import SUPPORT_Z


def test_broadband_burst_at_hard_cut():
    sr = 16000
    x = tone(6, sr)
    cut, at = hard_cut(x, sr)
    track = no_edges(broadband_track(cut, sr, n_grid(cut, sr)))
    assert track.max() >= SUPPORT_Z["broadband"] and abs(peak_time(track) - at) < 0.02
    assert no_edges(broadband_track(x, sr, n_grid(x, sr))).max() < SUPPORT_Z["broadband"]
