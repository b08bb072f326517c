"""Batch analysis speed: videos/min of `python -m utal_core batch` in-process vs `--ray local` with 1 and 2 workers.

``--speed`` (the default section): a folder of synthetic 1-minute videos (written once into
.cache/benchmarks), each configuration run cold into its own output folder (so its feature cache
is empty) as the CLI runs it; the time is the whole command's wall clock (process start, model
loading, Ray start where used, every video), and videos/min is videos / that time. Prints the
machine's load (``uptime``): on a shared machine the figures are contended.

    .venv/bin/python benchmarks/batch_speed.py                       # 3 videos, every offline view
    .venv/bin/python benchmarks/batch_speed.py --videos 4 --views motion
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import CACHE, ROOT

from utal_core.synth.video import SyntheticVideoSpec, make_video  # noqa: E402

SPEED_RUNS = (("in-process", []), ("--ray local, 1 worker", ["--ray", "local", "--workers", "1"]),
              ("--ray local, 2 workers", ["--ray", "local", "--workers", "2"]))


def minute_videos(count: int, width: int, height: int) -> Path:
    """A folder of ``count`` synthetic 1-minute videos, each with its own content (made once)."""
    folder = CACHE / f"batch_{count}x1min_{height}p"
    for index in range(count):
        path = folder / f"minute{index}.mp4"
        if not path.exists():
            print(f"writing {path.name} (once) ...", flush=True)
            make_video(path, SyntheticVideoSpec(duration=60.0, width=width, height=height, num_actions=4,
                                                seed=100 + index))
    return folder


def speed_section(args: argparse.Namespace) -> None:
    """videos/min of each runner on the same folder, cold."""
    folder = minute_videos(args.videos, args.width, args.height)
    views = ["--views", *args.views] if args.views else []
    print(f"load before: {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")
    print(f"{args.videos} synthetic 1-minute {args.height}p videos, views: {' '.join(args.views or ['default'])}")
    print(f"{'runner':<24} {'seconds':>8} {'videos/min':>11}")
    with tempfile.TemporaryDirectory(prefix="batch_speed_", dir=args.work) as work:
        # Warm-up (untimed): the text embeddings the label bridge caches, and the page cache, for every run alike.
        warm = make_video(Path(work) / "warm.mp4", SyntheticVideoSpec(duration=8.0, width=args.width, height=args.height,
                                                                       num_actions=1, min_action_s=1.5, max_action_s=2.5,
                                                                       min_gap_s=1.0, seed=99)).path
        subprocess.run([sys.executable, "-m", "utal_core", "batch", str(warm), "--out", str(Path(work) / "warm"),
                        "--no-progress", *views], capture_output=True, cwd=ROOT, check=True)
        for name, options in SPEED_RUNS:
            out = Path(work) / name.replace(" ", "_").replace(",", "").replace("-", "")
            command = [sys.executable, "-m", "utal_core", "batch", str(folder), "--out", str(out), "--no-progress",
                       *views, *options, *(["--ray-temp-dir", str(Path(work) / "ray")] if options else [])]
            started = time.perf_counter()
            run = subprocess.run(command, capture_output=True, text=True, cwd=ROOT,
                                 env=dict(os.environ) | {"RAY_USAGE_STATS_ENABLED": "0"})
            seconds = time.perf_counter() - started
            if run.returncode != 0:
                raise SystemExit(f"{name} failed:\n{run.stdout}\n{run.stderr}")
            print(f"{name:<24} {seconds:8.1f} {args.videos * 60 / seconds:11.2f}", flush=True)
    print(f"load after:  {subprocess.run(['uptime'], capture_output=True, text=True).stdout.strip()}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--speed", action="store_true", help="videos/min section (the default)")
    parser.add_argument("--videos", type=int, default=3, help="number of 1-minute videos (default 3)")
    parser.add_argument("--width", type=int, default=320)
    parser.add_argument("--height", type=int, default=240)
    parser.add_argument("--views", nargs="+", default=None, help="views to analyse (default: batch's default)")
    parser.add_argument("--work", default=None, help="folder for the output folders (default: system temp)")
    args = parser.parse_args()
    speed_section(args)


if __name__ == "__main__":
    main()
