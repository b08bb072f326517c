"""Library add time: one add of 200 segments into a library of 10^5 or 10^6 segments (issue 12).

Before the shard change an add rewrote the whole index of its space (exact and IVF files, about
4 GB at 10^6 x 512-d); after it, an add appends a small shard and `library compact` folds the
shards later. The script builds one library per size once into ``--work`` (random unit 512-d
vectors, CLIP space, added in chunks of ``--chunk`` segments), then times one ``add_video`` of
``--segments`` segments on a fresh copy of it; where the code has ``compact``, it also times the
compaction that folds that add into the base.

``--code DIR`` runs the library code found in DIR instead of this tree's (a checkout of the older
code, to measure "before"). Build the libraries with the older code first: it cannot open a
library the newer code has written to.

    .venv/bin/python benchmarks/library_adds.py --code /path/to/old/checkout --work /tmp/adds
    .venv/bin/python benchmarks/library_adds.py --work /tmp/adds
"""

from __future__ import annotations

import argparse
import shutil
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
DIM = 512


def build_library(folder: Path, size: int, chunk: int, config: object) -> None:
    """A library of ``size`` random unit vectors, added ``chunk`` segments per video."""
    from utal_core.library import SegmentLibrary
    from utal_core.types import Segment

    rng = np.random.default_rng(size)
    started = time.perf_counter()
    with SegmentLibrary.open(folder, config) as library:
        for begin in range(0, size, chunk):
            count = min(chunk, size - begin)
            segments = [Segment(float(i), float(i) + 1.0, 0.5) for i in range(count)]
            vectors = rng.standard_normal((count, DIM), dtype=np.float32)
            library.add_video(f"/bench/build{begin}.mp4", f"build{begin}", float(count), {}, segments, {"clip": vectors})
            print(f"  built {begin + count} segments ({time.perf_counter() - started:.0f} s)", flush=True)


def time_one_add(folder: Path, segments_per_add: int, config: object) -> None:
    """Time one add (and, where the code compacts, the compaction after it) on a copy of ``folder``."""
    from utal_core.library import SegmentLibrary
    from utal_core.types import Segment

    trial = folder.with_name(folder.name + "-trial")
    shutil.rmtree(trial, ignore_errors=True)
    subprocess.run(["cp", "-r", "--reflink=auto", str(folder), str(trial)], check=True)
    segments = [Segment(float(i), float(i) + 1.0, 0.5) for i in range(segments_per_add)]
    vectors = np.random.default_rng(7).standard_normal((segments_per_add, DIM), dtype=np.float32)
    try:
        with SegmentLibrary.open(trial, config) as library:
            size = sum(video.num_segments for video in library.list_videos())
            before = {path: path.stat().st_mtime_ns for path in (trial / "indexes").iterdir()}
            started = time.perf_counter()
            library.add_video("/bench/new.mp4", "new", 200.0, {}, segments, {"clip": vectors})
            add_s = time.perf_counter() - started
            written = sum(path.stat().st_size for path in (trial / "indexes").iterdir()
                          if before.get(path) != path.stat().st_mtime_ns)
            line = f"n={size:>8}: one add of {segments_per_add} segments {add_s:7.3f} s (index files written: " \
                   f"{written / 1e6:.1f} MB)"
            if hasattr(library, "compact"):
                started = time.perf_counter()
                library.compact()
                line += f"; compaction afterwards {time.perf_counter() - started:.1f} s"
            print(line, flush=True)
    finally:
        shutil.rmtree(trial, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[100_000, 1_000_000])
    parser.add_argument("--work", type=Path, required=True, help="folder for the built libraries (kept for reruns)")
    parser.add_argument("--code", type=Path, default=ROOT, help="checkout whose utal_core to run")
    parser.add_argument("--segments", type=int, default=200, help="segments in the timed add")
    parser.add_argument("--chunk", type=int, default=250_000, help="segments per video while building")
    parser.add_argument("--training-iterations", type=int, default=1,
                        help="IVF k-means rounds while building (a 200-segment add never retrains, so this "
                             "only shortens the build)")
    args = parser.parse_args()
    sys.path.insert(0, str(args.code.resolve()))
    from utal_core.library import LibraryConfig

    config = LibraryConfig(training_iterations=args.training_iterations)
    print(f"library code from {args.code.resolve()}")
    for size in args.sizes:
        folder = args.work / f"library-{size}"
        if not folder.exists():
            print(f"building {folder} ...", flush=True)
            build_library(folder.with_name(folder.name + "-building"), size, args.chunk, config)
            folder.with_name(folder.name + "-building").rename(folder)
        time_one_add(folder, args.segments, config)


if __name__ == "__main__":
    main()
