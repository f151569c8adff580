"""Pause-step detector: a step of the background between the two halves of a pause.

A primary detector (fusion.THRESHOLDS["pause_step"], in dB, not a z-score): audio
from another call, line or handset joined in a pause changes the steady background
there. Pure function over samples; no decoding, no thresholds.
"""

from __future__ import annotations

import numpy as np

from pipeline.scan.splice.grid import (
    GRID_S,
    band_powers,
    db,
    log_bands,
    to_grid,
    window_percentile,
)


def pause_step_track(x: np.ndarray, sr: int, n_grid: int, frame_s: float = 0.02, side_s: float = 0.25,
                     n_bands: int = 6, stationary_db: float = 6.0, above_floor_db: float = 16.0,
                     below_speech_db: float = 12.0, silence_db: float = -90.0, clamp_db: float = 25.0) -> np.ndarray:
    """Background step inside a pause: band-level difference (dB) of the `side_s` just left and right of t.

    Parameters: `frame_s` (20 ms) Hann frames on the 10 ms grid, summed into
    `n_bands` (6) log-spaced bands between 150 Hz and 0.45*sr. A point is scored only
    when both sides are stationary background (the 10th..90th percentile spread of
    each band's level on that side, averaged over the bands, is at most
    `stationary_db` (6 dB): speech changes its spectrum from frame to frame, steady
    noise does not), i.e. the point lies in a pause with at least `side_s` (0.25 s)
    of pause on each side; and both sides lie within `above_floor_db` (16 dB) of the
    recording's background level (10th percentile of the live frame levels) or
    `below_speech_db` (12 dB) under its speech level (90th percentile; a louder line
    inserted into a quiet call), so steady speech does not count as background; the
    value is the mean absolute difference of the per-band median levels. Within one
    genuine pause that is a dB or two (real clean recordings reach 5.8 dB, a breath);
    audio from another call, line or handset joined in a pause steps by the
    difference of the two backgrounds. Digitally silent frames (< `silence_db`,
    -90 dBFS) do not count as stationary background; band levels are clamped
    `clamp_db` (25 dB) below their median.
    Catches: inserts and cuts joined in pauses where the two sides' background
    differs (level or colour), to within a frame.
    Misses: joins inside speech or with less than `side_s` of pause on either side,
    and joins between parts with the same background (a cut within one call, an
    insert from another quiet recording, a crossfaded cut in a pause of real speech).
    """
    size = int(frame_s * sr)
    hop = int(GRID_S * sr)
    side = int(side_s / GRID_S)
    if x.size < size + hop * (2 * side + 4):
        return np.zeros(n_grid)
    freqs = np.fft.rfftfreq(size, 1 / sr)
    bands, power = band_powers(x, size, hop, log_bands(freqs, n_bands, 150, 0.45 * sr))
    logb, total = db(bands), db(power / size)
    logb = np.maximum(logb, np.median(logb, axis=0) - clamp_db)
    lo_b, med, hi_b = (window_percentile(logb, side, q) for q in (10, 50, 90))
    live = total > silence_db
    floor, speech = np.percentile(total[live], [10, 90]) if live.any() else (silence_db, silence_db)
    loud = window_percentile(total, side, 90)
    steady = ((hi_b - lo_b).mean(axis=1) <= stationary_db) & (window_percentile(total, side, 0) > silence_db) \
        & ((loud <= floor + above_floor_db) | (loud <= speech - below_speech_db))
    k = np.arange(side, logb.shape[0] - side + 1)          # boundary before frame k
    value = np.mean(np.abs(med[k - side] - med[k]), axis=1) * (steady[k - side] & steady[k])
    times = (k * hop + (size - hop) / 2) / sr
    return to_grid(value, times, n_grid)
