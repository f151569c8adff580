"""Digital-silence detector: runs of exactly constant samples (dropouts, gaps where audio was removed).

Supporting evidence only (fusion.SUPPORT): silence compression and comfort-noise gaps
make such runs in genuine VoIP calls. Pure functions over samples; no decoding, no
thresholds.
"""

from __future__ import annotations

import numpy as np

from pipeline.scan.splice.grid import GRID_S


def digital_silence_runs(x: np.ndarray, sr: int, min_s: float = 0.02) -> list[tuple[float, float]]:
    """Runs of at least `min_s` (20 ms) of exactly constant samples, as (start_s, end_s) rounded to 1 ms.

    Catches: dropped frames or removed audio replaced by digital zeros.
    Misses: gaps filled with noise or comfort noise; tells nothing apart from the
    recorder's own silence compression.
    """
    same = np.concatenate([[False], np.diff(x) == 0, [False]])
    edges = np.diff(same.astype(np.int8))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    keep = (ends - starts) >= int(min_s * sr)
    return [(round(s / sr, 3), round(e / sr, 3)) for s, e in zip(starts[keep], ends[keep])]


def digital_silence_track(x: np.ndarray, sr: int, n_grid: int) -> np.ndarray:
    """1.0 on every grid cell a digital_silence_runs run touches, else 0 (a presence track, not a z-score)."""
    track = np.zeros(n_grid)
    for s, e in digital_silence_runs(x, sr):
        track[int(s / GRID_S): int(e / GRID_S) + 1] = 1.0
    return track
