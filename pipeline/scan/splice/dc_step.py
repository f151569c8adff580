"""DC-step detector: a change of the mean (DC offset) between the left and right of a point.

Supporting evidence only (fusion.SUPPORT): handsets and gain stages change DC offset
in genuine calls. Pure function over samples; no decoding, no thresholds.
"""

from __future__ import annotations

import numpy as np

from pipeline.scan.splice.grid import GRID_S, robust_z, side_means


def dc_step_track(x: np.ndarray, sr: int, n_grid: int, window_s: float = 0.5) -> np.ndarray:
    """Robust z of the difference of the mean (DC offset) over `window_s` (0.5 s) left and right.

    Catches: audio from a recording chain with another DC offset joined in.
    Misses: joins whose two sides share one offset (most recordings have none) or
    whose offset a band-pass filter removed; fires on genuine offset drift of
    handsets and gain stages.
    """
    cell = int(GRID_S * sr)
    m = x.size // cell
    means = x[: m * cell].reshape(m, cell).mean(axis=1)
    left, right, _ = side_means(means, max(2, int(window_s / GRID_S)))
    track = np.zeros(n_grid)
    track[: min(m, n_grid)] = robust_z(np.abs(left - right))[:n_grid]
    return track
