"""Label-free evidence: each view's own curve, and the graded pseudo-labels made from them (utal_core.model.evidence)."""

from __future__ import annotations

import copy

import numpy as np
import pytest

from utal_core import media
from utal_core.curves import ranged_curve, within_range
from utal_core.model.evidence import (AUDIO_RMS_KEY, PseudoLabelConfig, evidence, initial_pseudo_labels, view_curves,
                                      view_signals)
from utal_core.encoders.motion import MOTION_DIFFERENCE_KEY
from utal_core.pipeline import Pipeline, PipelineConfig
from utal_core.types import ViewFeatures


def _features(motion: np.ndarray, rms: np.ndarray | None = None, stride: float = 0.5) -> ViewFeatures:
    length = len(motion)
    rng = np.random.default_rng(0)
    views = {"motion": rng.normal(size=(length, 4)).astype(np.float32)}
    extras = {MOTION_DIFFERENCE_KEY: motion.astype(np.float32)}
    if rms is not None:
        views["audio"] = rng.normal(size=(length, 4)).astype(np.float32)
        extras[AUDIO_RMS_KEY] = np.repeat(rms[:, None], 8, axis=1).astype(np.float32)
    return ViewFeatures(times=(np.arange(length) + 0.5) * stride, views=views, extras=extras)


def test_a_curve_spans_its_own_range_and_a_flat_signal_has_none() -> None:
    # an action over 90% of the clip: its snippets stay at 1, not pushed down to the median
    signal = np.r_[np.full(5, 0.1), np.full(45, 3.0)]
    ranged = within_range(signal)
    assert ranged is not None and np.mean(ranged == 1.0) == 0.9 and ranged.min() == 0.0
    assert within_range(np.full(20, 2.0)) is None and ranged_curve(np.full(20, 2.0), 0.5, 1.0) is None


def test_smoothing_is_in_seconds_and_reflects_at_the_ends() -> None:
    def bump(times: np.ndarray) -> np.ndarray:
        return np.exp(-0.5 * (times - 20.0) ** 2)

    coarse_times, fine_times = np.arange(40) + 0.5, (np.arange(80) + 0.5) * 0.5
    coarse, fine = ranged_curve(bump(coarse_times), 1.0, 2.0), ranged_curve(bump(fine_times), 0.5, 2.0)
    # the same time scale on a twice-finer grid gives the same curve at the same times
    np.testing.assert_allclose(np.interp(coarse_times, fine_times, fine), coarse, atol=0.03)
    edge = np.r_[1.0, np.zeros(39)]
    assert ranged_curve(edge, 1.0, 2.0)[0] == 1.0  # mirrored, not extended: the edge keeps its peak


def test_labels_are_graded_and_follow_the_evidence() -> None:
    motion = np.r_[np.full(20, 0.01), np.linspace(0.01, 0.2, 20), np.full(20, 0.2)]
    labels = initial_pseudo_labels(_features(motion), ["motion"])
    assert labels.shape == (60,) and 0.0 < labels.min() and labels.max() < 1.0
    assert labels[:15].mean() < 0.2 and labels[45:].mean() > 0.8
    # graded: the ramp gives many distinct levels between the two plateaus, not a step
    ramp = labels[20:40]
    assert np.all(np.diff(ramp) >= -1e-6) and len(np.unique(np.round(ramp, 2))) > 10


def test_the_maximum_keeps_a_burst_that_one_view_alone_shows_at_full_height() -> None:
    """A burst that only the motion view saw (a collision, silent) reaches the top of the default "max"
    targets where the other view is at its lowest."""
    motion = np.full(60, 0.01)
    motion[30:34] = 0.3
    rms = np.exp(np.abs(np.arange(60) - 31.5) / 10.0)  # loud at both ends, quietest at the burst
    peak = evidence(_features(motion, rms=rms), ["motion", "audio"])
    assert peak[30:34].max() == pytest.approx(1.0) and peak[45:55].max() < 0.9
    with pytest.raises(ValueError, match="combine"):
        PseudoLabelConfig(combine="median")


def test_a_flat_view_is_left_out() -> None:
    motion = np.r_[np.zeros(30), np.full(30, 0.2)]
    alone = evidence(_features(motion), ["motion"])
    with_flat_audio = evidence(_features(motion, rms=np.full(60, 0.1)), ["motion", "audio"])
    np.testing.assert_allclose(alone, with_flat_audio)
    assert set(view_curves(_features(motion, rms=np.full(60, 0.1)), ["motion", "audio"])) == {"motion"}


def test_each_view_signal_reads_only_its_own_view() -> None:
    motion = np.r_[np.zeros(30), np.full(30, 0.2)]
    base = _features(motion, rms=np.r_[np.full(30, 0.5), np.full(30, 0.01)])
    changed = copy.deepcopy(base)
    changed.extras[AUDIO_RMS_KEY] = changed.extras[AUDIO_RMS_KEY][::-1].copy()
    before, after = view_signals(base, ["motion", "audio"]), view_signals(changed, ["motion", "audio"])
    np.testing.assert_array_equal(before["motion"], after["motion"])
    assert not np.allclose(before["audio"], after["audio"])


@pytest.fixture(scope="module")
def analysed(synthetic_video, tmp_path_factory):
    pipeline = Pipeline.from_config(PipelineConfig(cache_dir=str(tmp_path_factory.mktemp("features"))))
    info = media.probe(synthetic_video.path)
    features, grid = pipeline.encode_video(synthetic_video.path, info=info)
    return pipeline, info, features, grid, pipeline.analyze_features(synthetic_video.path, info, features, grid)


@pytest.mark.parametrize("view", ["cbp", "motion", "audio"])
def test_perturbing_one_view_changes_its_curve_and_the_fused_one_only(analysed, synthetic_video, view) -> None:
    """The timeline's per-view curves are each view's own evidence: changing one view's input (its
    features and the side outputs its encoder made) moves that view's curve and the fused curve,
    and leaves every other view's curve exactly as it was."""
    pipeline, info, features, grid, before = analysed
    perturbed = copy.deepcopy(features)
    rng = np.random.default_rng(7)
    values = perturbed.views[view]
    perturbed.views[view] = (values + rng.normal(scale=3 * values.std(), size=values.shape)).astype(np.float32)
    for key in {"motion": [MOTION_DIFFERENCE_KEY], "audio": [AUDIO_RMS_KEY]}.get(view, []):
        perturbed.extras[key] = perturbed.extras[key][::-1].copy()
    after = pipeline.analyze_features(synthetic_video.path, info, perturbed, grid)
    assert not np.allclose(before.curves[view], after.curves[view], atol=1e-3)
    assert not np.allclose(before.curves["fused"], after.curves["fused"], atol=1e-3)
    for other in ("cbp", "motion", "audio", "bridge"):
        if other != view and before.curves.get(other) is not None:
            np.testing.assert_array_equal(before.curves[other], after.curves[other])
