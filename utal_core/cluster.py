"""Segment embeddings, pseudo-action clustering and cluster naming.

Segments (of one video, or of the whole library) are pooled into per-view embeddings, clustered
with k-means on the concatenation of their L2-normalised views (k fixed, or chosen by silhouette),
and the clusters are named together from an action vocabulary under a text scorer (CLIP prompts
when CLIP is available, the offline label bridge otherwise): distinct clusters get distinct names, and
a cluster whose best name does not stand out from the vocabulary stays unnamed (:class:`NamingConfig`).
A name is a suggestion: it comes with its similarity score, the encoder that produced it and its
runner-ups. An analysis keeps its fitted clusters (:class:`ClusterModel`): a new segmentation of the
same video is assigned to them, so names do not change when the threshold moves.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from functools import cache
from statistics import NormalDist
from typing import Any, Callable, Literal, Mapping, Sequence

import numpy as np
from threadpoolctl import ThreadpoolController

from .errors import UTALError
from .grid import SnippetGrid
from .text import CLASS_VOCABULARIES, TextScorer, kept_text_embeddings, l2_normalize, load_vocabulary
from .types import VIEW_NAMES, Segment, ViewFeatures

#: Vocabulary that names pseudo-action clusters (assets/vocab/actions.txt).
ACTION_VOCABULARY = "actions"


@cache
def _threads() -> ThreadpoolController:
    """The BLAS and OpenMP thread pools, looked up once (each lookup reads every loaded library: milliseconds)."""
    return ThreadpoolController()


def segment_snippets(segment: Segment, grid: SnippetGrid, num_snippets: int) -> tuple[int, int]:
    """First and last snippet (inclusive) whose windows make up ``segment``, per the grid convention."""
    first, last = segment_spans([segment], grid, num_snippets)
    return int(first[0]), int(last[0])


def segment_spans(segments: Sequence[Segment], grid: SnippetGrid, num_snippets: int) -> tuple[np.ndarray, np.ndarray]:
    """:func:`segment_snippets` of every segment: first and last snippets [N] (inclusive)."""
    half_stride = grid.stride / 2
    first = np.minimum(grid.nearest_index(np.array([s.start for s in segments], dtype=np.float64) + half_stride),
                       num_snippets - 1)
    last = grid.nearest_index(np.array([s.end for s in segments], dtype=np.float64) - half_stride)
    return first, np.minimum(np.maximum(last, first), num_snippets - 1)


@dataclass
class PooledRuns:
    """Embeddings of runs of snippets that a :class:`SegmentPooler` pooled, kept for its next segmentations (those of
    the threshold slider's positions share most of their runs), up to ``max_bytes``."""

    max_bytes: int = 64 << 20
    #: Per-view embeddings of each run ``(first, after)``: snippets first..after - 1.
    runs: dict[tuple[int, int], dict[str, np.ndarray]] = dataclasses.field(default_factory=dict)
    size: int = 0


class SegmentPooler:
    """Pools per-snippet features into segment embeddings (see :func:`segment_embeddings`).

    Built once per video and actionness curve: it keeps running totals over the snippets, so each
    set of segments costs in proportion to the number of segments, not to their total length (the
    app's re-threshold path pools every new segmentation).
    """

    def __init__(self, features: ViewFeatures, weights: np.ndarray) -> None:
        sources = dict(features.views)
        sources.update({key: features.extras[key] for key in CLASS_VOCABULARIES if key in features.extras})
        weights = np.clip(np.asarray(weights, dtype=np.float64), 0.0, None)
        self.num_snippets = features.num_snippets
        self._weight = _running_total(weights[:, None])[:, 0]
        self._weighted = {name: _running_total(np.asarray(values, dtype=np.float64) * weights[:, None])
                          for name, values in sources.items()}
        self._sources = sources

    def embeddings(self, segments: Sequence[Segment], grid: SnippetGrid,
                   kept: PooledRuns | None = None) -> dict[str, np.ndarray]:
        """Per-view embeddings [N, D] of ``segments``; with ``kept``, the runs of snippets found there are not pooled
        again, and the new ones are kept there (each embedding is its run's alone, so the same either way)."""
        first, last = segment_spans(segments, grid, self.num_snippets)
        if kept is None or not len(segments):
            return self._pool(first, last + 1)
        spans = list(zip(first.tolist(), (last + 1).tolist()))
        found = {span: kept.runs[span] for span in spans if span in kept.runs}
        missing = np.array([span for span in dict.fromkeys(spans) if span not in found], dtype=np.int64).reshape(-1, 2)
        pooled = self._pool(missing[:, 0], missing[:, 1])
        for row, span in enumerate(map(tuple, missing.tolist())):
            found[span] = {name: values[row] for name, values in pooled.items()}
            if kept.size < kept.max_bytes:
                kept.runs[span] = found[span]
                kept.size += sum(values.nbytes for values in found[span].values())
        return {name: np.stack([found[span][name] for span in spans]) for name in self._weighted}

    def _pool(self, first: np.ndarray, after: np.ndarray) -> dict[str, np.ndarray]:
        """Per-view embeddings [N, D] of the runs of snippets ``first..after - 1``; each row from its run alone."""
        totals = self._weight[after] - self._weight[first]
        # Weights too small to tell from zero in running totals count as none: the segment's plain mean then.
        weighted = totals > 1e-9 * max(float(self._weight[-1]), 1e-300)
        embeddings = {}
        for name, running in self._weighted.items():
            pooled = (running[after] - running[first]) / np.where(weighted, totals, 1.0)[:, None]
            for row in np.flatnonzero(~weighted):
                pooled[row] = np.asarray(self._sources[name][first[row] : after[row]], dtype=np.float64).mean(axis=0)
            embeddings[name] = pooled.astype(np.float32)
        return embeddings


def _running_total(values: np.ndarray) -> np.ndarray:
    """Running sums over rows with a leading zero row: rows a..b-1 sum to ``total[b] - total[a]``."""
    total = np.zeros((values.shape[0] + 1, values.shape[1]))
    np.cumsum(values, axis=0, out=total[1:])
    return total


def segment_embeddings(features: ViewFeatures, segments: Sequence[Segment], weights: np.ndarray,
                       grid: SnippetGrid) -> dict[str, np.ndarray]:
    """Per-view segment embeddings [N, D]: each segment's snippets averaged, weighted by actionness.

    Covers the present views (cbp, clip, audio) and the class-probability extras ``cbp_probs``
    and ``audio_scores``; a pooled probability row stays a distribution. Snippets with zero
    actionness in a segment fall back to a plain mean. To pool many segmentations of one video,
    keep a :class:`SegmentPooler`.
    """
    return SegmentPooler(features, weights).embeddings(segments, grid)


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
    with _threads().limit(limits=1):
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
    runner-up names with their similarities (best first). ``named`` is False for an unnamed cluster:
    no name of the vocabulary stood out from the rest (``name`` then says "unnamed cluster k")."""

    name: str
    score: float
    encoder: str
    alternatives: tuple[tuple[str, float], ...] = ()
    named: bool = True


@dataclass(frozen=True)
class NamingConfig:
    """How the clusters of one clustering are named together.

    A cluster's score for a name is the cosine similarity of its mean (in the scorer's space) to the
    name's text embedding; its *z-score* is that score's distance from the mean of the cluster's scores
    for the whole vocabulary, in standard deviations of those scores.

    1. A name is shown only when its z-score reaches the level that the best of V names would reach
       by chance with probability ``false_name_rate`` if no name stood out (V independent standard
       normal z-scores, a one-sided Bonferroni bound: about 3.29 for 99 names at 0.05). Otherwise the
       cluster is "unnamed cluster k": a wrong name is worse than none. The level depends on the
       vocabulary's size only, never on a video (``min_z`` sets it directly).
    2. Names are not repeated: clusters choose in order of their best z-score, each taking its best
       name not yet taken (if that name still reaches the level), so a second cluster whose best name
       is taken gets its next distinct one, or none.

    Each name keeps ``alternatives`` runner-up names with their scores.
    """

    alternatives: int = 3
    false_name_rate: float = 0.05
    min_z: float | None = None

    def level(self, vocabulary_size: int) -> float:
        """The z-score a name must reach in a vocabulary of ``vocabulary_size`` names."""
        if self.min_z is not None:
            return self.min_z
        return NormalDist().inv_cdf(1.0 - self.false_name_rate / max(vocabulary_size, 1))


def unnamed(cluster: int) -> str:
    """What a cluster without a name is called."""
    return f"unnamed cluster {cluster}"


def name_clusters(embeddings: Mapping[str, np.ndarray], result: ClusterResult, scorer: TextScorer,
                  vocabulary: Sequence[str] | None = None, config: NamingConfig = NamingConfig()) -> list[ClusterName]:
    """Name the clusters together from their means in ``scorer``'s space (see :class:`NamingConfig`)."""
    if result.k == 0:
        return []
    return name_vectors(cluster_means(embeddings, result, scorer.segment_vectors), scorer, vocabulary, config)


def vocabulary_embeddings(scorer: TextScorer, names: Sequence[str]) -> np.ndarray:
    """``scorer``'s unit embeddings of the naming vocabulary ``names`` (computed once; the label bridge's kept on disk)."""
    return kept_text_embeddings(scorer, "cluster-names", names)


def cluster_means(embeddings: Mapping[str, np.ndarray] | np.ndarray, result: ClusterResult,
                  to_space: Callable[[Any], np.ndarray]) -> np.ndarray:
    """Each cluster's mean [k, D] in a scorer's space, unit norm.

    ``to_space`` maps pooled segment data (a per-view dict or an array, like ``embeddings``) to
    vectors in the scorer's space, e.g. ``scorer.segment_vectors``.
    """
    means = np.zeros((result.k, len(result.labels)))
    for c in range(result.k):
        members = np.flatnonzero(result.labels == c)
        means[c, members] = 1.0 / max(len(members), 1)
    if isinstance(embeddings, np.ndarray):
        pooled: Any = (means @ embeddings.astype(np.float64)).astype(np.float32)
    else:
        pooled = {view: (means @ values.astype(np.float64)).astype(np.float32) for view, values in embeddings.items()}
    return l2_normalize(to_space(pooled))


def name_z_scores(scores: np.ndarray) -> np.ndarray:
    """Each score's distance from its row's mean over the vocabulary, in the row's standard deviations [k, V]."""
    spread = scores.std(axis=1, keepdims=True)
    return (scores - scores.mean(axis=1, keepdims=True)) / np.where(spread > 0, spread, np.inf)


def assign_names(z_scores: np.ndarray, level: float) -> np.ndarray:
    """Vocabulary index per cluster, or -1 for none, from z-scores [k, V] (see :class:`NamingConfig`)."""
    chosen = np.full(len(z_scores), -1, dtype=np.int64)
    taken = np.zeros(z_scores.shape[1], dtype=bool)
    for c in np.argsort(-z_scores.max(axis=1), kind="stable"):
        free = np.where(taken, -np.inf, z_scores[c])
        best = int(np.argmax(free))
        if free[best] >= level:
            chosen[c], taken[best] = best, True
    return chosen


def name_vectors(cluster_vectors: np.ndarray, scorer: TextScorer, vocabulary: Sequence[str] | None = None,
                 config: NamingConfig = NamingConfig()) -> list[ClusterName]:
    """Name the clusters whose means are ``cluster_vectors`` [k, D] (in ``scorer``'s space) together."""
    names = tuple(vocabulary) if vocabulary is not None else load_vocabulary(ACTION_VOCABULARY)
    scores = l2_normalize(cluster_vectors) @ vocabulary_embeddings(scorer, names).T
    chosen = assign_names(name_z_scores(scores), config.level(len(names)))
    named = []
    for c, index in enumerate(chosen):
        ranked = [int(i) for i in np.argsort(-scores[c], kind="stable") if i != index][: config.alternatives]
        alternatives = tuple((names[i], float(scores[c, i])) for i in ranked)
        if index < 0:
            named.append(ClusterName(unnamed(c), float(scores[c].max()), scorer.name, alternatives, named=False))
        else:
            named.append(ClusterName(names[index], float(scores[c, index]), scorer.name, alternatives))
    return named


@dataclass
class ClusterModel:
    """The pseudo-action clusters of one analysis, fitted once and kept: their centroids in the joint space
    of :func:`joint_features` (over ``views``), their names, and the number of clusters asked for. A new
    segmentation of the same video is assigned to the nearest centroid, so a cluster keeps its id and name."""

    centroids: np.ndarray
    names: list[ClusterName]
    views: tuple[str, ...]
    num_clusters: int | Literal["auto"]

    def fits(self, embeddings: Mapping[str, np.ndarray], num_clusters: int | Literal["auto"]) -> bool:
        """Whether these are clusters of ``embeddings``' joint space, fitted for ``num_clusters``."""
        present = tuple(name for name in VIEW_NAMES if name in embeddings)
        width = sum(embeddings[name].shape[1] for name in present)
        return num_clusters == self.num_clusters and present == self.views and width == self.centroids.shape[1]

    def assign(self, embeddings: Mapping[str, np.ndarray]) -> ClusterResult:
        """Each segment's nearest centroid (the k-means rule)."""
        points = joint_features(embeddings, self.views).astype(np.float64)
        centroids = self.centroids.astype(np.float64)
        with _threads().limit(limits=1):  # a few hundred points: threads cost more than they give, most on a busy machine
            distances = -2 * points @ centroids.T + np.einsum("ij,ij->i", centroids, centroids)[None, :]
        return ClusterResult(labels=distances.argmin(axis=1), k=len(centroids), centroids=self.centroids, quality=None)

    def to_dict(self) -> dict:
        return {"centroids": np.asarray(self.centroids, dtype=np.float64).round(6).tolist(),
                "names": [dataclasses.asdict(n) for n in self.names], "views": list(self.views),
                "num_clusters": self.num_clusters}

    @classmethod
    def from_dict(cls, data: dict) -> "ClusterModel":
        names = [ClusterName(**{**n, "alternatives": tuple((str(a), float(b)) for a, b in n.get("alternatives", []))})
                 for n in data["names"]]
        return cls(np.asarray(data["centroids"], dtype=np.float32).reshape(len(names), -1), names,
                   tuple(data["views"]), data["num_clusters"])


def fit_cluster_model(embeddings: Mapping[str, np.ndarray], num_clusters: int | Literal["auto"], scorer: TextScorer,
                      seed: int = 0) -> tuple[ClusterModel, ClusterResult]:
    """Cluster segments (:func:`cluster_segments`) and name the clusters (:func:`name_clusters`; all unnamed
    when ``scorer`` cannot read these segments): the model to keep, and this clustering."""
    result = cluster_segments(embeddings, k=num_clusters, seed=seed)
    try:
        names = name_clusters(embeddings, result, scorer)
    except UTALError:  # no view this scorer can read (e.g. no class probabilities)
        names = [ClusterName(unnamed(c), 0.0, "none", named=False) for c in range(result.k)]
    views = tuple(name for name in VIEW_NAMES if name in embeddings)
    return ClusterModel(result.centroids, names, views, num_clusters), result


def label_segments(segments: Sequence[Segment], result: ClusterResult,
                   names: Sequence[ClusterName]) -> list[Segment]:
    """Copies of ``segments`` carrying their cluster id and the cluster's suggested name and score."""
    return [
        dataclasses.replace(s, cluster=int(c), label=names[c].name, label_score=names[c].score)
        for s, c in zip(segments, result.labels)
    ]
