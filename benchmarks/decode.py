"""Frame sampling cost: 2 frames/s from a 10-minute 720p video, against plain ffmpeg on the same file.

Targets (issue 2): peak RSS under 600 MB, and decode time within 2x of
`ffmpeg -i VIDEO -vf fps=2,scale=W:H -f null -`.

    .venv/bin/python benchmarks/decode.py [--minutes 10]
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import time
from pathlib import Path

from common import long_video

from utal_core.grid import SnippetGrid
from utal_core.media import output_size, probe

ROOT = Path(__file__).resolve().parents[1]
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


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--short-side", type=int, default=256)
    args = parser.parse_args()
    path = long_video(args.minutes)
    info = probe(path)
    width, height = output_size(info, args.short_side)
    start = time.perf_counter()
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(path), "-vf", f"fps=2,scale={width}:{height}",
                    "-f", "null", "-"], check=True)
    ffmpeg_s = time.perf_counter() - start
    ours = json.loads(subprocess.run([sys.executable, "-c", SAMPLER, str(path), str(args.short_side)],
                                     capture_output=True, text=True, check=True, cwd=ROOT).stdout)
    expected = SnippetGrid(info.duration, stride=0.5, window=0.5).num_snippets
    print(f"video: {path.name}, {info.duration:.0f} s, {info.width}x{info.height} @ {info.fps:g} fps")
    print(f"plain ffmpeg fps=2,scale={width}:{height} -> null : {ffmpeg_s:6.2f} s")
    print(f"utal_core iter_frames (2/s, {width}x{height})      : {ours['seconds']:6.2f} s "
          f"({ours['frames']}/{expected} frames), ratio {ours['seconds'] / ffmpeg_s:.2f}x (target <= 2x)")
    total = ours["python_rss_mb"] + ours["ffmpeg_rss_mb"]
    print(f"peak RSS: python {ours['python_rss_mb']:.0f} MB + ffmpeg {ours['ffmpeg_rss_mb']:.0f} MB "
          f"= {total:.0f} MB (target < 600 MB)")


if __name__ == "__main__":
    main()
