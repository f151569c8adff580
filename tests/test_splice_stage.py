"""The splice stage end to end on encoded files: candidates, evidence and report flags."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
from conftest import write_audio
from helpers_splice import hum_signal, tamper

from pipeline.scan import cache_keys, splice
from pipeline.scan.decode import decode, probe
from pipeline.scan.splice import detect_splices, splice_flags
from pipeline.scan.vad import SpeechSegment


def test_detect_splices_end_to_end(tmp_path):
    """A WAV with hum and a crossfaded cut: one JSON-serialisable candidate at the cut, one flag."""
    sr = 8000
    x = hum_signal(12.0, sr)
    a, b, fade = 6 * sr, 6 * sr + int(0.31 * sr), 80
    y = tamper.crossfade_join(x[: a + fade], x[b:], fade).astype(np.float32)
    path = write_audio(tmp_path / "cut.wav", y, sr, "-c:a", "pcm_s16le")
    info = probe(str(path))
    audio = decode(str(path), info=info)                       # the pipeline's 16 kHz audio
    found = detect_splices(str(path), info, audio, [SpeechSegment(1.0, 2.0, 0)])
    json.dumps(found)
    assert len(found) == 1 and abs(found[0]["time"] - 6.0) <= 0.2 and "enf" in found[0]["detectors"]
    assert found[0]["score"] >= 1.0 and found[0]["evidence"]["in_speech"] is False
    flags = splice_flags(found)
    assert flags[0]["problem"] == "splice" and flags[0]["rule"] is None
    assert flags[0]["start"] == flags[0]["end"] == found[0]["time"] and "listen" in flags[0]["message"]
    clean = write_audio(tmp_path / "clean.wav", x.astype(np.float32), sr, "-c:a", "pcm_s16le")
    info = probe(str(clean))
    assert detect_splices(str(clean), info, decode(str(clean), info=info), []) == []


def test_declared_duration_longer_than_the_audio_is_flagged_at_the_end(tmp_path):
    """A header promising more audio than decodes: one duration candidate where the audio ends."""
    sr = 8000
    x = np.random.default_rng(3).normal(0, 0.01, 6 * sr).astype(np.float32)
    path = write_audio(tmp_path / "short.wav", x, sr, "-c:a", "pcm_s16le")
    info = probe(str(path))
    info = replace(info, duration_s=info.duration_s + 3.0)
    [found] = detect_splices(str(path), info, decode(str(path), info=info), [])
    assert found["detectors"] == ["duration"] and found["time"] == 6.0
    assert found["evidence"]["duration"]["declared_s"] == info.duration_s and found["score"] >= 1.0


def test_checks_key_hashes_every_module_of_the_package():
    """A change to any detector or to fusion must invalidate cached checks, not only one to the stage."""
    package = Path(splice.__file__).parent
    assert splice in cache_keys.CHECK_MODULES
    assert cache_keys._module_sources(splice) == sorted(package.glob("*.py"))
    assert {p.stem for p in cache_keys._module_sources(splice)} >= {"fusion", "grid", "enf", "g711", "stage"}
