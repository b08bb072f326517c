"""Text scorers: the offline label bridge (all-MiniLM-L6-v2) and the CLIP text tower (tiny random model)."""

from __future__ import annotations

import numpy as np
import pytest

from tests.tiny_clip import register_tiny_clip
from utal_core.errors import UTALError
from utal_core.text import (LabelBridgeConfig, LabelBridgeScorer, TextScorer, build_text_scorer,
                            list_text_scorers, load_vocabulary)


def peaked(vocabulary: str, names: list[str], rng: np.random.Generator) -> np.ndarray:
    """One probability row per name, peaking (0.8) on that class over a small random floor."""
    classes = load_vocabulary(vocabulary)
    rows = rng.random((len(names), len(classes))) * 0.01
    for row, name in enumerate(names):
        rows[row, classes.index(name)] = 0.8
    return (rows / rows.sum(axis=1, keepdims=True)).astype(np.float32)


@pytest.fixture(scope="module")
def bridge(tmp_path_factory) -> LabelBridgeScorer:
    return LabelBridgeScorer(LabelBridgeConfig(cache_dir=tmp_path_factory.mktemp("text-cache")))


@pytest.fixture(scope="module")
def tiny_clip() -> TextScorer:
    return build_text_scorer("clip", model_name=register_tiny_clip(), pretrained=None)


def test_vocabularies_match_class_outputs() -> None:
    assert len(load_vocabulary("imagenet_1k")) == 1000
    assert len(load_vocabulary("audioset_521")) == 521
    assert load_vocabulary("audioset_521")[0] == "Speech"


def test_label_bridge_ranks_known_content_first(bridge: LabelBridgeScorer) -> None:
    rng = np.random.default_rng(0)
    segments = {
        "cbp_probs": peaked("imagenet_1k", ["Golden Retriever", "sports car", "acoustic guitar"], rng),
        "audio_scores": peaked("audioset_521", ["Bark", "Vehicle", "Music"], rng),
    }
    for query, expected in (("dog", 0), ("car", 1), ("music", 2)):
        assert int(np.argmax(bridge.score(query, segments))) == expected, query
        query_vector = bridge.embed_texts([query])[0]
        assert int(np.argmax(bridge.segment_vectors(segments) @ query_vector)) == expected, query


def test_label_bridge_works_with_one_vocabulary(bridge: LabelBridgeScorer) -> None:
    audio_only = {"audio_scores": peaked("audioset_521", ["Speech", "Music"], np.random.default_rng(1))}
    weights, class_vectors = bridge.class_weights(audio_only)
    assert weights.shape == (2, 521) and class_vectors.shape == (521, 384)
    np.testing.assert_allclose(weights.sum(axis=1), 1.0, rtol=1e-5)
    assert (weights > 0).sum(axis=1).max() <= bridge.config.top_k
    assert int(np.argmax(bridge.score("music", audio_only))) == 1
    with pytest.raises(UTALError, match="no class probabilities"):
        bridge.score("music", {"clip": np.ones((2, 4), np.float32)})


def test_class_embeddings_are_cached_on_disk(bridge: LabelBridgeScorer) -> None:
    first = bridge.class_embeddings("audioset_521")
    cached = LabelBridgeScorer(bridge.config, model=object())  # a model without encode(): must read the cache
    np.testing.assert_array_equal(cached.class_embeddings("audioset_521"), first)
    assert len(list(bridge.config.cache_dir.glob("audioset_521-*.npy"))) == 1


def test_empty_query_is_a_user_error(bridge: LabelBridgeScorer) -> None:
    with pytest.raises(UTALError, match="Type something to search for."):
        bridge.score("   ", {"audio_scores": np.ones((1, 521), np.float32)})


def test_clip_segment_equal_to_query_embedding_ranks_first(tiny_clip: TextScorer) -> None:
    assert tiny_clip.name == "clip/utal_tiny_clip (unverified weights)" and tiny_clip.space == "clip"
    assert not tiny_clip.verified and tiny_clip.label == "CLIP (unverified weights)"  # random weights
    text = tiny_clip.embed_texts(["a person playing guitar"])[0]
    rng = np.random.default_rng(0)
    clip_view = rng.standard_normal((5, text.shape[0])).astype(np.float32)
    clip_view[3] = text * 2.5  # scale does not matter: cosine similarity
    scores = tiny_clip.score("a person playing guitar", {"clip": clip_view})
    assert int(np.argmax(scores)) == 3 and scores[3] == pytest.approx(1.0, abs=1e-5)
    with pytest.raises(UTALError, match="no CLIP embeddings"):
        tiny_clip.score("guitar", {"audio": clip_view})


def test_registry() -> None:
    assert {"clip", "label_bridge"} <= set(list_text_scorers())
    with pytest.raises(UTALError, match="Unknown text encoder"):
        build_text_scorer("word2vec")
    with pytest.raises(UTALError, match="could not be loaded"):
        build_text_scorer("clip", model_name="no-such-model")


def test_label_bridge_names_clusters(bridge: LabelBridgeScorer) -> None:
    from utal_core.cluster import cluster_segments, name_clusters

    rng = np.random.default_rng(2)
    segments = {"cbp_probs": peaked("imagenet_1k", ["Golden Retriever"] * 3 + ["acoustic guitar"] * 3, rng),
                "audio_scores": peaked("audioset_521", ["Bark"] * 3 + ["Music"] * 3, rng)}
    result = cluster_segments(np.concatenate(list(segments.values()), axis=1), k=2)
    names = name_clusters(segments, result, bridge)  # the action vocabulary: a name must stand out among 99
    assert result.labels.tolist() == [0, 0, 0, 1, 1, 1]
    assert [n.name for n in names] == ["playing with a dog", "playing guitar"] and all(n.named for n in names)
    assert names[0].encoder == bridge.name
