"""The DC-step detector (supporting evidence)."""

from __future__ import annotations

from helpers_splice import n_grid, peak_time, silence_and_dc_step

from pipeline.scan.splice.dc_step import dc_step_track


def test_dc_step_at_offset_change():
    sr = 8000
    x = silence_and_dc_step(sr)
    track = dc_step_track(x, sr, n_grid(x, sr))
    assert abs(peak_time(track) - 2.0) < 0.05 and track.max() > 6
