"""The Gradio app driven in headless Debian chromium: analyse, re-threshold, seek, search, bad upload.

One app server and one browser page for the whole module (the steps build on each other, as a
user's session does). Screenshots of each state go to artifacts/browser/.
"""

from __future__ import annotations

import re
import time
from pathlib import Path

import pytest

from utal_core.synth.video import SyntheticVideoSpec, make_video

from .app_harness import BROWSER_MODULE, chromium_page, running_app

pytestmark = BROWSER_MODULE

SHOTS = Path(__file__).resolve().parents[1] / "artifacts" / "browser"
TIMEOUT_MS = 120_000


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    folder = tmp_path_factory.mktemp("app_browser")
    video = make_video(folder / "two_actions.mp4", SyntheticVideoSpec(duration=24.0, num_actions=2, seed=11))
    not_a_video = folder / "notes.mp4"
    not_a_video.write_text("this is not a video\n" * 50)
    SHOTS.mkdir(parents=True, exist_ok=True)
    with running_app(folder) as server, chromium_page(folder / "profile") as page:
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(server.url)
        page.wait_for_selector("#analyze-btn")
        yield {"page": page, "server": server, "video": video, "not_a_video": not_a_video}


def shot(page, name: str) -> None:
    page.screenshot(path=str(SHOTS / f"{name}.png"), full_page=True)


def count_text(page) -> int:
    return int(page.inner_text("#segment-count-value"))


def plot_traces(page) -> list[dict]:
    return page.evaluate("""() => document.querySelector('#timeline .js-plotly-plot')._fullData.map(t => ({
        name: t.name, meta: t.meta || {}, visible: t.visible === true, points: Array.from(t.x || []).filter(x => x !== null).length}))""")


def upload_and_analyze(page, path: Path) -> None:
    clear = page.locator("#upload button[aria-label=Clear]")
    if clear.count():
        clear.click()
    page.set_input_files("#upload input[type=file]", str(path))
    page.wait_for_selector(f"#upload .file-preview td[aria-label='{path.name}']", timeout=30_000)
    page.click("#analyze-btn")


def show_search_results(page) -> None:
    """Unfold the search results when they are folded under "No good match" (no hit reached its bar)."""
    if not page.locator("#search-table").is_visible():
        page.locator("#search-results-box").get_by_text("No good match").click()
        page.wait_for_selector("#search-table", state="visible")


def test_non_video_upload_shows_plain_error(session):
    page = session["page"]
    upload_and_analyze(page, session["not_a_video"])
    toast = page.wait_for_selector(".toast-body, [data-testid='toast-body']", timeout=60_000)
    message = toast.inner_text()
    shot(page, "01_bad_upload_error")
    assert "notes.mp4" in message and "Traceback" not in message
    page.click(".toast-close, [data-testid='toast-close']")


def test_analyze_draws_views_and_segments(session):
    page = session["page"]
    upload_and_analyze(page, session["video"].path)
    page.wait_for_selector("#segment-count-value", timeout=TIMEOUT_MS)
    page.wait_for_function("() => document.querySelector('#timeline .js-plotly-plot')?.data?.length > 0")
    shot(page, "02_analyzed")
    traces = plot_traces(page)
    curves = {t["meta"].get("curve") for t in traces if t["points"]}
    absent = {t["meta"].get("absent") for t in traces if "absent" in t["meta"]}
    assert {"fused", "cbp", "audio"} <= curves
    assert "clip" in curves or "clip" in absent  # CLIP without local weights is shown as absent
    bands = [t for t in traces if "segments" in t["meta"]]
    assert sum(t["points"] for t in bands) == count_text(page) > 0
    assert session["server"].services.pipeline.model_runs == 1


def set_slider(page, elem_id: str, value: float) -> None:
    box = page.locator(f"#{elem_id} input[type=number]")
    box.fill(str(value))
    box.press("Tab")


def wait_for_threshold(page, threshold: float) -> None:
    """Until the timeline shows ``threshold`` (the page draws it at once) and the table and count the server's
    answer for it (as many segments as the timeline's bands)."""
    page.wait_for_function(
        """(t) => [...document.querySelectorAll('#timeline .annotation-text')]
                    .some(a => a.textContent.includes('threshold ' + t))""", arg=f"{threshold:.2f}")
    page.wait_for_function("""() => {
        const bands = document.querySelector('#timeline .js-plotly-plot').data.filter(t => t.meta && t.meta.segments !== undefined);
        return document.querySelector('#segment-count-value')?.innerText == bands.reduce((n, t) => n + t.x.length, 0);
    }""")


def test_threshold_resegments_without_model_run(session):
    page, services = session["page"], session["server"].services
    counts = {}
    for threshold in (0.05, 1.0):  # 1.0: nothing is strictly above it, so no segment
        set_slider(page, "threshold", threshold)
        wait_for_threshold(page, threshold)
        counts[threshold] = count_text(page)
        shot(page, f"03_threshold_{threshold:.2f}")
    assert counts[0.05] > counts[1.0] == 0
    assert services.pipeline.model_runs == 1
    assert page.inner_text("#segment-model-runs") == "1"
    # Back to a threshold between the clip's two actions' curve humps and the dip between them, so the
    # next tests have two segments to step through (at 0.05 the whole curve can be one segment).
    set_slider(page, "threshold", 0.6)
    wait_for_threshold(page, 0.6)
    assert count_text(page) >= 2


def drag_slider(page, elem_id: str, value: float) -> float:
    """Drag a slider's thumb with the mouse to about ``value`` and release it; returns the value it shows."""
    track = page.locator(f"#{elem_id} input[type=range]")
    track.scroll_into_view_if_needed()
    box = track.bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * float(track.input_value()), y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * value, y, steps=5)
    page.mouse.up()
    return float(track.input_value())


def test_a_threshold_release_draws_the_servers_segments_in_the_page(session):
    """Issue 24: the page draws the released threshold's segments itself (no server round trip), and they are the
    ones the server's re-segmentation at that threshold gives."""
    page, services = session["page"], session["server"].services
    page.wait_for_function("() => window.utalThresholdBands?.positions?.length === 101")
    threshold = drag_slider(page, "threshold", 0.33)
    page.wait_for_function("(t) => document.querySelector('#timeline .js-plotly-plot').dataset.thresholdDrawn == t",
                           arg=str(threshold))
    drawn = page.evaluate("""() => document.querySelector('#timeline .js-plotly-plot').data
        .filter(t => t.meta && t.meta.segments !== undefined)
        .map(t => ({cluster: t.meta.segments, x: Array.from(t.x), width: Array.from(t.width)}))""")
    from ui.explorer import Explorer

    explorer = Explorer(services)
    analysis = explorer.with_controls(services.pipeline.analyze(session["video"].path), 0.5, 0, 0, 0.6, "auto")
    cut = explorer.with_controls(analysis, threshold, 0, 0, 0.6, "auto")
    expected: dict[int, dict] = {}
    for segment in cut.segments:
        band = expected.setdefault(segment.cluster, {"cluster": segment.cluster, "x": [], "width": []})
        band["x"].append((segment.start + segment.end) / 2)
        band["width"].append(segment.end - segment.start)
    assert drawn == [expected[c] for c in sorted(expected)] and cut.segments
    page.wait_for_function("(n) => document.querySelector('#segment-count-value')?.innerText == n",
                           arg=str(len(cut.segments)))  # the server's answer follows: the table and count
    shot(page, f"03_threshold_drawn_in_page_{threshold:.2f}")
    assert services.pipeline.model_runs == 1


def test_selecting_a_segment_seeks_the_player(session):
    page = session["page"]
    page.wait_for_function("() => document.querySelector('#player video')?.readyState >= 1")
    starts = [float(page.inner_text(f"#segments-table [data-testid='cell-{row}-1']")) for row in (0, 1)]
    page.click("#segments-table [data-testid='cell-0-1']")
    at_time = "(s) => Math.abs(document.querySelector('#player video').currentTime - s) < 0.25"
    page.wait_for_function(at_time, arg=starts[0])
    assert f"{starts[0]:.2f}" in page.inner_text("#segment-info")
    shot(page, "04_segment_selected")
    page.click("#next-btn")
    page.wait_for_function(at_time, arg=starts[1])
    assert f"{starts[1]:.2f}" in page.inner_text("#segment-info")


def test_search_finds_the_analysed_video(session):
    page, video = session["page"], session["video"]
    page.get_by_role("tab", name="Search").click()
    page.fill("#search-box textarea", "a ball bouncing")
    page.click("#search-btn")
    page.wait_for_function("() => /answered by/.test(document.querySelector('#search-info')?.textContent || '')")
    info = page.inner_text("#search-info")
    shot(page, "05_search")
    assert re.search(r"label_bridge|clip/", info)
    assert int(re.search(r"(\d+) result\(s\)", info).group(1)) > 0
    show_search_results(page)
    assert video.path.name in page.inner_text("#search-table")


def test_clicking_a_result_opens_the_video_there(session):
    page = session["page"]
    start = float(page.inner_text("#search-table [data-testid='cell-0-1']"))
    page.click("#search-table [data-testid='cell-0-0']")
    page.wait_for_selector("#analyze-btn", state="visible")
    page.wait_for_function("(s) => Math.abs(document.querySelector('#player video')?.currentTime - s) < 0.25",
                           arg=start)
    shot(page, "06_opened_from_search")


def test_clicking_a_cluster_filters_timeline_and_table(session):
    page = session["page"]
    page.locator("#clusters-gallery .thumbnail-item").first.click()
    page.wait_for_function("() => /in cluster/.test(document.querySelector('#segment-count')?.textContent || '')")
    shown = count_text(page)
    visible_bands = [t for t in plot_traces(page) if "segments" in t["meta"] and t["visible"]]
    assert len(visible_bands) == 1 and visible_bands[0]["points"] == shown
    assert page.locator("#segments-table [data-testid$='-0'][data-col='0']").count() == shown
    shot(page, "07_cluster_filter")
    page.click("#show-all-clusters")
    page.wait_for_function("() => !/in cluster/.test(document.querySelector('#segment-count')?.textContent || '')")


def test_cancel_in_the_browser_stops_the_analysis(session, tmp_path):
    page, services = session["page"], session["server"].services
    long_video = make_video(tmp_path / "long_clip.mp4",
                            SyntheticVideoSpec(duration=240.0, width=160, height=120, num_actions=4, seed=12))
    (visitor,) = list(services.sessions)  # this module's one browser session
    library = visitor.library
    before = [v.content_hash for v in library.list_videos()]
    page.get_by_role("tab", name="Analyze").click()
    upload_and_analyze(page, long_video.path)
    page.wait_for_function("() => /decoding frames/.test(document.body.innerText)", timeout=TIMEOUT_MS)
    page.click("#cancel-btn")
    started = time.monotonic()
    while services.running_analyses:
        assert time.monotonic() - started < 5.0, "the analysis thread ran on after Cancel"
        time.sleep(0.05)
    shot(page, "08_cancelled")
    assert [v.content_hash for v in library.list_videos()] == before
