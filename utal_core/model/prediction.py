"""The model stage's per-snippet outputs for one video, as plain numpy arrays.

Torch-free on purpose: outputs read back from the prediction cache (``utal_core/prediction_cache.py``) need
no neural-network library.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass
class Prediction:
    """Per-snippet outputs of the model for one video (numpy, float32)."""

    times: np.ndarray  # [T] window centres, seconds
    view_actionness: dict[str, np.ndarray | None]  # [T] per view of VIEW_NAMES, None when not used
    actionness: np.ndarray  # [T] fused actionness
    cas: np.ndarray  # [T, K] per-pseudo-class foreground probability
    video_scores: np.ndarray  # [K] video-level pseudo-class probabilities
