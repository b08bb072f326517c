"""Dataset mode at ActivityNet scale: load time and peak RSS of the dataset view, its paging, and the app's table.

The set (made once, kept in .cache/benchmarks/dataset_scale): a synthetic ActivityNet-layout ground truth of
5,000 videos and 200 classes, and results files planted from it by ``utal_core.synth.detections`` with 100
predictions per video (500,000 per file). Each measurement runs in a fresh process (its peak RSS is its own):

1. ``load_dataset`` of the ground truth and one results file (``--detectors 2``: two), no cache: read, match,
   eval, diagnose, per-video table, length sensitivity;
2. the same with ``cache_dir`` twice: the first writes the cache, the second reads it back;
3. ``DatasetView.page`` (50 rows) sorted by each of a few columns in both directions, with and without a filter,
   10 times each: median and p90 of the first call of each (sort, filter) and of the calls after it;
4. with ``--browser``: the app (in this process) and Debian chromium (playwright); the files are loaded in the
   Dataset tab (the size of the table the page is sent once is printed), then 10 sorts (the "Sort by" choice
   clicked) and 10 filters (a "Video id contains" text entered) are timed in the page, from the press on the
   option or the Enter key to the table showing the new first row and the line above it the new count: median and
   p90 of each, and the requests the page sent meanwhile (the table is the page's: none expected).

    .venv/bin/python benchmarks/dataset_scale.py
    .venv/bin/python benchmarks/dataset_scale.py --videos 1000 --per-video 50 --detectors 2
    .venv/bin/python benchmarks/dataset_scale.py --detectors 2 --browser
"""

from __future__ import annotations

import argparse
import json
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from utal_core.evaluate import load_ground_truth  # noqa: E402
from utal_core.export import atomic_write_text  # noqa: E402
from utal_core.synth.detections import ErrorModel, plant_detections, synthetic_ground_truth, write_results  # noqa: E402

CACHE = ROOT / ".cache" / "benchmarks" / "dataset_scale"
SORTS = ("ap", "missed", "background", "video", "coverage")
#: Remembers when a sort option was clicked or a filter text entered (installed once in the page).
SENT_JS = """() => {
  document.addEventListener('pointerdown', e => { if (e.target.closest('[role=option]')) window.__sent = performance.now(); }, true);
  document.addEventListener('keydown', e => { if (e.key === 'Enter' && e.target.closest('#dataset-text'))
    window.__sent = performance.now(); }, true);
}"""
#: Waits for the table's first row ``video`` and the line above it holding ``text``; ms since the action, and the
#: number of requests the page sent since the previous measurement.
SHOWN_JS = """async ([video, text]) => {
  const shown = () => document.querySelector('#dataset-table tbody td')?.innerText.trim() === video
    && document.querySelector('#dataset-page-info')?.innerText.includes(text);
  while (!shown()) {
    if (!(performance.now() - window.__sent <= 30000)) return [-1, -1];
    await new Promise(resolve => requestAnimationFrame(resolve));
  }
  const requests = performance.getEntriesByType('resource').length;
  performance.clearResourceTimings();
  return [performance.now() - window.__sent, requests];
}"""


def dataset_files(videos: int, per_video: int, detectors: int) -> tuple[Path, list[Path]]:
    """The ground truth and ``detectors`` results files (made once per size, then reused)."""
    folder = CACHE / f"{videos}x{per_video}"
    gt_path = folder / "gt.json"
    if not gt_path.exists():
        print(f"writing the {videos}-video ground truth (once) ...", flush=True)
        atomic_write_text(gt_path, json.dumps(synthetic_ground_truth(videos, 200, layout="activitynet", seed=0)))
    ground_truth = load_ground_truth(gt_path)
    durations = {video: entry["duration"] for video, entry in json.loads(gt_path.read_text())["database"].items()}
    results = []
    for seed in range(1, detectors + 1):
        path = folder / f"results_seed{seed}.json"
        if not path.exists():
            print(f"writing {path.name}: {videos * per_video} predictions (once) ...", flush=True)
            write_results(path, plant_detections(ground_truth, durations, ErrorModel(seed=seed, fill_to=per_video)))
        results.append(path)
    return gt_path, results


def peak_rss_mb() -> float:
    """This process's peak RSS (VmHWM: unlike ru_maxrss, not inherited from the parent that forked it)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith("VmHWM:"):
            return int(line.split()[1]) / 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def child(args: argparse.Namespace) -> None:
    """One measurement in this process; prints one JSON line."""
    from utal_core.dataset import RowFilter, load_dataset

    baseline = peak_rss_mb()
    started, cpu = time.perf_counter(), time.process_time()
    view = load_dataset(args.gt, args.results, cache_dir=args.cache_dir)
    seconds, cpu = time.perf_counter() - started, time.process_time() - cpu
    report = {"seconds": seconds, "cpu_seconds": cpu, "peak_rss_mb": peak_rss_mb(), "rss_after_imports_mb": baseline,
              "predictions": sum(d.result.num_predictions for d in view.detectors)}
    if args.paging:
        label = next(iter(view.detectors[0].result.per_class_ap))
        filters = {"none": None, "label+missed>=1": RowFilter(label=label, ranges={"missed": (1, None)}),
                   "text": RowFilter(text="a")}
        first, later = [], []
        for sort_by in SORTS:
            for descending in (False, True):
                for row_filter in filters.values():
                    for repeat in range(10):
                        started = time.perf_counter()
                        view.page(sort_by, descending, row_filter, offset=100, limit=50)
                        (first if repeat == 0 else later).append(1000 * (time.perf_counter() - started))
        report["page_first_ms"] = [float(np.median(first)), float(np.percentile(first, 90)), float(max(first))]
        report["page_later_ms"] = [float(np.median(later)), float(np.percentile(later, 90)), float(max(later))]
    print(json.dumps(report))


def browser_round_trips(gt: Path, results: list[Path]) -> dict[str, list[float]]:
    """Sort and filter round trips in chromium on the app's Dataset tab (see the module docstring), in ms."""
    sys.path.insert(0, str(ROOT / "tests"))
    from app_harness import chromium_page, running_app
    from ui.dataset_tab import table_payload
    from utal_core.dataset import RowFilter, load_dataset

    timings: dict[str, list[list[float]]] = {"sort": [], "filter": []}
    with tempfile.TemporaryDirectory() as folder, running_app(Path(folder)) as server, \
            chromium_page(Path(folder) / "profile", (1440, 900)) as page:
        page.set_default_timeout(600_000)
        page.goto(server.url)
        page.get_by_role("tab", name="Dataset").click()
        page.set_input_files("#dataset-gt input[type=file]", str(gt))
        page.set_input_files("#dataset-results input[type=file]", [str(path) for path in results])
        started = time.perf_counter()
        page.click("#dataset-load")
        page.wait_for_function("() => document.querySelector('#dataset-page-info')?.innerText.includes('Videos 1–')")
        print(f"Load pressed to the first page shown: {time.perf_counter() - started:.1f} s (any upload still running "
              "included)", flush=True)
        page.set_default_timeout(60_000)
        view = load_dataset(gt, results, cache_dir=Path(folder) / "work" / "datasets")  # the app's cached set
        print(f"The table sent to the page once: {len(table_payload(view).encode()) / 1e6:.2f} MB of JSON", flush=True)
        page.evaluate("() => performance.clearResourceTimings()")
        page.evaluate(SENT_JS)
        sort_by = "ap"
        for number in range(10):
            sort_by = SORTS[(number + 1) % len(SORTS)]
            page.click("#dataset-sort input")
            page.get_by_role("option", name=sort_by, exact=True).click()
            first = view.videos[view.ordered_rows(sort_by)[0]]
            timings["sort"].append(page.evaluate(SHOWN_JS, [first, f"sorted by {sort_by}"]))
        for number in range(10):
            text = "abcdefghij"[number]
            page.fill("#dataset-text textarea, #dataset-text input", text)
            page.press("#dataset-text textarea, #dataset-text input", "Enter")
            rows = view.ordered_rows(sort_by, row_filter=RowFilter(text=text))
            timings["filter"].append(page.evaluate(SHOWN_JS, [view.videos[rows[0]] if len(rows) else "",
                                                              f"of {len(rows)} (of"]))
    return timings


def measure(gt: Path, results: list[Path], cache_dir: Path | None = None, paging: bool = False) -> dict:
    command = [sys.executable, __file__, "--child", "--gt", str(gt), "--results", *map(str, results)]
    command += ["--cache-dir", str(cache_dir)] if cache_dir else []
    command += ["--paging"] if paging else []
    done = subprocess.run(command, capture_output=True, text=True, cwd=ROOT)
    if done.returncode != 0:
        raise SystemExit(done.stderr[-2000:])
    return json.loads(done.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--videos", type=int, default=5000)
    parser.add_argument("--per-video", type=int, default=100)
    parser.add_argument("--detectors", type=int, default=1, choices=(1, 2))
    parser.add_argument("--browser", action="store_true", help="also time sorts and filters in chromium")
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--gt", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--results", type=Path, nargs="*", help=argparse.SUPPRESS)
    parser.add_argument("--cache-dir", type=Path, help=argparse.SUPPRESS)
    parser.add_argument("--paging", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        child(args)
        return
    gt, results = dataset_files(args.videos, args.per_video, args.detectors)
    print(f"{args.videos} videos, {args.detectors} x {args.videos * args.per_video} predictions")
    plain = measure(gt, results, paging=True)
    print(f"load, no cache:        {plain['seconds']:6.2f} s ({plain['cpu_seconds']:.2f} s CPU), peak RSS {plain['peak_rss_mb']:.0f} MB "
          f"({plain['rss_after_imports_mb']:.0f} MB after imports), {plain['predictions']} predictions judged")
    with tempfile.TemporaryDirectory() as cache_dir:
        writing = measure(gt, results, Path(cache_dir))
        reading = measure(gt, results, Path(cache_dir))
    for name, run in (("writing cache", writing), ("from the cache", reading)):
        print(f"load, {name + ':':<16} {run['seconds']:6.2f} s ({run['cpu_seconds']:.2f} s CPU), peak RSS "
              f"{run['peak_rss_mb']:.0f} MB")
    first, later = plain["page_first_ms"], plain["page_later_ms"]
    print(f"page of 50 rows, {len(SORTS)} sorts x 2 directions x 3 filters: first call median {first[0]:.2f} ms, "
          f"p90 {first[1]:.2f} ms, max {first[2]:.2f} ms; repeated median {later[0]:.2f} ms, p90 {later[1]:.2f} ms, "
          f"max {later[2]:.2f} ms")
    if args.browser:
        timings = browser_round_trips(gt, results)
        print("\n| in chromium (10 each) | action to table shown: median (ms) | p90 | max | requests sent |"
              "\n|---|---|---|---|---|")
        for name, pairs in timings.items():
            shown, requests = np.array(pairs).T
            if min(shown) < 0:
                raise SystemExit(f"a {name} was not shown within 30 s: {pairs}")
            print(f"| {name} | {np.median(shown):.0f} | {np.percentile(shown, 90):.0f} | {max(shown):.0f} "
                  f"| {int(requests.sum())} |")


if __name__ == "__main__":
    main()
