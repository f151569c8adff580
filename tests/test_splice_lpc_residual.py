"""The LPC-residual detector (supporting evidence)."""

from __future__ import annotations

import numpy as np
from helpers_splice import hard_cut, n_grid, no_edges, peak_time, tone

from pipeline.scan.splice.lpc_residual import lpc_residual_track


def test_lpc_residual_spike_at_hard_cut():
    sr = 8000
    x = tone(6, sr)
    cut, at = hard_cut(x, sr)
    track = no_edges(lpc_residual_track(cut, sr, n_grid(cut, sr)))
    assert abs(peak_time(track) - at) < 0.02
    assert track.max() > 1.5 * no_edges(lpc_residual_track(x, sr, n_grid(x, sr))).max()


def test_lpc_residual_blocks_do_not_change_the_track():
    """Processing in blocks (bounded memory) gives the whole-signal result."""
    sr = 8000
    cut, _ = hard_cut(tone(6, sr), sr)
    whole = lpc_residual_track(cut, sr, n_grid(cut, sr))
    assert np.allclose(lpc_residual_track(cut, sr, n_grid(cut, sr), block_frames=7), whole, atol=1e-4)
