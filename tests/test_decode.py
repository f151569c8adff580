"""Decode stage on synthetic files: channels kept apart, resampled, metadata right, clear errors."""

import numpy as np
import pytest
from conftest import write_audio

from pipeline.core import fileio
from pipeline.core.errors import InputError
from pipeline.scan import decode


def tone(freq: float, seconds: float, sr: int) -> np.ndarray:
    t = np.arange(int(seconds * sr)) / sr
    return (0.3 * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def dominant_hz(x: np.ndarray, sr: int) -> float:
    spectrum = np.abs(np.fft.rfft(x))
    return float(np.fft.rfftfreq(x.size, 1 / sr)[np.argmax(spectrum)])


def test_stereo_8k_mulaw_keeps_channels_and_resamples(tmp_path):
    left, right = tone(440, 2.0, 8000), tone(1000, 2.0, 8000)
    path = write_audio(tmp_path / "call.wav", np.stack([left, right]), 8000, "-c:a", "pcm_mulaw")
    audio = decode.decode(str(path))
    assert audio.samples.shape == (2, 32000)
    assert audio.sample_rate == 16000
    assert dominant_hz(audio.samples[0], 16000) == pytest.approx(440, abs=2)
    assert dominant_hz(audio.samples[1], 16000) == pytest.approx(1000, abs=2)
    info = audio.info
    assert (info.codec, info.channels, info.sample_rate) == ("pcm_mulaw", 2, 8000)
    assert info.container == "wav"
    assert info.duration_s == pytest.approx(2.0, abs=0.01)
    assert info.sha256 == fileio.file_sha256(str(path)) and len(info.sha256) == 64


@pytest.mark.parametrize("name,args,codec", [
    ("a.mp3", ("-c:a", "libmp3lame", "-b:a", "32k"), "mp3"),
    ("a.m4a", ("-c:a", "aac"), "aac"),
    ("a.ogg", ("-c:a", "libopus"), "opus"),
    ("a.flac", ("-c:a", "flac"), "flac"),
    ("a.wav", ("-c:a", "libgsm_ms", "-ar", "8000"), "gsm_ms"),
])
def test_compressed_formats_decode(tmp_path, name, args, codec):
    path = write_audio(tmp_path / name, tone(300, 1.5, 16000), 16000, *args)
    audio = decode.decode(str(path))
    assert audio.info.codec == codec
    assert audio.duration_s == pytest.approx(1.5, abs=0.1)
    assert dominant_hz(audio.samples[0], 16000) == pytest.approx(300, abs=3)


def test_empty_file_is_an_error(tmp_path):
    path = tmp_path / "empty.wav"
    path.write_bytes(b"")
    with pytest.raises(InputError) as err:
        decode.probe(str(path))
    assert err.value.code == "empty"


def test_text_file_is_not_audio(tmp_path):
    path = tmp_path / "notes.mp3"
    path.write_text("这不是录音 this is not audio\n" * 20, encoding="utf-8")
    with pytest.raises(InputError) as err:
        decode.decode(str(path))
    assert err.value.code == "not_audio"


def test_missing_file_is_unreadable(tmp_path):
    with pytest.raises(InputError) as err:
        decode.probe(str(tmp_path / "gone.wav"))
    assert err.value.code == "unreadable"
