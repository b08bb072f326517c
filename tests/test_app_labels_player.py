"""The inspector in view and the habits of ELAN and Label Studio, in headless Debian chromium: player, timeline and
inspector in one 1440x900 window with frames at least 120 px wide, the every-frame strips (read back frame by frame
from the drawn counter), one frame back / forward by keys, the playback speed, the loop of the segment, the label
list with its hotkeys, and an ELAN EAF imported in the app and exported back (same tiers, times, values).

One app server, one page and one analysed video for the module; the tests run in order on that page.
"""

from __future__ import annotations

import base64
import json
import re
from pathlib import Path

import cv2
import numpy as np
import pytest

from utal_core.synth.video import SyntheticVideoSpec, make_video, read_frame_code

from .app_harness import BROWSER_MODULE, app_page
from .test_app_browser import SHOTS, shot, upload_and_analyze
from .test_app_defects import TOAST, close_toasts
from .test_app_inspector import corrections, fetch_download, inspected, press, seek, wait_inspected

pytestmark = BROWSER_MODULE

FPS = 25.0
HEIGHT = 240
#: The ground truth's labels (the label list starts with them) and an ELAN file's tiers with their annotations.
TRUTH_LABELS = ["jump", "wave"]
EAF_TIERS = {"clap": [(1000, 2480, "clap"), (7040, 9000, "clap")], "kick": [(4000, 5200, "kick")]}
#: The corrections' import slot holds no file (none shown, nothing to clear).
SLOT_EMPTY_JS = """() => !document.querySelector('#import-upload .file-preview')
    && !document.querySelector('#import-upload button[aria-label=Clear]')"""
FRAMES_JS = """() => [...document.querySelectorAll('#inspector-strips .utal-strip')].map(s => ({
    bound: s.dataset.bound, mode: s.dataset.mode,
    frames: [...s.querySelectorAll('figure')].map(f => ({time: Number(f.dataset.time),
        boundary: f.classList.contains('boundary'), src: f.querySelector('img').src}))}))"""
VIDEO_CODE_JS = """() => { const video = document.querySelector('#player video');
    const canvas = document.createElement('canvas'); canvas.width = video.videoWidth; canvas.height = video.videoHeight;
    canvas.getContext('2d').drawImage(video, 0, 0); return canvas.toDataURL('image/png'); }"""


def _code(data_uri: str) -> int:
    """The frame counter drawn in an image given as a data URI."""
    image = cv2.imdecode(np.frombuffer(base64.b64decode(data_uri.split(",", 1)[1]), np.uint8), cv2.IMREAD_COLOR)
    return read_frame_code(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), HEIGHT)


def _write_eaf(path: Path) -> Path:
    from pympi import Elan

    eaf = Elan.Eaf()
    for tier, written in EAF_TIERS.items():
        eaf.add_tier(tier)
        for start, end, value in written:
            eaf.add_annotation(tier, start, end, value)
    eaf.to_file(str(path))
    return path


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("app_labels_player")
    video = make_video(folder / "counter.mp4", SyntheticVideoSpec(duration=20.0, width=320, height=HEIGHT, fps=FPS,
                                                                  num_actions=2, frame_code=True, seed=21))
    truth = folder / "truth.json"
    truth.write_text(json.dumps({"database": {"counter": {"subset": "validation", "duration": 20.0, "annotations": [
        {"segment": [2.0, 5.0], "label": TRUTH_LABELS[0]}, {"segment": [11.0, 14.0], "label": TRUTH_LABELS[1]}]}}}))
    SHOTS.mkdir(parents=True, exist_ok=True)
    with app_page(folder) as (server, page):
        upload_and_analyze(page, video.path)
        page.wait_for_selector("#segment-count-value", timeout=420_000)
        page.set_input_files("#gt-upload input[type=file]", str(truth))
        page.wait_for_selector("#label-key-2", timeout=120_000)  # the ground truth's labels are in the list
        page.wait_for_function("() => document.querySelector('#player video')?.readyState >= 2")
        assert server.services.proxies.wait(120)
        page.folder, page.server, page.video_path = folder, server, video.path
        yield page


def _select_row(page, row: int) -> str:
    """Inspect the segment of the table's ``row`` (its strips loaded); returns its key."""
    page.click(f"#segments-table [data-testid='cell-{row}-1']")
    page.wait_for_function("""() => { const imgs = [...document.querySelectorAll('#inspector-strips img')];
        return imgs.length > 0 && imgs.every(i => i.complete && i.naturalWidth > 0); }""", timeout=30_000)
    return page.inner_text("#inspector-info").split()[1]


def test_player_timeline_and_inspector_fit_a_1440x900_window(page):
    page.key = _select_row(page, 1)
    page.evaluate("() => document.querySelector('#analyze-top').scrollIntoView({block: 'start'})")
    boxes = page.evaluate("""() => Object.fromEntries(['#player', '#timeline', '#inspector-panel', '#inspector-strips']
        .map(s => { const r = document.querySelector(s).getBoundingClientRect();
                    return [s, [r.left, r.top, r.right, r.bottom]]; }))""")
    assert page.viewport_size == {"width": 1440, "height": 900}
    for name, (left, top, right, bottom) in boxes.items():
        assert 0 <= left < right <= 1440 and 0 <= top < bottom <= 900, (name, boxes)
    player, timeline, panel = boxes["#player"], boxes["#timeline"], boxes["#inspector-panel"]
    assert panel[0] >= player[2]  # beside the player
    assert timeline[1] >= max(player[3], panel[3]) and timeline[2] - timeline[0] >= 1300  # full width, under both
    frames = page.evaluate("""() => [...document.querySelectorAll('#inspector-strips figure')].map(f => ({
        width: f.getBoundingClientRect().width,
        caption: parseFloat(getComputedStyle(f.querySelector('figcaption')).fontSize)}))""")
    assert len(frames) >= 20 and all(f["width"] >= 120 and f["caption"] >= 12 for f in frames), frames
    shot(page, "20_player_timeline_inspector")


def test_every_frame_mode_shows_consecutive_frames_and_follows_a_nudge(page):
    page.locator("#strip-mode").get_by_text("every frame").click()
    page.wait_for_function("() => [...document.querySelectorAll('#inspector-strips .utal-strip')].every("
                           "s => s.dataset.mode === 'every')")
    start, end = inspected(page)
    strips = page.evaluate(FRAMES_JS)
    for strip, boundary in zip(strips, (start, end)):
        times = [f["time"] for f in strip["frames"]]
        assert len(times) >= 6 and np.allclose(np.diff(times), 1 / FPS, atol=1e-4), times  # distinct, one frame apart
        assert [_code(f["src"]) for f in strip["frames"]] == [round(t * FPS) for t in times]
        shown = next(f["time"] for f in strip["frames"] if f["boundary"])
        assert shown <= boundary + 1e-6 < shown + 1 / FPS  # the frame on screen at the boundary
    before = next(f["time"] for f in strips[0]["frames"] if f["boundary"])
    press(page, "x")  # the start one frame later: the boundary's frame is the next one
    wait_inspected(page, round(start + 1 / FPS, 6), end)
    page.wait_for_function("""(before) => { const f = document.querySelector(
        "#inspector-strips .utal-strip[data-bound='start'] figure.boundary");
        return f && Math.abs(Number(f.dataset.time) - before - 0.04) < 1e-4; }""", arg=before, timeout=20_000)


def test_frame_stepping_moves_one_frame(page):
    seek(page, 6.001)  # frame 150, a millisecond past its own time
    page.evaluate("() => document.querySelector('#player video').pause()")
    times, codes = [], []
    for key in (None, ".", ".", ","):
        if key:
            press(page, key)
            page.wait_for_function("""(before) => { const v = document.querySelector('#player video');
                return Math.abs(v.currentTime - before) > 0.01 && !v.seeking; }""", arg=times[-1])
            page.wait_for_timeout(100)  # the seeked frame painted
        times.append(page.evaluate("() => document.querySelector('#player video').currentTime"))
        codes.append(_code(page.evaluate(VIDEO_CODE_JS)))
    assert np.allclose(np.diff(times), [0.04, 0.04, -0.04], atol=2e-3), times
    assert codes == [150, 151, 152, 151], codes  # the frame on screen follows, frame by frame


def test_playback_speed(page):
    page.click("#player-speed input")
    page.get_by_role("option", name="2x").click()
    page.wait_for_function("() => document.querySelector('#player video').playbackRate === 2")
    rate = page.evaluate("""() => new Promise(done => { const v = document.querySelector('#player video');
        v.muted = true; v.currentTime = 1; v.play().then(() => { const t0 = v.currentTime, w0 = performance.now();
        setTimeout(() => { const ratio = (v.currentTime - t0) / ((performance.now() - w0) / 1000); v.pause();
                           done(ratio); }, 1500); }); })""")
    assert 1.4 < rate < 2.3, rate
    page.click("#player-speed input")
    page.get_by_role("option", name="1x", exact=True).click()
    page.wait_for_function("() => document.querySelector('#player video').playbackRate === 1")


def test_loop_goes_back_to_the_segments_start(page):
    start, end = inspected(page)
    page.click("#player-loop input")
    seen = page.evaluate("""([start, end]) => new Promise(done => { const v = document.querySelector('#player video');
        const times = []; v.muted = true; v.currentTime = end - 0.4;
        v.play().then(() => { const watch = () => { times.push(v.currentTime);
            if (times.length > 1 && v.currentTime < end - 0.6) { v.pause(); done(times); }
            else if (times.length > 600) { v.pause(); done(times); } else requestAnimationFrame(watch); };
            watch(); }); })""", [start, end])
    assert seen[-1] < end - 0.6 and seen[-1] >= start - 1e-3, seen[-5:]  # back at the start, played on from there
    assert max(seen) < end + 0.1  # within a few frames of the end
    page.click("#player-loop input")


def test_label_hotkeys_relabel_the_segment(page):
    page.wait_for_function("(labels) => labels.every((l, i) => document.querySelector(`#label-key-${i + 1}`)"
                           "?.innerText.trim() === `${i + 1} ${l}`)", arg=TRUTH_LABELS)
    page.fill("#inspector-label textarea, #inspector-label input", "dance <b>x</b>")
    page.click("#add-label")
    page.wait_for_function("() => document.querySelector('#label-key-3')?.innerText.trim() === '3 dance <b>x</b>'")
    press(page, "3")
    page.wait_for_function("(key) => document.querySelector('#inspector-info').innerText.includes('dance <b>x</b>')",
                           arg=page.key)
    press(page, "1")
    page.wait_for_function("() => document.querySelector('#inspector-info').innerText.includes('Relabelled “jump”')")
    wait_label(page, page.key, TRUTH_LABELS[0])
    page.click("#label-key-2")  # relabel from the list by a click
    page.wait_for_function("() => document.querySelector('#inspector-info').innerText.includes('Relabelled “wave”')")
    wait_label(page, page.key, TRUTH_LABELS[1])


def wait_label(page, key: str, label: str) -> None:
    """The corrections table shows ``key`` with ``label`` (it is redrawn after the inspector's info line)."""
    for _ in range(100):
        if any(row[0] == key and row[4] == label for row in corrections(page)):
            return
        page.wait_for_timeout(100)
    raise AssertionError(f"{key} is not labelled {label!r} in the corrections table: {corrections(page)}")


def test_eaf_import_in_the_app_and_export_back(page):
    from pympi import Elan

    page.set_input_files("#import-upload input[type=file]", str(_write_eaf(page.folder / "elan.eaf")))
    page.wait_for_function("() => document.querySelector('#inspector-info').innerText.includes('Imported 3')",
                           timeout=30_000)
    added = {(float(r[2]), float(r[3]), r[4]) for r in corrections(page) if r[1] == "added"}
    assert added == {(s / 1000, e / 1000, v) for a in EAF_TIERS.values() for s, e, v in a}
    page.wait_for_function(SLOT_EMPTY_JS)  # the import slot is free for the next file
    page.wait_for_function("() => ['clap', 'kick'].every(l => [...document.querySelectorAll('#label-list button')]"
                           ".some(b => b.innerText.trim().endsWith(' ' + l)))")
    page.click("#prepare-downloads")
    page.wait_for_function("() => [...document.querySelectorAll('#downloads a')].some(a => a.href.includes('.corrected.eaf'))",
                           timeout=30_000)
    exported = Elan.Eaf(str(fetch_download(page, ".corrected.eaf")))
    for tier, written in EAF_TIERS.items():
        assert sorted(exported.get_annotation_data_for_tier(tier)) == written
    # the relabelled segment is exported with the label it was given last, under that label's tier
    assert [a[2] for a in exported.get_annotation_data_for_tier("wave")] == ["wave"]



def test_activitynet_import_in_the_app_and_a_file_without_this_video(page):
    other = page.folder / "other.json"
    other.write_text(json.dumps({"database": {"elsewhere": {"annotations": [{"segment": [1, 2], "label": "x"}]}}}))
    page.set_input_files("#import-upload input[type=file]", str(other))
    page.wait_for_function("(selector) => [...document.querySelectorAll(selector)].some("
                           "t => t.innerText.includes(\"has no video 'counter'\"))", arg=TOAST, timeout=30_000)
    close_toasts(page)
    before = len(corrections(page))
    page.wait_for_function(SLOT_EMPTY_JS)  # a refused file leaves the slot free too
    page.set_input_files("#import-upload input[type=file]", str(page.folder / "truth.json"))
    page.wait_for_function("() => document.querySelector('#inspector-info').innerText.includes('Imported 2')",
                           timeout=30_000)
    rows = corrections(page)
    assert len(rows) == before + 2
    assert {(2.0, 5.0, "jump"), (11.0, 14.0, "wave")} <= {(float(r[2]), float(r[3]), r[4]) for r in rows if r[1] == "added"}

def test_the_inspector_opens_on_a_span(page):
    """``Inspector.inspect_span``, the entry point of other views: a span close to a segment selects it for
    editing; one that matches none shows its frames (here every frame) and curves, with nothing selected."""
    from types import SimpleNamespace

    from ui.explorer import Explorer
    from ui.inspector import EVERY_FRAME_MODE, Inspector

    analysis = page.server.services.pipeline.analyze(page.video_path)  # from the caches the app's analysis filled
    inspector, request = Inspector(Explorer(page.server.services)), SimpleNamespace(session_hash="span-test")
    first = analysis.segments[0]
    answers = list(inspector.inspect_span(analysis, first.start + 0.04, first.end, EVERY_FRAME_MODE, request))
    assert answers[0][0].key == "r0" and f"Inspecting **#{first.number}**" in answers[0][1]
    answers = list(inspector.inspect_span(analysis, 0.5, 0.6, EVERY_FRAME_MODE, request))
    selection, info, _, _, strips, _ = answers[0]
    assert selection is None and "No segment of this analysis matches 0.500–0.600 s" in info
    times = [float(t) for t in re.findall(r"data-time='([0-9.]+)'", strips)]
    assert strips.count("data-mode='every'") == 2 and len(times) == 22
    assert np.allclose(np.diff(times[:11]), 1 / FPS, atol=1e-4) and times[5] <= 0.5 < times[5] + 1 / FPS
    assert answers[-1][5].layout.xaxis.range == (-1.5, 2.5)  # the curves around the span's start
