"""FAISS indexes of the segment library: exact inner-product search, IVF above a size threshold
(4-bit PQ fast-scan codes whose best candidates are re-ranked exactly), small exact shards appended
between compactions, and the top-k merge over all of them."""

from __future__ import annotations

import math
import os
from dataclasses import dataclass, field
from typing import Mapping, Sequence

import faiss
import numpy as np

from ..limits import parse_setting

#: Bump when the index files' layout changes; older files are then rebuilt at open.
INDEX_FORMAT = 1


@dataclass(frozen=True)
class LibraryConfig:
    """Index choice: exact search up to ``approximate_threshold`` vectors in a space, IVF above it.

    IVF uses ``ivf_lists(n, config)`` inverted lists (about ``lists_per_sqrt`` * sqrt(n), and at
    least ``training_per_list`` vectors per list), trained by spherical k-means for
    ``training_iterations`` rounds on at most ``training_per_list`` vectors per list; a query probes
    ``nprobe`` lists. The lists hold product-quantised codes (``pq_subvectors`` sub-vectors of 4
    bits, scanned by FAISS fast scan): the ``rerank`` best candidates are scored again exactly
    from the exact index. The IVF index is retrained once a space has grown to need twice as many
    lists as it was trained with. See benchmarks/search_speed.py for the recall/latency figures.
    """

    approximate_threshold: int = 50_000
    nprobe: int = 640
    lists_per_sqrt: float = 8.0
    pq_subvectors: int = 128
    rerank: int = 100
    #: The CLI's and the app's text search order hits by similarity + this weight * the segment's localization
    #: score (``search.rank_by_confidence``; 0: similarity alone), among the ``confidence_pool`` most similar.
    confidence_weight: float = 0.5
    confidence_pool: int = 200
    training_per_list: int = 32
    training_iterations: int = 10
    seed: int = 0
    #: A space whose base index holds at least this many vectors takes adds as shard files and
    #: removals as lists of removed ids; a smaller base is simply rewritten (a few MB at most).
    shard_above: int = 2048
    #: ``compact(if_needed=True)`` folds a space once it has more than this many shards and removals ...
    compact_shards: int = 16
    #: ... or once its shards and removals hold more than this many vectors.
    compact_vectors: int = 20_000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> "LibraryConfig":
        """Defaults, with the compaction thresholds overridden by ``UTAL_LIBRARY_COMPACT_SHARDS`` and
        ``UTAL_LIBRARY_COMPACT_VECTORS`` where set."""
        environ = os.environ if environ is None else environ
        values = {name: int(parse_setting(variable, environ[variable], int))
                  for name, variable in COMPACTION_ENV.items() if variable in environ}
        return cls(**values)


#: Environment variables of the compaction thresholds.
COMPACTION_ENV = {"compact_shards": "UTAL_LIBRARY_COMPACT_SHARDS", "compact_vectors": "UTAL_LIBRARY_COMPACT_VECTORS"}


def ivf_lists(count: int, config: LibraryConfig) -> int:
    """Number of IVF lists for ``count`` vectors under ``config``."""
    return int(max(1, min(config.lists_per_sqrt * np.sqrt(count), count // config.training_per_list)))


def build_exact_index(ids: np.ndarray, vectors: np.ndarray) -> faiss.Index:
    """Exact inner-product index keyed by segment id."""
    index = faiss.IndexIDMap2(faiss.IndexFlatIP(vectors.shape[1]))
    if len(ids):
        index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
    return index


def build_ivf_index(ids: np.ndarray, vectors: np.ndarray, config: LibraryConfig) -> faiss.Index:
    """IVF inner-product index of 4-bit PQ fast-scan codes keyed by segment id, trained on a seeded
    sample of ``vectors``; search it through :meth:`SpaceIndexes.search`, which re-ranks exactly."""
    lists = ivf_lists(len(vectors), config)
    dim = vectors.shape[1]
    rng = np.random.default_rng(config.seed)
    sample_size = min(len(vectors), lists * config.training_per_list)
    sample = vectors[np.sort(rng.choice(len(vectors), sample_size, replace=False))]
    index = faiss.IndexIVFPQFastScan(faiss.IndexFlatIP(dim), dim, lists, math.gcd(dim, config.pq_subvectors), 4,
                                     faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = config.seed
    index.cp.spherical = True
    index.cp.niter = config.training_iterations
    # The sample is sized by training_per_list on purpose; silence faiss's "too few points" warnings.
    index.cp.min_points_per_centroid = min(index.cp.min_points_per_centroid, config.training_per_list)
    index.pq.cp.min_points_per_centroid = 1
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
    index.nprobe = config.nprobe
    return index


def is_current_ivf(index: faiss.Index) -> bool:
    """Whether ``index`` is of the kind :func:`build_ivf_index` makes now (older libraries hold IVF-flat)."""
    return isinstance(index, faiss.IndexIVFPQFastScan)


def exact_index_contents(index: faiss.Index) -> tuple[np.ndarray, np.ndarray]:
    """Ids and vectors held by an index made by :func:`build_exact_index`."""
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    return ids, index.index.reconstruct_n(0, index.ntotal) if len(ids) else np.zeros((0, index.d), np.float32)


def _search_index(index: faiss.Index, query: np.ndarray, k: int,
                  selector: faiss.IDSelector | None) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (scores, ids) of one query [1, D] in a FAISS index, -1 ids where fewer exist."""
    k = min(k, index.ntotal)
    if k <= 0:
        return np.zeros(0, np.float32), np.zeros(0, np.int64)
    if selector is None:
        scores, ids = index.search(query, k)
    elif isinstance(index, faiss.IndexIVF):
        scores, ids = index.search(query, k, params=faiss.SearchParametersIVF(sel=selector, nprobe=index.nprobe))
    else:
        scores, ids = index.search(query, k, params=faiss.SearchParameters(sel=selector))
    return scores[0], ids[0]


def _search_rows(ids: np.ndarray, vectors: np.ndarray, query: np.ndarray, k: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``k`` (scores, ids) of one query [1, D] over ``vectors`` by brute force.

    The shards are small: a single-threaded product (einsum, not BLAS) beats a FAISS or BLAS call,
    whose thread pools cost milliseconds per query on a busy machine.
    """
    scores = np.einsum("ij,j->i", vectors, query[0])
    if len(scores) > k:
        top = np.argpartition(-scores, k)[:k]
        return scores[top], ids[top]
    return scores, ids


def merge_top_k(candidates: Sequence[tuple[np.ndarray, np.ndarray]], k: int) -> list[tuple[int, float]]:
    """The ``k`` best (id, score) of several (scores, ids) candidate lists, best first, each id once."""
    scores = np.concatenate([np.zeros(0, np.float32), *(found for found, _ in candidates)])
    ids = np.concatenate([np.zeros(0, np.int64), *(found for _, found in candidates)])
    ranked: dict[int, float] = {}
    for position in np.argsort(-scores, kind="stable"):
        segment_id = int(ids[position])
        if segment_id >= 0 and segment_id not in ranked:
            ranked[segment_id] = float(scores[position])
            if len(ranked) == k:
                break
    return list(ranked.items())


_NO_IDS = np.zeros(0, np.int64)


@dataclass
class SpaceIndexes:
    """A space's indexes: one base generation (exact always, IVF above the size threshold), the
    shards appended to it since (number -> ids and vectors, held in memory as arrays) and the ids
    removed from it since (number -> ids). Search covers base and shards and skips removed ids."""

    generation: int
    exact: faiss.Index
    ivf: faiss.Index | None
    #: The ``indexes`` row the base was loaded from or written as (a repair may keep the generation).
    row: tuple = ()
    shards: dict[int, tuple[np.ndarray, np.ndarray]] = field(default_factory=dict)
    removals: dict[int, np.ndarray] = field(default_factory=dict)
    _live_shards: tuple[np.ndarray, np.ndarray] | None = field(default=None, repr=False)

    def add_shard(self, number: int, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Hold shard ``number`` (ids and normalised vectors) in memory."""
        self.shards[number] = (np.asarray(ids, np.int64), np.ascontiguousarray(vectors, np.float32))
        self._live_shards = None

    def add_removal(self, number: int, ids: np.ndarray) -> None:
        """Hold removal ``number`` (the removed ids) in memory."""
        self.removals[number] = np.asarray(ids, np.int64)
        self._live_shards = None

    @property
    def removed(self) -> np.ndarray:
        """Every id removed since the base was written."""
        return np.concatenate([_NO_IDS, *self.removals.values()])

    @property
    def count(self) -> int:
        """Vectors a search can find: base and shards less the removed ones."""
        return self.exact.ntotal + sum(len(ids) for ids, _ in self.shards.values()) - len(self.removed)

    @property
    def pending(self) -> int:
        """Vectors in shards plus removed ids: what a compaction would fold into the base."""
        return sum(len(ids) for ids, _ in self.shards.values()) + len(self.removed)

    def shard_contents(self) -> tuple[np.ndarray, np.ndarray]:
        """Ids and vectors of every shard, in shard order."""
        parts = [self.shards[number] for number in sorted(self.shards)]
        return (np.concatenate([_NO_IDS, *(ids for ids, _ in parts)]),
                np.concatenate([np.zeros((0, self.exact.d), np.float32), *(vectors for _, vectors in parts)]))

    def _live_shard_rows(self) -> tuple[np.ndarray, np.ndarray]:
        if self._live_shards is None:
            ids, vectors = self.shard_contents()
            keep = ~np.isin(ids, self.removed)
            self._live_shards = ids[keep], np.ascontiguousarray(vectors[keep])
        return self._live_shards

    def search(self, query: np.ndarray, k: int, allowed: np.ndarray | None = None,
               rerank: int = LibraryConfig.rerank) -> list[tuple[int, float]]:
        """The ``k`` best (id, score) for the normalised ``query`` [1, D] over base and shards.

        With ``allowed`` only those ids are candidates, searched exactly (IVF probing could miss them).
        An IVF base of PQ codes gives its ``rerank`` best candidates, scored again exactly.
        """
        ids, vectors = self._live_shard_rows()
        if allowed is not None:
            keep = np.isin(ids, allowed)
            base = _search_index(self.exact, query, k, faiss.IDSelectorBatch(allowed))
            return merge_top_k([base, _search_rows(ids[keep], vectors[keep], query, k)], k)
        removed = self.removed
        kept_out = faiss.IDSelectorBatch(removed) if len(removed) else None
        selector = None if kept_out is None else faiss.IDSelectorNot(kept_out)
        if self.ivf is None or isinstance(self.ivf, faiss.IndexIVFFlat):  # exact scores already
            base = _search_index(self.ivf or self.exact, query, k, selector)
        else:
            _, candidates = _search_index(self.ivf, query, max(k, rerank), selector)
            candidates = candidates[candidates >= 0]
            base = _search_rows(candidates, self.exact.reconstruct_batch(candidates), query, k)
        return merge_top_k([base, _search_rows(ids, vectors, query, k)], k)
