"""Drag edits on the timeline in a real browser (Debian chromium through playwright, real mouse drags), and a
screenshot of another detector's errors on the timeline's named lanes, on the UnAV talk (../shared/data/unav,
research-only: read from there, never copied) with detector results planted from its ground truth by
``utal_core.synth.detections`` (a seeded error model: shifted, duplicated, mislabelled and background
predictions).

- drawn: from the mouse release to the first frame painted with the dragged span drawn over the edits lane (a
  box at the released bounds; target < 100 ms), taken in the page (``performance.now()``);
- restyled: ... to the frame painted after the figure itself was restyled (the segment's outline and edits bar
  moved, one ``Plotly.restyle``), before the server answers;
- confirmed: from the release to the corrections table showing the new end (the server's answer on screen),
  polled every animation frame.

Each try drags the end of the longest segment of the lane's first row 15 px left or right (alternately). The
machine is shared: the load average before and after is printed with the figures. Screenshots go to
artifacts/browser/ (git-ignored): ``timeline_detector_errors_1440x900.png`` (an error clicked: the timeline
zoomed to it and its ground truth) and ``timeline_lanes_unav_1440x900.png`` (the whole video).

    .venv/bin/python benchmarks/timeline_drag.py [--tries 10] [--json]
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))

from benchmarks.inspector_speed import poll_from_now, start_clock_on, summary, uptime  # noqa: E402
from tests.app_harness import app_page  # noqa: E402
from utal_core.evaluate import load_ground_truth  # noqa: E402
from utal_core.pipeline import PipelineConfig  # noqa: E402
from utal_core.synth.detections import ErrorModel, plant_detections, write_results  # noqa: E402

UNAV = ROOT.parent / "shared" / "data" / "unav"
SHOTS = ROOT / "artifacts" / "browser"
PLOT = "document.querySelector('#timeline .js-plotly-plot')"
#: The edits lane's first-row outlines: bounds and page pixels (see tests/test_app_timeline.py).
FIRST_ROW_JS = f"""() => {{ const plot = {PLOT}, box = plot.getBoundingClientRect();
    const t = plot.data.find(t => t.meta && t.meta.track), ax = plot._fullLayout.xaxis, ay = plot._fullLayout.yaxis2;
    const bases = Array.isArray(t.base) ? t.base : Array.from(t.x, () => t.base);
    return {{secondsPerPx: (ax.range[1] - ax.range[0]) / ax._length,
             bars: Array.from(t.x, (x, i) => ({{start: x - t.width[i] / 2, end: x + t.width[i] / 2,
                 right: box.left + ax._offset + ax.l2p(x + t.width[i] / 2),
                 y: box.top + ay._offset + ay.l2p(bases[i] + 0.5), first: bases[i] === t.meta.lane[0]}}))}}; }}"""
#: The corrections table shows an edited row ending at END (to TOL: the mouse lands on whole pixels).
CONFIRMED = """[...document.querySelectorAll('#corrections-table [data-testid^="cell-"]')].some(c =>
    /^cell-\\d+-3$/.test(c.dataset.testid) && Math.abs(Number(c.innerText) - END) < TOL)"""


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--tries", type=int, default=10)
    parser.add_argument("--scratch", type=Path, default=ROOT / ".cache" / "benchmarks" / "timeline")
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    video, truth = UNAV / "unav_speech_60s.mp4", UNAV / "unav_speech_60s.gt.json"
    if not video.is_file():
        sys.exit(f"needs {video} (../shared/data/unav)")
    report: dict = {"video": video.name, "uptime_before": uptime()}
    SHOTS.mkdir(parents=True, exist_ok=True)
    pipeline = PipelineConfig(cache_dir=str(args.scratch / "features"))
    with tempfile.TemporaryDirectory() as folder, app_page(Path(folder), pipeline=pipeline,
                                                            timeout_ms=600_000) as (_, page):
        ground_truth = load_ground_truth(truth)
        planted = plant_detections(ground_truth, {"unav_speech_60s": 60.06},
                                   ErrorModel(shifted=0.4, duplicate=0.7, wrong_label=0.0, background=2, seed=3))
        results = write_results(Path(folder) / "detector.json", planted)
        page.set_input_files("#gt-upload input[type=file]", str(truth))
        page.set_input_files("#upload input[type=file]", str(video))
        page.wait_for_selector(f"#upload .file-preview td[aria-label='{video.name}']")
        page.click("#analyze-btn")
        page.wait_for_selector("#segment-count-value")
        page.wait_for_selector("#player video track", state="attached")
        page.set_input_files("#detector-upload input[type=file]", str(results))
        page.wait_for_selector("#errors-table [data-testid='cell-0-0']")
        page.wait_for_function(f"() => {PLOT}._utalBound && window.utalDrawEdits && window.utalDrawEdits.withTrack")
        page.locator("#timeline").scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "timeline_lanes_unav_1440x900.png"))
        page.click("#errors-table [data-testid='cell-0-0']")
        page.wait_for_function(f"() => {PLOT}._fullLayout.xaxis.range[1] - {PLOT}._fullLayout.xaxis.range[0] < 55")
        page.locator("#timeline").scroll_into_view_if_needed()
        page.wait_for_timeout(300)  # the playhead follows the seek
        page.screenshot(path=str(SHOTS / "timeline_detector_errors_1440x900.png"))
        page.dblclick("#timeline .nsewdrag")  # back to the whole video
        page.wait_for_function(f"() => {PLOT}._fullLayout.xaxis.range[1] > 59")
        confirmed = []
        for attempt in range(args.tries):
            row = page.evaluate(FIRST_ROW_JS)
            bar = max((b for b in row["bars"] if b["first"]), key=lambda b: b["end"] - b["start"])
            shift = -15 if attempt % 2 == 0 else 15
            start_clock_on(page, "mouseup")
            expected = f"{bar['end'] + shift * row['secondsPerPx']:.4f}"
            poll_from_now(page, [CONFIRMED.replace("END", expected).replace("TOL", f"{1.5 * row['secondsPerPx']:.4f}")])
            page.mouse.move(bar["right"] - 2, bar["y"])  # on the edge, inside the bar (a next one may touch it)
            page.mouse.down()
            page.mouse.move(bar["right"] + shift / 2, bar["y"], steps=3)
            page.mouse.move(bar["right"] + shift, bar["y"], steps=3)
            page.mouse.up()
            confirmed.append(page.evaluate("() => window.benchWaits[0]"))
        times = page.evaluate("() => window.utalDragTimes()")
        report |= {"drag_drawn": summary(times["drawn"]), "drag_restyled": summary(times["restyled"]),
                   "drag_confirmed": summary(confirmed), "uptime_after": uptime()}
    if args.json:
        print(json.dumps(report, indent=2))
    else:
        for key, value in report.items():
            print(f"{key:16s} {value}")
    print(f"screenshots in {SHOTS}", file=sys.stderr)


if __name__ == "__main__":
    main()
