"""Noise-floor detector: a change point of the background noise's level or colour.

Supporting evidence only (fusion.SUPPORT): at the levels where it would catch
inserts it also fires on clean calls (a GSM call reached z = 13.2). Pure function
over samples; no decoding, no thresholds.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pipeline.scan.splice.grid import band_powers, db, log_bands, robust_z, to_grid


def noise_floor_track(x: np.ndarray, sr: int, n_grid: int, frame_s: float = 0.032,
                      window_s: float = 1.5, step_s: float = 0.05, local_s: float = 0.8,
                      noise_margin_db: float = 4.0, min_frames: int = 6, max_frames: int = 20,
                      n_bands: int = 6, silence_db: float = -90.0, min_scale_db: float = 2.0,
                      clamp_db: float = 20.0) -> np.ndarray:
    """Robust z of the left/right difference of the per-band noise floor.

    Parameters: `frame_s` (32 ms) STFT frames (Hann, half overlap) summed into
    `n_bands` (6) log-spaced bands between 150 Hz and 0.45*sr. Noise-only frames are
    those within `noise_margin_db` (4 dB) of the minimum level over +-`local_s`
    (0.8 s; minimum statistics, so speech frames do not count). At every `step_s`
    (50 ms) the floor of each band is its median over the `max_frames` (20) noise-only
    frames nearest to the point on its left and on its right, scored where at least
    `min_frames` (6) of them lie within `window_s` (1.5 s) on each side; the distance
    is the mean absolute band difference plus the spread of the differences across
    bands (a change of spectral colour), its robust z scaled by at least
    `min_scale_db` (2 dB). Digitally silent frames (< `silence_db`, -90 dBFS) are left
    out, so recorder silence compression does not register, and band levels are
    clamped `clamp_db` (20 dB) below their median (lossy codecs zero quiet bands).
    Catches: audio inserted from another call, handset or line (different noise level
    or colour), and cuts that join two parts of a call with different background.
    Misses: inserted audio with the same noise as the host (from the same call),
    changes shorter than about `window_s`/2, recordings without any audible noise
    floor (all-digital silence between words).
    """
    size = int(frame_s * sr)
    hop = size // 2
    if x.size < size * 4:
        return np.zeros(n_grid)
    freqs = np.fft.rfftfreq(size, 1 / sr)
    bands, power = band_powers(x, size, hop, log_bands(freqs, n_bands, 150, 0.45 * sr))
    logb = db(bands)
    # lossy codecs zero quiet bands in some frames: clamp each band `clamp_db` below its median
    logb = np.maximum(logb, np.median(logb, axis=0) - clamp_db)
    total = db(power / size)
    # noise-only frames: within `noise_margin_db` of the local minimum level (+-`local_s`)
    local_min = ndimage.minimum_filter1d(total, size=int(local_s / (hop / sr)) | 1, mode="nearest")
    live = (total > silence_db) & (total <= local_min + noise_margin_db)
    centres = (np.arange(logb.shape[0]) * hop + size / 2) / sr
    half = int(window_s / (hop / sr))
    noise_at = np.flatnonzero(live)
    if noise_at.size < 2 * max_frames:
        return np.zeros(n_grid)
    # per band, the running median of `max_frames` consecutive noise-only frames
    running = ndimage.median_filter(logb[noise_at], size=(max_frames, 1), mode="nearest")
    times = np.arange(window_s / 2, x.size / sr - window_s / 2, step_s)
    k = np.searchsorted(centres, times)
    before = np.searchsorted(noise_at, k)                     # noise frames before each point
    enough = (before - np.searchsorted(noise_at, k - half) >= min_frames) \
        & (np.searchsorted(noise_at, k + half) - before >= min_frames)
    last = noise_at.size - 1
    left = running[np.clip(before - max_frames // 2, 0, last)]     # median of the max_frames before
    right = running[np.clip(before + max_frames // 2, 0, last)]    # ... and after
    diff = (left - right)[enough]
    values, times = np.mean(np.abs(diff), axis=1) + np.std(diff, axis=1), times[enough]
    if len(values) < 10:
        return np.zeros(n_grid)
    return to_grid(robust_z(values, floor=min_scale_db), times, n_grid)
