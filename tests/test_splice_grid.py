"""The splice grid helpers: robust z, percentile windows, pooling onto the grid, side means."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.scan.splice.grid import (
    GRID_S,
    robust_z,
    side_means,
    to_grid,
    window_percentile,
)


def test_robust_z_ignores_outliers():
    z = robust_z(np.r_[np.random.default_rng(0).normal(0, 1, 1000), 50.0])
    assert z[-1] > 30 and abs(np.median(z)) < 0.1


@pytest.mark.parametrize("shape, size", [((500, 3), 25), ((500,), 25), ((300,), 24)])
def test_window_percentile_equals_numpy(shape, size):
    v = np.random.default_rng(1).normal(size=shape)
    for q in (0, 10, 50, 90, 100):
        expected = np.percentile(np.lib.stride_tricks.sliding_window_view(v, size, axis=0), q, axis=-1)
        assert np.allclose(window_percentile(v, size, q), expected)


def test_to_grid_max_pools_and_fills_the_gaps():
    """Two samples in one cell keep the larger; cells between samples are interpolated."""
    times = np.array([0.0, 0.001, 0.05])
    track = to_grid(np.array([1.0, 3.0, 8.0]), times, 11)
    assert track[0] == 3.0 and track[5] == 8.0 and track[10] == 8.0
    assert np.allclose(track[1:5], 3.0 + np.arange(1, 5) * (8.0 - 3.0) / 5)
    assert (to_grid(np.array([]), np.array([]), 4) == 0).all()
    assert int(round(0.05 / GRID_S)) == 5


def test_side_means_see_a_step():
    v = np.r_[np.zeros(10), np.ones(10)]
    left, right, full = side_means(v, 4)
    assert left[10] == 0.0 and right[10] == 1.0 and full[10] == 1.0
    assert full[0] == 0.0 and left[15] == 1.0 and right[15] == 1.0
