"""Segment embeddings, pseudo-action clustering and cluster naming.

Segments (of one video, or of the whole library) are pooled into per-view embeddings, clustered
with k-means on the concatenation of their L2-normalised views (k fixed, or chosen by silhouette),
and the clusters are named together from an action vocabulary under a text scorer (CLIP prompts
when CLIP is available, the offline label bridge otherwise): distinct clusters get distinct names
unless their scores are within bootstrap noise (:class:`NamingConfig`). A name is a suggestion: it
comes with its similarity score, the encoder that produced it and its runner-ups.
"""

from __future__ import annotations

import dataclasses
import weakref
from dataclasses import dataclass
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np
from threadpoolctl import threadpool_limits

from .grid import SnippetGrid
from .text import CLASS_VOCABULARIES, TextScorer, l2_normalize, load_vocabulary
from .types import VIEW_NAMES, Segment, ViewFeatures

#: Vocabulary that names pseudo-action clusters (assets/vocab/actions.txt).
ACTION_VOCABULARY = "actions"


def segment_snippets(segment: Segment, grid: SnippetGrid, num_snippets: int) -> tuple[int, int]:
    """First and last snippet (inclusive) whose windows make up ``segment``, per the grid convention."""
    half_stride = grid.stride / 2
    first = int(grid.nearest_index(segment.start + half_stride))
    last = int(grid.nearest_index(segment.end - half_stride))
    first = min(first, num_snippets - 1)
    return first, min(max(last, first), num_snippets - 1)


def segment_embeddings(features: ViewFeatures, segments: Sequence[Segment], weights: np.ndarray,
                       grid: SnippetGrid) -> dict[str, np.ndarray]:
    """Per-view segment embeddings [N, D]: each segment's snippets averaged, weighted by actionness.

    Covers the present views (cbp, clip, audio) and the class-probability extras ``cbp_probs``
    and ``audio_scores``; a pooled probability row stays a distribution. Snippets with zero
    actionness in a segment fall back to a plain mean.
    """
    sources = dict(features.views)
    sources.update({key: features.extras[key] for key in CLASS_VOCABULARIES if key in features.extras})
    weights = np.clip(np.asarray(weights, dtype=np.float64), 0.0, None)
    spans = [segment_snippets(s, grid, features.num_snippets) for s in segments]
    pooling = np.zeros((len(segments), features.num_snippets), dtype=np.float64)
    for row, (first, last) in enumerate(spans):
        span_weights = weights[first : last + 1]
        if span_weights.sum() <= 0:
            span_weights = np.ones(last - first + 1)
        pooling[row, first : last + 1] = span_weights / span_weights.sum()
    return {name: (pooling @ values.astype(np.float64)).astype(np.float32) for name, values in sources.items()}


def joint_features(embeddings: Mapping[str, np.ndarray] | np.ndarray,
                   views: Sequence[str] = VIEW_NAMES) -> np.ndarray:
    """One vector per segment: the present ``views`` L2-normalised, concatenated, scaled to unit norm."""
    if isinstance(embeddings, np.ndarray):
        return l2_normalize(embeddings)
    present = [name for name in views if name in embeddings]
    if not present:
        raise ValueError(f"none of the views {list(views)} is in the segment embeddings")
    scale = 1.0 / np.sqrt(len(present))
    return np.concatenate([l2_normalize(embeddings[name]) * scale for name in present], axis=1)


@dataclass
class ClusterResult:
    """Cluster id per segment (0..k-1, numbered in order of first appearance), centroids, silhouette."""

    labels: np.ndarray
    k: int
    centroids: np.ndarray
    quality: float | None


@dataclass(frozen=True)
class ClusterConfig:
    """How ``k="auto"`` is chosen: it tries 2..max_k by silhouette (on at most ``auto_k_sample`` segments),
    falling back to one cluster when the best silhouette is below ``min_silhouette``; two segments share a
    cluster when their joint cosine similarity is at least ``pair_similarity`` (silhouette needs three or more)."""

    max_k: int = 10
    min_silhouette: float = 0.05
    pair_similarity: float = 0.8
    views: tuple[str, ...] = VIEW_NAMES
    #: k is chosen (and the silhouette measured) on at most this many segments, evenly spaced in the given
    #: order; the final fit uses all.
    auto_k_sample: int = 300


def _fit(points: np.ndarray, k: int, seed: int, restarts: int = 4, iterations: int = 100) -> np.ndarray:
    """k-means labels of ``points`` [N, D]: Lloyd's iterations from ``restarts`` k-means++ starts (seeded), the
    start of lowest inertia kept. In NumPy: the analysis path never imports scikit-learn (about 1 s of start-up)."""
    if k == 1:
        return np.zeros(len(points), dtype=np.int64)
    rng = np.random.default_rng(seed)
    squared_norms = np.einsum("ij,ij->i", points, points)
    best, best_inertia = np.zeros(len(points), dtype=np.int64), np.inf
    for _ in range(restarts):
        centres = _kmeans_plus_plus(points, squared_norms, k, rng)
        labels = np.full(len(points), -1, dtype=np.int64)
        for _ in range(iterations):
            distances = squared_norms[:, None] - 2 * points @ centres.T + np.einsum("ij,ij->i", centres, centres)[None, :]
            new_labels = distances.argmin(axis=1)
            if np.array_equal(new_labels, labels):
                break
            labels = new_labels
            for c in range(k):
                members = labels == c
                if members.any():
                    centres[c] = points[members].mean(axis=0)
        inertia = float(np.maximum(distances[np.arange(len(points)), labels], 0.0).sum())
        if inertia < best_inertia:
            best, best_inertia = labels, inertia
    return best


def _kmeans_plus_plus(points: np.ndarray, squared_norms: np.ndarray, k: int, rng: np.random.Generator) -> np.ndarray:
    """k starting centres: the first at random, each next one drawn in proportion to its squared distance to
    the nearest centre so far (Arthur and Vassilvitskii, 2007)."""
    centres = [points[rng.integers(len(points))]]
    nearest = np.maximum(squared_norms - 2 * points @ centres[0] + centres[0] @ centres[0], 0.0)
    for _ in range(1, k):
        total = nearest.sum()
        index = int(rng.choice(len(points), p=nearest / total)) if total > 0 else int(rng.integers(len(points)))
        centres.append(points[index])
        nearest = np.minimum(nearest, np.maximum(squared_norms - 2 * points @ points[index] + points[index] @ points[index], 0.0))
    return np.array(centres, dtype=np.float64)


def silhouette(points: np.ndarray, labels: np.ndarray) -> float:
    """Mean silhouette coefficient of a labelling (Euclidean; a point alone in its cluster counts 0), as
    scikit-learn's ``silhouette_score`` defines it."""
    squared_norms = np.einsum("ij,ij->i", points, points)
    distances = np.sqrt(np.maximum(squared_norms[:, None] - 2 * points @ points.T + squared_norms[None, :], 0.0))
    np.fill_diagonal(distances, 0.0)
    clusters = np.unique(labels)
    sums = np.stack([distances[:, labels == c].sum(axis=1) for c in clusters], axis=1)  # [N, k]
    sizes = np.array([(labels == c).sum() for c in clusters], dtype=np.float64)
    own = np.searchsorted(clusters, labels)
    inside = sums[np.arange(len(points)), own] / np.maximum(sizes[own] - 1, 1)
    others = sums / sizes[None, :]
    others[np.arange(len(points)), own] = np.inf
    nearest = others.min(axis=1)
    values = np.where(sizes[own] > 1, (nearest - inside) / np.maximum(np.maximum(inside, nearest), 1e-12), 0.0)
    return float(values.mean())


def _auto_k(points: np.ndarray, distinct: int, config: ClusterConfig, seed: int) -> int:
    if len(points) == 2:
        return 1 if float(points[0] @ points[1]) >= config.pair_similarity else 2
    best_k, best_quality = 1, config.min_silhouette
    for k in range(2, min(config.max_k, len(points) - 1, distinct) + 1):
        quality = silhouette(points, _fit(points, k, seed))
        if quality > best_quality:
            best_k, best_quality = k, quality
    return best_k


def _span_coordinates(points: np.ndarray) -> np.ndarray:
    if points.shape[1] <= len(points):
        return points
    # Coordinates with the same Gram matrix (hence the same distances), from an N x N eigenproblem.
    eigenvalues, eigenvectors = np.linalg.eigh(points @ points.T)
    return eigenvectors * np.sqrt(np.clip(eigenvalues, 0.0, None))


def _first_appearance_order(labels: np.ndarray) -> np.ndarray:
    _, first_rows = np.unique(labels, return_index=True)
    order = labels[np.sort(first_rows)]
    return np.argsort(order)[labels]


def cluster_segments(embeddings: Mapping[str, np.ndarray] | np.ndarray, k: int | Literal["auto"] = "auto",
                     seed: int = 0, config: ClusterConfig | None = None) -> ClusterResult:
    """Cluster segments into pseudo-actions (deterministic for a given ``seed``).

    ``embeddings`` is a per-view dict (see :func:`segment_embeddings`) or one [N, D] array.
    ``k`` fixed is capped at the number of distinct segments.
    """
    config = config or ClusterConfig()
    points = joint_features(embeddings, config.views).astype(np.float64)
    if len(points) == 0:
        return ClusterResult(np.zeros(0, dtype=np.int64), 0, np.zeros((0, points.shape[1]), np.float32), None)
    distinct = len(np.unique(points.round(6), axis=0))
    # k-means and silhouette only need distances, which N points keep exactly in their own
    # N-dimensional span; fitting there (single-threaded) keeps re-clustering interactive.
    with threadpool_limits(1):
        span = _span_coordinates(points)
        sample = np.unique(np.linspace(0, len(span) - 1, min(len(span), config.auto_k_sample)).round().astype(np.int64))
        if k == "auto":
            chosen = 1 if len(points) == 1 else _auto_k(span[sample], min(distinct, len(sample)), config, seed)
        else:
            chosen = max(1, min(int(k), distinct))
        labels = _first_appearance_order(_fit(span, chosen, seed))
        quality = silhouette(span[sample], labels[sample]) if 2 <= chosen < len(points) and \
            len(np.unique(labels[sample])) > 1 else None
    centroids = np.stack([points[labels == c].mean(axis=0) for c in range(chosen)]).astype(np.float32)
    return ClusterResult(labels=labels, k=chosen, centroids=centroids, quality=quality)


@dataclass(frozen=True)
class ClusterName:
    """A suggested name for a cluster, its text similarity, the encoder that suggested it, and the
    runner-up names with their similarities (best first)."""

    name: str
    score: float
    encoder: str
    alternatives: tuple[tuple[str, float], ...] = ()


@dataclass(frozen=True)
class NamingConfig:
    """How the clusters of one clustering are named together.

    A cluster's score for a name is the cosine similarity of its mean (in the scorer's space) to the
    name's text embedding. Its *noise* is the standard deviation of that score over ``bootstrap``
    resamples (with replacement, seeded) of the cluster's own segments.
    Names are assigned jointly by the Hungarian algorithm over clusters x vocabulary (maximising the
    summed score), so distinct clusters get distinct names. A cluster then takes its own best name
    back, shared with the cluster(s) holding it, only when both hold:

    1. its score for that name is within noise of every holder's: |s_c - s_d| < sqrt(noise_c² + noise_d²)
       (noise below ``resolution``, float32 rounding, counts as none: a one-segment cluster never shares);
    2. the distinct name it was given is worse by more than noise: the score gap exceeds the
       bootstrap standard deviation of that gap.

    Each name keeps ``alternatives`` runner-up names with their scores.
    """

    bootstrap: int = 100
    alternatives: int = 3
    seed: int = 0
    resolution: float = 1e-5


def name_clusters(embeddings: Mapping[str, np.ndarray], result: ClusterResult, scorer: TextScorer,
                  vocabulary: Sequence[str] | None = None, config: NamingConfig = NamingConfig()) -> list[ClusterName]:
    """Name the clusters jointly from their means in ``scorer``'s space (see :class:`NamingConfig`)."""
    if result.k == 0:
        return []
    vectors, boot = cluster_space_vectors(embeddings, result, scorer.segment_vectors, config)
    return name_vectors(vectors, scorer, vocabulary, boot, config)


_VOCABULARY_EMBEDDINGS: "weakref.WeakKeyDictionary[TextScorer, dict[tuple[str, ...], np.ndarray]]" = (
    weakref.WeakKeyDictionary())


def vocabulary_embeddings(scorer: TextScorer, names: Sequence[str]) -> np.ndarray:
    """``scorer``'s embeddings of ``names``, computed once per scorer and vocabulary (re-naming is on the
    app's re-threshold path, which must not re-embed a whole vocabulary)."""
    per_scorer = _VOCABULARY_EMBEDDINGS.setdefault(scorer, {})
    key = tuple(names)
    if key not in per_scorer:
        per_scorer[key] = scorer.embed_texts(key)
    return per_scorer[key]


def _pool(embeddings: Mapping[str, np.ndarray] | np.ndarray, weights: np.ndarray) -> dict[str, np.ndarray] | np.ndarray:
    """Weighted sums of segment rows (``weights`` [M, N]) for every view, or for one [N, D] array."""
    if isinstance(embeddings, np.ndarray):
        return (weights @ embeddings.astype(np.float64)).astype(np.float32)
    return {view: (weights @ values.astype(np.float64)).astype(np.float32) for view, values in embeddings.items()}


def cluster_space_vectors(embeddings: Mapping[str, np.ndarray] | np.ndarray, result: ClusterResult,
                          to_space: Callable[[Any], np.ndarray],
                          config: NamingConfig = NamingConfig()) -> tuple[np.ndarray, np.ndarray]:
    """Each cluster's mean in a scorer's space [k, D] and its bootstrap resamples [k, bootstrap, D].

    ``to_space`` maps pooled segment data (a per-view dict or an array, like ``embeddings``) to
    vectors in the scorer's space, e.g. ``scorer.segment_vectors``.
    """
    rng = np.random.default_rng(config.seed)
    num_segments = len(result.labels)
    means = np.zeros((result.k, num_segments))
    resamples = np.zeros((result.k * config.bootstrap, num_segments))
    for c in range(result.k):
        members = np.flatnonzero(result.labels == c)
        means[c, members] = 1.0 / len(members)
        draws = rng.integers(0, len(members), size=(config.bootstrap, len(members)))
        rows = np.arange(c * config.bootstrap, (c + 1) * config.bootstrap)
        np.add.at(resamples, (np.repeat(rows, len(members)), members[draws].ravel()), 1.0 / len(members))
    vectors = l2_normalize(to_space(_pool(embeddings, means)))
    boot = l2_normalize(to_space(_pool(embeddings, resamples)))
    return vectors, boot.reshape(result.k, config.bootstrap, -1)


def assign_names(scores: np.ndarray, boot_scores: np.ndarray, resolution: float = NamingConfig.resolution) -> np.ndarray:
    """Vocabulary index per cluster from ``scores`` [k, V] and their bootstrap [k, B, V] (see NamingConfig)."""
    from scipy.optimize import linear_sum_assignment

    chosen = scores.argmax(axis=1)
    rows, columns = linear_sum_assignment(-scores)
    chosen[rows] = columns
    noise = boot_scores.std(axis=1)
    for c in range(len(scores)):
        best, given = int(scores[c].argmax()), int(chosen[c])
        if best == given:
            continue
        holders = np.flatnonzero(chosen == best)
        combined = np.hypot(noise[holders, best], noise[c, best])
        within_noise = np.all((combined > resolution) & (np.abs(scores[holders, best] - scores[c, best]) < combined))
        gap_noise = (boot_scores[c, :, best] - boot_scores[c, :, given]).std()
        if within_noise and scores[c, best] - scores[c, given] > gap_noise:
            chosen[c] = best
    return chosen


def name_vectors(cluster_vectors: np.ndarray, scorer: TextScorer, vocabulary: Sequence[str] | None = None,
                 bootstrap_vectors: np.ndarray | None = None,
                 config: NamingConfig = NamingConfig()) -> list[ClusterName]:
    """Name the clusters whose means are ``cluster_vectors`` [k, D] (in ``scorer``'s space) jointly.

    ``bootstrap_vectors`` [k, B, D] are resampled means that measure each score's noise (see
    :class:`NamingConfig`); without them no two clusters share a name while the vocabulary lasts.
    """
    names = tuple(vocabulary) if vocabulary is not None else load_vocabulary(ACTION_VOCABULARY)
    text = vocabulary_embeddings(scorer, names)
    scores = l2_normalize(cluster_vectors) @ text.T
    boot_scores = (scores[:, None, :] if bootstrap_vectors is None
                   else l2_normalize(bootstrap_vectors) @ text.T)
    chosen = assign_names(scores, boot_scores, config.resolution)
    named = []
    for c, index in enumerate(chosen):
        ranked = [int(i) for i in np.argsort(-scores[c], kind="stable") if i != index][: config.alternatives]
        named.append(ClusterName(names[index], float(scores[c, index]), scorer.name,
                                 tuple((names[i], float(scores[c, i])) for i in ranked)))
    return named


def label_segments(segments: Sequence[Segment], result: ClusterResult,
                   names: Sequence[ClusterName]) -> list[Segment]:
    """Copies of ``segments`` carrying their cluster id and the cluster's suggested name and score."""
    return [
        dataclasses.replace(s, cluster=int(c), label=names[c].name, label_score=names[c].score)
        for s, c in zip(segments, result.labels)
    ]
