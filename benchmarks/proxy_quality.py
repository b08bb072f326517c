"""The proxy video that the app writes in the background for the inspector's frame strips
(``media.write_proxy``): what writing it costs, its size, and how close its frames are to a full decode.

- cost: wall time and CPU time (this process and its ffmpeg child) of ``media.write_proxy``, ``--repeats``
  times, beside a plain decode of the same video (``ffmpeg -i VIDEO -f null -``) for scale;
- size of the proxy in MB, and its frame count against the video's;
- quality: the PSNR (ffmpeg's ``psnr`` filter, per frame over Y, U and V) of every proxy frame against the
  same frame decoded in full and scaled the same way (``area``): median, 10th percentile and worst. Frames
  that are equal count as 100 dB.

    .venv/bin/python benchmarks/proxy_quality.py --video data/footage/bbb.mp4
"""

from __future__ import annotations

import argparse
import json
import math
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from utal_core import media  # noqa: E402
from utal_core.strips import STRIP_SHORT_SIDE  # noqa: E402


def cpu_seconds() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime


def timed(action) -> tuple[float, float]:
    """Wall and CPU seconds of ``action()``."""
    wall, cpu = time.perf_counter(), cpu_seconds()
    action()
    return round(time.perf_counter() - wall, 1), round(cpu_seconds() - cpu, 1)


def psnr_per_frame(video: Path, proxy: Path, size: tuple[int, int], folder: Path) -> list[float]:
    stats = folder / "psnr.txt"
    graph = (f"[0:v:0]setpts=PTS-STARTPTS,scale={size[0]}:{size[1]}:flags=area,format=yuv420p[full];"
             f"[1:v:0]setpts=PTS-STARTPTS[copy];[copy][full]psnr=stats_file={stats}")
    subprocess.run(["ffmpeg", "-nostdin", "-v", "error", "-i", str(video), "-i", str(proxy),
                    "-filter_complex", graph, "-f", "null", "-"], check=True)
    values = []
    for line in stats.read_text().splitlines():
        field = next(part for part in line.split() if part.startswith("psnr_avg:"))
        value = float(field.split(":")[1])
        values.append(100.0 if math.isinf(value) else value)
    return values


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=ROOT / "data" / "footage" / "bbb.mp4")
    parser.add_argument("--repeats", type=int, default=2)
    args = parser.parse_args()
    if not args.video.is_file():
        sys.exit(f"error: {args.video} not found (python -m utal_core footage fetches bbb.mp4)")
    info = media.probe(args.video)
    report: dict = {"video": args.video.name, "backend": media.choose_backend().name, "seconds": "[wall, cpu]",
                    "load_before": Path("/proc/loadavg").read_text().split()[:3]}
    with tempfile.TemporaryDirectory() as folder:
        proxy = media.ProxyVideo(Path(folder) / "proxy.mp4", STRIP_SHORT_SIDE)
        report["plain_decode"], report["write_proxy"] = [], []
        for _ in range(args.repeats):
            report["plain_decode"].append(timed(lambda: subprocess.run(
                ["ffmpeg", "-nostdin", "-v", "error", "-i", str(args.video), "-an", "-f", "null", "-"], check=True)))
            proxy.path.unlink(missing_ok=True)
            report["write_proxy"].append(timed(lambda: media.write_proxy(args.video, proxy, info)))
        report["proxy_mb"] = round(proxy.path.stat().st_size / 1e6, 1)
        report["proxy_frames"] = media.probe(proxy.path).frame_count
        report["video_frames"] = info.frame_count
        values = sorted(psnr_per_frame(args.video, proxy.path, media.output_size(info, STRIP_SHORT_SIDE), Path(folder)))
        report["psnr_db"] = {"frames": len(values), "median": round(statistics.median(values), 2),
                             "p10": round(values[len(values) // 10], 2), "worst": round(values[0], 2)}
    report["load_after"] = Path("/proc/loadavg").read_text().split()[:3]
    print(json.dumps(report, indent=2))


if __name__ == "__main__":
    main()
