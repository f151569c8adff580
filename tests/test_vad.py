"""VAD stage on synthetic signals with known speech spans."""

import numpy as np
import pytest
from conftest import SR, voiced

from pipeline.scan import vad


def test_frames_to_spans_merges_short_gaps_and_drops_blips():
    flags = np.array([0, 1, 1, 1, 0, 1, 1, 0, 0, 0, 0, 0, 1, 0, 0, 1, 1, 1, 1, 1], bool)
    spans = vad.frames_to_spans(flags, frame_s=0.1, merge_gap_s=0.15, min_speech_s=0.25)
    assert spans == [(pytest.approx(0.1), pytest.approx(0.7)), (pytest.approx(1.5), pytest.approx(2.0))]


def test_split_long_cuts_at_quietest_frame():
    energy = np.ones(100)
    energy[60] = 0.0
    pieces = vad.split_long((0.0, 10.0), energy, frame_s=0.1, max_s=8.0)
    assert pieces == [(0.0, pytest.approx(6.0)), (pytest.approx(6.0), 10.0)]


def test_detect_speech_finds_bursts_per_channel():
    rng = np.random.default_rng(0)
    left = np.concatenate([np.zeros(SR), voiced(2.0), np.zeros(3 * SR)])
    right = np.concatenate([np.zeros(4 * SR), voiced(1.5, f0=220), np.zeros(SR // 2)])
    stereo = np.stack([left, right]) + rng.normal(0, 1e-3, (2, left.size)).astype(np.float32)
    segments = vad.detect_speech(stereo, SR)
    assert [s.channel for s in segments] == [0, 1]
    first, second = segments
    assert first.start <= 1.0 < 3.0 <= first.end and first.end - first.start < 3.0
    assert second.start <= 4.0 < 5.5 <= second.end and second.end - second.start < 2.5


def test_silence_has_no_speech():
    rng = np.random.default_rng(1)
    quiet = rng.normal(0, 1e-3, (1, 5 * SR)).astype(np.float32)
    assert vad.detect_speech(quiet, SR) == []


def test_padding_never_makes_neighbours_overlap():
    padded = vad.pad_spans([(1.0, 2.0), (2.3, 3.0), (5.0, 6.0)], padding_s=0.2, duration=6.1)
    assert padded == [(0.8, pytest.approx(2.15)), (pytest.approx(2.15), 3.2), (4.8, 6.1)]
