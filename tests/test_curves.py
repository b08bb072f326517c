"""The curves' Gaussian smoothing is scipy.ndimage's, bit for bit, without importing scipy.ndimage (issue 24)."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.ndimage import gaussian_filter1d

from utal_core.curves import gaussian_smoothed


@pytest.mark.parametrize("length", [2, 3, 7, 40, 601])
@pytest.mark.parametrize("sigma", [0.26, 1.0, 2.5, 8.0, 33.3])
def test_gaussian_smoothing_is_scipys_bit_for_bit(length, sigma):
    rng = np.random.default_rng(length)
    for signal in (rng.standard_normal(length), np.abs(rng.standard_normal(length)) ** 3 * 1e-3,
                   (rng.random(length) > 0.8).astype(np.float64)):
        np.testing.assert_array_equal(gaussian_smoothed(signal, sigma), gaussian_filter1d(signal, sigma, mode="reflect"))
