"""Segment embeddings, pseudo-action clustering and cluster naming."""

from __future__ import annotations

from typing import Sequence

import numpy as np

from utal_core.cluster import (ClusterResult, NamingConfig, PooledRuns, SegmentPooler, cluster_means, cluster_segments,
                               label_segments, name_clusters, name_z_scores, segment_embeddings, segment_snippets)
from utal_core.grid import SnippetGrid
from utal_core.types import Segment, ViewFeatures


class KeywordScorer:
    """A text scorer without a model: texts and the "clip" view live in a 3-d keyword space."""

    name = "keywords"
    space = "clip"
    KEYWORDS = ("dog", "guitar", "swim")

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        vectors = np.array([[float(k in t) for k in self.KEYWORDS] for t in texts], dtype=np.float32)
        return vectors / np.maximum(np.linalg.norm(vectors, axis=1, keepdims=True), 1e-12)

    def segment_vectors(self, segment_data) -> np.ndarray:
        clip = segment_data["clip"]
        return clip / np.linalg.norm(clip, axis=1, keepdims=True)

    def score(self, query: str, segment_data) -> np.ndarray:
        return self.segment_vectors(segment_data) @ self.embed_texts([query])[0]


def features_on(grid: SnippetGrid) -> ViewFeatures:
    steps = np.arange(grid.num_snippets, dtype=np.float32)
    probs = np.full((grid.num_snippets, 1000), 1e-4, dtype=np.float32)
    probs[:, 7] = 1.0
    return ViewFeatures(times=grid.times, views={"clip": np.stack([steps, steps ** 2], axis=1)},
                        extras={"cbp_probs": probs / probs.sum(axis=1, keepdims=True)})


def test_segment_snippets_follow_the_grid_convention() -> None:
    grid = SnippetGrid(duration=10.0)
    first, last = 2, 4
    assert segment_snippets(Segment(*grid.span_seconds(first, last), 0.5), grid, grid.num_snippets) == (2, 4)
    assert segment_snippets(Segment(9.9, 10.0, 0.5), grid, grid.num_snippets) == (9, 9)


def test_segment_embeddings_are_actionness_weighted_means() -> None:
    grid = SnippetGrid(duration=10.0)
    features = features_on(grid)
    weights = np.zeros(grid.num_snippets)
    weights[2], weights[3] = 1.0, 3.0
    segments = [Segment(*grid.span_seconds(2, 3), 0.9), Segment(*grid.span_seconds(6, 8), 0.4)]
    pooled = segment_embeddings(features, segments, weights, grid)
    assert set(pooled) == {"clip", "cbp_probs"}
    np.testing.assert_allclose(pooled["clip"][0], [(2 + 3 * 3) / 4, (4 + 3 * 9) / 4])
    np.testing.assert_allclose(pooled["clip"][1], [7.0, (36 + 49 + 64) / 3])  # zero actionness: plain mean
    np.testing.assert_allclose(pooled["cbp_probs"].sum(axis=1), 1.0, rtol=1e-5)


def test_runs_kept_between_segmentations_pool_to_the_same_embeddings() -> None:
    """A pooler that keeps the runs it pooled (the threshold slider's positions) gives each segmentation the
    embeddings pooled afresh, bit for bit, also once its store is full; and the runs of an earlier segmentation
    are not pooled again."""
    grid = SnippetGrid(duration=40.0)
    rng = np.random.default_rng(4)
    features = ViewFeatures(times=grid.times, views={"cbp": rng.standard_normal((grid.num_snippets, 24)).astype(np.float32)},
                            extras={"cbp_probs": rng.dirichlet(np.ones(1000), grid.num_snippets).astype(np.float32)})
    weights = np.clip(rng.standard_normal(grid.num_snippets), 0.0, None)
    weights[10:14] = 0.0  # a run without actionness: the plain mean
    pooler = SegmentPooler(features, weights)
    runs = [(rng.integers(0, 36), rng.integers(1, 5)) for _ in range(30)] + [(10, 3), (10, 3)]
    segmentations = [[Segment(*grid.span_seconds(int(first), int(first + length)), 0.5) for first, length in runs[i:i + 12]]
                     for i in range(0, len(runs), 5)]
    for kept in (PooledRuns(), PooledRuns(max_bytes=20_000)):  # the second fills after a few runs
        for segments in segmentations:
            fresh = pooler.embeddings(segments, grid)
            again = pooler.embeddings(segments, grid, kept)
            assert fresh.keys() == again.keys()
            for view, values in fresh.items():
                assert values.dtype == again[view].dtype and np.array_equal(values, again[view]), view
        assert 0 < len(kept.runs) <= len({(first, length) for first, length in runs})
    pooled = []
    pooler._pool = lambda first, after, pool=pooler._pool: pooled.append(len(first)) or pool(first, after)
    kept = PooledRuns()
    pooler.embeddings(segmentations[0], grid, kept)
    pooler.embeddings(segmentations[0][::-1], grid, kept)
    assert pooled == [len({(s.start, s.end) for s in segmentations[0]}), 0]


def three_groups(per_group: int = 5, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    centres = np.eye(3, 16, dtype=np.float32) * 5
    clip = np.concatenate([c + 0.2 * rng.standard_normal((per_group, 16)) for c in centres]).astype(np.float32)
    audio = np.concatenate([np.eye(3, 8)[g] + 0.1 * rng.standard_normal((per_group, 8))
                            for g in range(3)]).astype(np.float32)
    return {"clip": clip, "audio": audio}


def test_auto_k_finds_separated_groups_deterministically() -> None:
    embeddings = three_groups()
    result = cluster_segments(embeddings, k="auto", seed=3)
    assert result.k == 3 and result.quality > 0.5
    np.testing.assert_array_equal(result.labels, np.repeat([0, 1, 2], 5))  # numbered by first appearance
    assert result.centroids.shape == (3, 24)
    again = cluster_segments(embeddings, k="auto", seed=3)
    np.testing.assert_array_equal(again.labels, result.labels)


def test_fixed_k_and_small_inputs() -> None:
    embeddings = three_groups()
    assert cluster_segments(embeddings, k=2, seed=0).k == 2
    assert cluster_segments(np.zeros((0, 4), np.float32)).k == 0
    assert cluster_segments(np.ones((1, 4), np.float32)).labels.tolist() == [0]
    same_pair = cluster_segments(np.array([[1, 0], [0.99, 0.05]], np.float32))
    different_pair = cluster_segments(np.array([[1, 0], [0, 1]], np.float32))
    assert (same_pair.k, different_pair.k) == (1, 2)
    assert different_pair.quality is None  # silhouette needs more segments than clusters
    duplicates = cluster_segments(np.ones((6, 4), np.float32), k=4)
    assert duplicates.k == 1  # k is capped at the number of distinct segments


def test_one_elongated_cloud_is_not_fragmented() -> None:
    rng = np.random.default_rng(0)
    result = cluster_segments(rng.standard_normal((40, 2)).astype(np.float32) * [1, 0.01], k="auto")
    assert result.k in (1, 2)  # a single elongated cloud: never fragmented into many clusters


VOCABULARY = ["walking a dog", "playing guitar", "swimming"]
#: Names the keyword space knows nothing of: a vocabulary of 33 names, as a real one is mostly unrelated names.
FILLERS = [f"reading book {i}" for i in range(30)]


def test_clusters_are_named_by_the_scorer() -> None:
    clip = np.array([[1, 0.1, 0], [0.9, 0, 0.1], [0, 1, 0.2], [0.1, 0.9, 0]], np.float32)
    result = ClusterResult(labels=np.array([0, 0, 1, 1]), k=2, centroids=np.zeros((2, 3)), quality=None)
    names = name_clusters({"clip": clip}, result, KeywordScorer(), vocabulary=VOCABULARY + FILLERS)
    assert [n.name for n in names] == ["walking a dog", "playing guitar"] and all(n.named for n in names)
    assert all(n.encoder == "keywords" and 0.9 < n.score <= 1.0 for n in names)
    segments = label_segments([Segment(0, 1, 0.5)] * 4, result, names)
    assert [(s.cluster, s.label) for s in segments][1:3] == [(0, "walking a dog"), (1, "playing guitar")]


def groups(*centres: Sequence[float], per_group: int = 6, spread: float = 0.02, seed: int = 0):
    """Keyword-space "clip" rows around each centre, and the clustering that puts each centre's rows together."""
    rng = np.random.default_rng(seed)
    clip = np.concatenate([np.asarray(c, np.float32) + spread * rng.standard_normal((per_group, 3)) for c in centres])
    labels = np.repeat(np.arange(len(centres)), per_group)
    return {"clip": clip.astype(np.float32)}, ClusterResult(labels, len(centres), np.zeros((len(centres), 3)), None)


def name_z(embeddings, result, vocabulary: Sequence[str]) -> np.ndarray:
    """Every cluster's z-score for every vocabulary name, as the naming measures it."""
    scorer = KeywordScorer()
    return name_z_scores(cluster_means(embeddings, result, scorer.segment_vectors) @ scorer.embed_texts(vocabulary).T)


def test_names_are_never_repeated_and_a_name_that_does_not_stand_out_is_not_given() -> None:
    # Three clusters whose nearest name is "walking a dog" for all of them (the band clip's three "singing"
    # clusters): the clearest one takes it, the next gets its next name where that stands out, the last none.
    vocabulary = VOCABULARY + FILLERS
    embeddings, result = groups([1, 0.15, 0.15], [1, 0.9, 0], [1, 0.3, 0])
    z = name_z(embeddings, result, vocabulary)
    level = NamingConfig().level(len(vocabulary))
    assert z.argmax(axis=1).tolist() == [0, 0, 0] and (z[:, 0] > level).all()
    assert z[1, 1] > level > z[2, 1]  # the second one's runner-up stands out, the third one's does not
    names = name_clusters(embeddings, result, KeywordScorer(), vocabulary=vocabulary)
    assert [n.name for n in names] == ["walking a dog", "playing guitar", "unnamed cluster 2"]
    assert [n.named for n in names] == [True, True, False]
    assert names[2].alternatives[0][0] == "walking a dog"  # what it resembles is still said, as a runner-up


def test_the_level_a_name_must_reach_depends_on_the_vocabulary_size_only() -> None:
    config = NamingConfig()
    assert abs(config.level(99) - 3.288) < 1e-3  # the app's action vocabulary: 99 names
    assert config.level(10) < config.level(99) < config.level(1000)
    embeddings, result = groups([1, 0.1, 0])
    best = float(name_z(embeddings, result, VOCABULARY + FILLERS).max())
    for min_z, expected in ((best - 0.01, "walking a dog"), (best + 0.01, "unnamed cluster 0")):
        named = name_clusters(embeddings, result, KeywordScorer(), vocabulary=VOCABULARY + FILLERS,
                              config=NamingConfig(min_z=min_z))
        assert [n.name for n in named] == [expected]


def test_names_keep_their_runner_ups_with_scores() -> None:
    embeddings, result = groups([1, 0.5, 0.2], [0.1, 1, 0.6])
    vocabulary = [*VOCABULARY, "dog and guitar"]
    scorer = KeywordScorer()
    scores = cluster_means(embeddings, result, scorer.segment_vectors) @ scorer.embed_texts(vocabulary).T
    names = name_clusters(embeddings, result, scorer, vocabulary=vocabulary,
                          config=NamingConfig(alternatives=2, min_z=float("-inf")))
    for cluster, name in enumerate(names):
        assert len(name.alternatives) == 2 and name.name not in [alt for alt, _ in name.alternatives]
        expected = sorted(((float(s), vocabulary[i]) for i, s in enumerate(scores[cluster])
                           if vocabulary[i] != name.name), reverse=True)[:2]
        assert [alt for alt, _ in name.alternatives] == [alt for _, alt in expected]
        np.testing.assert_allclose([s for _, s in name.alternatives], [s for s, _ in expected], rtol=1e-5)
