"""Channel levels: how loud a channel's speech and its noise floor are, measured once per call.

Two stages need them: the quiet-speech recovery before transcription
(pipeline.scan.recovery) and the audibility check of each statement (pipeline.scan.delivery).
They live here so the transcript stage does not depend on the delivery checks' code.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from pipeline.scan import vad


@dataclass
class ChannelLevels:
    """Reference levels of one channel, measured once per call."""

    speech_dbfs: float  # typical (median) level of its speech segments
    noise_dbfs: float  # noise floor: 10th percentile of 30 ms frame levels


def dbfs(x: np.ndarray) -> float:
    """RMS level in dB relative to full scale; -120 for digital silence."""
    rms = float(np.sqrt(np.mean(np.square(x, dtype=np.float64)))) if x.size else 0.0
    return round(float(20 * np.log10(max(rms, 1e-6))), 2)


def frame_levels(x: np.ndarray, sample_rate: int, frame_s: float = 0.03) -> np.ndarray:
    """Level in dBFS of consecutive frames."""
    n = int(frame_s * sample_rate)
    frames = x[: x.size // n * n].reshape(-1, n).astype(np.float64)
    return 20 * np.log10(np.maximum(np.sqrt(np.mean(frames ** 2, axis=1)), 1e-6))


def channel_levels(channel: np.ndarray, sample_rate: int, spans: list[tuple[float, float]]) -> ChannelLevels:
    """Typical speech level (median over speech spans) and noise floor of one channel."""
    speech = [dbfs(channel[int(s * sample_rate): int(e * sample_rate)]) for s, e in spans]
    levels = frame_levels(channel, sample_rate)
    noise = float(np.percentile(levels, 10)) if levels.size else -120.0
    return ChannelLevels(float(np.median(speech)) if speech else noise, round(noise, 2))


def reference_levels(samples: np.ndarray, sample_rate: int,
                     speech: list[vad.SpeechSegment]) -> dict[int, ChannelLevels]:
    """Typical speech level and noise floor of every channel, from its first-pass VAD segments."""
    return {ch: channel_levels(samples[ch], sample_rate,
                               [(s.start, s.end) for s in speech if s.channel == ch])
            for ch in range(samples.shape[0])}


def to_plain(levels: dict[int, ChannelLevels]) -> list[dict]:
    """The levels as the transcript stores them: [{channel, speech_dbfs, noise_dbfs}]."""
    return [{"channel": ch, "speech_dbfs": lv.speech_dbfs, "noise_dbfs": lv.noise_dbfs}
            for ch, lv in sorted(levels.items())]


def from_plain(plain: list[dict]) -> dict[int, ChannelLevels]:
    """Inverse of `to_plain` (a stored transcript back into the checks' levels)."""
    return {item["channel"]: ChannelLevels(item["speech_dbfs"], item["noise_dbfs"]) for item in plain}
