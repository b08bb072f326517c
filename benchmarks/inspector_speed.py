"""The boundary inspector's speed in a real browser (Debian chromium through playwright) on a long video:

- nudge: from a key press (``X``: the start one frame later) to the info line and the timeline's edits row
  showing the new start ("drawn", target < 150 ms; the page draws it before the server answers), and to the
  corrections table showing it as well ("confirmed": the server's answer on screen); each press comes once the
  strips of the last nudge's boundary are shown, so that a nudge is not timed over the last one's follow-ups;
- strips: from a click on *Next segment* to both frame strips of that segment shown, every image loaded
  (target < 500 ms), in four phases:
  - "cold": the strip prefetch off (``prefetch_strips=0``), so each segment's frames are decoded on demand,
    from the video's proxy (every frame at strip size, written in the background from when Analyze starts; the
    time from the analysis on screen to the proxy written, ``proxy_ready_s``, is printed when this run wrote it);
  - "cold_no_proxy": the same with the proxy moved aside, so the frames are decoded from the video itself
    (an analysis made before proxies existed, or a cache without one);
  - "prefetched": the default prefetch of the neighbours on; the next click comes once the prefetch started
    by the last selection has ended (its time, ``prefetch_wait``, is printed);
  - "cached": *Previous segment* back over the same segments (their JPEGs from the session's cache).

Times are taken in the page (``performance.now()`` at the mousedown / keydown, then polled every animation
frame, so to within one frame, ~16 ms). The server-side decode of the same strips is timed apart
(``StripCache`` straight, a fresh folder, from the proxy and from the video) to say where the time goes. The
machine is shared: the load average (``uptime``) before and after is printed with the figures.

    .venv/bin/python benchmarks/inspector_speed.py --video data/footage/bbb.mp4 [--tries 10]

The analysis of the video is cached in ``--scratch`` (its feature cache), so only the first run analyses it;
``--fresh`` empties that cache first (the analysis time of a new video, with the proxy written beside it), and
``--no-proxy`` closes the proxy builder before Analyze (the analysis time and strips as without proxies).

    .venv/bin/python benchmarks/inspector_speed.py --fresh --json             # analysis + proxy, then the phases
    .venv/bin/python benchmarks/inspector_speed.py --fresh --no-proxy --json  # the same without a proxy

``--code DIR`` measures the app of another checkout (e.g. a worktree of an older commit) with this script, so
two versions are compared by the same measurement; give both runs the same ``--scratch`` to share the features.
"""

from __future__ import annotations

import argparse
import json
import math
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
#: The checkout whose app is measured (``--code``, read before the app's modules are imported), else this one.
CODE = Path(sys.argv[sys.argv.index("--code") + 1]).resolve() if "--code" in sys.argv[1:-1] else ROOT
sys.path.insert(0, str(CODE))

from tests.app_harness import app_page  # noqa: E402
from utal_core.features import content_hash  # noqa: E402
from utal_core.media import ProxyVideo, probe  # noqa: E402
from utal_core.pipeline import PipelineConfig  # noqa: E402
from utal_core.strips import StripCache  # noqa: E402

#: Polls a condition every animation frame; resolves with the ms since ``window.benchAt`` (set at the action).
WAIT_JS = """(condition) => new Promise((resolve, reject) => {
    const check = new Function('return (' + condition + ')');
    const deadline = performance.now() + 60000;
    const poll = () => { if (check()) resolve(performance.now() - window.benchAt);
        else if (performance.now() > deadline) reject(new Error('timed out: ' + condition));
        else requestAnimationFrame(poll); };
    poll(); })"""
#: The strips of another segment than BEFORE are in the page, every image loaded.
STRIPS_SHOWN = """(() => { const box = document.querySelector('#inspector-strips div[data-key]');
    const imgs = box ? [...box.querySelectorAll('img')] : [];
    return !!box && box.dataset.key !== 'BEFORE' && imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); })()"""
#: ... in the page, whether their images are decoded or not (the rest of STRIPS_SHOWN's time is the page's drawing).
STRIPS_INSERTED = STRIPS_SHOWN.replace("imgs.every(i => i.complete && i.naturalWidth > 0)", "true")
#: The strips are those of a segment starting at START (to the millisecond the info line shows), every image loaded.
STRIPS_MOVED = """() => { const box = document.querySelector('#inspector-strips div[data-key]');
    const imgs = box ? [...box.querySelectorAll('img')] : [];
    return !!box && Math.abs(Number(box.dataset.start) - START) < 1.1e-3 && imgs.length > 0
        && imgs.every(i => i.complete && i.naturalWidth > 0); }"""
#: The inspected start moved from BEFORE in the info line, and the timeline's edits row shows it.
NUDGE_DRAWN = """(() => { const start = Number(document.querySelector('#inspected-start')?.textContent);
    if (!(Math.abs(start - BEFORE) > 1e-4)) return false;
    const row = document.querySelector('#timeline .js-plotly-plot').data.find(t => t.meta && t.meta.edits);
    return row && Array.from(row.x).some((x, i) => Math.abs(x - row.width[i] / 2 - start) < 1.1e-3); })()"""
#: ... and the corrections table (the server's answer) shows it too.
NUDGE_CONFIRMED = NUDGE_DRAWN.replace("return row &&", """const cells = [...document.querySelectorAll(
        '#corrections-table [data-testid$="-2"]')].filter(c => /^cell-\\d+-2$/.test(c.dataset.testid))
        .map(c => Number(c.innerText));
    return cells.some(c => Math.abs(c - start) < 1.1e-3) && row &&""")


def uptime() -> str:
    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def summary(values: list[float]) -> dict:
    ordered = sorted(values)
    p90 = ordered[min(len(ordered) - 1, math.ceil(0.9 * len(ordered)) - 1)]
    return {"median_ms": round(statistics.median(ordered), 1), "p90_ms": round(p90, 1),
            "min_ms": round(ordered[0], 1), "max_ms": round(ordered[-1], 1), "n": len(ordered)}


def start_clock_on(page, event: str) -> None:
    """``window.benchAt`` is set by the next ``event`` (a capturing listener, before the page's own)."""
    page.evaluate("(name) => window.addEventListener(name, () => { window.benchAt = performance.now(); },"
                  " {capture: true, once: true})", event)


def click_timed(page, selector: str, *conditions: str) -> list[float]:
    """A real click (playwright's mouse) on ``selector``; ms from the press until each of ``conditions`` holds
    (polled from before the press on, as in :func:`press_timed`)."""
    start_clock_on(page, "mousedown")
    poll_from_now(page, list(conditions))
    page.click(selector)
    return page.evaluate("() => Promise.all(window.benchWaits)")


def poll_from_now(page, conditions: list[str]) -> None:
    """Start polling ``conditions`` every animation frame now; ``window.benchWaits`` holds their promises."""
    page.evaluate("(conditions) => { window.benchWaits = conditions.map(c => (" + WAIT_JS + ")(c)); }", conditions)


def press_timed(page, key: str, *conditions: str) -> list[float]:
    """A real key press (playwright's keyboard); ms from the keydown until each of ``conditions`` holds. The
    polls start before the press, so the first animation frame after it is checked (the frame it is painted in)."""
    start_clock_on(page, "keydown")
    poll_from_now(page, list(conditions))
    page.keyboard.press(key)
    return page.evaluate("() => Promise.all(window.benchWaits)")


def analyse(page, video: Path) -> float:
    page.set_input_files("#upload input[type=file]", str(video))
    page.wait_for_selector(f"#upload .file-preview td[aria-label='{video.name}']", timeout=300_000)
    began = time.monotonic()
    page.click("#analyze-btn")
    page.wait_for_selector("#segment-count-value", timeout=3_600_000)
    page.wait_for_selector("#segment-gallery img", timeout=300_000)
    page.wait_for_function("() => document.querySelector('#player video')?.readyState >= 1")
    return time.monotonic() - began


def inspected(page) -> dict:
    """The inspected segment's key, start and end, as its strips carry them."""
    return page.evaluate("() => ({...(document.querySelector('#inspector-strips div[data-key]')?.dataset || {})})")


def step_timed(page, button: str, inserted: list[float] | None = None) -> tuple[float, tuple[float, float]]:
    """Click *Next* / *Previous segment*; ms until the new segment's strips are shown (and, appended to
    ``inserted``, until they were in the page, their images not yet decoded), and its bounds."""
    before = inspected(page).get("key", "")
    put, elapsed = click_timed(page, button, STRIPS_INSERTED.replace("BEFORE", before),
                               STRIPS_SHOWN.replace("BEFORE", before))
    if inserted is not None:
        inserted.append(put)
    shown = inspected(page)
    return elapsed, (float(shown["start"]), float(shown["end"]))


def server_decode_ms(video: Path, bounds: list[tuple[float, float]], folder: Path,
                     proxy: ProxyVideo | None) -> list[float]:
    """The same strips decoded straight through StripCache in this process (a fresh folder, nothing cached),
    from ``proxy`` when given, else from the video."""
    cache, duration = StripCache(folder), probe(video).duration
    timings = []
    for start, end in bounds:
        began = time.perf_counter()
        cache.strips(video, "benchmark", [start, end], duration, proxy=proxy)
        timings.append((time.perf_counter() - began) * 1000)
    return timings


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--video", type=Path, default=ROOT / "data" / "footage" / "bbb.mp4")
    parser.add_argument("--scratch", type=Path, default=ROOT / ".cache" / "benchmarks" / "inspector")
    parser.add_argument("--tries", type=int, default=10)
    parser.add_argument("--json", action="store_true")
    parser.add_argument("--code", type=Path, default=ROOT, help="the checkout whose app is measured (default: this one)")
    parser.add_argument("--fresh", action="store_true", help="analyse with an empty feature cache (and no proxy)")
    parser.add_argument("--no-proxy", action="store_true",
                        help="no proxy written (the builder closed before Analyze): the analysis time without it "
                             "and the strips from the video itself only")
    args = parser.parse_args()
    if not args.video.is_file():
        sys.exit(f"error: {args.video} not found (python -m utal_core footage fetches bbb.mp4)")
    if args.fresh:
        shutil.rmtree(args.scratch / "features", ignore_errors=True)
    if args.no_proxy:
        shutil.rmtree(args.scratch / "features" / "proxies", ignore_errors=True)
    args.scratch.mkdir(parents=True, exist_ok=True)
    report: dict = {"video": args.video.name, "code": str(CODE), "uptime_before": uptime()}
    pipeline = PipelineConfig(cache_dir=str(args.scratch / "features"))
    with tempfile.TemporaryDirectory(dir=args.scratch) as folder, \
            app_page(Path(folder), pipeline=pipeline, timeout_ms=120_000, analysis_time_limit_s=3600.0,
                     prefetch_strips=0) as (server, page):
        if args.no_proxy:
            server.services.proxies.close()
        report["analysis_s"] = round(analyse(page, args.video), 1)
        print(f"analysed in {report['analysis_s']} s", file=sys.stderr, flush=True)
        report["segments"] = int(page.inner_text("#segment-count-value"))
        tries = min(args.tries, report["segments"] // 3 - 1)
        config = server.services.config
        sessions = server.services.sessions
        proxy = server.services.pipeline.extractor.proxy(content_hash(args.video))
        built = proxy is not None and not proxy.path.is_file()
        began = time.monotonic()
        if args.no_proxy:
            proxy = None
        elif not server.services.proxies.wait(600) or proxy is None or not proxy.path.is_file():
            sys.exit("error: no proxy video was written after the analysis")
        else:
            if built:
                report["proxy_ready_s"] = round(time.monotonic() - began, 1)
            report["proxy_mb"] = round(proxy.path.stat().st_size / 1e6, 1)
        strips: dict[str, list[float]] = {"cold": [], "cold_no_proxy": [], "prefetched": [], "cached": [],
                                          "cached_inserted": []}
        bounds: list[tuple[float, float]] = []
        for _ in range(tries):
            elapsed, segment = step_timed(page, "#next-btn")
            strips["cold"].append(elapsed)
            bounds.append(segment)
        if proxy is not None:
            aside = proxy.path.with_name(proxy.path.name + ".aside")
            proxy.path.rename(aside)
            try:
                for _ in range(tries):
                    strips["cold_no_proxy"].append(step_timed(page, "#next-btn")[0])
            finally:
                aside.rename(proxy.path)
        config.prefetch_strips = 2
        waits = []
        for index in range(tries):
            began = time.perf_counter()
            for session in list(sessions):
                session.strips.wait_prefetch(120)
            if index:  # the first click only starts the prefetch
                waits.append((time.perf_counter() - began) * 1000)
            elapsed, _ = step_timed(page, "#next-btn")
            if index:
                strips["prefetched"].append(elapsed)
        for session in list(sessions):
            session.strips.wait_prefetch(120)
        for _ in range(tries):
            strips["cached"].append(step_timed(page, "#prev-btn", strips["cached_inserted"])[0])
        nudges: dict[str, list[float]] = {"drawn": [], "confirmed": []}
        for _ in range(args.tries):
            before = f"{float(page.inner_text('#inspected-start')):.6f}"
            page.evaluate("() => document.activeElement && document.activeElement.blur()")
            drawn, confirmed = press_timed(page, "x", NUDGE_DRAWN.replace("BEFORE", before),
                                           NUDGE_CONFIRMED.replace("BEFORE", before))
            nudges["drawn"].append(drawn)
            nudges["confirmed"].append(confirmed)
            # the next press once the strips of the moved boundary are shown (each nudge timed alone, not over the
            # last one's follow-ups), then a settle for the curves after them
            moved = f"{float(page.inner_text('#inspected-start')):.6f}"
            page.wait_for_function(STRIPS_MOVED.replace("START", moved), timeout=60_000)
            page.wait_for_timeout(150)
        for name, values in strips.items():
            if values:
                report[f"strips_{name}"] = summary(values)
        report["prefetch_wait"] = summary(waits)
        report["nudge_drawn"] = summary(nudges["drawn"])
        report["nudge_confirmed"] = summary(nudges["confirmed"])
        if proxy is not None:
            report["server_strip_decode_proxy"] = summary(server_decode_ms(args.video, bounds, Path(folder) / "proxy",
                                                                           proxy))
        report["server_strip_decode_video"] = summary(server_decode_ms(args.video, bounds, Path(folder) / "video", None))
    report["uptime_after"] = uptime()
    print(json.dumps(report, indent=2) if args.json else "\n".join(f"{k}: {v}" for k, v in report.items()))


if __name__ == "__main__":
    main()
