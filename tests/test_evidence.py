"""Label-free evidence and graded pseudo-labels (utal_core.model.evidence)."""

from __future__ import annotations

import numpy as np

from utal_core.model.evidence import (AUDIO_RMS_KEY, MOTION_ENERGY_KEY, PseudoLabelConfig, evidence,
                                      initial_pseudo_labels, within_video_range)
from utal_core.types import ViewFeatures


def _features(motion: np.ndarray, rms: np.ndarray | None = None, stride: float = 0.5) -> ViewFeatures:
    length = len(motion)
    rng = np.random.default_rng(0)
    views = {"motion": rng.normal(size=(length, 4)).astype(np.float32)}
    extras = {MOTION_ENERGY_KEY: motion.astype(np.float32)}
    if rms is not None:
        views["audio"] = rng.normal(size=(length, 4)).astype(np.float32)
        extras[AUDIO_RMS_KEY] = np.repeat(rms[:, None], 8, axis=1).astype(np.float32)
    return ViewFeatures(times=(np.arange(length) + 0.5) * stride, views=views, extras=extras)


def test_range_normalisation_keeps_a_long_action_high() -> None:
    # an action over 90% of the clip: its snippets stay near 1, not pushed down to the median
    signal = np.r_[np.full(5, 0.1), np.full(45, 3.0)]
    ranged = within_video_range(signal)
    assert ranged is not None and np.mean(ranged > 0.9) == 0.9
    assert within_video_range(np.full(20, 2.0)) is None


def test_labels_are_graded_and_follow_the_evidence() -> None:
    motion = np.r_[np.full(20, 0.05), np.linspace(0.05, 4.0, 20), np.full(20, 4.0)]
    labels = initial_pseudo_labels(_features(motion), ["motion"])
    assert labels.shape == (60,) and 0.0 < labels.min() and labels.max() < 1.0
    assert labels[:15].mean() < 0.2 and labels[45:].mean() > 0.8
    # graded: the ramp gives many distinct levels between the two plateaus, not a step
    ramp = labels[20:40]
    assert np.all(np.diff(ramp) >= -1e-6) and len(np.unique(np.round(ramp, 2))) > 10


def test_views_average_and_a_flat_view_is_left_out() -> None:
    motion = np.r_[np.zeros(30), np.full(30, 2.0)]
    alone = evidence(_features(motion), ["motion"], PseudoLabelConfig(smooth_s=0))
    with_flat_audio = evidence(_features(motion, rms=np.full(60, 0.1)), ["motion", "audio"], PseudoLabelConfig(smooth_s=0))
    np.testing.assert_allclose(alone, with_flat_audio)
    opposite = evidence(_features(motion, rms=np.r_[np.full(30, 0.5), np.full(30, 0.01)]), ["motion", "audio"],
                        PseudoLabelConfig(smooth_s=0))
    np.testing.assert_allclose(opposite, 0.5, atol=1e-6)
