"""Re-thresholding in the browser: threshold slider released -> segments redrawn, on real videos.

The app runs in this process with the real pipeline (features come from the feature cache after the
first run). Debian chromium (playwright) uploads each video and analyses it, then drags the threshold
slider with the mouse, ``--moves`` times, alternately low and high, once the page has the segments of every
slider position (ui/threshold_bands.py: how long after the result they came, and their size, are printed).
Each figure is measured in the page: from the slider's release (``pointerup``) to the first frame painted with
the new threshold (the plot's threshold label shows the released value; it is drawn in the same
``Plotly.react`` as the segment bands): a watcher started by the release looks at every frame and notes the
time after that frame's paint (a message posted from its animation-frame callback). Beside it, the figure as
measured before 2026-12-06 08:00: from the release to a poll that starts once playwright has released the mouse
and read the slider back (two round trips to the page, so it also counts whatever the page does meanwhile,
e.g. the server's answer arriving). How many of the releases the page drew itself (no server round trip) is
counted. The server's own part, ``Pipeline.resegment`` at the thresholds the drags gave, is timed beside it.
Default videos: the 60 s UnAV talk of ../shared/data and 10-min 720p Big Buck Bunny (data/footage/bbb.mp4),
those of them that are there. ``--code CHECKOUT`` runs the app of another checkout (e.g. a worktree of an
older commit) under the same measurement, for a before/after on one machine. Prints a table; target: under
150 ms.

    .venv/bin/python benchmarks/rethreshold_browser.py [--video PATH ...] [--moves 10] [--code CHECKOUT]
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The checkout whose app is measured (``--code``; read before anything of the app is imported).
CODE = Path(sys.argv[sys.argv.index("--code") + 1]).resolve() if "--code" in sys.argv[:-1] else ROOT
sys.path[:0] = [str(CODE), str(CODE / "tests")]

from app_harness import chromium_page, running_app  # noqa: E402
from utal_core.pipeline import Pipeline, PipelineConfig  # noqa: E402

DEFAULT_VIDEOS = (ROOT.parent / "shared" / "data" / "unav" / "unav_speech_60s.mp4", ROOT / "data" / "footage" / "bbb.mp4")
#: Pause before each move, as a user's: the previous move's thumbnails and subtitles finish first.
PAUSE_MS = 1500
#: Installed once: on each release of the slider, notes its time and watches every frame until one shows the
#: released threshold; notes the time after that frame's paint (-1 after 30 s).
RELEASE_JS = """
() => {
  document.addEventListener('pointerup', event => {
    const slider = event.target.closest('#threshold') && document.querySelector('#threshold input[type=range]');
    if (!slider) return;
    const released = performance.now(), wanted = 'threshold ' + Number(slider.value).toFixed(2);
    window.__release = {released, wanted, painted: null};
    const watch = window.__release;
    const look = () => {
      if (window.__release !== watch) return;
      if (performance.now() - released > 30000) { watch.painted = -1; return; }
      if (![...document.querySelectorAll('#timeline .annotation-text')].some(a => a.textContent.includes(wanted))) {
        requestAnimationFrame(look);
        return;
      }
      const channel = new MessageChannel();  // a message posted in the frame's callbacks comes after its paint
      channel.port1.onmessage = () => { watch.painted = performance.now() - released; };
      channel.port2.postMessage(null);
    };
    requestAnimationFrame(look);
  }, true);
}
"""
#: The earlier measure: polls from now (after playwright's round trips) for the timeline drawn at ``threshold``;
#: ms since the release (-1 after 30 s).
REDRAWN_JS = """
async (threshold) => {
  const wanted = 'threshold ' + threshold;
  const redrawn = () => [...document.querySelectorAll('#timeline .annotation-text')]
    .some(a => a.textContent.includes(wanted));
  while (!redrawn()) {
    if (!(performance.now() - window.__release.released <= 30000)) return -1;
    await new Promise(resolve => requestAnimationFrame(resolve));
  }
  return performance.now() - window.__release.released;
}
"""
#: The watcher's answer for the last release (RELEASE_JS), once it has one.
PAINTED_JS = "() => window.__release && window.__release.painted"


def drag_threshold(page, value: float) -> str:
    """Drag the threshold slider's thumb to about ``value`` and release it; returns the value it shows."""
    range_input = page.locator("#threshold input[type=range]")
    range_input.scroll_into_view_if_needed()
    box = range_input.bounding_box()
    current = float(range_input.input_value())
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * current, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * value, y, steps=5)
    page.mouse.up()
    return f"{float(range_input.input_value()):.2f}"


def percentile(values: list[float], fraction: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(round(fraction * (len(ordered) - 1))))]


def measure(pipeline: Pipeline, video: Path, folder: Path, moves: int) -> dict:
    """Analyse ``video`` in the page, then drag the threshold ``moves`` times: the timings of each."""
    runs_before = pipeline.model_runs
    with running_app(folder, pipeline_object=pipeline) as server, chromium_page(folder / "profile") as page:
        server.services.proxies.close()  # the inspector's proxy is no part of re-thresholding (and takes a core)
        page.set_default_timeout(600_000)
        page.goto(server.url)
        page.set_input_files("#upload input[type=file]", str(video))
        page.wait_for_selector(f"#upload .file-preview td[aria-label='{video.name}']")
        page.click("#analyze-btn")
        page.wait_for_selector("#segment-count-value")
        shown = time.perf_counter()
        page.wait_for_function("() => window.utalThresholdBands?.positions?.length > 0", timeout=300_000)
        bands_s = time.perf_counter() - shown
        bands_bytes = page.evaluate("() => JSON.stringify(window.utalThresholdBands).length")
        page.wait_for_timeout(PAUSE_MS)
        page.evaluate(RELEASE_JS)
        released, painted, polled, in_page = [], [], [], 0
        for move in range(moves):
            page.wait_for_timeout(PAUSE_MS)
            value = drag_threshold(page, 0.3 + 0.4 * (move % 2) + 0.01 * move)
            polled.append(page.evaluate(REDRAWN_JS, value))
            painted.append(page.wait_for_function(PAINTED_JS, timeout=40_000).json_value())
            in_page += page.evaluate("(t) => document.querySelector('#timeline .js-plotly-plot').dataset.thresholdDrawn"
                                     " === String(Number(t))", value)
            released.append(float(value))
        model_runs = server.services.pipeline.model_runs - runs_before
    analysis = pipeline.analyze(video)
    server_ms = []
    for threshold in released:
        start = time.perf_counter()
        pipeline.resegment(analysis, analysis.params.with_threshold(threshold), analysis.num_clusters)
        server_ms.append((time.perf_counter() - start) * 1000)
    if min(painted + polled) < 0:
        raise SystemExit(f"{video.name}: a re-threshold did not redraw within 30 s")
    return {"video": video.name, "snippets": analysis.grid.num_snippets, "painted": painted, "polled": polled,
            "server": server_ms, "model_runs": model_runs, "in_page": in_page, "bands_s": bands_s,
            "bands_bytes": bands_bytes}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--video", type=Path, nargs="+", default=[v for v in DEFAULT_VIDEOS if v.is_file()])
    parser.add_argument("--moves", type=int, default=10)
    parser.add_argument("--code", type=Path, help="the checkout whose app is measured (default: this one)")
    args = parser.parse_args()
    if not args.video:
        raise SystemExit("No video: pass --video PATH (the default ones are not here).")
    pipeline = Pipeline.from_config(PipelineConfig())
    results = []
    for video in args.video:
        print(f"analysing {video.name} (features cached after the first run) ...", flush=True)
        with tempfile.TemporaryDirectory(prefix="utal_rethreshold_") as tmp:
            results.append(measure(pipeline, video, Path(tmp), args.moves))
    print(f"\nThreshold slider released -> segments redrawn, chromium headless, {args.moves} drags per video, "
          f"app of {CODE}")
    print(f"{'video':<26}{'measure':<42}{'median ms':>10}{'p90 ms':>10}{'max ms':>10}")
    for result in results:
        for name, values in (("browser: release -> painted", result["painted"]),
                             ("browser: release -> seen by a later poll", result["polled"]),
                             ("server: Pipeline.resegment", result["server"])):
            print(f"{result['video']:<26}{name:<42}{statistics.median(values):>10.0f}"
                  f"{percentile(values, 0.9):>10.0f}{max(values):>10.0f}")
        print(f"{result['video']:<26}model runs while in the browser: {result['model_runs']} "
              f"({result['snippets']} snippets); drawn by the page itself: {result['in_page']} of {len(result['painted'])}")
        print(f"{result['video']:<26}every position's segments in the page {result['bands_s']:.1f} s after the result "
              f"({result['bands_bytes'] / 1e6:.2f} MB of JSON)")
    print(f"load average: {' '.join(f'{v:.2f}' for v in os.getloadavg())}")


if __name__ == "__main__":
    main()
