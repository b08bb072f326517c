"""Frame sampling cost of both media backends side by side: 2 frames/s (short side 256) from a synthetic
720p video and from data/footage/bbb.mp4 (a git-ignored local copy; skipped when absent), against
plain ffmpeg on the same file when the binary is there.

Targets (issue 2): peak RSS under 600 MB, and decode time within 2x of
`ffmpeg -i VIDEO -vf fps=2,scale=W:H -f null -`. Each backend runs in a fresh subprocess
(UTAL_MEDIA_BACKEND=ffmpeg|pyav), so its peak RSS is its own; the ffmpeg backend's RSS adds its
largest ffmpeg child.

    .venv/bin/python benchmarks/decode.py [--minutes 10] [--footage data/footage/bbb.mp4] [--json]
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

from common import ROOT, long_video

from utal_core.grid import SnippetGrid
from utal_core.media import output_size, probe

BACKENDS = ("ffmpeg", "pyav")
SAMPLER = """
import json, sys, time
from utal_core.grid import SnippetGrid
from utal_core.media import iter_frames, probe
sys.path.insert(0, "benchmarks")
from common import peak_rss_mb
path, short_side = sys.argv[1], int(sys.argv[2])
info = probe(path)
grid = SnippetGrid(info.duration, stride=0.5, window=0.5)
start = time.perf_counter()
frames = sum(len(b.frames) for b in iter_frames(path, grid, short_side=short_side, batch_size=32, info=info))
print(json.dumps({"seconds": time.perf_counter() - start, "frames": frames,
                  "python_rss_mb": peak_rss_mb(), "ffmpeg_rss_mb": peak_rss_mb(children=True)}))
"""


def plain_ffmpeg_seconds(path: Path, width: int, height: int) -> float | None:
    """Wall time of the reference decode (fps=2 + scale into a null muxer), None without the binary."""
    if shutil.which("ffmpeg") is None:
        return None
    start = time.perf_counter()
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-vf", f"fps=2,scale={width}:{height}",
                    "-f", "null", "-"], check=True)
    return time.perf_counter() - start


def sample_with(backend: str, path: Path, short_side: int) -> dict:
    """One backend's iter_frames over ``path`` in a fresh subprocess: seconds, frames, peak RSS."""
    env = os.environ | {"UTAL_MEDIA_BACKEND": backend}
    done = subprocess.run([sys.executable, "-c", SAMPLER, str(path), str(short_side)],
                          capture_output=True, text=True, check=True, cwd=ROOT, env=env)
    result = json.loads(done.stdout)
    total_rss = result["python_rss_mb"] + result["ffmpeg_rss_mb"]
    return result | {"backend": backend, "frames_per_s": result["frames"] / result["seconds"], "rss_mb": total_rss}


def measure(path: Path, short_side: int, backends: tuple[str, ...]) -> dict:
    """Both backends and the plain ffmpeg reference on one video."""
    info = probe(path)
    width, height = output_size(info, short_side)
    reference = plain_ffmpeg_seconds(path, width, height)
    runs = [sample_with(backend, path, short_side) for backend in backends]
    for run in runs:
        run["ratio_to_plain_ffmpeg"] = run["seconds"] / reference if reference else None
    return {"video": path.name, "duration_s": info.duration, "size": f"{info.width}x{info.height}",
            "fps": info.fps, "sample_size": f"{width}x{height}", "plain_ffmpeg_s": reference,
            "expected_frames": SnippetGrid(info.duration, stride=0.5, window=0.5).num_snippets, "runs": runs}


def print_table(result: dict) -> None:
    reference = result["plain_ffmpeg_s"]
    print(f"\n{result['video']}: {result['duration_s']:.0f} s, {result['size']} @ {result['fps']:g} fps, "
          f"sampled 2/s at {result['sample_size']}; plain ffmpeg fps=2,scale -> null: "
          + (f"{reference:.2f} s" if reference else "no ffmpeg binary"))
    print(f"  {'backend':<8} {'wall s':>8} {'frames':>11} {'frames/s':>9} {'peak RSS MB':>12} {'x plain ffmpeg':>15}")
    for run in result["runs"]:
        ratio = f"{run['ratio_to_plain_ffmpeg']:.2f}x" if run["ratio_to_plain_ffmpeg"] else "-"
        print(f"  {run['backend']:<8} {run['seconds']:8.2f} {run['frames']:>5}/{result['expected_frames']:<5} "
              f"{run['frames_per_s']:9.1f} {run['rss_mb']:12.0f} {ratio:>15}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0, help="length of the synthetic 720p video")
    parser.add_argument("--short-side", type=int, default=256)
    parser.add_argument("--footage", type=Path, default=ROOT / "data" / "footage" / "bbb.mp4",
                        help="a real video to measure too (skipped when absent)")
    parser.add_argument("--backends", nargs="+", choices=BACKENDS, default=list(BACKENDS))
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    args = parser.parse_args()
    videos = [long_video(args.minutes)]
    if args.footage.exists():
        videos.append(args.footage)
    else:
        print(f"{args.footage} is absent: only the synthetic video is measured", file=sys.stderr)
    results = [measure(path, args.short_side, tuple(args.backends)) for path in videos]
    load = os.getloadavg()
    if args.json:
        print(json.dumps({"load_average": load, "results": results}, indent=1))
        return
    print(f"load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f} on {os.cpu_count()} cores "
          f"(figures are contended when it exceeds the core count)")
    for result in results:
        print_table(result)


if __name__ == "__main__":
    main()
