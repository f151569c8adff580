"""Splice stage: the scan's entry point, from a decoded recording to splice candidates and flags.

The only module of the package that touches a file: analysis_audio decodes the
recording again at its native rate when that is at most MAX_ANALYSIS_RATE (the
G.711 grid needs the original samples). detect_splices hands the samples to
fusion (curves and decision), adds the container-duration check and the evidence
every candidate carries; splice_flags writes the report flags. No detector logic
and no thresholds here (fusion's).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from pipeline.core.errors import InputError
from pipeline.scan.decode import MAX_DURATION_S, Audio, RecordingInfo, decode
from pipeline.scan.splice.duration import HEADERLESS_CONTAINERS, duration_mismatch
from pipeline.scan.splice.fusion import THRESHOLDS, candidates, score_tracks

MAX_ANALYSIS_RATE = 16000


@dataclass(frozen=True)
class SpliceOptions:
    """thresholds: the fused-score level at which each primary detector alone flags (THRESHOLDS)."""

    thresholds: dict[str, float] = field(default_factory=lambda: dict(THRESHOLDS))


def analysis_audio(path: str, info: RecordingInfo, audio: Audio,
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


def detect_splices(path: str, info: RecordingInfo, audio: Audio, speech: list | None = None,
                   options: SpliceOptions = SpliceOptions(), max_duration_s: float = MAX_DURATION_S) -> list[dict]:
    """Splice candidates of one recording: [{"time", "score", "detectors", "evidence"}].

    `time` is seconds from the start, `score` the fused score (>= 1.0; the margin
    above 1 says how far the strongest detector went past its threshold).
    `speech` (the VAD segments) is recorded in the evidence (inside/outside speech);
    the detectors find non-speech frames themselves with minimum statistics.
    """
    samples, sr = analysis_audio(path, info, audio, max_duration_s)
    tracks, context = score_tracks(np.atleast_2d(samples), sr)
    found = candidates(tracks, options.thresholds)
    decoded_s = samples.shape[-1] / sr
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
