"""Everything on the page belongs to the video on screen (issue 22, defects 1-4), in chromium: two videos in one
session, a re-threshold with a segment inspected."""

from __future__ import annotations

import pytest

from utal_core.synth.video import SyntheticVideoSpec, make_video

from .app_harness import app_page
from .test_app_browser import set_slider, upload_and_analyze
from .test_app_inspector import corrections, press

pytestmark = pytest.mark.browser
ANALYSIS_TIMEOUT_MS = 180_000
#: The status line, the first table row's start and the timeline's last curve time, read in one go.
PAGE_STATE_JS = """() => { const plot = document.querySelector('#timeline .js-plotly-plot');
    const curve = plot && plot._fullData && plot._fullData.find(t => t.meta && t.meta.curve === 'fused');
    return {status: document.querySelector('#status').innerText,
            last_time: curve ? Math.max(...Array.from(curve.x)) : null,
            info: document.querySelector('#inspector-info').innerText,
            downloads: [...document.querySelectorAll('#downloads a')].map(
                a => decodeURIComponent(a.href.split('?')[0].split('/').pop()))}; }"""


@pytest.fixture(scope="module")
def videos(tmp_path_factory):
    folder = tmp_path_factory.mktemp("video_state")
    first = make_video(folder / "first_clip.mp4", SyntheticVideoSpec(duration=20.0, num_actions=2, seed=51))
    second = make_video(folder / "second_clip.mp4", SyntheticVideoSpec(duration=12.0, num_actions=1, seed=52))
    return folder, first.path, second.path


def analysed(page, video) -> dict:
    """Analyze ``video`` and return the page's state at the moment the status first names it."""
    upload_and_analyze(page, video)
    page.wait_for_function("(name) => document.querySelector('#status').innerText.includes(name)", arg=video.name,
                           timeout=ANALYSIS_TIMEOUT_MS)
    return page.evaluate(PAGE_STATE_JS)


def test_the_page_belongs_to_the_video_on_screen(videos):
    folder, first, second = videos
    with app_page(folder) as (_, page):
        analysed(page, first)
        page.wait_for_selector("#segment-count-value")
        page.click("#segments-table [data-testid='cell-1-1']")  # inspect a segment of the first video
        page.wait_for_function("() => document.querySelector('#inspected-start')")
        page.wait_for_function("() => document.querySelector('#segment-info').innerText.includes('Segment #')")
        page.click("#prepare-downloads")
        page.wait_for_function("() => document.querySelectorAll('#downloads a').length > 0")
        names = page.evaluate(PAGE_STATE_JS)["downloads"]
        assert names and all(name.startswith("first_clip") for name in names), names

        state = analysed(page, second)
        # Defect 3: when the status names the second video, the timeline already shows it (12 s, not 20 s).
        assert state["last_time"] is not None and state["last_time"] < 12.0, state
        # Defect 2: no download of the first video is offered once the second is on screen.
        assert state["downloads"] == [], state
        # Defect 1: the inspector no longer shows the first video's segment, and a key edits nothing.
        page.wait_for_function("() => document.querySelector('#inspector-info').innerText.includes('No segment inspected')")
        press(page, "a")
        toast = page.wait_for_selector(".toast-body, [data-testid='toast-body']", timeout=30_000).inner_text()
        assert "Select a segment first" in toast or "segment of this video" in toast, toast
        assert corrections(page) == []
        # The first video's selected segment is forgotten: no line naming it, and Play segment plays nothing.
        page.wait_for_function("() => !document.querySelector('#segment-info').innerText.includes('Segment #')")
        paused_at = page.evaluate("() => document.querySelector('#player video').currentTime")
        page.click("#play-segment-btn")
        page.wait_for_timeout(500)
        assert page.evaluate("() => document.querySelector('#player video').paused")
        assert page.evaluate("() => document.querySelector('#player video').currentTime") == paused_at
        page.click("#prepare-downloads")
        page.wait_for_function("() => document.querySelectorAll('#downloads a').length > 0")
        assert all(name.startswith("second_clip") for name in page.evaluate(PAGE_STATE_JS)["downloads"])


def test_re_thresholding_keeps_the_inspector_on_the_segments_shown(videos):
    """Defect 4: after a re-threshold the inspector shows the segment its selection became, with that segment's
    bounds as the table shows them, or nothing; never the bounds of a segment that no longer exists."""
    folder, first, _ = videos
    with app_page(folder) as (_, page):
        analysed(page, first)
        page.wait_for_selector("#segment-count-value")
        page.click("#segments-table [data-testid='cell-2-1']")
        page.wait_for_function("() => document.querySelector('#inspected-start')")
        for threshold in (0.62, 0.3, 0.8):
            set_slider(page, "threshold", threshold)
            page.wait_for_timeout(300)
            page.wait_for_function("() => window.utalPendingEdits ? window.utalPendingEdits() === 0 : true")
            page.wait_for_timeout(1500)
            bands = {tuple(band) for band in page.evaluate("""() => document.querySelector('#timeline .js-plotly-plot')
                ._fullData.filter(t => t.meta && t.meta.segments !== undefined)
                .flatMap(t => Array.from(t.x).map((x, i) => [Math.round((x - t.width[i] / 2) * 100) / 100,
                                                           Math.round((x + t.width[i] / 2) * 100) / 100]))""")}
            info = page.inner_text("#inspector-info")
            if "No segment inspected" not in info:
                shown = (round(float(page.inner_text("#inspected-start")), 2),
                         round(float(page.inner_text("#inspected-end")), 2))
                assert shown in bands, (threshold, info, sorted(bands))
