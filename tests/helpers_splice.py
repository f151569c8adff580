"""Synthetic signals with known answers for the splice detectors' unit tests, the grid bookkeeping they
share, and fixtures/tamper.py (imported here once for all of them)."""

from __future__ import annotations

import sys

import numpy as np
from conftest import ROOT

from pipeline.scan.splice.fusion import EDGE_S
from pipeline.scan.splice.grid import GRID_S

sys.path.insert(0, str(ROOT / "fixtures"))
import tamper  # noqa: E402, F401  (re-exported: fixtures/tamper.py, coloured noise, crossfades, the tamper sets)

TOLERANCE_S = 0.5       # a candidate within this of a true splice point counts as found


def n_grid(x, sr):
    return int(x.size / sr / GRID_S) + 1


def peak_time(track):
    return float(np.argmax(track)) * GRID_S


def tone(seconds, sr, seed=0):
    """Smooth periodic 'vowel' (three harmonics of 200 Hz) plus a trace of noise."""
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    return (0.2 * np.sin(2 * np.pi * 200 * t) + 0.1 * np.sin(2 * np.pi * 400 * t + 1)
            + 0.05 * np.sin(2 * np.pi * 600 * t) + 0.001 * rng.standard_normal(t.size))


def hard_cut(x, sr, at_s=3.0, length_s=0.2):
    """Delete a span starting at a waveform peak and ending at a trough: a sure jump."""
    a = int(at_s * sr)
    a += int(np.argmax(x[a: a + 80]))
    b = a + int(length_s * sr)
    b += int(np.argmin(x[b: b + 80]))
    return np.concatenate([x[:a], x[b:]]), a / sr


def hum_signal(seconds=10.0, sr=8000, seed=1):
    t = np.arange(int(seconds * sr)) / sr
    rng = np.random.default_rng(seed)
    return (0.003 * rng.standard_normal(t.size) + 0.01 * np.sin(2 * np.pi * 50 * t)
            + 0.005 * np.sin(2 * np.pi * 150 * t + 0.3) + 0.003 * np.sin(2 * np.pi * 250 * t))


def silence_and_dc_step(sr=8000):
    """4 s of noise with 50 ms of digital zeros at 1 s and a DC step of +0.05 from 2 s."""
    x = np.random.default_rng(8).normal(0, 0.01, 4 * sr)
    x[sr: sr + 400] = 0.0
    x[2 * sr:] += 0.05
    return x


def no_edges(track):
    edge = int(EDGE_S / GRID_S)
    track = track.copy()
    track[:edge] = 0
    track[-edge:] = 0
    return track
