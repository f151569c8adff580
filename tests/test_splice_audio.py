"""The splice stage's own decode at the file's native rate: bounded like the pipeline's, and never silent on bugs."""

from __future__ import annotations

import numpy as np
import pytest
from conftest import SR, voiced, write_audio

from pipeline.core.errors import InputError
from pipeline.scan.decode import decode, probe
from pipeline.scan.splice import stage


@pytest.fixture
def mulaw_call(tmp_path):
    """12 s of speech-like audio stored as 8 kHz G.711 mu-law (the G.711 detector's case)."""
    samples = np.concatenate([voiced(4.0), np.zeros(SR * 2, np.float32), voiced(6.0, f0=180.0)])
    return str(write_audio(tmp_path / "call.wav", samples, SR, "-ar", "8000", "-c:a", "pcm_mulaw"))


def test_native_rate_decode_honours_max_duration(mulaw_call):
    info = probe(mulaw_call)
    audio = decode(mulaw_call, info=info, max_duration_s=5.0)
    samples, rate = stage.analysis_audio(mulaw_call, info, audio, max_duration_s=5.0)
    assert rate == 8000 and samples.shape[1] / rate <= 5.0 + 1e-3


def test_only_a_decoding_failure_falls_back_to_the_pipeline_audio(mulaw_call, monkeypatch):
    info = probe(mulaw_call)
    audio = decode(mulaw_call, info=info)

    def failing(*args, **kwargs):
        raise InputError("decode_failed", "ffmpeg failed")

    monkeypatch.setattr(stage, "decode", failing)
    samples, rate = stage.analysis_audio(mulaw_call, info, audio)
    assert rate == audio.sample_rate and samples is audio.samples

    def buggy(*args, **kwargs):
        raise MemoryError("no room for the native-rate copy")

    monkeypatch.setattr(stage, "decode", buggy)
    with pytest.raises(MemoryError):   # the G.711 detector is not switched off without a word
        stage.detect_splices(mulaw_call, info, audio, [])
