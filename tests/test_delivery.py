"""Delivery measurements on synthetic signals with known rate and level."""

import numpy as np
import pytest
from conftest import SR

from pipeline.scan import delivery, levels


def syllable_train(rate_hz: float, seconds: float, level: float = 0.1, noise: float = 0.002,
                   seed: int = 0) -> np.ndarray:
    """Voiced bursts at a known syllable rate: harmonics of 180 Hz, 70% duty raised-cosine envelope."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SR)) / SR
    buzz = sum(np.sin(2 * np.pi * 180 * k * t) / k for k in range(1, 25))
    phase = (t * rate_hz) % 1.0
    envelope = np.where(phase < 0.7, np.sin(np.pi * phase / 0.7) ** 2, 0.0)
    return (level * buzz * envelope + rng.normal(0, noise, t.size)).astype(np.float32)


@pytest.mark.parametrize("rate", [3.0, 4.5, 6.0, 9.0, 12.0])
def test_acoustic_rate_counts_syllables(rate):
    assert delivery.acoustic_syllable_rate(syllable_train(rate, 4.0), SR) == pytest.approx(rate, rel=0.1)


def test_acoustic_rate_ignores_steady_noise():
    noise = np.random.default_rng(3).normal(0, 0.01, 3 * SR).astype(np.float32)
    assert delivery.acoustic_syllable_rate(noise, SR) < 3.0


def test_dbfs_of_known_sine_and_silence():
    sine = 0.1 * np.sin(2 * np.pi * 440 * np.arange(SR) / SR)
    assert levels.dbfs(sine) == pytest.approx(-23.01, abs=0.02)
    assert levels.dbfs(np.zeros(100)) == -120.0


def test_syllable_count_counts_han_digits_letters_not_punctuation():
    assert delivery.syllable_count("您好，本电话为营销电话。") == 10
    assert delivery.syllable_count("编号F3200451") == 10


def test_measure_quiet_fast_statement_against_the_call():
    loud = syllable_train(4.5, 6.0, level=0.1, noise=0.0)
    quiet_fast = syllable_train(9.0, 2.0, level=0.005, noise=0.0)
    noise = np.random.default_rng(1).normal(0, 0.0005, 9 * SR).astype(np.float32)
    channel = noise + np.concatenate([loud, np.zeros(SR), quiet_fast])
    samples = channel[None, :]
    reference = {0: levels.channel_levels(channel, SR, [(0.0, 6.0)])}
    annotation = {"channel": 0, "start": 7.0, "end": 9.0, "text": "本电话为营销电话本电话为营销电话"}
    m = delivery.measure(annotation, samples, SR, reference)
    assert m["speech_rate_cps"] == pytest.approx(8.0)
    assert m["acoustic_rate_sps"] == pytest.approx(9.0, rel=0.15)
    assert m["relative_level_db"] == pytest.approx(20 * np.log10(0.005 / 0.1), abs=1.5)
    assert 10 < m["snr_db"] < 25
    verdict = delivery.judge(m, {"max_rate_cps": 7.0, "min_relative_level_db": -15, "min_snr_db": 10})
    assert verdict == {"audible": False, "rate_ok": False}
    normal = delivery.measure({**annotation, "start": 0.0, "end": 6.0, "text": "字" * 27}, samples, SR, reference)
    assert delivery.judge(normal, {"max_rate_cps": 7.0, "min_relative_level_db": -15, "min_snr_db": 10}) == \
        {"audible": True, "rate_ok": True}
