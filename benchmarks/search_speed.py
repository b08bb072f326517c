"""Library search speed: latency (p50/p99), recall@10 against exact search, and add throughput.

Data: random 512-d unit vectors with cluster structure (one random unit centre per
``--points-per-center`` segments, each vector a centre plus isotropic noise, L2-normalised);
queries are held-out vectors drawn the same way. Indexes are built exactly as the library builds
them (``build_exact_index`` and ``build_ivf_index`` with ``LibraryConfig``; the library uses IVF
only above its threshold) and searched through ``SpaceIndexes.search`` (IVF candidates re-ranked
exactly, as the library does), so the figures describe the shipped settings. Latency is one query
at a time, as the app and CLI issue them. The load average is printed with the figures: the
machine may be shared. ``--cache-dir`` keeps each built IVF index (keyed by size, data and
settings) so that a rerun skips the training, which takes minutes at 10^6.

With ``--shards N`` each size is also measured as the library searches between compactions: the
last N x ``--segments-per-video`` vectors moved out of the IVF base into N exact shards and one
video's worth of base ids removed, searched through ``SpaceIndexes.search`` (the library's merge of
base and shards), with recall against the exact top-10 of the vectors that remain.

    .venv/bin/python benchmarks/search_speed.py --sizes 10000 100000 1000000
"""

from __future__ import annotations

import argparse
import dataclasses
import hashlib
import os
import sys
import tempfile
import time
from pathlib import Path

import faiss
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from utal_core.library import LibraryConfig, SegmentLibrary, SpaceIndexes, build_exact_index, build_ivf_index
from utal_core.types import Segment

DIM = 512
K = 10


def clustered_vectors(count: int, centers: np.ndarray, noise: float, rng: np.random.Generator,
                      chunk: int = 100_000) -> np.ndarray:
    """``count`` unit vectors, each a random centre plus Gaussian noise of norm about ``noise``."""
    out = np.empty((count, centers.shape[1]), dtype=np.float32)
    for begin in range(0, count, chunk):
        size = min(chunk, count - begin)
        rows = centers[rng.integers(len(centers), size=size)]
        rows = rows + rng.standard_normal(rows.shape, dtype=np.float32) * (noise / np.sqrt(centers.shape[1]))
        out[begin : begin + size] = rows / np.linalg.norm(rows, axis=1, keepdims=True)
    return out


def timed_search(indexes: SpaceIndexes, queries: np.ndarray, rerank: int) -> tuple[np.ndarray, np.ndarray]:
    """Top-``K`` ids per query (-1 padded) and per-query wall time in ms, one query per call, through
    the library's search of base and shards."""
    times = np.empty(len(queries))
    found = np.full((len(queries), K), -1, dtype=np.int64)
    for row, query in enumerate(queries):
        started = time.perf_counter()
        ranked = indexes.search(query[None, :], K, rerank=rerank)
        times[row] = (time.perf_counter() - started) * 1000
        found[row, : len(ranked)] = [segment_id for segment_id, _ in ranked]
    return found, times


def load_average() -> str:
    return "load average " + ", ".join(f"{load:.2f}" for load in os.getloadavg())


def cached_ivf(ids: np.ndarray, vectors: np.ndarray, config: LibraryConfig,
               args: argparse.Namespace) -> tuple[faiss.Index, bool]:
    """``build_ivf_index`` and whether it was read from ``--cache-dir`` (where this size, data and
    configuration were built before) rather than built."""
    if args.cache_dir is None:
        return build_ivf_index(ids, vectors, config), False
    # nprobe and rerank are search settings: a cached index serves any of them.
    built_with = dataclasses.replace(config, nprobe=0, rerank=0)
    key = hashlib.sha256(repr((len(ids), args.seed, args.points_per_center, args.noise, built_with,
                               faiss.__version__)).encode()).hexdigest()[:16]
    path = Path(args.cache_dir) / f"ivf-{len(ids)}-{key}.faiss"
    if path.exists():
        return faiss.read_index(str(path)), True
    index = build_ivf_index(ids, vectors, config)
    path.parent.mkdir(parents=True, exist_ok=True)
    faiss.write_index(index, str(path))
    return index, False


def recall_at_k(found: np.ndarray, truth: np.ndarray) -> float:
    """Mean fraction of the exact top-k found by the approximate top-k."""
    return float(np.mean([len(np.intersect1d(f, t)) / K for f, t in zip(found, truth)]))


def bench_size(size: int, args: argparse.Namespace, config: LibraryConfig) -> None:
    rng = np.random.default_rng(args.seed)
    # Clusters of about points_per_center segments at every size, so that a query's true neighbours
    # are not simply "its whole cluster" (which would make recall trivially 1 at large sizes).
    centers = rng.standard_normal((max(10, size // args.points_per_center), DIM), dtype=np.float32)
    centers /= np.linalg.norm(centers, axis=1, keepdims=True)
    vectors = clustered_vectors(size, centers, args.noise, rng)
    queries = clustered_vectors(args.queries, centers, args.noise, rng)
    ids = np.arange(1, size + 1, dtype=np.int64)

    started = time.perf_counter()
    exact = build_exact_index(ids, vectors)
    exact_add = size / (time.perf_counter() - started)
    _, truth = exact.search(queries, K)
    _, exact_ms = timed_search(SpaceIndexes(1, exact, None), queries[: args.exact_queries], config.rerank)
    print(f"n={size:>8}  exact: add {exact_add:>10.0f} seg/s  p50 {np.percentile(exact_ms, 50):6.2f} ms  "
          f"p99 {np.percentile(exact_ms, 99):6.2f} ms  ({len(exact_ms)} queries, {exact.ntotal * DIM * 4 / 2**20:.0f} MiB)",
          flush=True)

    started = time.perf_counter()
    ivf, from_cache = cached_ivf(ids, vectors, config, args)
    build_s = time.perf_counter() - started
    del vectors
    ivf_mib = faiss.serialize_index(ivf).nbytes / 2**20
    print(f"n={size:>8}  ivf:   {type(ivf).__name__}, {ivf.nlist} lists, {ivf_mib:.0f} MiB, "
          f"{'read from the cache in' if from_cache else 'train+add'} {build_s:6.1f} s", flush=True)
    for nprobe in args.nprobe or [config.nprobe]:
        ivf.nprobe = nprobe
        found, ivf_ms = timed_search(SpaceIndexes(1, exact, ivf), queries, config.rerank)
        marker = "  <- library default" if nprobe == config.nprobe else ""
        print(f"n={size:>8}  ivf nprobe {nprobe:>3}, rerank {config.rerank}: recall@10 {recall_at_k(found, truth):.4f}  "
              f"p50 {np.percentile(ivf_ms, 50):6.2f} ms  p99 {np.percentile(ivf_ms, 99):6.2f} ms{marker}  "
              f"({load_average()})", flush=True)
    if args.shards:
        ivf.nprobe = config.nprobe
        bench_sharded(size, exact, ivf, queries, args, config.rerank)


def bench_sharded(size: int, exact: faiss.Index, ivf: faiss.Index, queries: np.ndarray,
                  args: argparse.Namespace, rerank: int) -> None:
    """Recall and latency of base IVF + exact shards + removed ids, searched as the library does."""
    per_shard = args.segments_per_video
    sharded_ids = np.arange(size - args.shards * per_shard + 1, size + 1, dtype=np.int64)
    removed = np.arange(1, per_shard + 1, dtype=np.int64)
    ivf.remove_ids(faiss.IDSelectorBatch(sharded_ids))
    vectors = exact.index.reconstruct_n(size - len(sharded_ids), len(sharded_ids))
    indexes = SpaceIndexes(1, exact, ivf)
    for number in range(args.shards):
        rows = slice(number * per_shard, (number + 1) * per_shard)
        indexes.add_shard(number + 1, sharded_ids[rows], vectors[rows])
    indexes.add_removal(1, removed)
    _, wider = exact.search(queries, K + len(removed))
    truth = np.array([[i for i in row if i > per_shard][:K] for row in wider])
    found, times = timed_search(indexes, queries, rerank)
    print(f"n={size:>8}  ivf base + {args.shards} shards x {per_shard} + {len(removed)} removed: "
          f"recall@10 {recall_at_k(found, truth):.4f}  p50 {np.percentile(times, 50):6.2f} ms  "
          f"p99 {np.percentile(times, 99):6.2f} ms  ({load_average()})", flush=True)


def bench_library_add(videos: int, segments_per_video: int, seed: int) -> None:
    """End-to-end ``SegmentLibrary.add_video`` throughput (SQLite + index files), CLIP space only."""
    rng = np.random.default_rng(seed)
    segments = [Segment(start=float(i), end=float(i) + 1.0, score=0.5) for i in range(segments_per_video)]
    with tempfile.TemporaryDirectory() as folder, SegmentLibrary.open(folder) as library:
        started = time.perf_counter()
        for video in range(videos):
            vectors = rng.standard_normal((segments_per_video, DIM), dtype=np.float32)
            library.add_video(f"video{video}.mp4", f"hash{video}", 60.0, {}, segments, {"clip": vectors})
        elapsed = time.perf_counter() - started
    total = videos * segments_per_video
    print(f"library add_video: {videos} videos x {segments_per_video} segments = {total} in {elapsed:.1f} s "
          f"= {total / elapsed:.0f} seg/s", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[10_000, 100_000, 1_000_000])
    parser.add_argument("--queries", type=int, default=1000, help="held-out queries for recall and IVF latency")
    parser.add_argument("--exact-queries", type=int, default=100, help="queries timed on the exact index")
    parser.add_argument("--nprobe", type=int, nargs="*", help="IVF nprobe values to sweep (default: the library's)")
    parser.add_argument("--points-per-center", type=int, default=100, help="segments per synthetic cluster")
    parser.add_argument("--noise", type=float, default=1.5, help="noise norm relative to the unit centres")
    parser.add_argument("--shards", type=int, default=LibraryConfig.compact_shards,
                        help="also measure base + this many shards (0: skip; default: the compaction threshold)")
    parser.add_argument("--library-videos", type=int, default=50, help="videos for the end-to-end add (0: skip)")
    parser.add_argument("--segments-per-video", type=int, default=200)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--cache-dir", help="keep built IVF indexes here and reuse them (outside the repository)")
    args = parser.parse_args()
    config = LibraryConfig()
    print(f"library defaults: exact up to {config.approximate_threshold} segments, IVF nprobe {config.nprobe}, "
          f"{config.pq_subvectors} x 4-bit PQ codes, {config.rerank} candidates re-ranked exactly; {load_average()}")
    for size in args.sizes:
        bench_size(size, args, config)
    if args.library_videos:
        bench_library_add(args.library_videos, args.segments_per_video, args.seed)


if __name__ == "__main__":
    main()
