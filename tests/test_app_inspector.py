"""The boundary inspector in headless Debian chromium: frame strips read back frame by frame from the drawn
counter, every nudge (keys and buttons), playhead bounds, accept / reject / relabel / add / undo / redo,
the edits row on the timeline, and the corrected exports read back (ActivityNet GT by the evaluator's
reader, EAF by utal_core.annotations, the analysis JSON's edits layer by utal_core.edits).

One app server, one page and one analysed video for the module; the tests run in order on that page.
"""

from __future__ import annotations

import base64
import json
import math
from pathlib import Path

import cv2
import numpy as np
import pytest

from utal_core.annotations import read_eaf
from utal_core.edit_files import load_edits
from utal_core.evaluate import load_ground_truth
from utal_core.features import content_hash
from utal_core.synth.video import SyntheticVideoSpec, make_video, read_frame_code

from .app_harness import ANALYSIS_TIMEOUT_MS, BROWSER_MODULE, app_page
from .test_app_browser import SHOTS, set_slider, shot, upload_and_analyze, wait_for_threshold
from .test_app_defects import table_rows

pytestmark = BROWSER_MODULE

FPS = 25.0
HEIGHT = 240
EDITS_ROW_JS = """() => { const plot = document.querySelector('#timeline .js-plotly-plot');
    const trace = plot.data.find(t => t.meta && t.meta.edits);
    return {x: Array.from(trace.x), width: Array.from(trace.width), color: Array.from(trace.marker.color || []),
            pattern: Array.from((trace.marker.pattern || {}).shape || [])}; }"""


@pytest.fixture(scope="module")
def page(tmp_path_factory):
    folder = tmp_path_factory.mktemp("app_inspector")
    video = make_video(folder / "counter.mp4", SyntheticVideoSpec(duration=20.0, width=320, height=HEIGHT, fps=FPS,
                                                                  num_actions=2, frame_code=True, seed=21))
    SHOTS.mkdir(parents=True, exist_ok=True)
    with app_page(folder) as (server, page):
        upload_and_analyze(page, video.path)
        page.wait_for_selector("#segment-count-value", timeout=ANALYSIS_TIMEOUT_MS)
        page.wait_for_selector("#segment-gallery img")
        page.wait_for_function("() => document.querySelector('#player video')?.readyState >= 1")
        assert server.services.proxies.wait(120)  # the strips below come from the proxy written after Analyze
        page.proxy = server.services.pipeline.extractor.proxy(content_hash(video.path))
        page.folder = folder
        yield page


def inspected(page) -> tuple[float, float]:
    return float(page.inner_text("#inspected-start")), float(page.inner_text("#inspected-end"))


def wait_inspected(page, start: float, end: float) -> None:
    """The info line shows these bounds and the server has answered every nudge sent."""
    page.wait_for_function("""([s, e]) => { const a = document.querySelector('#inspected-start'),
        b = document.querySelector('#inspected-end');
        return a && b && window.utalPendingEdits() === 0 && Math.abs(Number(a.textContent) - s) < 1.1e-3 && Math.abs(Number(b.textContent) - e) < 1.1e-3; }""",
                           arg=[start, end], timeout=20_000)


def corrections(page) -> list[list[str]]:
    """The corrections table's rows as shown (the empty placeholder row left out)."""
    return [row for row in page.evaluate("""() => {
        const rows = {};
        for (const cell of document.querySelectorAll('#corrections-table [data-testid^="cell-"]')) {
            if (!/^cell-\\d+-\\d+$/.test(cell.dataset.testid)) continue;
            const [, row, col] = cell.dataset.testid.split('-').map(Number);
            (rows[row] = rows[row] || [])[col] = cell.innerText.trim();
        }
        return Object.keys(rows).sort((a, b) => a - b).map(r => rows[r]); }""") if row and row[0]]


def press(page, key: str) -> None:
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press(key)


def seek(page, seconds: float) -> None:
    page.evaluate("""(t) => new Promise(done => { const v = document.querySelector('#player video');
        v.addEventListener('seeked', () => done(), {once: true}); v.currentTime = t; })""", seconds)


def test_selecting_a_segment_shows_frame_accurate_strips(page):
    assert page.proxy.path.is_file()
    # the first segment in time order whose strips are whole (at least 2 s from either end of the 20 s video)
    row = next(r for r in range(50) if 2.0 <= float(page.inner_text(f"#segments-table [data-testid='cell-{r}-1']"))
               and float(page.inner_text(f"#segments-table [data-testid='cell-{r}-2']")) <= 18.0)
    start = float(page.inner_text(f"#segments-table [data-testid='cell-{row}-1']"))
    page.click(f"#segments-table [data-testid='cell-{row}-1']")
    page.wait_for_function("""() => { const imgs = [...document.querySelectorAll('#inspector-strips img')];
        return imgs.length >= 40 && imgs.every(i => i.complete && i.naturalWidth > 0); }""", timeout=30_000)
    assert inspected(page)[0] == pytest.approx(start, abs=0.01)
    page.key = page.inner_text("#inspector-info").split()[1]  # "Inspecting #<n> (...)": the segment's number
    assert page.key == "#" + page.inner_text(f"#segments-table [data-testid='cell-{row}-0']")  # as in the table
    frames = page.evaluate("""() => [...document.querySelectorAll('#inspector-strips figure')].map(f => ({
        time: Number(f.dataset.time), src: f.querySelector('img').src, boundary: f.classList.contains('boundary'),
        bound: f.parentElement.dataset.bound, caption: f.querySelector('figcaption').textContent}))""")
    assert {f["bound"] for f in frames} == {"start", "end"}
    for frame in frames:
        assert frame["src"].startswith("data:image/jpeg;base64,")  # inline: no image request per frame
        jpeg = base64.b64decode(frame["src"].split(",", 1)[1])
        image = cv2.imdecode(np.frombuffer(jpeg, np.uint8), cv2.IMREAD_COLOR)
        code = read_frame_code(cv2.cvtColor(image, cv2.COLOR_BGR2RGB), HEIGHT)
        # The frame shown is the one whose counter says so, and its caption is that frame's time.
        assert code == round(frame["time"] * FPS), frame
        assert float(frame["caption"]) == pytest.approx(frame["time"], abs=0.006)
    boundary = next(f for f in frames if f["boundary"] and f["bound"] == "start")
    precise = inspected(page)[0]
    assert round(boundary["time"] * FPS) == math.floor(precise * FPS + 1e-6)  # the frame on screen at the start
    starts = [f["time"] for f in frames if f["bound"] == "start" and not f["boundary"]]
    assert starts == sorted(starts) and starts[-1] - starts[0] == pytest.approx(4.0, abs=0.25)
    panels = page.evaluate("""() => { const p = document.querySelector('#inspector-curves .js-plotly-plot');
        return [p._fullLayout.xaxis.range, p._fullLayout.xaxis2.range,
                p.data.filter(t => t.meta && t.meta.curve === 'fused').length]; }""")
    assert panels[0] == pytest.approx([precise - 2, precise + 2], abs=1e-3) and panels[2] == 2
    shot(page, "12_inspector_strips")


def test_every_nudge_moves_its_bound(page):
    start, end = inspected(page)
    frame = 1 / FPS
    steps = [("x", "start", frame), ("z", "start", -frame), ("Shift+X", "start", 0.1), ("Shift+Z", "start", -0.1),
             ("Alt+x", "start", 1.0), ("Alt+z", "start", -1.0), ("v", "end", frame), ("c", "end", -frame),
             ("Shift+V", "end", 0.1), ("Shift+C", "end", -0.1), ("Alt+v", "end", 1.0), ("Alt+c", "end", -1.0)]
    for key, bound, delta in steps:
        if bound == "start":
            start = round(start + delta, 6)
        else:
            end = round(end + delta, 6)
        press(page, key)
        wait_inspected(page, start, end)
    row = page.evaluate(EDITS_ROW_JS)  # back where it began but edited: one blue bar on the timeline's edits row
    assert row["x"] == pytest.approx([(start + end) / 2], abs=1.5e-3) and row["color"] == ["#1f77b4"]
    # The buttons run the same handlers as the keys.
    page.click("#nudge-start-tenth-plus")
    wait_inspected(page, round(start + 0.1, 6), end)
    page.click("#nudge-end-second-minus")
    wait_inspected(page, round(start + 0.1, 6), round(end - 1.0, 6))
    row = page.evaluate(EDITS_ROW_JS)
    assert row["width"] == pytest.approx([end - 1.0 - start - 0.1], abs=2e-3)
    (key, status, *bounds), = [r[:4] for r in corrections(page)]
    assert (key, status) == (page.key, "edited") and [float(b) for b in bounds] == pytest.approx([start + 0.1, end - 1], abs=1.1e-3)


def test_a_nudge_is_drawn_before_the_server_answers(page):
    """With the server's answers held back a second, the info line and the edits row show the nudged start at
    once; the corrections table (the server's answer) follows, at the same time."""
    start, end = inspected(page)
    moved = round(start + 1 / FPS, 6)
    page.evaluate("""() => { window.realFetch = window.fetch;
        window.fetch = async (...args) => { const answer = await window.realFetch(...args);
            if (String(args[0]).includes('/run/predict')) await new Promise(r => setTimeout(r, 1000));
            return answer; }; }""")
    try:
        press(page, "x")
        drawn_early = page.wait_for_function("""([s, key]) => {
            const shown = Math.abs(Number(document.querySelector('#inspected-start').textContent) - s) < 1.1e-3;
            const plot = document.querySelector('#timeline .js-plotly-plot');
            const row = plot.data.find(t => t.meta && t.meta.edits);
            const drawn = Array.from(row.x).some((x, i) => Math.abs(x - row.width[i] / 2 - s) < 1.1e-3);
            const confirmed = [...document.querySelectorAll('#corrections-table [data-testid]')]
                .some(c => /^cell-\\d+-2$/.test(c.dataset.testid) && Math.abs(Number(c.innerText) - s) < 1.1e-3);
            return shown && drawn ? (confirmed ? 'late' : 'early') : false; }""", arg=[moved, page.key], timeout=900)
        assert drawn_early.json_value() == "early"
        page.wait_for_function("""(s) => [...document.querySelectorAll('#corrections-table [data-testid]')]
            .some(c => /^cell-\\d+-2$/.test(c.dataset.testid) && Math.abs(Number(c.innerText) - s) < 1.1e-3)""",
                               arg=moved, timeout=20_000)
    finally:
        page.evaluate("() => { window.fetch = window.realFetch; }")
    wait_inspected(page, moved, end)
    press(page, "z")
    wait_inspected(page, start, end)


#: The inspected segment's bar of the edits row as drawn in the timeline's SVG (its path's box: x and width in the
#: plot's pixels), found by its start (s) in the trace's data.
EDITS_BAR_JS = """(start) => { const plot = document.querySelector('#timeline .js-plotly-plot');
    const index = plot.data.findIndex(t => t.meta && t.meta.edits), trace = plot.data[index];
    const at = Array.from(trace.x).findIndex((x, i) => Math.abs(x - trace.width[i] / 2 - start) < 1.1e-3);
    const group = [...plot.querySelectorAll('g.trace.bars')].find(g => g.__data__[0].trace.index === index);
    const box = group.querySelectorAll('g.point')[at].querySelector('path').getBBox();
    return {at, left: box.x, right: box.x + box.width}; }"""


def test_a_nudge_moves_the_bar_at_the_key_and_one_restyle_redraws_the_lane(page):
    """At the key, before any Plotly redraw, the edits row's bar has moved on screen by the nudge (0.1 s); the
    server's answer then redraws the edits row and the outlines in one Plotly call, at the same place."""
    start, end = inspected(page)
    moved = round(start + 0.1, 6)
    before = page.evaluate(EDITS_BAR_JS, start)
    page.evaluate("""(s) => { window.restyles = []; const real = window.Plotly.restyle;
        window.realRestyle = real;
        window.Plotly.restyle = (...args) => { window.restyles.push(args[2]); return real(...args); };
        window.addEventListener('keydown', (event) => { if (event.code === 'KeyX') window.atKey = {
            restyles: window.restyles.length, bar: (""" + EDITS_BAR_JS + """)(s)}; }); }""", moved)
    try:
        press(page, "Shift+X")
        wait_inspected(page, moved, end)
        at_key, restyles = page.evaluate("() => [window.atKey, window.restyles]")
        after = page.evaluate(EDITS_BAR_JS, moved)
    finally:
        page.evaluate("() => { window.Plotly.restyle = window.realRestyle; }")
    pixels_per_second = (before["right"] - before["left"]) / (end - start)
    assert at_key["restyles"] == 0 and at_key["bar"]["at"] == before["at"]
    assert at_key["bar"]["left"] - before["left"] == pytest.approx(0.1 * pixels_per_second, abs=1.5)
    assert at_key["bar"]["right"] == pytest.approx(before["right"], abs=1.5)
    assert len(restyles) == 1 and len(restyles[0]) == 2  # the edits row and the outlines together
    assert (after["left"], after["right"]) == pytest.approx((at_key["bar"]["left"], at_key["bar"]["right"]), abs=1.5)
    press(page, "Shift+Z")
    wait_inspected(page, start, end)


def test_typing_a_label_fires_no_shortcut_and_relabels(page):
    before = inspected(page)
    page.click("#inspector-label textarea, #inspector-label input")
    page.keyboard.type("zax vr")
    page.keyboard.press("Enter")
    page.wait_for_function("() => document.querySelector('#corrections-table').innerText.includes('zax vr')")
    assert inspected(page) == before
    assert corrections(page)[0][1] == "edited"


def test_accept_reject_undo_redo_and_add_from_the_playhead(page):
    press(page, "r")
    page.wait_for_function("() => document.querySelector('#inspector-info').innerText.includes('(rejected)')")
    row = page.evaluate(EDITS_ROW_JS)
    assert row["color"] == ["#9e9e9e"] and row["pattern"] == ["x"]
    press(page, "u")
    page.wait_for_function("() => document.querySelector('#inspector-info').innerText.includes('(edited)')")
    page.wait_for_function("() => document.querySelector('#inspector-info').innerText.includes('Undone')")
    press(page, "Shift+U")
    page.wait_for_function("() => document.querySelector('#inspector-info').innerText.includes('(rejected)')")
    press(page, "Control+z")
    page.wait_for_function("() => document.querySelector('#inspector-info').innerText.includes('(edited)')")
    press(page, "a")  # accepted; it stays "edited" (bounds moved) and is kept in the corrected annotations
    page.wait_for_function("() => document.querySelector('#inspector-info').innerText.includes('Accepted')")
    seek(page, 1.0)
    press(page, "n")
    page.wait_for_function("() => document.querySelector('#inspector-info').innerText.includes('(added)')")
    wait_inspected(page, 1.0, 3.0)
    seek(page, 1.52)
    press(page, "i")
    wait_inspected(page, 1.52, 3.0)
    seek(page, 2.68)
    press(page, "o")
    wait_inspected(page, 1.52, 2.68)
    row = page.evaluate(EDITS_ROW_JS)
    assert len(row["x"]) == 2 and row["color"][1] == "#9467bd"
    page.wait_for_function("() => [...document.querySelectorAll('#inspector-strips img')].every(i => i.complete)")
    shot(page, "13_inspector_edited")
    rows = {r[1]: r for r in corrections(page)}
    assert set(rows) == {"added", "edited"} and rows["edited"][0] == page.key
    assert rows["added"][0] not in (page.key, "") and [float(b) for b in rows["added"][2:4]] == [1.52, 2.68]


def fetch_download(page, suffix: str) -> Path:
    link = next(h for h in page.eval_on_selector_all("#downloads a", "links => links.map(a => a.href)")
                if h.split("?")[0].endswith(suffix))
    target = page.folder / "downloads" / link.split("/")[-1].split("?")[0]
    target.parent.mkdir(exist_ok=True)
    target.write_bytes(page.request.get(link).body())
    return target


def test_corrected_exports_carry_the_edits(page):
    start, end = next(r for r in corrections(page) if r[0] == page.key)[2:4]
    page.click("#prepare-downloads")
    page.wait_for_function("() => [...document.querySelectorAll('#downloads a')].some(a => a.href.includes('.corrected.eaf'))",
                           timeout=30_000)
    expected = sorted([(1.52, 2.68, "zax vr"), (float(start), float(end), "zax vr")])  # N takes the label box
    truth = load_ground_truth(fetch_download(page, ".corrected.gt.json"))  # what `eval` reads as ground truth
    assert [(round(g.start, 3), round(g.end, 3), g.label) for g in truth["counter"]] == expected
    eaf = read_eaf(fetch_download(page, ".corrected.eaf"))  # EAF times are whole milliseconds
    assert [s.label for s in eaf] == [e[2] for e in expected]
    assert [t for s in eaf for t in (s.start, s.end)] == pytest.approx([t for e in expected for t in e[:2]], abs=1.5e-3)
    raw = json.loads(fetch_download(page, ".analysis.json").read_text())
    layer = load_edits(page.folder / "downloads" / "counter.analysis.json")
    assert len(layer.operations) == len(raw["edits"]["operations"]) >= 16
    assert [(round(s.start, 3), round(s.end, 3)) for s in layer.kept_segments()] == [e[:2] for e in expected]
    assert len(raw["segments"]) >= 1 and raw["segments"][0]["start"] != 1.52  # the model's segments as they were


def test_analysing_again_brings_the_edits_back(page):
    page.click("#analyze-btn")
    page.wait_for_function("() => document.querySelector('#status').innerText.includes('Reused')", timeout=60_000)
    page.wait_for_function("""() => { const plot = document.querySelector('#timeline .js-plotly-plot');
        const t = plot && plot.data.find(t => t.meta && t.meta.edits); return t && t.x.length === 2; }""")


def test_one_segment_number_in_the_table_the_inspector_and_the_corrections(page):
    """Issue 22, defect 8: a segment has one number, the same in the segments table, the inspector, the corrections
    table and the timeline's edits lane, and it keeps it when the threshold moves and the segment survives."""

    def shown_everywhere(tag: str) -> None:
        page.wait_for_function("""(tag) => { const words = document.querySelector('#inspector-info').innerText.split(' ');
            const plot = document.querySelector('#timeline .js-plotly-plot');
            const lane = plot.data.find(t => t.meta && t.meta.edits);
            const corrected = [...document.querySelectorAll('#corrections-table [data-testid^="cell-"]')]
                .some(c => /^cell-\\d+-0$/.test(c.dataset.testid) && c.innerText.trim() === tag);
            return words[1] === tag && window.utalPendingEdits() === 0 && corrected
                && Array.from(lane.customdata).some(text => text.split(':')[0].split(' ')[1] === tag); }""",
                               arg=tag, timeout=30_000)
        assert tag in ["#" + row[0] for row in table_rows(page, "segments-table")]

    rows = table_rows(page, "segments-table")
    row = next(i for i, r in enumerate(rows) if "#" + r[0] != page.key)  # not the segment edited above
    tag = "#" + rows[row][0]
    page.click(f"#segments-table [data-testid='cell-{row}-1']")
    page.wait_for_function("(tag) => document.querySelector('#inspector-info').innerText.split(' ')[1] === tag",
                           arg=tag, timeout=30_000)
    press(page, "a")
    shown_everywhere(tag)
    assert next(r for r in corrections(page) if r[0] == tag)[1] == "accepted"
    for threshold in (0.55, 0.45):  # the planted actions' segments survive a small move
        set_slider(page, "threshold", threshold)
        wait_for_threshold(page, threshold)
        shown_everywhere(tag)
        assert {r[0] for r in corrections(page)} >= {tag, page.key}
    # selecting its row again inspects the same number
    row = next(i for i, r in enumerate(table_rows(page, "segments-table")) if "#" + r[0] == tag)
    page.click(f"#segments-table [data-testid='cell-{row}-2']")
    shown_everywhere(tag)
    shot(page, "14_one_segment_number")
