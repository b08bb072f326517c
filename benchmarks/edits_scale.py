"""Linear costs of the edits layer and the error analysis at scale, through the CLI as a user runs it.

Each step is one `python -m utal_core` process; its wall time and peak RSS (``os.wait4``) are printed:

1. ``import`` of N ActivityNet annotations into an analysis (read, add to the edits layer, save under the lock);
2. ``export --corrected --format anet-gt`` of that analysis (every operation replayed through its checks);
3. a second ``import`` of N more (the layer of N operations read, N more added);
4. ``diagnose`` of P predictions spread over L distinct labels against as many ground-truth instances.

    .venv/bin/python benchmarks/edits_scale.py                       # N = 1e5, P = 1e6, L = 2e4
    .venv/bin/python benchmarks/edits_scale.py --annotations 30000 --predictions 100000 --labels 8000
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from utal_core.synth.video import SyntheticVideoSpec, make_video  # noqa: E402


def timed(*args: str) -> tuple[float, float, str]:
    """Wall seconds, peak RSS (MB) and the last output line of one CLI run (a failure stops the benchmark)."""
    started = time.perf_counter()
    process = subprocess.Popen([sys.executable, "-m", "utal_core", *args], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, text=True, cwd=ROOT)
    output = process.stdout.read()
    _, status, usage = os.wait4(process.pid, 0)
    seconds = time.perf_counter() - started
    if os.waitstatus_to_exitcode(status) != 0:
        raise SystemExit(f"{' '.join(args[:2])} failed:\n{output[-2000:]}")
    return seconds, usage.ru_maxrss / 1024, (output.strip().splitlines() or [""])[-1]


def annotations_file(path: Path, video: str, duration: float, count: int, offset: float) -> Path:
    """An ActivityNet ground-truth file of ``count`` short annotations of ``video``."""
    starts = offset + np.arange(count) * (duration - 1.0 - offset) / count
    rows = [{"segment": [round(s, 4), round(s + 0.5, 4)], "label": f"label {i % 97}"} for i, s in enumerate(starts)]
    path.write_text(json.dumps({"database": {video: {"duration": duration, "annotations": rows}}}))
    return path


def diagnosis_files(folder: Path, predictions: int, labels: int, seed: int = 0) -> tuple[Path, Path]:
    """Ground truth of ``labels`` instances, one per label, over 100 videos, and ``predictions`` predictions
    with labels drawn from them, near their ground truth or anywhere."""
    rng = np.random.default_rng(seed)
    videos = [f"video_{v:03d}" for v in range(100)]
    gt_video = rng.integers(0, len(videos), labels)
    gt_start = rng.uniform(0, 590, labels)
    database = {v: {"duration": 600.0, "subset": "test", "annotations": []} for v in videos}
    for k in range(labels):
        database[videos[gt_video[k]]]["annotations"].append(
            {"segment": [round(gt_start[k], 2), round(gt_start[k] + 5, 2)], "label": f"action {k}"})
    label = rng.integers(0, labels, predictions)
    near = rng.random(predictions) < 0.5
    start = np.clip(np.where(near, gt_start[label] + rng.normal(0, 1, predictions), rng.uniform(0, 590, predictions)), 0, 594)
    video = np.where(near, gt_video[label], rng.integers(0, len(videos), predictions))
    results: dict[str, list] = {v: [] for v in videos}
    for i in range(predictions):
        results[videos[video[i]]].append({"segment": [round(float(start[i]), 2), round(float(start[i]) + 5, 2)],
                                          "score": round(float(rng.random()), 4), "label": f"action {label[i]}"})
    gt_path, results_path = folder / "gt.json", folder / "results.json"
    gt_path.write_text(json.dumps({"database": database}))
    results_path.write_text(json.dumps({"results": results}))
    return gt_path, results_path


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--annotations", type=int, default=100_000)
    parser.add_argument("--predictions", type=int, default=1_000_000)
    parser.add_argument("--labels", type=int, default=20_000)
    args = parser.parse_args(argv)
    with tempfile.TemporaryDirectory() as scratch:
        folder = Path(scratch)
        video = make_video(folder / "clip.mp4", SyntheticVideoSpec(duration=20.0, width=160, height=120, num_actions=2, seed=3))
        print(f"analysing a 20 s clip, then N = {args.annotations} annotations; diagnose P = {args.predictions} "
              f"predictions, L = {args.labels} labels", flush=True)
        timed("analyze", str(video.path), "--out", str(folder / "out"))
        analysis = folder / "out" / "clip.analysis.json"
        first = annotations_file(folder / "a.json", "clip", 20.0, args.annotations, 0.0)
        second = annotations_file(folder / "b.json", "clip", 20.0, args.annotations, 0.01)
        rows = [("import N", *timed("import", str(analysis), str(first))),
                ("export --corrected (N operations)", *timed("export", str(analysis), "--format", "anet-gt",
                                                              "--corrected", "--out", str(folder / "c.gt.json"))),
                ("import N more (2N operations)", *timed("import", str(analysis), str(second)))]
        gt, results = diagnosis_files(folder, args.predictions, args.labels)
        rows.append(("diagnose P x L", *timed("diagnose", str(gt), str(results))))
        print(f"\n{'step':36s} {'wall s':>8s} {'peak RSS MB':>12s}  last line")
        for name, seconds, rss, line in rows:
            print(f"{name:36s} {seconds:8.2f} {rss:12.0f}  {line[:70]}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
