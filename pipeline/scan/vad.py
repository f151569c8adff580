"""VAD stage: find the speech in each channel with WebRTC's voice activity detector.

ASR runs only on what this stage returns, so silence, hold gaps and line noise
cost nothing. Frames are classified, short gaps between speech runs are merged
(one utterance with a breath in it stays one segment), each segment is padded so
the first and last syllables are not clipped, and segments longer than Whisper's
30 s window are split at their quietest frame.
It finds speech only; it never alters the samples.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import webrtcvad

FRAME_MS = 30  # webrtcvad accepts 10, 20 or 30 ms frames; 30 gives the steadiest decisions


@dataclass
class SpeechSegment:
    start: float
    end: float
    channel: int


@dataclass(frozen=True)
class VadOptions:
    """How speech is found (defaults suit 8-16 kHz call audio).

    aggressiveness: webrtcvad 0-3; higher rejects more non-speech (noisy lines) at the
        risk of dropping soft speech.
    padding_s: kept before and after each segment so first and last syllables are not clipped.
    merge_gap_s: pauses up to this long inside a sentence keep it one segment.
    min_speech_s: shorter bursts (clicks, blips) are dropped.
    max_segment_s: longer segments are split at their quietest frame, so each fits one
        30 s Whisper window.
    """

    aggressiveness: int = 2
    padding_s: float = 0.2
    merge_gap_s: float = 0.3
    min_speech_s: float = 0.25
    max_segment_s: float = 25.0


def speech_frames(channel: np.ndarray, sample_rate: int,
                  aggressiveness: int = VadOptions.aggressiveness) -> np.ndarray:
    """One boolean per FRAME_MS frame: does webrtcvad hear speech in it? (see VadOptions.aggressiveness)"""
    vad = webrtcvad.Vad(aggressiveness)
    frame_len = sample_rate * FRAME_MS // 1000
    pcm = (np.clip(channel, -1.0, 1.0) * 32767).astype("<i2")
    n_frames = pcm.size // frame_len
    frames = pcm[: n_frames * frame_len].reshape(n_frames, frame_len)
    return np.fromiter((vad.is_speech(f.tobytes(), sample_rate) for f in frames), bool, n_frames)


def frames_to_spans(flags: np.ndarray, frame_s: float, merge_gap_s: float,
                    min_speech_s: float) -> list[tuple[float, float]]:
    """Turn per-frame decisions into (start, end) spans, merging short gaps, dropping blips."""
    spans: list[list[float]] = []
    edges = np.diff(np.concatenate(([0], flags.astype(np.int8), [0])))
    for first, last in zip(np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)):
        start, end = first * frame_s, last * frame_s
        if spans and start - spans[-1][1] <= merge_gap_s:
            spans[-1][1] = end
        else:
            spans.append([start, end])
    return [(s, e) for s, e in spans if e - s >= min_speech_s]


def pad_spans(spans: list[tuple[float, float]], padding_s: float,
              duration: float) -> list[tuple[float, float]]:
    """Widen each span by `padding_s`, but never past half the gap to its neighbour.

    Neighbouring segments must not overlap, or the same syllables would be
    transcribed twice.
    """
    bounds = [0.0] + [(a[1] + b[0]) / 2 for a, b in zip(spans, spans[1:])] + [duration]
    return [(max(bounds[i], s - padding_s), min(bounds[i + 1], e + padding_s))
            for i, (s, e) in enumerate(spans)]


def split_long(span: tuple[float, float], energy: np.ndarray, frame_s: float,
               max_s: float) -> list[tuple[float, float]]:
    """Split a span longer than `max_s` at its quietest frame in the middle half, recursively."""
    start, end = span
    if end - start <= max_s:
        return [span]
    first, last = int(start / frame_s), int(end / frame_s)
    quarter = (last - first) // 4
    window = energy[first + quarter: last - quarter]
    cut = (first + quarter + int(np.argmin(window))) * frame_s if window.size else (start + end) / 2
    return split_long((start, cut), energy, frame_s, max_s) + split_long((cut, end), energy, frame_s, max_s)


def detect_speech(samples: np.ndarray, sample_rate: int,
                  options: VadOptions = VadOptions()) -> list[SpeechSegment]:
    """Speech segments of every channel of `samples` (shape (channels, n)), sorted by start."""
    duration = samples.shape[1] / sample_rate
    frame_s = FRAME_MS / 1000
    frame_len = sample_rate * FRAME_MS // 1000
    segments = []
    for channel_index, channel in enumerate(samples):
        flags = speech_frames(channel, sample_rate, options.aggressiveness)
        n = flags.size
        energy = np.square(channel[: n * frame_len].reshape(n, frame_len)).mean(axis=1)
        spans = frames_to_spans(flags, frame_s, options.merge_gap_s, options.min_speech_s)
        for padded in pad_spans(spans, options.padding_s, duration):
            for start, end in split_long(padded, energy, frame_s, options.max_segment_s):
                segments.append(SpeechSegment(round(float(start), 3), round(float(end), 3), channel_index))
    return sorted(segments, key=lambda s: (s.start, s.channel))
