"""The common time grid of the splice detectors and the small DSP helpers they share.

Every detector returns one score per GRID_S cell; this module holds what puts a
track on that grid (to_grid), normalises it against the recording's own statistics
(robust_z) and the frame, band, percentile, resampling and dB helpers that more
than one detector uses. Pure functions over numpy arrays: no decoding, no files,
no thresholds (those are fusion's).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

GRID_S = 0.01            # common time grid of all score tracks


def robust_z(values: np.ndarray, floor: float = 1e-9) -> np.ndarray:
    """(v - median) / (1.4826 * MAD), the scale floored so flat tracks do not explode."""
    v = np.asarray(values, dtype=np.float64)
    if v.size == 0:
        return v
    med = np.median(v)
    mad = 1.4826 * np.median(np.abs(v - med))
    return (v - med) / max(mad, floor, 1e-3 * np.std(v))


def to_grid(values: np.ndarray, times: np.ndarray, n_grid: int) -> np.ndarray:
    """Max-pool a (times, values) track onto the common GRID_S grid."""
    out = np.full(n_grid, -np.inf)
    idx = np.clip(np.round(times / GRID_S).astype(int), 0, n_grid - 1)
    np.maximum.at(out, idx, values)
    if np.isneginf(out).all():
        return np.zeros(n_grid)
    # fill cells without a sample by interpolation
    have = np.flatnonzero(~np.isneginf(out))
    return np.interp(np.arange(n_grid), have, out[have])


def band_powers(x: np.ndarray, size: int, hop: int, masks: list[np.ndarray],
                block: int = 4096) -> tuple[np.ndarray, np.ndarray]:
    """Power per frequency band (one boolean mask of rfft bins each) and in total, per Hann frame.

    Frames are views into `x` and the spectrum is computed `block` frames at a time, so
    memory stays bounded on hour-long recordings (a whole-file STFT of 4 ms frames
    needs ~70 bytes per sample).
    """
    frames = np.lib.stride_tricks.sliding_window_view(x, size)[::hop]
    window = np.hanning(size)
    bands, total = np.empty((len(frames), len(masks))), np.empty(len(frames))
    for start in range(0, len(frames), block):
        spec = np.abs(np.fft.rfft(frames[start:start + block] * window, axis=1)) ** 2
        bands[start:start + block] = np.stack([spec[:, m].sum(axis=1) for m in masks], axis=1)
        total[start:start + block] = spec.sum(axis=1)
    return bands, total


def window_percentile(values: np.ndarray, size: int, q: float) -> np.ndarray:
    """np.percentile over every window values[i:i+size] (axis 0, each column alone), as rank filters.

    Same numbers as percentile over sliding_window_view (linear interpolation between
    order statistics), about seven times faster: a 1-D rank filter keeps its window sorted.
    """
    pos = q / 100 * (size - 1)
    rank, frac = int(pos), pos - int(pos)
    centres = np.arange(values.shape[0] - size + 1) + size // 2
    columns = np.ascontiguousarray(np.atleast_2d(values.T))

    def order_statistic(r: int) -> np.ndarray:
        out = np.stack([ndimage.rank_filter(c, r, size=size, mode="nearest")[centres] for c in columns], axis=-1)
        return out if values.ndim > 1 else out[:, 0]

    low = order_statistic(rank)
    return low if frac == 0 else low + frac * (order_statistic(rank + 1) - low)


def side_means(v: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean of `v` over the `side` cells left and right of each cell, and how full each side is (0..1)."""
    c = np.concatenate([[0.0], np.cumsum(v)])
    idx = np.arange(v.size)
    lo, hi = np.clip(idx - side, 0, v.size), np.clip(idx + side, 0, v.size)
    left = (c[idx] - c[lo]) / np.maximum(idx - lo, 1)
    right = (c[hi] - c[idx]) / np.maximum(hi - idx, 1)
    return left, right, np.minimum(idx - lo, hi - idx) / side


def resample(x: np.ndarray, sr: int, rate: int) -> np.ndarray:
    """`x` at `rate` (polyphase, anti-aliased)."""
    g = np.gcd(int(sr), int(rate))
    return signal.resample_poly(np.asarray(x, dtype=np.float64), rate // g, sr // g)


def db(p: np.ndarray) -> np.ndarray:
    """Power in dB, floored at -120 dB (log of zero)."""
    return 10 * np.log10(np.maximum(p, 1e-12))


def log_bands(freqs: np.ndarray, n_bands: int, low_hz: float, high_hz: float) -> list[np.ndarray]:
    """Masks of `n_bands` log-spaced bands between `low_hz` and `high_hz` over the rfft bins `freqs`."""
    edges = np.geomspace(low_hz, high_hz, n_bands + 1)
    return [(freqs >= lo) & (freqs < hi) for lo, hi in zip(edges[:-1], edges[1:])]
