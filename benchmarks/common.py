"""Helpers shared by the benchmark scripts: cached benchmark media and peak-memory measurement."""

from __future__ import annotations

import resource
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from utal_core.synth.video import SyntheticVideoSpec, make_video  # noqa: E402

CACHE = ROOT / ".cache" / "benchmarks"


def long_video(minutes: float = 10.0, width: int = 1280, height: int = 720, fps: float = 25.0) -> Path:
    """A synthetic benchmark video (made once, then reused from .cache/benchmarks)."""
    spec = SyntheticVideoSpec(duration=minutes * 60, width=width, height=height, fps=fps,
                              num_actions=max(3, int(minutes * 6)), seed=11)
    path = CACHE / f"synthetic_{minutes:g}min_{height}p_{fps:g}fps.mp4"
    if not path.exists():
        print(f"writing {path.name} (once) ...", flush=True)
        make_video(path, spec)
    return path


def peak_rss_mb(children: bool = False) -> float:
    """Peak resident memory in MB of this process (or of its largest finished child)."""
    who = resource.RUSAGE_CHILDREN if children else resource.RUSAGE_SELF
    return resource.getrusage(who).ru_maxrss / 1024
