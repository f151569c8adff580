"""Mains-hum (ENF) detector: a discontinuity of the 50/60 Hz hum's phase or level.

A primary detector (fusion.THRESHOLDS["enf"]), active only when hum_presence finds
hum: a cut removes 2*pi*f*L (mod 2*pi) of hum phase, audio recorded elsewhere brings
another hum or none. Three steps, each its own function: hum_band (low-rate copy),
hum_presence (is there hum, at which harmonics), enf_phase_track (the curve at one
harmonic); enf_track ties them together. Pure functions over samples; no decoding,
no thresholds.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage, signal

from pipeline.scan.splice.grid import GRID_S, db, resample, robust_z, side_means

ENF_RATE = 1000           # hum analysis rate (hum harmonics used lie below 500 Hz)


def hum_band(x: np.ndarray, sr: int, rate: int = ENF_RATE) -> np.ndarray:
    """The signal resampled to `rate` (1 kHz): everything the hum analysis needs, 1/8-1/16 of the samples.

    Mains hum and the harmonics looked at (up to 420 Hz) lie below `rate`/2; working
    at 1 kHz keeps the demodulation and its filters cheap in time and memory on
    hour-long recordings.
    """
    return resample(x, sr, rate) if sr > rate else np.asarray(x, dtype=np.float64)


def hum_presence(x: np.ndarray, sr: int, min_snr_db: float = 12.0, max_harmonic: int = 7,
                 resolution_hz: float = 0.25) -> dict:
    """Find 50/60 Hz hum: harmonics whose narrow peak stands `min_snr_db` above their neighbourhood.

    Parameters: Welch spectrum at `resolution_hz` (0.25 Hz; recordings shorter than
    1/`resolution_hz` seconds or than 1 s use what they have, or report no hum); for
    each base (50, 60 Hz) the harmonics up to `max_harmonic` (7) below 0.45*sr whose
    peak (+-0.6 Hz) stands `min_snr_db` (12 dB) above the median of the ring 2-6 Hz
    away; the base with the larger summed SNR wins.
    Returns {"base": 50|60|None, "harmonics": [(freq, snr_db), ...] best first}.
    Misses: hum weaker than `min_snr_db` over its neighbourhood, hum removed by the
    codec (telephone band-pass, noise suppression).
    """
    nper = min(x.size, int(sr / resolution_hz))
    if nper < sr:
        return {"base": None, "harmonics": []}
    f, p = signal.welch(x, sr, nperseg=nper, noverlap=nper // 2)
    best: dict = {"base": None, "harmonics": []}
    for base in (50.0, 60.0):
        found = []
        for k in range(1, max_harmonic + 1):
            fk = base * k
            if fk > 0.45 * sr:
                break
            peak = p[np.abs(f - fk) <= 0.6].max()
            ring = p[(np.abs(f - fk) >= 2.0) & (np.abs(f - fk) <= 6.0)]
            snr = float(db(peak) - db(np.median(ring)))
            if snr >= min_snr_db:
                found.append((fk, round(snr, 1)))
        if sum(s for _, s in found) > sum(s for _, s in best["harmonics"]):
            best = {"base": base, "harmonics": sorted(found, key=lambda h: -h[1])}
    return best


def enf_phase_track(x: np.ndarray, sr: int, freq: float, n_grid: int, bandwidth_hz: float = 4.0,
                    trend_s: float = 0.6, step_window_s: float = 0.2, reliable: tuple[float, float] = (0.5, 2.0),
                    side_s: float = 0.3) -> np.ndarray:
    """Robust z of a discontinuity of the hum component at `freq` (phase step, dip or level change).

    Complex demodulation at `freq` (Hz), zero-phase Butterworth low-pass
    (`bandwidth_hz`, 4 Hz), one value per grid cell. Three terms are added:
    * phase step: the cell-to-cell phase advance minus its running median over
      `trend_s` (0.6 s; the slow ENF wander), summed over `step_window_s` (0.2 s), so
      a jump (a cut removes 2*pi*f*L mod 2*pi of phase) shows as one peak even when a
      crossfade smears it. Counted only where the hum amplitude is within `reliable`
      (0.5..2) times its median over the recording: where speech swamps the band, or
      the hum is gone, the phase is noise;
    * dip: a brief amplitude dip between two normal stretches (`side_s`, 0.3 s, away),
      what a crossfade between out-of-phase hum leaves;
    * level change: the log-amplitude difference between the `side_s` left and right
      (audio from a recording without this hum inserted).
    `x` should already be at a low rate (see `hum_band`). The first and last
    `trend_s` seconds (filter settling) are not scored.
    """
    n = np.arange(x.size)
    base = x * np.exp(-2j * np.pi * freq * n / sr)
    sos = signal.butter(4, bandwidth_hz, fs=sr, output="sos")
    z = signal.sosfiltfilt(sos, base.real) + 1j * signal.sosfiltfilt(sos, base.imag)
    z = z[:: max(1, int(round(sr * GRID_S)))]
    if z.size < 50:
        return np.zeros(n_grid)
    rel = np.abs(z) / (np.median(np.abs(z)) + 1e-12)
    ok = (rel >= reliable[0]) & (rel <= reliable[1])
    dphi = np.concatenate([[0.0], np.angle(z[1:] * np.conj(z[:-1]))])
    trend = ndimage.median_filter(dphi, size=int(trend_s / GRID_S) | 1, mode="nearest")
    w = int(step_window_s / GRID_S) | 1
    step = np.abs(np.convolve(dphi - trend, np.ones(w), "same"))
    step *= ndimage.minimum_filter1d(ok.astype(np.uint8), w, mode="nearest")
    side = int(side_s / GRID_S)
    padded = np.pad(rel, side, mode="edge")
    left, right = padded[: rel.size], padded[2 * side:]
    sides_ok = (np.minimum(left, right) >= reliable[0]) & (np.maximum(left, right) <= reliable[1])
    dip = np.clip(1 - ndimage.minimum_filter1d(rel, w, mode="nearest") / np.minimum(left, right), 0, 1) * sides_ok
    log_left, log_right, full = side_means(np.log(np.maximum(rel, 1e-3)), side)
    change = np.abs(log_left - log_right) * full
    z_v = robust_z(step + np.pi * dip + change)
    settle = int(trend_s / GRID_S)
    z_v[:settle] = 0
    z_v[max(0, z_v.size - settle):] = 0
    track = np.zeros(n_grid)
    track[: min(n_grid, z_v.size)] = z_v[:n_grid]
    return track


def enf_track(x: np.ndarray, sr: int, n_grid: int) -> tuple[np.ndarray | None, dict]:
    """Mains-hum discontinuity at the lowest hum harmonic; None when `hum_presence` finds no hum.

    Returns (track or None, hum_presence's result). The lowest harmonic (normally the
    50/60 Hz fundamental) lies below the voice's pitch, so speech disturbs it least:
    on the tamper set's clean controls the higher harmonics reached z = 18 in speech,
    the fundamental at most 7. A cut of length L shifts the k-th harmonic by k times
    the fundamental's jump, so the higher ones add no cut that the fundamental misses.
    Catches: cuts anywhere (also in pauses, also crossfaded) in recordings with audible
    mains hum; inserted audio recorded elsewhere (hum phase jump or hum level change).
    Misses: recordings without hum (most digital VoIP calls), cuts whose length
    is within a few per cent of a whole number of hum periods, hum removed by the codec.
    """
    low = hum_band(x, sr)
    rate = min(sr, ENF_RATE)
    presence = hum_presence(low, rate)
    if presence["base"] is None:
        return None, presence
    lowest = min(f for f, _ in presence["harmonics"])
    return enf_phase_track(low, rate, lowest, n_grid), presence
