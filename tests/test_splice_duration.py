"""The container-duration detector."""

from __future__ import annotations

from pipeline.scan.splice.duration import duration_mismatch


def test_duration_mismatch():
    assert duration_mismatch(30.0, 30.08) < 1.0          # MP3 padding
    assert duration_mismatch(30.0, 27.0) >= 1.0          # 3 s gone from the stream
    assert duration_mismatch(0.0, 10.0) == 0.0           # unknown duration: no opinion


def test_duration_slack_grows_with_length():
    """2 % of an hour is 72 s: a 60 s difference there is within the header estimate's slack."""
    assert duration_mismatch(3600.0, 3540.0) < 1.0
    assert duration_mismatch(10.0, 9.4) >= 1.0
