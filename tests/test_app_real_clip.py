"""The app on the real UnAV clip with its ground truth: the screenshot described in the notes.

Slow (analyses a real 60 s clip in the browser); run with `pytest -m slow tests/test_app_real_clip.py`.
The screenshot goes to artifacts/browser/real_unav_speech.png.
"""

from __future__ import annotations

import pytest

from .conftest import shared_file
from .app_harness import chromium_page, running_app
from .test_app_browser import SHOTS, TIMEOUT_MS, count_text, plot_traces, shot, upload_and_analyze

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def test_real_clip_timeline_against_ground_truth(tmp_path):
    video = shared_file("unav/unav_speech_60s.mp4")
    gt = shared_file("unav/unav_speech_60s.gt.json")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with running_app(tmp_path) as server, chromium_page(tmp_path / "profile") as page:
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(server.url)
        page.wait_for_selector("#analyze-btn")
        page.set_input_files("#gt-upload input[type=file]", str(gt))
        upload_and_analyze(page, video)
        page.wait_for_selector("#segment-count-value", timeout=TIMEOUT_MS)
        page.wait_for_function("() => document.querySelector('#timeline .js-plotly-plot')?.data?.length > 0")
        page.click("#prepare-downloads")
        page.wait_for_selector("#map-table table", timeout=TIMEOUT_MS)
        shot(page, "real_unav_speech")
        traces = plot_traces(page)
        truth = [t for t in traces if t["meta"].get("ground_truth")]
        assert truth and truth[0]["points"] == 3  # the three "man speaking" instances
        assert count_text(page) > 0
        assert "0.1" in page.inner_text("#map-table")
