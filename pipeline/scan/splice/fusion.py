"""Splice fusion: all detectors' curves on the common grid, and the decision made from them.

The one module that decides. score_tracks runs every detector over every channel
(the curves, like librosa's onset_strength); fuse divides each primary curve by its
calibrated threshold and takes the maximum, nudged by supporting evidence; pick_peaks
and candidates turn the fused curve into splice candidates (the peak picker, like
librosa's peak_pick). Thresholds and support levels live here and nowhere else.
No decoding, no files (the stage supplies the samples).

Adding a detector: a module with a `*_track(x, sr, n_grid)` function, a line in
_primary_tracks or _supporting_tracks, and its threshold in THRESHOLDS (primary) or
SUPPORT/SUPPORT_Z (supporting).
"""

from __future__ import annotations

import numpy as np
from scipy import ndimage

from pipeline.scan.splice.broadband import broadband_track
from pipeline.scan.splice.dc_step import dc_step_track
from pipeline.scan.splice.enf import enf_track
from pipeline.scan.splice.g711 import g711_grid_track
from pipeline.scan.splice.grid import GRID_S
from pipeline.scan.splice.lpc_residual import lpc_residual_track
from pipeline.scan.splice.noise_floor import noise_floor_track
from pipeline.scan.splice.pause_step import pause_step_track
from pipeline.scan.splice.silence import digital_silence_track

EDGE_S = 0.35            # first/last seconds ignored (encoder priming, fades)
PEAK_GAP_S = 1.0         # at most one candidate per this many seconds

# Fused-score thresholds: the value at which each detector alone raises a flag. Calibrated
# for zero false alarms on genuine real speech (fixtures/real, every recording in every
# archive codec of fixtures/tamper.REAL_CHAINS) and on the synthetic clean controls;
# tests/test_splice_tamper.py keeps the margins.
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


def _primary_tracks(x: np.ndarray, sr: int, n_grid: int) -> tuple[dict[str, np.ndarray | None], dict]:
    """One channel's primary curves (None: the detector does not apply) and what they found out."""
    grid, ginfo = g711_grid_track(x, sr, n_grid)
    enf, presence = enf_track(x, sr, n_grid)
    return ({"g711_grid": grid, "pause_step": pause_step_track(x, sr, n_grid), "enf": enf},
            {"g711": ginfo, "hum": presence})


def _supporting_tracks(x: np.ndarray, sr: int, n_grid: int) -> dict[str, np.ndarray]:
    """One channel's supporting curves (the keys of SUPPORT)."""
    return {"noise_floor": noise_floor_track(x, sr, n_grid), "broadband": broadband_track(x, sr, n_grid),
            "lpc_residual": lpc_residual_track(x, sr, n_grid), "dc_step": dc_step_track(x, sr, n_grid),
            "digital_silence": digital_silence_track(x, sr, n_grid)}


def score_tracks(samples: np.ndarray, sr: int) -> tuple[dict[str, np.ndarray], dict]:
    """All primary and supporting tracks (robust z, per grid cell), max over channels.

    `samples` is (channels, n) at `sr`. Returns the tracks by detector name and, per
    channel, what the primary detectors found out ({"channel_0": {"g711", "hum"}}).
    Supporting tracks only count where a primary detector reaches SUPPORT_GATE, so
    they are computed only when one does: a clean recording skips them (on a 10-min
    call that is about 40 % of this stage's time).
    """
    n_grid = int(samples.shape[1] / sr / GRID_S) + 1
    tracks: dict[str, np.ndarray] = {}
    context: dict = {}

    for ch, channel in enumerate(samples):
        found, context[f"channel_{ch}"] = _primary_tracks(channel.astype(np.float64), sr, n_grid)
        for name, track in found.items():
            _keep_max(tracks, name, track)
    _zero_edges(tracks, n_grid)
    if not tracks or fuse(tracks).max() < SUPPORT_GATE:
        return tracks, context
    supporting: dict[str, np.ndarray] = {}
    for channel in samples:
        for name, track in _supporting_tracks(channel.astype(np.float64), sr, n_grid).items():
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
