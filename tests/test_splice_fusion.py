"""Splice fusion: curves of all detectors on the grid, the fused score, the peak picker and the candidates."""

from __future__ import annotations

import numpy as np
from helpers_splice import hum_signal, n_grid, silence_and_dc_step, tamper

from pipeline.scan.splice.dc_step import dc_step_track
from pipeline.scan.splice.fusion import (
    EDGE_S,
    SUPPORT,
    SUPPORT_GATE,
    SUPPORT_Z,
    THRESHOLDS,
    candidates,
    fuse,
    pick_peaks,
    score_tracks,
)
from pipeline.scan.splice.grid import GRID_S


def test_supporting_evidence_alone_makes_no_candidate():
    sr = 8000
    track = dc_step_track(silence_and_dc_step(sr), sr, n_grid(silence_and_dc_step(sr), sr))
    assert track.max() > SUPPORT_Z["dc_step"]
    tracks = {"dc_step": track, "digital_silence": np.ones_like(track),
              "broadband": np.zeros_like(track)}
    assert candidates(tracks) == []


def test_fuse_divides_by_threshold_and_nudges_only_past_the_gate():
    enf = np.full(300, 0.5 * THRESHOLDS["enf"])
    enf[200] = 0.7 * THRESHOLDS["enf"]
    dc = np.zeros(300)
    dc[[100, 200]] = SUPPORT_Z["dc_step"]
    fused = fuse({"enf": enf, "dc_step": dc})
    assert fused[0] == 0.5 and fused[100] == 0.5             # under SUPPORT_GATE: support adds nothing
    assert SUPPORT_GATE <= 0.7 and np.isclose(fused[200], 0.75)
    assert (fuse({"dc_step": dc}) == 0).all()                 # no primary detector: no score


def test_pick_peaks_strongest_first_one_per_gap():
    fused = np.zeros(500)
    fused[[100, 150, 300, 301]] = [1.2, 2.0, 1.5, 1.4]
    assert pick_peaks(fused) == [150, 300]                     # 100 lies within 1 s of the stronger 150
    assert pick_peaks(fused, level=1.45) == [150, 300]
    assert pick_peaks(fused, gap_s=0.3) == [100, 150, 300]


def test_candidates_name_the_detectors_past_their_threshold():
    pause = np.zeros(400)
    pause[200] = 2 * THRESHOLDS["pause_step"]
    enf = np.zeros(400)
    enf[210] = 0.5 * THRESHOLDS["enf"]
    [cand] = candidates({"pause_step": pause, "enf": enf})
    assert cand["time"] == round(200 * GRID_S, 2) and cand["score"] == 2.0 and cand["detectors"] == ["pause_step"]
    assert cand["evidence"]["enf"] == {"z": round(0.5 * THRESHOLDS["enf"], 2), "score": 0.5}


def test_score_tracks_adds_supporting_curves_only_past_the_gate():
    sr = 8000
    x = hum_signal(12.0, sr)
    a, b, fade = 6 * sr, 6 * sr + int(0.31 * sr), 80
    cut = tamper.crossfade_join(x[: a + fade], x[b:], fade)
    tracks, context = score_tracks(np.stack([cut, cut]), sr)
    assert set(SUPPORT) <= set(tracks) and context["channel_1"]["hum"]["base"] == 50.0
    edge = int(EDGE_S / GRID_S)
    assert all(t.size == n_grid(cut, sr) and not t[:edge].any() and not t[-edge:].any() for t in tracks.values())
    clean, _ = score_tracks(np.atleast_2d(np.random.default_rng(0).normal(0, 0.01, 6 * sr)), sr)
    assert not set(SUPPORT) & set(clean)
