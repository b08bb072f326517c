"""Issue 24, points 6 and 7, in headless Debian chromium: search says when nothing matches well, and the status
line says what happened to an analysis (not a video, cancelled, failed and why), over the previous video.

One app server and one page for the module; a short clip is analysed first, so every later step has a
previous video that must stay on screen.
"""

from __future__ import annotations

import time

import pytest

from utal_core.synth.video import SyntheticVideoSpec, make_video

from .app_harness import chromium_page, running_app
from .test_app_browser import TIMEOUT_MS, pytestmark, shot, show_search_results, upload_and_analyze  # noqa: F401 - the browser marks
from .test_app_defects import STATUS, TOAST, close_toasts, table_rows, wait_for_status

INFO = "(document.querySelector('#search-info')?.innerText || '')"
PLAYER_SOURCE = "() => document.querySelector('#player video')?.src || ''"


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("app_messages")
    first = make_video(folder / "first_clip.mp4", SyntheticVideoSpec(duration=10.0, num_actions=1, seed=3))
    with running_app(folder) as server, chromium_page(folder / "profile") as page:
        page.set_default_timeout(TIMEOUT_MS)
        page.goto(server.url)
        page.wait_for_selector("#analyze-btn")
        upload_and_analyze(page, first.path)
        wait_for_status(page, "Analysed")
        yield {"page": page, "server": server, "folder": folder}


def search(page, query: str) -> str:
    page.get_by_role("tab", name="Search").click()
    page.fill("#search-box textarea", query)
    page.click("#search-btn")
    page.wait_for_function(f"(q) => {INFO}.includes('“' + q + '”')", arg=query)
    return page.inner_text("#search-info")


def results_shown(page) -> bool:
    return page.locator("#search-table").is_visible()


def test_a_query_nothing_shows_is_answered_no_good_match(app):
    """Defect: 'someone cooking' over a library without cooking returned hits laid out like real ones."""
    page = app["page"]
    info = search(page, "someone cooking")
    shot(page, "40_no_good_match")
    assert info.startswith("No good match") and "closest results" in info, info
    assert not results_shown(page)  # folded under the note
    show_search_results(page)
    rows = table_rows(page, "search-table")
    assert rows and all(float(row[4]) < float(row[5]) for row in rows), rows  # text score below its bar
    shot(page, "41_closest_results")
    info = search(page, "xqzv blorp")
    assert info.startswith("No good match") and not results_shown(page), info


def test_a_non_video_upload_says_so_and_what_to_upload(app, tmp_path):
    page = app["page"]
    not_a_video = tmp_path / "holiday.mov"  # a video's name (the upload box takes only those), a text's bytes
    not_a_video.write_text("shopping list: eggs, flour\n" * 40)
    page.get_by_role("tab", name="Analyze").click()
    upload_and_analyze(page, not_a_video)
    wait_for_status(page, "Not a video", timeout=60_000)
    status = page.evaluate(f"() => {STATUS}")
    shot(page, "42_not_a_video")
    assert "first_clip" in page.evaluate(PLAYER_SOURCE)
    assert "holiday.mov" in status and "MP4" in status and "first_clip.mp4" in status, status
    assert "did not finish" not in status and "Traceback" not in status
    assert "Not a video" in page.wait_for_selector(TOAST).inner_text()
    close_toasts(page)


def long_clip(folder):
    return make_video(folder / "long_clip.mp4", SyntheticVideoSpec(duration=150.0, width=160, height=120,
                                                                   num_actions=3, seed=12)).path


def test_cancel_says_the_analysis_was_cancelled(app):
    page, services = app["page"], app["server"].services
    upload_and_analyze(page, long_clip(app["folder"]))
    page.wait_for_function("() => /decoding frames/.test(document.body.innerText)", timeout=TIMEOUT_MS)
    page.click("#cancel-btn")
    wait_for_status(page, "cancelled", timeout=30_000)
    started = time.monotonic()
    while services.running_analyses:
        assert time.monotonic() - started < 10.0, "the analysis thread ran on after Cancel"
        time.sleep(0.05)
    time.sleep(1.0)  # a failure handler firing late would overwrite the status now
    status = page.evaluate(f"() => {STATUS}")
    shot(page, "43_cancelled")
    assert "first_clip" in page.evaluate(PLAYER_SOURCE)
    assert "Analysis cancelled" in status and "first_clip.mp4" in status, status
    assert "Not a video" not in status and "failed" not in status


def test_a_failed_analysis_says_why_and_what_to_do(app):
    page, config = app["page"], app["server"].services.config
    limit, config.analysis_time_limit_s = config.analysis_time_limit_s, 0.5
    try:
        page.click("#analyze-btn")  # the long clip again: its features were never kept
        wait_for_status(page, "took longer", timeout=TIMEOUT_MS)
    finally:
        config.analysis_time_limit_s = limit
    status = page.evaluate(f"() => {STATUS}")
    shot(page, "44_failed")
    assert "first_clip" in page.evaluate(PLAYER_SOURCE)
    assert "0.5 s" in status and "Try a shorter video" in status and "first_clip.mp4" in status, status
    assert "cancelled" not in status
    close_toasts(page)
