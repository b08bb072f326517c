"""Timeline and player as one instrument, in headless Debian chromium: layout at 1440x900,
click-to-seek, the playhead during playback, zoom kept across re-segmenting.

One app server, one page and one analysed video for the module. Screenshots go to artifacts/browser/.
"""

from __future__ import annotations

import json

import pytest

from utal_core.synth.video import SyntheticVideoSpec, make_video

from .app_harness import ANALYSIS_TIMEOUT_MS, BROWSER_MODULE, chromium_page, running_app
from .test_app_browser import SHOTS, set_slider, shot, upload_and_analyze

pytestmark = BROWSER_MODULE

PLOT = "document.querySelector('#timeline .js-plotly-plot')"
#: The plot area's geometry in page pixels and its x range (Plotly's own layout numbers).
PLOT_AREA_JS = f"""() => {{ const plot = {PLOT}, box = plot.getBoundingClientRect(), size = plot._fullLayout._size;
    const axis = plot._fullLayout.xaxis;
    return {{left: box.left + axis._offset, width: axis._length, top: box.top + size.t, height: size.h,
             range: axis.range.map(Number)}}; }}"""


def threshold_drawn(page, value: float) -> None:
    page.wait_for_function(
        """(t) => [...document.querySelectorAll('#timeline .annotation-text')]
                    .some(a => a.textContent.includes('threshold ' + t))""", arg=f"{value:.2f}")


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("app_instrument")
    video = make_video(folder / "counter.mp4", SyntheticVideoSpec(duration=20.0, width=192, height=144,
                                                                  num_actions=2, frame_code=True, seed=21))
    SHOTS.mkdir(parents=True, exist_ok=True)
    with running_app(folder) as server, chromium_page(folder / "profile", viewport=(1440, 900)) as page:
        page.set_default_timeout(60_000)
        page.goto(server.url)
        page.wait_for_selector("#analyze-btn")
        upload_and_analyze(page, video.path)
        page.wait_for_selector("#segment-count-value", timeout=ANALYSIS_TIMEOUT_MS)
        page.wait_for_function(f"() => {PLOT}?.data?.length > 0")
        # The media half of the refresh (thumbnails, subtitles) swaps the player's <video> last.
        page.wait_for_selector("#player video track", state="attached")
        page.wait_for_selector("#segment-gallery img")
        page.wait_for_function("() => document.querySelector('#player video')?.readyState >= 1")
        page.wait_for_function(f"() => {PLOT}._utalBound && document.querySelector('#player video')._utalBound")
        yield page


def test_timeline_sits_under_the_player_in_one_window(page):
    page.evaluate("() => window.scrollTo(0, 0)")
    player = page.locator("#player video").bounding_box()
    plot = page.locator("#timeline .js-plotly-plot").bounding_box()
    page.screenshot(path=str(SHOTS / "09_instrument_1440x900.png"))
    assert 0 <= player["y"] and plot["y"] + plot["height"] <= 900, (player, plot)
    assert 0 <= plot["y"] - (player["y"] + player["height"]) < 40, (player, plot)  # directly under
    assert abs(plot["x"] - player["x"]) < 40 and plot["width"] >= 0.9 * player["width"], (player, plot)


def test_clicking_the_timeline_seeks_the_player(page):
    area = page.evaluate(PLOT_AREA_JS)
    for fraction in (0.3, 0.7):
        page.mouse.click(area["left"] + fraction * area["width"], area["top"] + area["height"] / 2)
        wanted = area["range"][0] + fraction * (area["range"][1] - area["range"][0])
        page.wait_for_function("(t) => Math.abs(document.querySelector('#player video').currentTime - t) < 0.2",
                               arg=wanted)
        # ... and the playhead is drawn where the player now is (to 3 px).
        page.wait_for_function(f"""() => {{ const plot = {PLOT}, axis = plot._fullLayout.xaxis;
            const [low, high] = axis.range;
            const line = document.querySelector('#timeline-playhead').getBoundingClientRect().left + 1;
            const now = document.querySelector('#player video').currentTime;
            const at = plot.getBoundingClientRect().left + axis._offset + (now - low) / (high - low) * axis._length;
            return Math.abs(line - at) < 3; }}""", timeout=5_000)


def test_playhead_follows_playback(page):
    page.evaluate(f"""() => {{ const video = document.querySelector('#player video');
        video.muted = true; video.currentTime = 2; window.figureBefore = {PLOT}.data; }}""")
    page.evaluate("() => document.querySelector('#player video').play()")
    seen = []
    for _ in range(3):
        page.wait_for_timeout(700)
        seen.append(page.evaluate("""() => { const line = document.querySelector('#timeline-playhead');
            return [Number(line.dataset.time), line.getBoundingClientRect().left]; }"""))
    page.evaluate("() => document.querySelector('#player video').pause()")
    shot(page, "10_playhead_playing")
    times, lefts = [t for t, _ in seen], [x for _, x in seen]
    assert times == sorted(times) and times[-1] - times[0] > 0.5, seen
    assert lefts == sorted(lefts) and lefts[-1] > lefts[0], seen
    # The line moved; the figure was not rendered again (Plotly.react would replace its data array).
    assert page.evaluate(f"() => window.figureBefore === {PLOT}.data")


def test_zoom_survives_resegmenting(page):
    area = page.evaluate(PLOT_AREA_JS)
    y = area["top"] + area["height"] / 2
    page.mouse.move(area["left"] + 0.2 * area["width"], y)
    page.mouse.down()
    page.mouse.move(area["left"] + 0.5 * area["width"], y + 5, steps=8)
    page.mouse.up()
    zoomed = page.evaluate(PLOT_AREA_JS)["range"]
    assert zoomed[1] - zoomed[0] < 0.5 * (area["range"][1] - area["range"][0])
    set_slider(page, "threshold", 0.62)
    threshold_drawn(page, 0.62)
    page.wait_for_function(f"(r) => {PLOT}._fullLayout.xaxis.range.every((v, i) => Math.abs(v - r[i]) < 1e-6)",
                           arg=zoomed, timeout=5_000)
    shot(page, "11_zoom_kept_after_resegment")


def ground_truth_rows(page) -> int:
    return page.evaluate(f"() => {PLOT}._fullData.filter(t => (t.meta || {{}}).ground_truth).length")


def test_ground_truth_of_another_video_is_not_drawn(page, tmp_path):
    """Issue 11: a GT file without this video was drawn anyway ("the only video in the file")."""
    annotations = [{"segment": [2.0, 5.0], "label": "wave"}]
    elsewhere = tmp_path / "elsewhere.json"
    elsewhere.write_text(json.dumps({"database": {"v_elsewhere": {"duration": 95.0, "annotations": annotations}}}))
    page.set_input_files("#gt-upload input[type=file]", str(elsewhere))
    toast = page.wait_for_selector(".toast-body, [data-testid='toast-body']")
    assert "no entry for counter" in toast.inner_text()
    page.wait_for_timeout(1500)  # the refresh after the warning has had its turn
    assert ground_truth_rows(page) == 0 and not page.locator("#map-table table").is_visible()
    page.click(".toast-close, [data-testid='toast-close']")
    # The same annotations under another name but this video's duration: matched by duration.
    renamed = tmp_path / "renamed.json"
    renamed.write_text(json.dumps({"database": {"v_renamed": {"duration": 20.0, "annotations": annotations}}}))
    page.locator("#gt-upload button[aria-label=Clear]").click()
    page.set_input_files("#gt-upload input[type=file]", str(renamed))
    page.wait_for_function(f"() => {PLOT}._fullData.some(t => (t.meta || {{}}).ground_truth)")
    shot(page, "12_ground_truth_matched_by_duration")


def test_segment_numbers_agree_in_table_info_line_and_subtitles(page):
    """Issue 11: the table, the info line and the subtitles numbered the same segment differently."""
    number = page.inner_text("#segments-table [data-testid='cell-0-0']").strip()
    start = float(page.inner_text("#segments-table [data-testid='cell-0-1']"))
    page.click("#segments-table [data-testid='cell-0-1']")
    page.wait_for_function("(n) => (document.querySelector('#segment-info')?.textContent || '').includes(`#${n}:`)",
                           arg=number)
    track = "[...document.querySelector('#player video').textTracks].at(-1)"  # the current subtitles
    page.evaluate(f"() => {{ {track}.mode = 'hidden'; }}")
    page.wait_for_function(f"() => {track}.cues?.length > 0")
    cues = page.evaluate(f"() => [...{track}.cues].map(c => [c.startTime, c.text])")
    tracks = page.evaluate("() => document.querySelector('#player video').textTracks.length")
    assert any(abs(at - start) < 0.01 and text.startswith(f"#{number} ") for at, text in cues), \
        (number, start, tracks, cues)
