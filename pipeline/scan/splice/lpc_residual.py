"""LPC-residual detector: impulsive prediction-error spikes where the waveform jumps.

Supporting evidence only (fusion.SUPPORT): real recordings reach z 35 in clean
speech and z 203 on a real conversational clip (clipping, codec glitches), while
real hard cuts scored z 2-27, so it cannot flag on its own. A hard cut inside speech
in a recording without mains hum is found by no detector of the package (0 of 18 on
the tamper sets): the LPC residual of the fixture speech has glottal pulses and
onsets as strong as such a cut. Tried and dropped for those cuts (no separation on
the tamper set): a pitch-period continuity test for cuts inside voiced speech (the
synthetic fixture speech has as many natural period breaks as the cuts make).
Pure function over samples; no decoding, no thresholds.
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pipeline.scan.splice.grid import GRID_S, db, resample, robust_z

LPC_RATE = 8000           # LPC residual rate: a waveform jump shows in the telephone band


def _lpc(frames: np.ndarray, order: int) -> np.ndarray:
    """LPC polynomials [1, a1..a_order] of each windowed frame (Levinson-Durbin, vectorised).

    Frames with no energy get [1, 0, ...] (their residual is the signal itself, and
    it is silent). The autocorrelation's zero lag is raised by 0.01 % for stability.
    """
    n, size = frames.shape
    r = np.stack([(frames[:, : size - k] * frames[:, k:]).sum(axis=1) for k in range(order + 1)], axis=1)
    live = r[:, 0] > 1e-10
    r[:, 0] *= 1.0001
    a = np.zeros((n, order + 1))
    a[:, 0] = 1.0
    err = np.where(live, r[:, 0], 1.0)
    for i in range(1, order + 1):
        acc = r[:, i] + sum(a[:, j] * r[:, i - j] for j in range(1, i))
        k = np.where(live, -acc / err, 0.0)
        a[:, 1:i] = a[:, 1:i] + k[:, None] * a[:, i - 1:0:-1]
        a[:, i] = k
        err = err * (1 - k ** 2)
    return a


def _lpc_spikes(x: np.ndarray, size: int, order: int, lo: int, hi: int, kernel: int) -> np.ndarray:
    """|residual - running median| over frames lo..hi, each frame with its own LPC model.

    e[t] = sum_k a_k x[t - k]; a frame's first samples take their history from the
    previous frame, as when filtering the whole signal.
    """
    fr = x[lo * size: hi * size].reshape(hi - lo, size)
    coeffs = _lpc(fr * np.hanning(size), order)
    start = lo * size - order
    history = x[max(0, start): lo * size]
    padded = np.concatenate([np.zeros(order - history.size), history, x[lo * size: hi * size]])
    length = (hi - lo) * size
    err = sum(coeffs[:, k, None] * padded[order - k: order - k + length].reshape(hi - lo, size)
              for k in range(order + 1)).ravel()
    return np.abs(err - ndimage.median_filter(err, size=kernel))


def lpc_residual_track(x: np.ndarray, sr: int, n_grid: int, order: int = 3, frame_s: float = 0.032,
                       kernel: int = 7, energy_db: float = -60.0, block_frames: int = 4096) -> np.ndarray:
    """Robust z of the largest impulsive LPC-residual sample per 10 ms cell.

    The idea of Essentia's DiscontinuityDetector, reimplemented: a low-order
    (`order`, 3) LPC model per `frame_s` (32 ms) frame predicts the waveform, after
    resampling to LPC_RATE (8 kHz) when `sr` is higher; a discontinuity leaves an
    isolated spike in the prediction error, which survives subtracting a `kernel`
    (7)-sample running median of the error while smooth (voiced) error does not. Each
    spike is divided by the frame's robust error scale; frames quieter than
    `energy_db` (-60 dBFS) are skipped. `block_frames` (4096) frames are processed at
    a time (bounded memory on hour-long recordings; no effect on the result).
    Catches: hard cuts inside speech or tone where the waveform jumps, clicks of
    butt-spliced edits, dropped codec frames in PCM/G.711.
    Misses: cuts at zero crossings or in silence, crossfaded edits, and much of
    a hard cut once a lossy codec (GSM, low-rate MP3) has smoothed the waveform;
    plosive bursts can look similar (hence supporting only).
    """
    if sr > LPC_RATE:
        x, sr = resample(x, sr, LPC_RATE), LPC_RATE
    size = int(frame_s * sr)
    n = x.size // size
    if n < 4:
        return np.zeros(n_grid)
    norm = np.empty(n * size, dtype=np.float32)
    for b0 in range(0, n, block_frames):  # bounded memory on hour-long recordings
        b1 = min(n, b0 + block_frames)
        lo, hi = max(0, b0 - 1), min(n, b1 + 1)  # one frame of context for the median filter
        spike = _lpc_spikes(x, size, order, lo, hi, kernel)
        fr = x[lo * size: hi * size].reshape(hi - lo, size)
        blocks = spike.reshape(hi - lo, size)
        scale = np.maximum.reduce([np.median(blocks, axis=1) * 1.4826,
                                   0.2 * np.sqrt(np.mean(blocks ** 2, axis=1)), np.full(hi - lo, 1e-4)])
        part = blocks / scale[:, None]
        part[db(np.mean(fr ** 2, axis=1)) < energy_db] = 0
        norm[b0 * size: b1 * size] = part[b0 - lo: b1 - lo].ravel()
    cell = int(GRID_S * sr)
    m = norm.size // cell
    pooled = norm[: m * cell].reshape(m, cell).max(axis=1)
    track = np.zeros(n_grid)
    track[: min(m, n_grid)] = robust_z(pooled)[:n_grid]
    return track
