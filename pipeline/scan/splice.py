"""Splice stage: find places where a recording may have been cut or had audio inserted.

Complaint recordings must be unedited. This stage runs training-free signal
detectors, each producing a score track on a common 10 ms grid, each normalised
against the recording's own statistics (robust z-score: (v - median) / (1.4826 MAD)),
divides each by its calibrated threshold and fuses them by the maximum. Every local
maximum of the fused track at or above 1.0 (one per second at most) is a splice
candidate. A candidate is for human review, never proof of tampering.

Primary detectors (one small function each; parameters and blind spots in their
docstrings):

* ``duration_mismatch``   container duration vs decoded sample count
* ``g711_grid_track``     G.711 audio kept as PCM/FLAC: edges of off-grid stretches
* ``pause_step_track``    background step between the two halves of a pause (inserts)
* ``enf_track``           mains-hum phase discontinuity, only when hum is present

Supporting evidence only (never raise a flag on their own; see SUPPORT for the figures):
``lpc_residual_track`` (LPC-residual impulses: real speech and real line glitches score
as high as cuts), ``digital_silence_runs`` and ``dc_step_track`` (VoIP comfort noise and
recorder silence compression produce them in genuine calls), ``broadband_track``
(broadband burst in short STFT frames) and ``noise_floor_track`` (background floor /
colour change point), which fire on clean calls at the levels where they would catch
anything.

On real speech (fixtures/real, README "Splices") these detectors find few edits: an
insert from another quiet recording, a hard cut inside speech and a crossfaded cut in
a pause leave no background step, hum or grid trace there. The thresholds are set so
that genuine recordings raise no flag, the first requirement for a flag on a complaint
recording to mean anything.

Not found by any detector here: a hard cut inside speech in a recording without
mains hum (0 of 18 on the tamper sets; the LPC residual of the fixture speech has
glottal pulses and onsets as strong as such a cut). Not implemented: MP3 frame-grid
(1152/576-sample) continuity analysis. Tried and dropped (no separation on the tamper
set): a pitch-period continuity test for cuts inside voiced speech (the synthetic
fixture speech has as many natural period breaks as the cuts make), an instantaneous
spectral-change contrast (20 ms before vs after t, both loud, minus each side's change
against its neighbour: 0-20 at the cuts, up to 41 in clean speech), and recompression
consistency (re-encode the decoded file with its own codec on its frame grid and half a
frame off, per 10 ms error ratio: after a GSM cut the aligned gain drops by 1-2 dB, but
only measurable over seconds and clean files drift as much; in MP3 the first encoding's
grid shows, 0.8 dB, only at the exact shifted offset, i.e. up to 576 trial encodes).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy import ndimage, signal

from pipeline.core.errors import InputError
from pipeline.scan.decode import MAX_DURATION_S, Audio, RecordingInfo, decode

GRID_S = 0.01            # common time grid of all score tracks
EDGE_S = 0.35            # first/last seconds ignored (encoder priming, fades)
PEAK_GAP_S = 1.0         # at most one candidate per this many seconds
MAX_ANALYSIS_RATE = 16000
ENF_RATE = 1000           # hum analysis rate (hum harmonics used lie below 500 Hz)
LPC_RATE = 8000           # LPC residual rate: a waveform jump shows in the telephone band

# Fused-score thresholds: the value at which each detector alone raises a flag. Calibrated
# for zero false alarms on genuine real speech (fixtures/real, every recording in every
# archive codec of fixtures/tamper.REAL_CHAINS) and on the synthetic clean controls;
# tests/test_splice.py keeps the margins.
THRESHOLDS = {
    "duration": 1.0,
    "g711_grid": 4.0,         # off-grid samples per 20 ms; genuine G.711 archives score 0
    "pause_step": 8.0,        # dB, not a z-score (see pause_step_track); real clean max 5.8 (a breath)
    "enf": 8.5,               # real clean max 4.3 (only where hum_presence finds hum)
}
# Supporting evidence only (never a flag on its own):
# * the LPC residual: real recordings reach z 35 in clean speech (35 % below the synthetic
#   calibration's threshold of 45) and z 203 on a real conversational clip (clipping, codec
#   glitches), while real hard cuts scored z 2-27;
# * broadband bursts and the noise-floor change point: on the synthetic tamper set they
#   found one splice (of 60) that the others missed, while clean fixture calls reached
#   z = 26 (speech onsets out of digital silence) and z = 13.2 (GSM call);
# * digital silence and DC steps, which VoIP comfort noise and recorders make in genuine calls.
SUPPORT = ("digital_silence", "dc_step", "broadband", "noise_floor", "lpc_residual")
SUPPORT_Z = {"dc_step": 6.0, "broadband": 8.0, "noise_floor": 13.0, "lpc_residual": 45.0}
SUPPORT_GATE = 0.6  # supporting evidence only nudges where a primary detector already reaches this
HEADERLESS_CONTAINERS = frozenset({"amr"})


@dataclass(frozen=True)
class SpliceOptions:
    """thresholds: the fused-score level at which each primary detector alone flags (THRESHOLDS)."""

    thresholds: dict[str, float] = field(default_factory=lambda: dict(THRESHOLDS))


# --------------------------------------------------------------------------- #
# helpers
# --------------------------------------------------------------------------- #
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


def _band_powers(x: np.ndarray, size: int, hop: int, masks: list[np.ndarray],
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


def _resample(x: np.ndarray, sr: int, rate: int) -> np.ndarray:
    """`x` at `rate` (polyphase, anti-aliased)."""
    g = np.gcd(int(sr), int(rate))
    return signal.resample_poly(np.asarray(x, dtype=np.float64), rate // g, sr // g)


def _db(p: np.ndarray) -> np.ndarray:
    return 10 * np.log10(np.maximum(p, 1e-12))


# --------------------------------------------------------------------------- #
# 1. container / codec integrity
# --------------------------------------------------------------------------- #
def duration_mismatch(declared_s: float, decoded_s: float, tolerance_s: float = 0.5,
                      tolerance_rel: float = 0.02) -> float:
    """Score (>= 1 flags) for a container duration that disagrees with the decoded length.

    Parameters: `tolerance_s` absolute and `tolerance_rel` relative slack (MP3/AAC
    encoder delay and padding, header estimates from the bit rate).
    Catches: a file cut with a byte editor or re-muxed without fixing the header.
    Misses: any edit done on decoded audio and re-encoded (the header is rewritten),
    and it cannot say *where* the missing audio was (the flag is placed at the end).
    """
    if declared_s <= 0 or decoded_s <= 0:
        return 0.0
    slack = max(tolerance_s, tolerance_rel * max(declared_s, decoded_s))
    return abs(declared_s - decoded_s) / slack


def g711_tables() -> dict[str, np.ndarray]:
    """Sorted sets of the 16-bit values a G.711 decoder can produce (ITU-T G.711, as ffmpeg decodes)."""
    mu, al = [], []
    for code in range(256):
        u = ~code & 0xFF
        t = (((u & 0x0F) << 3) + 0x84) << ((u & 0x70) >> 4)
        mu.append(0x84 - t if u & 0x80 else t - 0x84)
        a = code ^ 0x55
        seg, t = (a & 0x70) >> 4, a & 0x0F
        t = (t + t + 1 + 32) << (seg + 2) if seg else (t + t + 1) << 3
        al.append(t if a & 0x80 else -t)
    return {"mulaw": np.unique(mu), "alaw": np.unique(al)}


def g711_grid_track(x: np.ndarray, sr: int, n_grid: int, min_on_grid: float = 0.6,
                    window_s: float = 0.02, side_s: float = 0.05) -> tuple[np.ndarray | None, dict]:
    """Change in the off-grid sample rate at each point, when the file is G.711 audio stored as PCM.

    Parameters: the recording counts as G.711-derived when at least `min_on_grid`
    of its samples of magnitude >= 256 (at 8 kHz, as int16) are mu-law or A-law
    decoder outputs (there the grid steps are 16 or more, so a linear-PCM recording
    has at most about one in 16 on it by chance, while a G.711 archive with seconds of
    inserted non-G.711 audio still has most on it; quieter samples and digital
    silence sit on a dense grid and would mislead). The track is the difference between the off-grid samples per
    `window_s` (20 ms) in the `side_s` just left and just right of each point, so it
    peaks at the edges of an off-grid stretch: both ends of an insert, and a
    crossfade (threshold 4 samples).
    Catches: crossfades, gain changes, inserted audio from another source and any
    resampling around one spot of a G.711 call archived as PCM/FLAC.
    Misses: a pure hard cut of grid samples (every sample stays on the grid); files
    re-encoded with a lossy codec (the grid is gone) or converted back to G.711.
    """
    if sr != 8000 or x.size < sr:
        return None, {}
    pcm = np.round(np.clip(x, -1, 1) * 32768).astype(np.int32)
    best_law, best_on, best_mask = None, 0.0, None
    sparse = np.abs(pcm) >= 256
    for law, table in g711_tables().items():
        pos = np.clip(np.searchsorted(table, pcm), 0, table.size - 1)
        on = table[pos] == pcm
        share = float(on[sparse].mean()) if sparse.any() else 0.0
        if share > best_on:
            best_law, best_on, best_mask = law, share, on
    info = {"law": best_law, "on_grid": round(best_on, 4)}
    if best_on < min_on_grid:
        return None, info
    cell = int(GRID_S * sr)
    m = x.size // cell
    off_per_cell = (~best_mask)[: m * cell].reshape(m, cell).sum(axis=1).astype(float)
    left, right, _ = _side_means(off_per_cell, max(1, int(side_s / GRID_S)))
    track = np.zeros(n_grid)
    track[: min(n_grid, m)] = (np.abs(left - right) * window_s / GRID_S)[:n_grid]
    return track, info


# --------------------------------------------------------------------------- #
# 2. background noise / channel change point
# --------------------------------------------------------------------------- #
def noise_floor_track(x: np.ndarray, sr: int, n_grid: int, frame_s: float = 0.032,
                      window_s: float = 1.5, step_s: float = 0.05, local_s: float = 0.8,
                      noise_margin_db: float = 4.0, min_frames: int = 6, max_frames: int = 20,
                      n_bands: int = 6, silence_db: float = -90.0, min_scale_db: float = 2.0,
                      clamp_db: float = 20.0) -> np.ndarray:
    """Robust z of the left/right difference of the per-band noise floor.

    Parameters: `frame_s` STFT frames (Hann, half overlap) summed into `n_bands`
    log-spaced bands between 150 Hz and 0.45*sr. Noise-only frames are those within
    `noise_margin_db` of the minimum level over +-`local_s` (minimum statistics, so
    speech frames do not count). At every `step_s` the floor of each band is its
    median over the `max_frames` noise-only frames nearest to the point on its left
    and on its right, scored where at least `min_frames` of them lie within
    `window_s` on each side; the distance is the
    mean absolute band difference plus the spread of the differences across bands
    (a change of spectral colour). Digitally silent frames (< `silence_db`) are
    left out, so recorder silence compression does not register, and band levels are
    clamped `clamp_db` below their median (lossy codecs zero quiet bands).
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
    edges = np.geomspace(150, 0.45 * sr, n_bands + 1)
    bands, power = _band_powers(x, size, hop, [(freqs >= lo) & (freqs < hi)
                                               for lo, hi in zip(edges[:-1], edges[1:])])
    logb = _db(bands)
    # lossy codecs zero quiet bands in some frames: clamp each band `clamp_db` below its median
    logb = np.maximum(logb, np.median(logb, axis=0) - clamp_db)
    total = _db(power / size)
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


def pause_step_track(x: np.ndarray, sr: int, n_grid: int, frame_s: float = 0.02, side_s: float = 0.25,
                     n_bands: int = 6, stationary_db: float = 6.0, above_floor_db: float = 16.0,
                     below_speech_db: float = 12.0, silence_db: float = -90.0, clamp_db: float = 25.0) -> np.ndarray:
    """Background step inside a pause: band-level difference (dB) of the `side_s` just left and right of t.

    Parameters: `frame_s` Hann frames on the 10 ms grid, summed into `n_bands`
    log-spaced bands between 150 Hz and 0.45*sr. A point is scored only when both
    sides are stationary background (the 10th..90th percentile spread of each band's
    level on that side, averaged over the bands, is at most `stationary_db`: speech
    changes its spectrum from frame to frame, steady noise does not), i.e. the point lies in a pause
    with at least `side_s` of pause on each side; and both sides lie within
    `above_floor_db` of the recording's background level (10th percentile of the
    live frame levels) or `below_speech_db` under its speech level (90th percentile;
    a louder line inserted into a quiet call), so steady speech does not count as
    background; the value is the mean absolute
    difference of the per-band median levels. Within one genuine pause that is a dB
    or two; audio from another call, line or handset joined in a pause steps by
    the difference of the two backgrounds. Digitally silent frames do not count as
    stationary background; band levels are clamped `clamp_db` below their median.
    Catches: inserts and cuts joined in pauses where the two sides' background
    differs (level or colour), to within a frame.
    Misses: joins inside speech or with less than `side_s` of pause on either side,
    and joins between parts with the same background (a cut within one call).
    """
    size = int(frame_s * sr)
    hop = int(GRID_S * sr)
    side = int(side_s / GRID_S)
    if x.size < size + hop * (2 * side + 4):
        return np.zeros(n_grid)
    freqs = np.fft.rfftfreq(size, 1 / sr)
    edges = np.geomspace(150, 0.45 * sr, n_bands + 1)
    bands, power = _band_powers(x, size, hop, [(freqs >= lo) & (freqs < hi)
                                               for lo, hi in zip(edges[:-1], edges[1:])])
    logb, total = _db(bands), _db(power / size)
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


# --------------------------------------------------------------------------- #
# 3. local waveform / spectral discontinuity
# --------------------------------------------------------------------------- #
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
    (`order`) LPC model per `frame_s` frame predicts the waveform; a discontinuity
    leaves an isolated spike in the prediction error, which survives subtracting a
    `kernel`-sample running median of the error while smooth (voiced) error does
    not. Each spike is divided by the frame's robust error scale; frames quieter
    than `energy_db` dBFS are skipped.
    Catches: hard cuts inside speech or tone where the waveform jumps, clicks of
    butt-spliced edits, dropped codec frames in PCM/G.711.
    Misses: cuts at zero crossings or in silence, crossfaded edits, and much of
    a hard cut once a lossy codec (GSM, low-rate MP3) has smoothed the waveform;
    plosive bursts can look similar (hence the high threshold).
    """
    if sr > LPC_RATE:
        x, sr = _resample(x, sr, LPC_RATE), LPC_RATE
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
        part[_db(np.mean(fr ** 2, axis=1)) < energy_db] = 0
        norm[b0 * size: b1 * size] = part[b0 - lo: b1 - lo].ravel()
    cell = int(GRID_S * sr)
    m = norm.size // cell
    pooled = norm[: m * cell].reshape(m, cell).max(axis=1)
    track = np.zeros(n_grid)
    track[: min(m, n_grid)] = robust_z(pooled)[:n_grid]
    return track


def broadband_track(x: np.ndarray, sr: int, n_grid: int, frame_s: float = 0.004,
                    context_s: float = 0.06, low_hz: float = 1000.0, high_frac: float = 0.45,
                    n_bands: int = 3, energy_db: float = -65.0) -> np.ndarray:
    """Robust z of a one-frame broadband energy burst in short STFT frames.

    Parameters: `frame_s` (4 ms) Hann frames with half overlap; energy in `n_bands`
    bands between `low_hz` and `high_frac`*sr; each band's log energy minus its
    running median over +-`context_s`; the burst is the *smallest* excess over the
    bands (a click raises all bands at once, a fricative or a vowel onset raises
    only some) and it must fall back within a few frames.
    Catches: hard cuts in speech and butt-spliced inserts (spectral leakage of the
    waveform jump), also after G.711 and moderate MP3.
    Misses: crossfaded cuts, cuts in silence or at low amplitude, edits smeared by
    GSM; plosive bursts are the main source of false alarms.
    """
    size = max(16, int(frame_s * sr))
    hop = size // 2
    if x.size < size * 50:
        return np.zeros(n_grid)
    freqs = np.fft.rfftfreq(size, 1 / sr)
    edges = np.geomspace(low_hz, high_frac * sr, n_bands + 1)
    masks = []
    for lo, hi in zip(edges[:-1], edges[1:]):
        sel = (freqs >= lo) & (freqs < hi)
        if not sel.any():
            sel = np.abs(freqs - (lo + hi) / 2) == np.min(np.abs(freqs - (lo + hi) / 2))
        masks.append(sel)
    bands, power = _band_powers(x, size, hop, masks)
    logb = _db(bands)
    ctx = max(3, int(context_s / (hop / sr)))
    # the running median is taken on every 4th frame: a baseline over +-`context_s` needs no more
    coarse = ndimage.median_filter(logb[::4], size=(2 * (ctx // 4) + 1, 1), mode="nearest")
    med = np.repeat(coarse, 4, axis=0)[: logb.shape[0]]
    excess = (logb - med).min(axis=1)
    # transient: the excess must not persist (a fricative/vowel stays high for > 20 ms)
    persist = ndimage.minimum_filter1d(excess, size=max(3, int(0.02 / (hop / sr))), mode="nearest")
    burst = excess - np.maximum(persist, 0)
    total = _db(power / size)
    burst[total < energy_db] = 0
    times = (np.arange(burst.size) * hop + size / 2) / sr
    return to_grid(robust_z(burst), times, n_grid)


# --------------------------------------------------------------------------- #
# 4. mains hum (ENF)
# --------------------------------------------------------------------------- #
def hum_band(x: np.ndarray, sr: int, rate: int = ENF_RATE) -> np.ndarray:
    """The signal resampled to `rate` (1 kHz): everything the hum analysis needs, 1/8-1/16 of the samples.

    Mains hum and the harmonics looked at (up to 420 Hz) lie below `rate`/2; working
    at 1 kHz keeps the demodulation and its filters cheap in time and memory on
    hour-long recordings.
    """
    return _resample(x, sr, rate) if sr > rate else np.asarray(x, dtype=np.float64)


def hum_presence(x: np.ndarray, sr: int, min_snr_db: float = 12.0, max_harmonic: int = 7,
                 resolution_hz: float = 0.25) -> dict:
    """Find 50/60 Hz hum: harmonics whose narrow peak stands `min_snr_db` above their neighbourhood.

    Returns {"base": 50|60|None, "harmonics": [(freq, snr_db), ...] best first}.
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
            snr = float(_db(peak) - _db(np.median(ring)))
            if snr >= min_snr_db:
                found.append((fk, round(snr, 1)))
        if sum(s for _, s in found) > sum(s for _, s in best["harmonics"]):
            best = {"base": base, "harmonics": sorted(found, key=lambda h: -h[1])}
    return best


def _side_means(v: np.ndarray, side: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean of `v` over the `side` cells left and right of each cell, and how full each side is (0..1)."""
    c = np.concatenate([[0.0], np.cumsum(v)])
    idx = np.arange(v.size)
    lo, hi = np.clip(idx - side, 0, v.size), np.clip(idx + side, 0, v.size)
    left = (c[idx] - c[lo]) / np.maximum(idx - lo, 1)
    right = (c[hi] - c[idx]) / np.maximum(hi - idx, 1)
    return left, right, np.minimum(idx - lo, hi - idx) / side


def enf_phase_track(x: np.ndarray, sr: int, freq: float, n_grid: int, bandwidth_hz: float = 4.0,
                    trend_s: float = 0.6, step_window_s: float = 0.2, reliable: tuple[float, float] = (0.5, 2.0),
                    side_s: float = 0.3) -> np.ndarray:
    """Robust z of a discontinuity of the hum component at `freq` (phase step, dip or level change).

    Complex demodulation at `freq`, zero-phase Butterworth low-pass (`bandwidth_hz`),
    one value per grid cell. Three terms are added:
    * phase step: the cell-to-cell phase advance minus its running median over
      `trend_s` (the slow ENF wander), summed over `step_window_s`, so a jump (a cut
      removes 2*pi*f*L mod 2*pi of phase) shows as one peak even when a crossfade
      smears it. Counted only where the hum amplitude is within `reliable` times its
      median over the recording: where speech swamps the band, or the hum is gone,
      the phase is noise;
    * dip: a brief amplitude dip between two normal stretches (`side_s` away), what
      a crossfade between out-of-phase hum leaves;
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
    log_left, log_right, full = _side_means(np.log(np.maximum(rel, 1e-3)), side)
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

    The lowest harmonic (normally the 50/60 Hz fundamental) lies below the voice's
    pitch, so speech disturbs it least: on the tamper set's clean controls the higher
    harmonics reached z = 18 in speech, the fundamental at most 7. A cut of length L
    shifts the k-th harmonic by k times the fundamental's jump, so the higher ones
    add no cut that the fundamental misses.
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


# --------------------------------------------------------------------------- #
# supporting evidence
# --------------------------------------------------------------------------- #
def digital_silence_runs(x: np.ndarray, sr: int, min_s: float = 0.02) -> list[tuple[float, float]]:
    """Runs of at least `min_s` of exactly constant samples (digital silence / dropout).

    Supporting evidence only: silence compression and comfort-noise gaps make them in
    genuine VoIP calls.
    """
    same = np.concatenate([[False], np.diff(x) == 0, [False]])
    edges = np.diff(same.astype(np.int8))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    keep = (ends - starts) >= int(min_s * sr)
    return [(round(s / sr, 3), round(e / sr, 3)) for s, e in zip(starts[keep], ends[keep])]


def dc_step_track(x: np.ndarray, sr: int, n_grid: int, window_s: float = 0.5) -> np.ndarray:
    """Robust z of the difference of the mean (DC offset) over `window_s` left and right.

    Supporting evidence only: handsets and gain stages change DC offset in genuine calls.
    """
    cell = int(GRID_S * sr)
    m = x.size // cell
    means = x[: m * cell].reshape(m, cell).mean(axis=1)
    left, right, _ = _side_means(means, max(2, int(window_s / GRID_S)))
    track = np.zeros(n_grid)
    track[: min(m, n_grid)] = robust_z(np.abs(left - right))[:n_grid]
    return track


# --------------------------------------------------------------------------- #
# fusion
# --------------------------------------------------------------------------- #
def _analysis_audio(path: str, info: RecordingInfo, audio: Audio,
                    max_duration_s: float = MAX_DURATION_S) -> tuple[np.ndarray, int]:
    """Native-rate samples when the file is at most 16 kHz (G.711 grid needs them), else `audio`.

    Decoded under the same `max_duration_s` as the pipeline's audio (memory bound). Only
    a decoding failure falls back to `audio`; anything else is a bug and is raised.
    """
    native = info.sample_rate or audio.sample_rate
    if native == audio.sample_rate or native > MAX_ANALYSIS_RATE or native < 8000:
        return audio.samples, audio.sample_rate
    try:
        return decode(path, sample_rate=native, info=info, max_duration_s=max_duration_s).samples, native
    except InputError:
        return audio.samples, audio.sample_rate


def score_tracks(samples: np.ndarray, sr: int) -> tuple[dict[str, np.ndarray], dict]:
    """All primary and supporting tracks (robust z, per grid cell), max over channels.

    Supporting tracks only count where a primary detector reaches SUPPORT_GATE, so
    they are computed only when one does: a clean recording skips them (on a 10-min
    call that is about 40 % of this stage's time).
    """
    n_grid = int(samples.shape[1] / sr / GRID_S) + 1
    tracks: dict[str, np.ndarray] = {}
    context: dict = {}

    for ch, channel in enumerate(samples):
        x = channel.astype(np.float64)
        grid, ginfo = g711_grid_track(x, sr, n_grid)
        enf, presence = enf_track(x, sr, n_grid)
        for name, track in (("g711_grid", grid), ("pause_step", pause_step_track(x, sr, n_grid)), ("enf", enf)):
            _keep_max(tracks, name, track)
        context[f"channel_{ch}"] = {"g711": ginfo, "hum": presence}
    _zero_edges(tracks, n_grid)
    if not tracks or fuse(tracks).max() < SUPPORT_GATE:
        return tracks, context
    supporting: dict[str, np.ndarray] = {}
    for channel in samples:
        x = channel.astype(np.float64)
        silence = np.zeros(n_grid)
        for s, e in digital_silence_runs(x, sr):
            silence[int(s / GRID_S): int(e / GRID_S) + 1] = 1.0
        for name, track in (("noise_floor", noise_floor_track(x, sr, n_grid)),
                            ("broadband", broadband_track(x, sr, n_grid)),
                            ("lpc_residual", lpc_residual_track(x, sr, n_grid)),
                            ("dc_step", dc_step_track(x, sr, n_grid)), ("digital_silence", silence)):
            _keep_max(supporting, name, track)
    _zero_edges(supporting, n_grid)
    return {**tracks, **supporting}, context


def _keep_max(tracks: dict[str, np.ndarray], name: str, track: np.ndarray | None) -> None:
    """Merge one channel's track: a splice on either channel counts."""
    if track is not None:
        tracks[name] = np.maximum(tracks[name], track) if name in tracks else track


def _zero_edges(tracks: dict[str, np.ndarray], n_grid: int) -> None:
    """The first and last EDGE_S of every track carry no opinion (filters settling)."""
    edge = int(EDGE_S / GRID_S)
    for t in tracks.values():
        t[:edge] = 0
        t[max(0, n_grid - edge):] = 0


def fuse(tracks: dict[str, np.ndarray], thresholds: dict[str, float] = THRESHOLDS) -> np.ndarray:
    """Fused score per grid cell: max over primary detectors of z / threshold (1.0 = flag)."""
    primary = [np.clip(tracks[k], 0, None) / thresholds[k] for k in tracks if k in thresholds]
    if not primary:
        return np.zeros(next(iter(tracks.values())).size if tracks else 0)
    fused = np.max(primary, axis=0)
    # supporting evidence: a nudge (never more than 20 %) where a primary detector already leans
    support = np.zeros_like(fused)
    for name, z in SUPPORT_Z.items():
        if name in tracks:
            support += 0.05 * (tracks[name] >= z)
    if "digital_silence" in tracks:
        near = ndimage.maximum_filter1d(tracks["digital_silence"], int(0.2 / GRID_S) | 1)
        support += 0.05 * (near > 0)
    return fused + support * (fused >= SUPPORT_GATE)


def pick_peaks(fused: np.ndarray, level: float = 1.0, gap_s: float = PEAK_GAP_S) -> list[int]:
    """Grid indices of local maxima >= level, strongest first, at least gap_s apart."""
    order = np.argsort(fused)[::-1]
    chosen: list[int] = []
    gap = int(gap_s / GRID_S)
    for i in order:
        if fused[i] < level:
            break
        if all(abs(i - j) >= gap for j in chosen):
            chosen.append(int(i))
    return sorted(chosen)


def candidates(tracks: dict[str, np.ndarray], thresholds: dict[str, float] = THRESHOLDS,
               level: float = 1.0) -> list[dict]:
    """Splice candidates (fused score >= level) with the detectors that support each."""
    fused = fuse(tracks, thresholds)
    out = []
    near = int(0.25 / GRID_S)
    for i in pick_peaks(fused, level):
        lo, hi = max(0, i - near), i + near + 1
        evidence = {}
        for name, track in tracks.items():
            peak = float(track[lo:hi].max())
            norm = peak / thresholds[name] if name in thresholds else None
            evidence[name] = {"z": round(peak, 2)} | ({"score": round(norm, 3)} if norm is not None else {})
        detectors = [n for n in thresholds if n in evidence and evidence[n]["score"] >= 1.0]
        if not detectors:
            detectors = [max((n for n in thresholds if n in evidence), key=lambda n: evidence[n]["score"])]
        out.append({"time": round(i * GRID_S, 2), "score": round(float(fused[i]), 3),
                    "detectors": detectors, "evidence": evidence})
    return out


def detect_splices(path: str, info: RecordingInfo, audio: Audio, speech: list | None = None,
                   options: SpliceOptions = SpliceOptions(), max_duration_s: float = MAX_DURATION_S) -> list[dict]:
    """Splice candidates of one recording: [{"time", "score", "detectors", "evidence"}].

    `time` is seconds from the start, `score` the fused score (>= 1.0; the margin
    above 1 says how far the strongest detector went past its threshold).
    `speech` (the VAD segments) is recorded in the evidence (inside/outside speech);
    the detectors find non-speech frames themselves with minimum statistics.
    """
    samples, sr = _analysis_audio(path, info, audio, max_duration_s)
    tracks, context = score_tracks(np.atleast_2d(samples), sr)
    found = candidates(tracks, options.thresholds)
    decoded_s = samples.shape[-1] / sr
    # raw AMR has no length field: ffprobe guesses it from the bitrate, so a mismatch means nothing
    dur = 0.0 if info.container in HEADERLESS_CONTAINERS else duration_mismatch(info.duration_s, decoded_s)
    if dur >= options.thresholds["duration"]:
        found.append({"time": round(min(info.duration_s, decoded_s), 2), "score": round(dur, 3),
                      "detectors": ["duration"],
                      "evidence": {"duration": {"declared_s": info.duration_s,
                                                "decoded_s": round(decoded_s, 3), "score": round(dur, 3)}}})
    for cand in found:
        cand["evidence"]["in_speech"] = any(s.start <= cand["time"] <= s.end for s in speech or [])
        cand["evidence"]["context"] = context
    return sorted(found, key=lambda c: c["time"])


def splice_flags(splices: list[dict]) -> list[dict]:
    """One report flag per splice candidate (for human review, not proof of editing)."""
    flags = []
    for s in splices:
        flags.append({"problem": "splice", "rule": None, "start": s["time"], "end": s["time"], "channel": None,
                      "message": (f"possible edit at {s['time']:.2f} s (score {s['score']:.2f}; "
                                  f"{', '.join(s['detectors'])}); listen before concluding")})
    return flags
