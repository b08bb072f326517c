"""A researcher's corrections in the app are saved as they are made: a reload, a server restart and a new
visit of the same browser bring them back; another browser sees none of them (issue 21, point 1)."""

from __future__ import annotations

import pytest

from utal_core.synth.video import SyntheticVideoSpec, make_video

from .app_harness import chromium_page, free_port, running_app
from .test_app_browser import upload_and_analyze
from .test_app_inspector import press, wait_inspected

pytestmark = pytest.mark.browser
ANALYSIS_TIMEOUT_MS = 180_000
EDITS_JS = """() => { const plot = document.querySelector('#timeline .js-plotly-plot');
    const t = plot && plot.data.find(t => t.meta && t.meta.edits);
    return t ? Array.from(t.x).map((x, i) => [x - t.width[i] / 2, x + t.width[i] / 2]).sort((a, b) => a[0] - b[0]) : null; }"""


def analysed(page, video, expect: str) -> None:
    """Upload ``video``, press Analyze and wait for a status line containing ``expect``."""
    upload_and_analyze(page, video)
    page.wait_for_function("(text) => document.querySelector('#status').innerText.includes(text)", arg=expect,
                           timeout=ANALYSIS_TIMEOUT_MS)
    page.wait_for_selector("#segment-count-value")


def edits_row(page, bars: int | None = None) -> list[float]:
    """The timeline's edits row: start, end of each bar in time order, flattened; with ``bars``, once it has that
    many (the row is redrawn when the server's answer to the last edit arrives, after the inspector's own update)."""
    page.wait_for_function(f"(bars) => {{ const row = ({EDITS_JS})(); return row !== null && (bars === null || "
                           f"row.length === bars); }}", arg=bars)
    return [bound for bar in page.evaluate(EDITS_JS) for bound in bar]


def test_corrections_survive_a_reload_and_a_restart_and_stay_with_their_browser(tmp_path):
    video = make_video(tmp_path / "counter.mp4", SyntheticVideoSpec(duration=20.0, width=320, height=240, fps=25.0,
                                                                    num_actions=2, frame_code=True, seed=21)).path
    port = free_port()
    with running_app(tmp_path, port=port) as server, chromium_page(tmp_path / "browser") as page:
        page.set_default_timeout(60_000)
        page.goto(server.url)
        analysed(page, video, "Analysed")
        for row in range(3):  # three boundaries corrected: each start one frame later
            before = page.inner_text("#inspector-info")
            page.click(f"#segments-table [data-testid='cell-{row}-1']")
            page.wait_for_function("""(before) => { const info = document.querySelector('#inspector-info').innerText;
                return info !== before && info.startsWith('Inspecting'); }""", arg=before)
            start, end = float(page.inner_text("#inspected-start")), float(page.inner_text("#inspected-end"))
            press(page, "x")
            wait_inspected(page, round(start + 0.04, 6), end)
        corrected = edits_row(page, bars=3)
        assert len(corrected) == 6
        page.reload()
        page.wait_for_selector("#analyze-btn")
        analysed(page, video, "Restored your 3 saved correction(s)")
        assert edits_row(page) == pytest.approx(corrected, abs=1e-3)
    with running_app(tmp_path, port=port) as server:  # a restart
        with chromium_page(tmp_path / "browser") as page:
            page.set_default_timeout(60_000)
            page.goto(server.url)
            analysed(page, video, "Restored your 3 saved correction(s)")
            assert edits_row(page) == pytest.approx(corrected, abs=1e-3)
        with chromium_page(tmp_path / "another browser") as other:
            other.set_default_timeout(60_000)
            other.goto(server.url)
            analysed(other, video, "Analysed")
            assert "Restored" not in other.inner_text("#status") and edits_row(other) == []
