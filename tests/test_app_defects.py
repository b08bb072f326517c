"""Issue 11's app defects, each fixed and checked in headless Debian chromium, and the second prediction row.

One app server (with the bundled default example analysed on page load) and one page for the module;
the steps build on each other as a visitor's session does: the real CC-BY example on load, a reload
(no model run), an AVI (converted by us, with its own progress line), a search hit back in the example,
a bad upload, the cluster captions, then another detector's results with ground truth.
"""

from __future__ import annotations

import json
import re
import subprocess
import time
from pathlib import Path
from urllib.parse import unquote

import pytest

from utal_core import media
from utal_core.examples import DEFAULT_EXAMPLE, EXAMPLES, PackagedExample
from utal_core.synth.video import SyntheticVideoSpec, make_video

from .app_harness import chromium_page, running_app
from .conftest import SHARED_DATA
from .test_app_browser import pytestmark, shot, show_search_results, upload_and_analyze  # noqa: F401 - the browser marks
from .test_app_instrument import ANALYSIS_TIMEOUT_MS, PLOT

STATUS = "(document.querySelector('#status')?.innerText || '')"
TOAST = ".toast-body, [data-testid='toast-body']"
#: Phrases of ffmpeg's own error output that must never reach the page.
FFMPEG_WORDING = re.compile(r"Invalid data found|moov atom|@ 0x|Error opening|Conversion failed|Stream #", re.I)


def avi_clip(folder: Path) -> Path:
    """../shared's Xvid + MP3 AVI, or one made the same way when ../shared is absent."""
    shared = SHARED_DATA / "eval_fixtures" / "short_clip_mp3.avi"
    if shared.exists():
        return shared
    source = make_video(folder / "source.mp4", SyntheticVideoSpec(duration=12.0, width=320, height=240,
                                                                  num_actions=1, seed=5)).path
    target = folder / "short_clip_mp3.avi"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(source), "-c:v", "mpeg4", "-c:a", "libmp3lame",
                    str(target)], check=True)
    return target


@pytest.fixture(scope="module")
def app(tmp_path_factory):
    folder = tmp_path_factory.mktemp("app_defects")
    with running_app(folder, example=DEFAULT_EXAMPLE) as server, \
            chromium_page(folder / "profile", viewport=(1440, 900)) as page:
        page.set_default_timeout(60_000)
        yield {"page": page, "server": server, "folder": folder}


def wait_for_status(page, text: str, timeout: int = ANALYSIS_TIMEOUT_MS) -> None:
    page.wait_for_function(f"(t) => {STATUS}.includes(t)", arg=text, timeout=timeout)


def model_runs_shown(page) -> int:
    return int(page.inner_text("#status #model-runs"))


def table_rows(page, elem_id: str) -> list[list[str]]:
    """The cells of a Gradio dataframe, row by row (from their ``cell-<row>-<column>`` test ids)."""
    cells = page.evaluate(f"""() => [...document.querySelectorAll('#{elem_id} [data-testid^="cell-"]')]
        .map(c => [c.dataset.testid, c.innerText.trim()])""")
    rows: dict[int, dict[int, str]] = {}
    for test_id, text in cells:
        row, column = map(int, test_id.split("-")[1:3])
        rows.setdefault(row, {})[column] = text
    return [[row[c] for c in sorted(row)] for _, row in sorted(rows.items())]


def close_toasts(page) -> None:
    for button in page.locator(".toast-close, [data-testid='toast-close']").all():
        button.click()


def test_default_example_is_a_real_clip_and_a_reload_serves_its_saved_analysis(app):
    """Defects: the bundled example was synthetic noise; each page load reran the model for it."""
    page, services = app["page"], app["server"].services
    assert isinstance(EXAMPLES[DEFAULT_EXAMPLE], PackagedExample)
    page.goto(app["server"].url)
    wait_for_status(page, f"{DEFAULT_EXAMPLE}.mp4")
    page.wait_for_selector("#segment-count-value")
    assert "Analysed." in page.inner_text("#status") and model_runs_shown(page) == 1
    page.wait_for_function("() => document.querySelector('#player video')?.readyState >= 1")
    shot(page, "20_default_example_real_clip")
    for _ in range(2):
        page.reload()
        wait_for_status(page, "Loaded the saved analysis")
        page.wait_for_selector("#segment-count-value")
        assert model_runs_shown(page) == 1 and services.pipeline.model_runs == 1


def test_a_new_run_clears_the_status_and_an_avi_is_converted_with_its_own_progress(app):
    """Defects: the progress bar was drawn over the previous video's status; an AVI sat silently at 100 %
    while Gradio converted it after the handler."""
    page, services = app["page"], app["server"].services
    avi = avi_clip(app["folder"])
    page.evaluate(f"""() => {{ window.statusTexts = [];
        new MutationObserver(() => window.statusTexts.push({STATUS}))
            .observe(document.querySelector('#status'), {{subtree: true, childList: true, characterData: true}}); }}""")
    upload_and_analyze(page, avi)
    wait_for_status(page, f"{avi.name} —")
    done = time.monotonic()
    page.wait_for_function("() => /\\.browser\\.mp4$/.test(document.querySelector('#player video')?.src || '')"
                           " && document.querySelector('#player video').readyState >= 1", timeout=30_000)
    ready_after_s = time.monotonic() - done
    texts = page.evaluate("() => window.statusTexts")
    progress = [t for t in texts if "decoding frames" in t]
    assert progress and not any(DEFAULT_EXAMPLE in t for t in progress), progress[:3]
    assert any("converting the video for the browser player" in t for t in texts)
    assert ready_after_s < 5.0  # nothing left for Gradio to convert
    served = unquote(page.evaluate("() => document.querySelector('#player video').src").split("file=", 1)[1])
    assert media.browser_playable(media.probe(served))  # what the page plays is our H.264 copy
    assert services.pipeline.model_runs == 2
    shot(page, "21_avi_converted")


def test_opening_a_search_hit_loads_its_video_analysis_and_seeks(app):
    """Defect: a hit left the previous video's timeline, table and thumbnails on screen and did not seek."""
    page, services = app["page"], app["server"].services
    page.get_by_role("tab", name="Search").click()
    page.fill("#search-box textarea", "people playing music")
    count = page.locator("#result-count input[type=number]")
    count.fill("50")
    count.press("Tab")
    page.click("#search-btn")
    page.wait_for_function("() => /answered by/.test(document.querySelector('#search-info')?.textContent || '')")
    show_search_results(page)
    rows = table_rows(page, "search-table")
    example_rows = [i for i, row in enumerate(rows) if row and row[0] == f"{DEFAULT_EXAMPLE}.mp4" and float(row[1]) > 7]
    assert example_rows, rows
    row = example_rows[0]
    start = float(rows[row][1])
    page.click(f"#search-table [data-testid='cell-{row}-0']")
    wait_for_status(page, "from search", timeout=60_000)
    assert f"{DEFAULT_EXAMPLE}.mp4" in page.inner_text("#status")
    page.wait_for_function("(s) => Math.abs(document.querySelector('#player video')?.currentTime - s) < 0.3",
                           arg=start, timeout=30_000)
    assert DEFAULT_EXAMPLE in page.evaluate("() => document.querySelector('#player video').src")
    x_max = page.evaluate(f"() => Math.max(...{PLOT}._fullData.filter(t => (t.meta || {{}}).curve === 'fused')[0].x)")
    assert x_max > 50  # the example's 60 s curve, not the 6.6 s AVI's
    starts = page.evaluate(f"""() => {PLOT}._fullData.filter(t => 'segments' in (t.meta || {{}}))
        .flatMap(t => Array.from(t.x).map((x, i) => x - t.width[i] / 2))""")
    assert any(abs(s - start) < 0.01 for s in starts), (start, starts)  # the hit is one of the bands drawn
    captions = page.evaluate("() => [...document.querySelectorAll('#segment-gallery .caption-label')].map(c => c.innerText)")
    assert any(float(c.split(" · ")[1].split("–")[0]) > 7 for c in captions), captions  # "#n · start–end s · name"
    assert services.pipeline.model_runs == 2
    shot(page, "22_search_hit_opened")


def test_after_an_error_the_previous_video_and_analysis_stay_with_a_plain_message(app, tmp_path):
    """Defects: after an error the player went blank; messages showed server paths and ffmpeg's wording."""
    page = app["page"]
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_bytes(b"\x00\x00\x00\x18ftypmp42" + b"not really a video " * 200)
    traces_before = page.evaluate(f"() => {PLOT}._fullData.length")
    upload_and_analyze(page, not_a_video)
    message = page.wait_for_selector(TOAST).inner_text()
    wait_for_status(page, "Not a video", timeout=60_000)
    shot(page, "23_error_keeps_previous_video")
    assert "notes.mp4" in message and "Traceback" not in message
    assert not re.search(r"/(tmp|home|root|work|var)/", message) and not FFMPEG_WORDING.search(message), message
    assert f"{DEFAULT_EXAMPLE}.mp4" in page.inner_text("#status")
    player = page.evaluate("""() => { const v = document.querySelector('#player video');
        return v && {src: v.src, ready: v.readyState, visible: v.getBoundingClientRect().height > 100}; }""")
    assert player and DEFAULT_EXAMPLE in player["src"] and player["ready"] >= 1 and player["visible"], player
    assert page.evaluate(f"() => {PLOT}._fullData.length") == traces_before
    close_toasts(page)


def test_cluster_captions_show_the_whole_name_and_runner_ups(app):
    """Defect: cluster captions were cut off at the thumbnail's edge."""
    page = app["page"]
    page.locator("#clusters-gallery .caption-label").first.scroll_into_view_if_needed()
    captions = page.evaluate("""() => [...document.querySelectorAll('#clusters-gallery .caption-label')].map(c => {
        c.scrollIntoView({block: 'nearest'});
        const shown = c.closest('.grid-wrap').getBoundingClientRect(), box = c.getBoundingClientRect();
        const inside = box.top >= shown.top - 1 && box.bottom <= shown.bottom + 1 && box.right <= shown.right + 1;
        return {text: c.innerText, cut: !inside || c.scrollWidth > c.clientWidth + 1 ||
                                        c.scrollHeight > c.clientHeight + 1}; })""")
    names = [row[1] for row in table_rows(page, "clusters-table")]
    shot(page, "24_cluster_captions")
    assert captions and not any(c["cut"] for c in captions), captions
    assert all(any(f": {name} (" in c["text"] for c in captions) for name in names), (names, captions)


def write_detector_case(folder: Path) -> tuple[Path, Path]:
    """Ground truth and another detector's results for the example, in ActivityNet format (the shape of
    ../shared/data/eval_fixtures/anet_*_small.json), with the outcome of each prediction at tIoU 0.5:

    - [5, 14] playing 0.9: tIoU 0.9 with A = [5, 15] playing, the best-scored: true positive;
    - [6, 15] playing 0.8: tIoU 0.9 with A, already taken: double detection;
    - [31, 40] singing 0.7: tIoU 0.9 with B = [30, 40] playing, another label: wrong label;
    - [28, 33] playing 0.6: tIoU 3/12 = 0.25 with B, same label, in [0.1, 0.5): localization error;
    - [44, 46] singing 0.5: touches no ground truth: background.
    B and C = [50, 55] singing are matched by no prediction: missed.
    """
    video = DEFAULT_EXAMPLE
    truth = {"database": {video: {"duration": 60.04, "subset": "validation", "annotations": [
        {"segment": [5.0, 15.0], "label": "playing"}, {"segment": [30.0, 40.0], "label": "playing"},
        {"segment": [50.0, 55.0], "label": "singing"}]}}}
    predictions = [([5.0, 14.0], "playing", 0.9), ([6.0, 15.0], "playing", 0.8), ([31.0, 40.0], "singing", 0.7),
                   ([28.0, 33.0], "playing", 0.6), ([44.0, 46.0], "singing", 0.5)]
    results = {"version": "VERSION 1.3", "results": {video: [
        {"segment": segment, "label": label, "score": score} for segment, label, score in predictions]}}
    (folder / "gt.json").write_text(json.dumps(truth))
    (folder / "actionformer_results.json").write_text(json.dumps(results))
    return folder / "gt.json", folder / "actionformer_results.json"


def test_another_detectors_results_are_a_second_row_with_their_errors(app, tmp_path):
    """Issue 11, Build 4: an uploaded results file is drawn as its own row; with ground truth, the DETAD
    breakdown and the list of errors, and a click on an error seeks the player to it."""
    page = app["page"]
    truth, results = write_detector_case(tmp_path)
    page.set_input_files("#detector-upload input[type=file]", str(results))
    page.wait_for_function(f"() => {PLOT}._fullData.some(t => (t.meta || {{}}).detector)")
    assert "Add a ground-truth file" in page.inner_text("#detector-info")
    page.set_input_files("#gt-upload input[type=file]", str(truth))
    page.wait_for_selector("#errors-table [data-testid='cell-0-0']")
    bars = page.evaluate(f"""() => {PLOT}._fullData.filter(t => (t.meta || {{}}).detector)
        .reduce((count, row) => count + Array.from(row.x).length, 0)""")
    assert bars == 5
    breakdown = {row[0]: int(row[1]) for row in table_rows(page, "diagnosis-table")}
    assert breakdown == {"true positive": 1, "double detection": 1, "wrong label": 1, "localization error": 1,
                         "confusion": 0, "background": 1, "missed ground truth": 2}
    errors = [[row[0], float(row[1])] for row in table_rows(page, "errors-table")]
    assert errors == [["double detection", 6.0], ["localization error", 28.0], ["missed ground truth", 30.0],
                      ["wrong label", 31.0], ["background", 44.0], ["missed ground truth", 50.0]]
    shot(page, "25_detector_row_and_errors")
    row = next(i for i, (kind, _) in enumerate(errors) if kind == "localization error")
    page.click(f"#errors-table [data-testid='cell-{row}-0']")
    page.wait_for_function("() => Math.abs(document.querySelector('#player video').currentTime - 28) < 0.3")
    # ... and opens the inspector on the prediction (28-33 s): its segment when the analysis has one there, else
    # its frames with nothing to edit (issue 22: "clicking an error opens the inspector on that prediction").
    page.wait_for_function("""() => { const info = document.querySelector('#inspector-info').innerText;
        return /28\\.0+–33\\.0+/.test(info) || /\\b2[78]\\.\\d+\\s*[–-]\\s*3[234]\\.\\d+/.test(info); }""")
    page.wait_for_selector("#inspector-strips img")
