"""The feature-level synthetic benchmark: the views behave as documented, deterministically."""

from __future__ import annotations

import numpy as np

from utal_core.evaluate import THUMOS_TIOUS, GroundTruth, Prediction, evaluate_detection
from utal_core.localize import LocalizeParams, localize
from utal_core.synth.features import SynthFeatureConfig, ground_truth, make_feature_set, restrict_views

CONFIG = SynthFeatureConfig(num_videos=12, num_classes=3, seed=2)


def inside_mask(video) -> np.ndarray:
    mask = np.zeros(video.features.num_snippets, dtype=bool)
    for start, end, _ in video.instances:
        mask[video.grid.nearest_index(start):video.grid.nearest_index(end) + 1] = True
    return mask


def test_same_config_same_videos_and_seed_changes_them():
    first, second = make_feature_set(CONFIG), make_feature_set(CONFIG)
    for a, b in zip(first.videos, second.videos):
        assert a.instances == b.instances
        for name in a.features.views:
            np.testing.assert_array_equal(a.features.views[name], b.features.views[name])
    other = make_feature_set(SynthFeatureConfig(num_videos=12, num_classes=3, seed=3))
    assert [v.instances for v in other.videos] != [v.instances for v in first.videos]


def test_shapes_grid_and_ground_truth():
    family = make_feature_set(CONFIG)
    for video in family.videos:
        features = video.features
        length = features.num_snippets
        assert CONFIG.min_snippets <= length <= CONFIG.max_snippets
        assert {name: v.shape for name, v in features.views.items()} == {
            name: (length, dim) for name, dim in CONFIG.dims().items()}
        assert all(v.dtype == np.float32 for v in features.views.values())
        np.testing.assert_allclose(features.times, video.grid.times)
        assert features.extras["clip_prior"].shape == (length,)
        assert 1 <= len(video.instances) <= CONFIG.instances_per_video[1]
        assert all(label == video.label for _, _, label in video.instances)
        starts = [s for s, _, _ in video.instances]
        assert starts == sorted(starts)
        assert all(0 <= s < e <= video.grid.duration for s, e, _ in video.instances)
    database = ground_truth(family.videos, subset="validation")["database"]
    first = family.videos[0]
    assert database[first.video_id]["annotations"][0]["segment"] == list(first.instances[0][:2])
    train, test = family.split(0.25)
    assert len(train) == 9 and len(test) == 3 and train + test == family.videos


def test_views_show_the_designed_weaknesses():
    """CBP peaks on a short core, CLIP covers instances but also background, audio has background events."""
    family = make_feature_set(SynthFeatureConfig(num_videos=30, num_classes=3, seed=4))
    cbp_fraction, prior_inside, prior_outside = [], [], []
    for video in family.videos:
        inside = inside_mask(video)
        strength = np.linalg.norm(video.features.views["cbp"] - np.median(video.features.views["cbp"], axis=0), axis=1)
        strong = strength > np.percentile(strength[~inside], 99)
        cbp_fraction.append(strong[inside].mean())
        prior = video.features.extras["clip_prior"]
        prior_inside.append(prior[inside].mean())
        prior_outside.append((prior[~inside] > 0.5).mean())
    assert 0.15 < np.mean(cbp_fraction) < 0.5  # only about the core fraction of each instance
    assert np.mean(prior_inside) > 0.55  # CLIP covers the instances ...
    assert 0.01 < np.mean(prior_outside) < 0.3  # ... and sometimes fires on background


def test_clip_prior_alone_localizes_better_than_chance_but_not_perfectly():
    family = make_feature_set(CONFIG)
    truth = {v.video_id: [GroundTruth(s, e, "a") for s, e, _ in v.instances] for v in family.videos}
    predictions = {v.video_id: [Prediction.from_segment(s) for s in localize(v.features.extras["clip_prior"], v.grid, LocalizeParams())]
                   for v in family.videos}
    result = evaluate_detection(truth, predictions, THUMOS_TIOUS, class_agnostic=True)
    assert 0.05 < result.mean_map < 0.6


def test_restrict_views_drops_the_prior_with_clip():
    features = make_feature_set(CONFIG).videos[0].features
    cbp_only = restrict_views(features, ("cbp",))
    assert set(cbp_only.views) == {"cbp"} and "clip_prior" not in cbp_only.extras
    assert set(cbp_only.absent) == {"clip", "audio"}
    assert "clip_prior" in restrict_views(features, ("clip", "audio")).extras
