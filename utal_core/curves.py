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

#: Below this Gaussian width (in snippets) smoothing changes nothing visible and is skipped.
_MIN_SIGMA = 0.25
#: The Gaussian is cut this many standard deviations from its centre.
_TRUNCATE = 4.0


def gaussian_smoothed(signal: np.ndarray, sigma: float) -> np.ndarray:
    """``scipy.ndimage.gaussian_filter1d(signal, sigma, mode="reflect")`` for a 1-D float64 ``signal``, bit for bit:
    the same kernel and the same order of sums (its symmetric-kernel loop). Here because importing
    ``scipy.ndimage`` took most of a second of every analysis, which needs nothing else from it."""
    radius = int(_TRUNCATE * float(sigma) + 0.5)
    offsets = np.arange(-radius, radius + 1)
    kernel = np.exp(-0.5 / (sigma * sigma) * offsets ** 2)
    kernel = kernel / kernel.sum()
    padded = np.pad(signal, radius, mode="symmetric")  # numpy's "symmetric" is scipy's "reflect"
    count = len(signal)
    result = padded[radius:radius + count] * kernel[radius]
    for offset in range(radius, 0, -1):
        result += (padded[radius - offset:radius - offset + count] + padded[radius + offset:radius + offset + count]) \
            * kernel[radius - offset]
    return result


def smoothed(signal: np.ndarray, stride_s: float, scale_s: float) -> np.ndarray:
    """``signal`` [T] smoothed by a Gaussian of standard deviation ``scale_s`` seconds (snippets
    ``stride_s`` apart), reflected at both ends."""
    signal = np.nan_to_num(np.asarray(signal, dtype=np.float64))
    sigma = scale_s / stride_s if stride_s > 0 else 0.0
    return gaussian_smoothed(signal, sigma) if sigma > _MIN_SIGMA and len(signal) > 1 else signal


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
