"""`probe`: what a video file holds and the snippet grid it will be analysed on."""

from __future__ import annotations

import argparse
import json

from ..grid import SnippetGrid, make_grid
from ..media import probe
from . import subcommand


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("video", help="a video file")
    parser.add_argument("--stride", type=float, default=None,
                        help="snippet stride in seconds (default: adaptive, 1 s with at least 40 and at most 1800 snippets)")
    parser.add_argument("--window", type=float, default=None, help="snippet window in seconds (default = stride)")
    parser.add_argument("--thumos", action="store_true", help="THUMOS14 preset grid: 16 frames at 25 fps")
    parser.add_argument("--json", action="store_true", help="print JSON")


def grid_from_args(duration: float, args: argparse.Namespace) -> SnippetGrid:
    """The snippet grid chosen by the common --stride/--window/--thumos flags."""
    if args.thumos:
        return SnippetGrid.thumos(duration)
    return make_grid(duration, args.stride, args.window)


@subcommand("probe", "Show duration, frame rate, streams and the snippet grid of a video.", _configure)
def run_probe(args: argparse.Namespace) -> int:
    info = probe(args.video)
    grid = grid_from_args(info.duration, args)
    if args.json:
        print(json.dumps({"media": info.to_dict(), "grid": grid.to_dict() | {"num_snippets": grid.num_snippets}}, indent=2))
        return 0
    width, height = info.display_size
    audio = (f"{info.audio_codec}, {info.audio_sample_rate} Hz, {info.audio_channels} ch" if info.has_audio else "none")
    print(f"{info.path}\n  container {info.container}, {info.size_bytes} bytes\n"
          f"  video     {info.video_codec} {width}x{height} (rotation {info.rotation}), {info.duration:.3f} s, "
          f"{info.avg_fps:.3f} fps{' (variable)' if info.is_vfr else ''}, {info.frame_count} frames\n"
          f"  audio     {audio}\n"
          f"  grid      {grid.num_snippets} snippets, stride {grid.stride:g} s, window {grid.window:g} s, "
          f"centres {grid.times[0]:.2f} .. {grid.times[-1]:.2f} s")
    return 0
