"""G.711 grid detector: edits in a G.711 call that was archived as linear PCM or FLAC.

A G.711 decoder can only output 256 distinct 16-bit values; audio mixed, faded,
gain-changed or resampled after decoding leaves that grid. This module finds the
edges of off-grid stretches. Pure function over 8 kHz samples: no decoding (the
stage supplies native-rate samples), no thresholds (fusion's THRESHOLDS["g711_grid"]).

Codec-grid analysis not done here: MP3 frame-grid (1152/576-sample) continuity is
not implemented. Tried and dropped (no separation on the tamper set): recompression
consistency (re-encode the decoded file with its own codec on its frame grid and half
a frame off, per 10 ms error ratio: after a GSM cut the aligned gain drops by 1-2 dB,
but only measurable over seconds and clean files drift as much; in MP3 the first
encoding's grid shows, 0.8 dB, only at the exact shifted offset, i.e. up to 576 trial
encodes).
"""

from __future__ import annotations

import numpy as np

from pipeline.scan.splice.grid import GRID_S, side_means


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

    Returns (track or None, {"law": "mulaw"|"alaw"|None, "on_grid": share}); None when
    `sr` is not 8000 Hz, the audio is shorter than 1 s or it is not G.711-derived.
    Parameters: the recording counts as G.711-derived when at least `min_on_grid`
    (0.6) of its samples of magnitude >= 256 (at 8 kHz, as int16) are mu-law or A-law
    decoder outputs (there the grid steps are 16 or more, so a linear-PCM recording
    has at most about one in 16 on it by chance, while a G.711 archive with seconds of
    inserted non-G.711 audio still has most on it; quieter samples and digital
    silence sit on a dense grid and would mislead). The track is the difference between
    the off-grid samples per `window_s` (20 ms) in the `side_s` (50 ms) just left and
    just right of each point, so it peaks at the edges of an off-grid stretch: both
    ends of an insert, and a crossfade (threshold 4 samples).
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
    left, right, _ = side_means(off_per_cell, max(1, int(side_s / GRID_S)))
    track = np.zeros(n_grid)
    track[: min(n_grid, m)] = (np.abs(left - right) * window_s / GRID_S)[:n_grid]
    return track, info
