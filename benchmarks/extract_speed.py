"""Feature extraction speed: per-view throughput and end-to-end time on a long 720p video, with peak RSS.

Default: the 10-minute 1280x720 25 fps H.264 + AAC synthetic video of benchmarks/common.py (written
once into .cache/benchmarks) at 1 snippet/s. Targets: every offline view >= 10x real time (<= 60 s for 10 min)
and peak RSS < 2 GB. Reports where the time goes (frame decoding, audio decoding, each encoder).

    .venv/bin/python benchmarks/extract_speed.py                      # CPU or CUDA, whichever is present
    .venv/bin/python benchmarks/extract_speed.py --device cuda --views cbp clip audio --clip-weights W
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from common import long_video, peak_rss_mb

from utal_core.features import FeatureExtractor  # noqa: E402
from utal_core.grid import SnippetGrid  # noqa: E402
from utal_core.media import probe  # noqa: E402

REAL_TIME_FACTOR_TARGET = 10.0
PEAK_RSS_TARGET_MB = 2048.0


def run(args: argparse.Namespace) -> dict:
    video = Path(args.video) if args.video else long_video(args.duration / 60)
    info = probe(video)
    grid = SnippetGrid(info.duration, stride=args.stride, window=args.stride)
    configs = {"clip": {"weights": args.clip_weights}} if args.clip_weights else {}
    load_start = time.perf_counter()
    extractor = FeatureExtractor(args.views, device=args.device, batch_size=args.batch_size, encoder_configs=configs)
    start = time.perf_counter()
    features = extractor.extract(video, grid)
    total = time.perf_counter() - start
    timings = extractor.last_timings
    snippets = features.num_snippets
    return {
        "video": str(video), "duration_s": round(info.duration, 2), "resolution": f"{info.width}x{info.height}",
        "snippets": snippets, "device": extractor.device, "setup_s": round(start - load_start, 2),
        "total_s": round(total, 2), "real_time_factor": round(info.duration / total, 1),
        "stages_s": {name: round(seconds, 2) for name, seconds in timings.items()},
        "throughput_snippets_per_s": {e.view: round(snippets / timings[e.name], 1)
                                      for e in extractor.encoders if timings.get(e.name)},
        "absent": features.absent,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "peak_rss_ffmpeg_mb": round(peak_rss_mb(children=True), 1),
        "meets_real_time_target": info.duration / total >= REAL_TIME_FACTOR_TARGET,
        "meets_memory_target": peak_rss_mb() < PEAK_RSS_TARGET_MB,
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--video", help="benchmark this video instead of the generated one")
    parser.add_argument("--duration", type=float, default=600.0, help="length of the generated video (s)")
    parser.add_argument("--views", nargs="+", default=["cbp", "audio"], help="encoders to run (default: the offline ones)")
    parser.add_argument("--clip-weights", help="local open_clip weights file (enables the clip view)")
    parser.add_argument("--device", default="auto")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--stride", type=float, default=1.0, help="snippet stride and window (s)")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    result = run(args)
    if args.json:
        print(json.dumps(result, indent=1))
        return 0
    print(f"{result['video']}: {result['duration_s']} s {result['resolution']}, {result['snippets']} snippets, "
          f"device {result['device']} (model setup {result['setup_s']} s)")
    print(f"end to end: {result['total_s']} s = {result['real_time_factor']}x real time "
          f"(target >= {REAL_TIME_FACTOR_TARGET:.0f}x): {'OK' if result['meets_real_time_target'] else 'MISSED'}")
    print(f"peak RSS: {result['peak_rss_mb']} MB (ffmpeg children {result['peak_rss_ffmpeg_mb']} MB; "
          f"target < {PEAK_RSS_TARGET_MB:.0f} MB): {'OK' if result['meets_memory_target'] else 'MISSED'}")
    print("where the time goes (s):")
    for stage, seconds in sorted(result["stages_s"].items(), key=lambda item: -item[1]):
        print(f"  {stage:<14} {seconds:8.2f}")
    for view, rate in result["throughput_snippets_per_s"].items():
        print(f"  {view} encoder: {rate} snippets/s")
    for view, reason in result["absent"].items():
        print(f"  {view} absent: {reason}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
