"""The label bridge's offline action prior: class probabilities x action-vs-background affinity of class names."""

from __future__ import annotations

import numpy as np
import pytest

from tests.test_text import peaked
from utal_core.model import initial_pseudo_labels, load_cached_features
from utal_core.model.evidence import PseudoLabelConfig
from utal_core.text import BRIDGE_PRIOR_KEY, LabelBridgeScorer, add_bridge_prior
from utal_core.types import ViewFeatures


@pytest.fixture(scope="module")
def bridge() -> LabelBridgeScorer:
    return LabelBridgeScorer()


@pytest.fixture(scope="module")
def rng() -> np.random.Generator:
    return np.random.default_rng(0)


def test_audio_prior_ranks_human_sounds_above_silence(bridge: LabelBridgeScorer, rng: np.random.Generator) -> None:
    scores = peaked("audioset_521", ["Clapping", "Speech", "Silence", "Inside, small room"], rng)
    clapping, speech, silence, room = bridge.action_prior({"audio_scores": scores})
    assert clapping > 0.6
    assert speech > silence + 0.2 and speech > room + 0.2
    assert silence < 0.15 and room < 0.15


def test_image_prior_separates_action_classes_from_places(bridge: LabelBridgeScorer, rng: np.random.Generator) -> None:
    probabilities = peaked("imagenet_1k", ["baseball player", "church", "bookcase"], rng)
    player, church, bookcase = bridge.action_prior({"cbp_probs": probabilities})
    assert player > 0.8
    assert church < 0.2 and bookcase < 0.2


def test_prior_is_per_snippet_and_averages_both_vocabularies(bridge: LabelBridgeScorer, rng: np.random.Generator) -> None:
    image = peaked("imagenet_1k", ["baseball player", "church", "volleyball"], rng)
    audio = peaked("audioset_521", ["Silence", "Clapping", "Speech"], rng)
    both = bridge.action_prior({"cbp_probs": image, "audio_scores": audio})
    assert both.shape == (3,) and both.dtype == np.float32
    assert np.all((both >= 0) & (both <= 1))
    alone = [bridge.action_prior({"cbp_probs": image}), bridge.action_prior({"audio_scores": audio})]
    np.testing.assert_allclose(both, np.mean(alone, axis=0), atol=1e-5)


def test_no_class_probabilities_means_no_prior(bridge: LabelBridgeScorer) -> None:
    assert bridge.action_prior({}) is None
    assert bridge.action_prior({"clip_prior": np.full(4, 0.5)}) is None
    features = ViewFeatures(times=np.arange(4) + 0.5, views={"cbp": np.zeros((4, 3), np.float32)})
    assert BRIDGE_PRIOR_KEY not in add_bridge_prior(features, bridge).extras


def test_clip_prior_is_preferred(bridge: LabelBridgeScorer, rng: np.random.Generator) -> None:
    extras = {"clip_prior": np.full(2, 0.7, np.float32), "audio_scores": peaked("audioset_521", ["Speech", "Silence"], rng)}
    features = add_bridge_prior(ViewFeatures(times=np.arange(2) + 0.5, extras=extras), bridge)
    assert BRIDGE_PRIOR_KEY not in features.extras


def _features_with_prior(prior: np.ndarray) -> ViewFeatures:
    rng = np.random.default_rng(1)
    length = len(prior)
    views = {"cbp": rng.normal(size=(length, 8)).astype(np.float32), "audio": rng.normal(size=(length, 4)).astype(np.float32)}
    return ViewFeatures(times=np.arange(length) + 0.5, views=views, extras={BRIDGE_PRIOR_KEY: prior.astype(np.float32)})


def test_initial_pseudo_labels_follow_the_bridge_prior() -> None:
    prior = np.r_[np.full(20, 0.9), np.full(20, 0.1)]
    features = _features_with_prior(prior)
    views = ["cbp", "audio"]
    with_prior = initial_pseudo_labels(features, views)
    without = initial_pseudo_labels(features, views, PseudoLabelConfig(use_clip_prior=False))
    # the prior is one of three evidence curves, combined by their maximum: it lifts the labels where it is high,
    # and where it is low the other views decide
    assert with_prior[:18].mean() > without[:18].mean() + 0.1
    assert with_prior[:18].mean() > with_prior[22:].mean() + 0.2


def test_flat_bridge_prior_leaves_saliency_labels_unchanged() -> None:
    features = _features_with_prior(np.full(30, 0.5))
    off = PseudoLabelConfig(use_clip_prior=False)
    np.testing.assert_allclose(initial_pseudo_labels(features, ["cbp"]), initial_pseudo_labels(features, ["cbp"], off), atol=1e-6)


def test_clip_prior_overrides_the_bridge_prior() -> None:
    features = _features_with_prior(np.r_[np.full(20, 0.9), np.full(20, 0.1)])
    features.views["clip"] = np.random.default_rng(2).normal(size=(40, 6)).astype(np.float32)
    features.extras["clip_prior"] = np.full(40, 0.5, np.float32)
    labels = initial_pseudo_labels(features, ["cbp", "clip"])
    features.extras.pop(BRIDGE_PRIOR_KEY)
    np.testing.assert_allclose(labels, initial_pseudo_labels(features, ["cbp", "clip"]))


def test_cached_feature_files_get_the_prior(tmp_path, rng: np.random.Generator) -> None:
    scores = peaked("audioset_521", ["Clapping", "Silence"], rng)
    np.savez(tmp_path / "a.npz", times=np.array([0.5, 1.5]), audio=np.zeros((2, 4)), extra_audio_scores=scores)
    prior = load_cached_features(tmp_path / "a.npz").extras[BRIDGE_PRIOR_KEY]
    assert prior.shape == (2,) and prior[0] > prior[1]
