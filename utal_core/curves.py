"""Per-snippet curve arithmetic shared by the evidence (model/evidence.py) and the localizer (localize.py).

A curve is one value per snippet of a video. :func:`ranged_curve` smooths it with a Gaussian of a
given time scale (seconds, so the same scale means the same thing on any snippet grid), reflected
at the video's ends so the first and last snippets are not extended as constants, and places it on
its video's own range, [0, 1] from its minimum to its maximum: a curve says where in *this* video
something happens, not how much compared with other videos. A flat curve says nothing and has no
range (None).
"""

from __future__ import annotations

import numpy as np
from scipy.ndimage import gaussian_filter1d

#: Below this Gaussian width (in snippets) smoothing changes nothing visible and is skipped.
_MIN_SIGMA = 0.25


def smoothed(signal: np.ndarray, stride_s: float, scale_s: float) -> np.ndarray:
    """``signal`` [T] smoothed by a Gaussian of standard deviation ``scale_s`` seconds (snippets
    ``stride_s`` apart), reflected at both ends."""
    signal = np.nan_to_num(np.asarray(signal, dtype=np.float64))
    sigma = scale_s / stride_s if stride_s > 0 else 0.0
    return gaussian_filter1d(signal, sigma, mode="reflect") if sigma > _MIN_SIGMA and len(signal) > 1 else signal


def within_range(curve: np.ndarray) -> np.ndarray | None:
    """``curve`` rescaled to [0, 1] from its minimum to its maximum; None when it is flat."""
    curve = np.asarray(curve, dtype=np.float64)
    if curve.size == 0:
        return None
    low, high = float(curve.min()), float(curve.max())
    if not high - low > 1e-6 * max(1.0, abs(high)):
        return None
    return (curve - low) / (high - low)


def ranged_curve(signal: np.ndarray, stride_s: float, scale_s: float) -> np.ndarray | None:
    """:func:`smoothed` at ``scale_s``, then :func:`within_range`: the curve a view's evidence is drawn,
    proposed and scored on at that scale (None for a flat signal)."""
    return within_range(smoothed(signal, stride_s, scale_s))
