"""The timeline as an instrument, in headless Debian chromium at 1440x900: named lanes (audio loudness, ground
truth, another detector's predictions stacked with an outcome legend, edits), the absent-views line whole, and
edits made with the mouse on the edits lane (an edge dragged, a segment drawn), which reach the corrections table
and the corrected export like the inspector's.

One app server, one page and one analysed video (with ground truth and a detector's results) for the module.
"""

from __future__ import annotations

import json

import pytest

from utal_core.synth.video import SyntheticVideoSpec, make_video

from .app_harness import ANALYSIS_TIMEOUT_MS, BROWSER_MODULE, chromium_page, running_app
from .test_app_browser import SHOTS, upload_and_analyze

pytestmark = BROWSER_MODULE

PLOT = "document.querySelector('#timeline .js-plotly-plot')"
#: A hit over its ground truth and a shorter prediction under it: the second must not hide under the first.
PREDICTIONS = [{"segment": [1.0, 3.4], "score": 0.9, "label": "jump"},
               {"segment": [1.2, 3.0], "score": 0.8, "label": "jump"},
               {"segment": [6.0, 8.0], "score": 0.5, "label": "jump"}]
#: Each bar of the edits lane's outlines (every segment of the edits layer): bounds, and its page pixels.
TRACK_JS = f"""() => {{ const plot = {PLOT}, box = plot.getBoundingClientRect();
    const t = plot.data.find(t => t.meta && t.meta.track), ax = plot._fullLayout.xaxis, ay = plot._fullLayout.yaxis2;
    const bases = Array.isArray(t.base) ? t.base : Array.from(t.x, () => t.base);
    const px = (time) => box.left + ax._offset + ax.l2p(time);
    return {{bars: Array.from(t.x, (x, i) => ({{start: x - t.width[i] / 2, end: x + t.width[i] / 2,
                                               left: px(x - t.width[i] / 2), right: px(x + t.width[i] / 2),
                                               y: box.top + ay._offset + ay.l2p(bases[i] + 0.5), base: bases[i]}})),
             first: t.meta.lane[0], y: box.top + ay._offset + ay.l2p(t.meta.lane[0] + 0.5), px: px(0),
             secondsPerPx: (ax.range[1] - ax.range[0]) / ax._length}}; }}"""


#: The corrections table's rows (key, status, start, end, label, model start, model end), from its cells.
CORRECTIONS_JS = """() => { const rows = [];
    for (const cell of document.querySelectorAll('#corrections-table [data-testid^="cell-"]')) {
        const match = /^cell-(\\d+)-(\\d+)$/.exec(cell.dataset.testid);
        if (match) (rows[Number(match[1])] ||= [])[Number(match[2])] = cell.innerText.trim();
    }
    return rows.filter(row => row && row[0]); }"""


def correction_rows(page) -> list[list[str]]:
    return page.evaluate(CORRECTIONS_JS)


def wait_for_correction(page, condition: str, arg=None) -> None:
    """Until a row of the corrections table (``row``, as :data:`CORRECTIONS_JS` reads it) meets ``condition``."""
    page.wait_for_function(f"(arg) => ({CORRECTIONS_JS})().some(row => {condition})", arg=arg)


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    folder = tmp_path_factory.mktemp("app_timeline")
    video = make_video(folder / "lanes.mp4", SyntheticVideoSpec(duration=20.0, width=192, height=144, num_actions=2,
                                                                audio=True, seed=21))
    truth = folder / "truth.json"
    truth.write_text(json.dumps({"database": {"lanes": {"duration": 20.0, "subset": "test", "annotations": [
        {"segment": [1.0, 3.4], "label": "jump"}, {"segment": [12.0, 15.0], "label": "jump"}]}}}))
    results = folder / "detector.json"
    results.write_text(json.dumps({"results": {"lanes": PREDICTIONS}}))
    SHOTS.mkdir(parents=True, exist_ok=True)
    with running_app(folder) as server, chromium_page(folder / "profile", viewport=(1440, 900)) as page:
        page.set_default_timeout(60_000)
        page.goto(server.url)
        page.wait_for_selector("#analyze-btn")
        page.set_input_files("#gt-upload input[type=file]", str(truth))
        upload_and_analyze(page, video.path)
        page.wait_for_selector("#segment-count-value", timeout=ANALYSIS_TIMEOUT_MS)
        page.wait_for_selector("#player video track", state="attached")
        page.set_input_files("#detector-upload input[type=file]", str(results))
        page.wait_for_function(f"() => {PLOT}?._fullData.some(t => (t.meta || {{}}).detector)")
        page.wait_for_function(f"() => {PLOT}._utalBound && window.utalDrawEdits && window.utalDrawEdits.withTrack")
        yield {"page": page}


def test_lanes_are_named_at_the_left_and_the_absent_views_line_is_whole(session):
    page = session["page"]
    page.evaluate("() => window.scrollTo(0, 0)")
    names = page.evaluate(f"() => [...{PLOT}.querySelectorAll('.y2tick text')].map(t => t.textContent)")
    assert names == ["audio loudness", "ground truth", "detector: detector.json", "edits (drag)"], names
    geometry = page.evaluate(f"""() => {{ const plot = {PLOT}, box = plot.getBoundingClientRect();
        const area = plot.querySelector('.nsewdrag').getBoundingClientRect();
        const labels = [...plot.querySelectorAll('.y2tick text')].map(t => t.getBoundingClientRect().toJSON());
        const note = [...plot.querySelectorAll('.annotation')].find(a => a.textContent.startsWith('absent views'));
        return {{box: box.toJSON(), area: area.toJSON(), labels,
                 note: note ? [...note.querySelectorAll('text, tspan')].map(t => t.getBoundingClientRect().toJSON())
                           : null}}; }}""")
    box, area = geometry["box"], geometry["area"]
    assert all(box["left"] <= label["left"] and label["right"] <= area["left"] + 1 for label in geometry["labels"])
    # The CLIP view has no weights here, so the line is there, and every piece of it lies inside the figure.
    assert geometry["note"], "no absent-views line"
    assert all(box["left"] <= part["left"] and part["right"] <= box["right"] and box["top"] <= part["top"]
               for part in geometry["note"]), geometry
    assert all(part["bottom"] <= area["top"] for part in geometry["note"])  # above the plot, not over the curves


def test_overlapping_predictions_are_stacked_and_the_outcomes_have_a_legend_outside_the_plot(session):
    page = session["page"]
    bars = page.evaluate(f"""() => [...{PLOT}.querySelectorAll('.barlayer .trace')]
        .filter(g => (g.__data__?.[0]?.trace?.meta || {{}}).detector)
        .flatMap(g => [...g.querySelectorAll('.point path')].map(p => {{ const r = p.getBoundingClientRect();
            return {{outcome: g.__data__[0].trace.name, left: r.left, right: r.right, top: r.top, bottom: r.bottom}}; }}))""")
    assert len(bars) == len(PREDICTIONS), bars
    wide, narrow = sorted([b for b in bars if b["right"] - b["left"] > 20 and b["left"] < 700],
                          key=lambda b: b["left"])[:2]
    # Both drawn with some height, one above the other (no pixel row shared): the shorter one is not hidden.
    assert wide["bottom"] - wide["top"] >= 5 and narrow["bottom"] - narrow["top"] >= 5
    assert wide["bottom"] <= narrow["top"] or narrow["bottom"] <= wide["top"], (wide, narrow)
    legend = page.evaluate(f"""() => {{ const plot = {PLOT};
        const area = plot.querySelector('.nsewdrag').getBoundingClientRect();
        const entries = [...plot.querySelectorAll('g.legend .traces, g.legend2 .traces')].map(t => [t.textContent,
            t.closest('g.legend, g.legend2').getBoundingClientRect().left]);
        return {{entries, right: area.right, modebar: plot.querySelector('.modebar')?.getBoundingClientRect().toJSON()}}; }}""")
    names = [name for name, _ in legend["entries"]]
    assert {"true positive", "double detection"} <= set(names), names
    assert all(left >= legend["right"] for _, left in legend["entries"])  # the legends lie right of the plot area
    page.screenshot(path=str(SHOTS / "timeline_lanes_1440x900.png"))


def drag(page, x0: float, y: float, x1: float) -> None:
    page.mouse.move(x0, y)
    page.mouse.down()
    page.mouse.move((x0 + x1) / 2, y, steps=4)
    page.mouse.move(x1, y, steps=4)
    page.mouse.up()


def corrected_csv(page) -> str:
    """The corrected CSV as the page's download link serves it."""
    page.wait_for_function("() => [...document.querySelectorAll('#downloads a')].some(a => a.href.includes('.corrected.csv'))")
    links = page.eval_on_selector_all("#downloads a", "links => links.map(a => a.href)")
    (link,) = [href for href in links if href.split("?")[0].endswith("lanes.corrected.csv")]
    return page.request.get(link).text()


def test_dragging_an_end_and_drawing_a_segment_are_edits_in_the_table_and_the_export(session):
    page = session["page"]
    page.evaluate("() => window.scrollTo(0, 0)")
    track = page.evaluate(TRACK_JS)
    bar = max(track["bars"], key=lambda b: b["end"] - b["start"])
    target = bar["right"] - 0.25 * (bar["right"] - bar["left"])  # the end 1/4 of the segment earlier
    drag(page, bar["right"] - 2, bar["y"], target)  # pressed just inside the bar (a next segment may touch it)
    # Drawn in the page first (the box over the lane, then the outline moved), then confirmed: the corrections
    # table lists the edit.
    new_end = bar["end"] - 0.25 * (bar["right"] - bar["left"]) * track["secondsPerPx"]
    page.wait_for_function(f"([start, end]) => ({TRACK_JS})().bars.some(b => Math.abs(b.start - start) < 1e-3 && "
                           "Math.abs(b.end - end) < 0.1)", arg=[bar["start"], new_end])
    # the restyle is noted one painted frame after it is drawn: waited for, then it must be the only one
    page.wait_for_function("() => window.utalDragTimes().restyled.length > 0")
    assert len(page.evaluate("() => window.utalDragTimes().restyled")) == 1
    wait_for_correction(page, "row[1] === 'edited' && Math.abs(Number(row[3]) - arg) < 0.1", new_end)
    # A new segment drawn on an empty stretch of the lane's first row (found from the outlines there, as the
    # server's answer to the drag has laid them out).
    page.wait_for_timeout(500)
    track = page.evaluate(TRACK_JS)
    row = sorted((b["start"], b["end"]) for b in track["bars"] if b["base"] == track["first"])
    gaps = [(a_end, b_start) for (_, a_end), (b_start, _) in zip([(0.0, 0.0), *row], [*row, (20.0, 20.0)])]
    low, high = max(gaps, key=lambda gap: gap[1] - gap[0])
    assert high - low > 1.0, gaps
    start, end = low + 0.2 * (high - low), low + 0.8 * (high - low)
    at = lambda time: track["px"] + time / track["secondsPerPx"]  # noqa: E731
    drag(page, at(start), track["y"], at(end))
    wait_for_correction(page, "row[1] === 'added'")
    rows = correction_rows(page)
    (added,) = [r for r in rows if r[1] == "added"]
    assert float(added[2]) == pytest.approx(start, abs=0.1) and float(added[3]) == pytest.approx(end, abs=0.1)
    page.screenshot(path=str(SHOTS / "timeline_drag_edits.png"))
    # Both are in the corrected export.
    page.click("#prepare-downloads")
    exported = corrected_csv(page)
    assert f"{float(added[2]):.3f}" in exported and f"{float(added[3]):.3f}" in exported, exported
    edited = [r for r in rows if r[1] == "edited"]
    assert edited and f"{float(edited[0][3]):.3f}" in exported, (edited, exported)
    # One undo takes the drawn segment back out.
    page.click("#inspector-undo")
    page.wait_for_function(f"() => !({CORRECTIONS_JS})().some(row => row[1] === 'added')")
