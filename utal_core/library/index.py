"""FAISS indexes of the segment library: exact inner-product search, IVF above a size threshold."""

from __future__ import annotations

from dataclasses import dataclass

import faiss
import numpy as np

#: Bump when the index files' layout changes; older files are then rebuilt at open.
INDEX_FORMAT = 1


@dataclass(frozen=True)
class LibraryConfig:
    """Index choice: exact search up to ``approximate_threshold`` vectors in a space, IVF above it.

    IVF uses ``ivf_lists(n, config)`` inverted lists (about ``lists_per_sqrt`` * sqrt(n), and at
    least ``training_per_list`` vectors per list), trained by spherical k-means for
    ``training_iterations`` rounds on at most ``training_per_list`` vectors per list; a query probes
    ``nprobe`` lists. The IVF index is retrained once a space has grown to need twice as many lists
    as it was trained with. See benchmarks/search_speed.py for the recall/latency figures.
    """

    approximate_threshold: int = 50_000
    nprobe: int = 512
    lists_per_sqrt: float = 8.0
    training_per_list: int = 32
    training_iterations: int = 10
    seed: int = 0


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
    """IVF-flat inner-product index keyed by segment id, trained on a seeded sample of ``vectors``."""
    lists = ivf_lists(len(vectors), config)
    rng = np.random.default_rng(config.seed)
    sample_size = min(len(vectors), lists * config.training_per_list)
    sample = vectors[np.sort(rng.choice(len(vectors), sample_size, replace=False))]
    index = faiss.IndexIVFFlat(faiss.IndexFlatIP(vectors.shape[1]), vectors.shape[1], lists, faiss.METRIC_INNER_PRODUCT)
    index.cp.seed = config.seed
    index.cp.spherical = True
    index.cp.niter = config.training_iterations
    # The sample is sized by training_per_list on purpose; silence faiss's "too few points" warning.
    index.cp.min_points_per_centroid = min(index.cp.min_points_per_centroid, config.training_per_list)
    index.train(np.ascontiguousarray(sample, dtype=np.float32))
    index.add_with_ids(np.ascontiguousarray(vectors, dtype=np.float32), np.asarray(ids, dtype=np.int64))
    index.nprobe = config.nprobe
    return index


def exact_index_contents(index: faiss.Index) -> tuple[np.ndarray, np.ndarray]:
    """Ids and vectors held by an index made by :func:`build_exact_index`."""
    ids = faiss.vector_to_array(index.id_map).astype(np.int64)
    return ids, index.index.reconstruct_n(0, index.ntotal) if len(ids) else np.zeros((0, index.d), np.float32)


@dataclass
class SpaceIndexes:
    """One generation of a space's indexes: exact always, IVF above the size threshold."""

    generation: int
    exact: faiss.Index
    ivf: faiss.Index | None
