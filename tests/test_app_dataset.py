"""The Dataset tab in headless Debian chromium: the THUMOS14 ground truth (or, without ../shared, a generated one in
its layout) with two results files of the seeded error model; sort by AP, open the worst video (its rows, errors,
strips and player), correct it, next video by key, back to the table with the sort kept, and the corrected dataset
ground truth exported and read back by the evaluator's reader.

The video table is the page's (ui/dataset_table.js): its rows and order after a sort and after filters are checked
against DatasetView.ordered_rows. Keys pressed in the Dataset tab leave the Analyze tab's inspector as it was, and
a hostile video id is drawn as plain text.

One app server and one page for the browser tests; they run in order on that page. Fast tests check where a videos
folder may be and what a click on a row may send.
"""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import numpy as np
import pytest

from utal_core.dataset import RowFilter, load_dataset
from utal_core.dataset.report import summary_tables
from utal_core.diagnose import TRUE_POSITIVE
from utal_core.evaluate import evaluate_detection, ground_truth_durations, load_ground_truth, load_predictions
from utal_core.synth.detections import ErrorModel, plant_detections, synthetic_ground_truth, write_results
from utal_core.synth.video import SyntheticVideoSpec, make_video

from ui.dataset_tab import DATASET_ROOT_ENV, DatasetTab, chosen_cursor, table_payload, videos_folder
from utal_core.errors import UTALError

from .app_harness import BROWSER_MODULE, app_page
from .test_app_browser import upload_and_analyze
from .test_app_inspector import ANALYSIS_TIMEOUT_MS, corrections
from .conftest import SHARED_DATA

needs_browser = BROWSER_MODULE[1]

THUMOS = SHARED_DATA / "thumos14" / "thumos14.json"
#: Videos with a synthetic file: the worst, the next in the AP order, and one more.
WITH_FILES = 3
TABLE_JS = """(selector) => {
    const rows = {};
    for (const cell of document.querySelectorAll(selector + ' [data-testid^="cell-"]')) {
        if (!/^cell-\\d+-\\d+$/.test(cell.dataset.testid)) continue;
        const [, row, col] = cell.dataset.testid.split('-').map(Number);
        (rows[row] = rows[row] || [])[col] = cell.innerText.trim();
    }
    return Object.keys(rows).sort((a, b) => a - b).map(r => rows[r]).filter(r => r[0]); }"""


def table(page, elem_id: str) -> list[list[str]]:
    """A Gradio dataframe's rows as shown."""
    return page.evaluate(TABLE_JS, f"#{elem_id}")


def video_rows(page) -> list[list[str]]:
    """The video table's rows as shown."""
    return page.evaluate("""() => [...document.querySelectorAll('#dataset-table tbody tr')]
        .map(row => [...row.cells].map(cell => cell.innerText.trim()))""")


def page_order(page) -> list[int]:
    """The table's rows (ground-truth indices) in the order the page sorted and filtered them."""
    return page.evaluate("() => window.utalDatasetTable.order()")


def press(page, key: str) -> None:
    page.evaluate("() => document.activeElement && document.activeElement.blur()")
    page.keyboard.press(key)


#: The two detectors of the test and the screenshots: a baseline, and one that misses less but shifts more.
MODELS = (ErrorModel(missed=0.1, seed=1), ErrorModel(missed=0.05, shifted=0.3, background=4, seed=2))


def planted_dataset(folder: Path, models: tuple[ErrorModel, ...] = MODELS, with_files: int = WITH_FILES) -> dict:
    """The THUMOS14 test ground truth (a generated one in its layout without ../shared), a results file per error
    model, the view ``load_dataset`` makes of them, its videos in AP order (worst first), and ``folder / "data" /
    "videos"`` with a short synthetic video named after each of the ``with_files`` worst."""
    if THUMOS.is_file():
        truth_path = THUMOS
    else:
        truth_path = folder / "thumos14_like.json"
        truth_path.write_text(json.dumps(synthetic_ground_truth(40, 6, "thumos14", seed=3)))
    subset = "test"
    truth = load_ground_truth(truth_path, subset)
    durations = ground_truth_durations(truth_path)
    results = []
    for number, model in enumerate(models, 1):
        results.append(write_results(folder / f"detector{number}.json", plant_detections(truth, durations, model)))
    view = load_dataset(truth_path, results, subset=subset)
    order = [view.videos[i] for i in view.ordered_rows("ap", False)]
    for number, video in enumerate(order[:with_files]):
        make_video(folder / "data" / "videos" / f"{video}.mp4",
                   SyntheticVideoSpec(duration=min(float(durations.get(video, 30.0)), 40.0), width=96, height=64,
                                      fps=5.0, audio=False, num_actions=1, seed=number))
    return {"folder": folder, "truth": truth_path, "subset": subset, "results": results, "view": view, "order": order}


def load_in_tab(page, dataset: dict) -> None:
    """Open the Dataset tab and load the files, the videos folder named relative to the data folder."""
    page.get_by_role("tab", name="Dataset").click()
    page.set_input_files("#dataset-gt input[type=file]", str(dataset["truth"]))
    page.set_input_files("#dataset-results input[type=file]", [str(p) for p in dataset["results"]])
    page.fill("#dataset-subset textarea, #dataset-subset input", dataset["subset"])
    page.fill("#dataset-videos textarea, #dataset-videos input", "videos")
    page.click("#dataset-load")
    page.wait_for_function("() => document.querySelector('#dataset-page-info')?.innerText.includes('Videos 1–')")


@pytest.fixture(scope="module")
def dataset(tmp_path_factory, monkeypatch_module):
    folder = tmp_path_factory.mktemp("app_dataset")
    planted = planted_dataset(folder)
    monkeypatch_module.setenv("UTAL_DATASET_ROOT", str(folder / "data"))
    return planted


@pytest.fixture(scope="module")
def monkeypatch_module():
    with pytest.MonkeyPatch.context() as patch:
        yield patch


@pytest.fixture(scope="module")
def page(dataset):
    with app_page(dataset["folder"]) as (server, page):
        load_in_tab(page, dataset)
        page.url_root = server.url
        yield page


def choose(page, elem_id: str, value: str) -> None:
    page.click(f"#{elem_id} input")
    page.get_by_role("option", name=value, exact=True).click()


def test_a_videos_folder_must_lie_inside_the_data_folder(tmp_path, monkeypatch):
    (tmp_path / "data" / "videos").mkdir(parents=True)
    (tmp_path / "elsewhere").mkdir()
    monkeypatch.delenv(DATASET_ROOT_ENV, raising=False)
    assert videos_folder("  ") is None
    with pytest.raises(UTALError, match="no data folder"):
        videos_folder("videos")
    monkeypatch.setenv(DATASET_ROOT_ENV, str(tmp_path / "data"))
    assert videos_folder("videos") == videos_folder(str(tmp_path / "data" / "videos")) == tmp_path / "data" / "videos"
    for outside in ("../elsewhere", str(tmp_path / "elsewhere"), "videos/../../elsewhere", "missing"):
        with pytest.raises(UTALError, match="not a folder inside"):
            videos_folder(outside)


def test_a_click_must_send_distinct_rows_of_the_table_holding_the_clicked_one(tmp_path):
    truth_path = tmp_path / "gt.json"
    truth_path.write_text(json.dumps(synthetic_ground_truth(6, 3, "activitynet", seed=1)))
    truth = load_ground_truth(truth_path)
    results = write_results(tmp_path / "r.json", plant_detections(truth, ground_truth_durations(truth_path),
                                                                  ErrorModel(seed=1)))
    view = load_dataset(truth_path, [results])
    cursor = chosen_cursor(view, json.dumps({"row": 4, "order": [5, 4, 0]}))
    assert (cursor.order, cursor.position, cursor.video(view)) == ((5, 4, 0), 1, view.videos[4])
    for bad in ("", "[", "{}", '{"row": 4}', '{"row": 1, "order": [5, 4, 0]}', '{"row": 4, "order": [4, 4]}',
                '{"row": 6, "order": [6]}', '{"row": -1, "order": [-1]}', '{"row": 4, "order": [4.0]}',
                '{"row": true, "order": [1, true]}', '{"row": 4, "order": "4"}'):
        with pytest.raises(UTALError, match="did not come through"):
            chosen_cursor(view, bad)
    payload = json.loads(table_payload(view))
    assert payload["columns"]["video"] == view.videos and len(payload["video_labels"]) == len(view.videos)
    assert all(payload["labels"][k] in row_classes.split(", ") for row_classes, labels in
               zip(payload["columns"]["classes"], payload["video_labels"]) for k in labels)


@pytest.mark.browser
@needs_browser
def test_sort_open_worst_next_back_and_export(page, dataset):
    view, order = dataset["view"], dataset["order"]
    assert f"{len(view.videos)} videos" in page.inner_text("#dataset-info")
    assert table(page, "dataset-map") == summary_tables(view)[0][2]  # mAP per tIoU, and the difference row
    choose(page, "dataset-sort", "missed")
    page.wait_for_function("() => document.querySelector('#dataset-page-info').innerText.includes('sorted by missed')")
    assert video_rows(page)[0][0] == view.videos[view.ordered_rows("missed")[0]]
    assert page_order(page) == view.ordered_rows("missed").tolist()  # the page's order: rows and order
    choose(page, "dataset-sort", "ap")  # sort by AP, ascending: the worst video first
    page.wait_for_function("() => document.querySelector('#dataset-page-info').innerText.includes('sorted by ap')")
    rows = video_rows(page)
    assert [row[0] for row in rows] == order[:len(rows)]

    page.click("#dataset-table tbody tr:first-child td:first-child")
    worst = order[0]
    page.wait_for_function("(v) => document.querySelector('#dataset-title')?.innerText.includes(v)", arg=worst)
    # its rows: the ground truth and one per detector, with one bar per prediction and instance
    page.wait_for_function("() => document.querySelector('#dataset-timeline .js-plotly-plot')?.data")
    drawn = page.evaluate("""() => document.querySelector('#dataset-timeline .js-plotly-plot').data
        .filter(t => t.type === 'bar' && t.x.length && t.x[0] !== null).map(t => [t.name, t.x.length])""")
    expected_rows = [["ground truth", len(view.ground_truth[worst])]] + [
        [d.name, len(view.outcomes(worst, k))] for k, d in enumerate(view.detectors) if view.outcomes(worst, k)]
    assert drawn == expected_rows
    # its errors: every false positive and missed instance of both detectors, in time order (the dataframe draws
    # the rows in view: the first ones are compared)
    listed = DatasetTab._errors(view, worst)
    assert len(listed) == sum(o.outcome != TRUE_POSITIVE for k in range(2) for o in view.outcomes(worst, k)) + \
        sum(len(view.missed(worst, k)) for k in range(2)) > 0
    errors = table(page, "dataset-errors")
    assert len(errors) >= min(len(listed), 5)
    assert errors == [[f"{cell:g}" if isinstance(cell, float) else str(cell) for cell in row]
                      for row in listed[:len(errors)]]
    # the file is there: the strips and the player
    page.wait_for_selector("#dataset-strips figure img")
    page.wait_for_function("() => document.querySelector('#dataset-player video')?.readyState >= 1")

    # a correction: the first instance rejected, the second one's end 0.1 s later
    truth = view.ground_truth[worst]
    page.click("#dataset-truth [data-testid='cell-0-0']")
    page.click("#dataset-edit-reject")
    page.wait_for_function("(id) => (window.rows = (" + TABLE_JS + ")(id)) && window.rows[0]?.[1] === 'rejected'",
                           arg="#dataset-truth")
    if len(truth) > 1:
        page.click("#dataset-truth [data-testid='cell-1-0']")
        page.wait_for_function("() => document.querySelector('#dataset-timeline .js-plotly-plot').data[0]"
                               ".marker.line.color[1] === '#d62728'")  # the second instance is the selected one
        page.click("#dataset-edit-end-plus")
        page.wait_for_function("(id) => (" + TABLE_JS + ")(id)[1]?.[1] === 'edited'", arg="#dataset-truth")

    press(page, "j")  # the next video of the AP order; nothing of the worst one stays
    page.wait_for_function("(v) => document.querySelector('#dataset-title')?.innerText.includes(v)", arg=order[1])
    assert worst not in page.inner_text("#dataset-video-panel")
    assert page.inner_text("#dataset-position").startswith("Video 2 of")
    truth_rows = table(page, "dataset-truth")
    assert len(truth_rows) == len(view.ground_truth[order[1]]) and all(r[1] == "untouched" for r in truth_rows)

    press(page, "b")  # back to the table: the same sort and page
    page.wait_for_selector("#dataset-table", state="visible")
    assert page.locator("#dataset-video-panel").is_hidden()
    assert "sorted by ap" in page.inner_text("#dataset-page-info")
    assert [row[0] for row in video_rows(page)] == [row[0] for row in rows]

    label = view.ground_truth[worst][0].label  # a class filter keeps the sort
    choose(page, "dataset-class", label)
    expected = view.ordered_rows("ap", row_filter=RowFilter(label=label))
    page.wait_for_function("(n) => document.querySelector('#dataset-page-info').innerText.includes(`of ${n} (of`)",
                           arg=len(expected))
    assert [row[0] for row in video_rows(page)] == [view.videos[i] for i in expected[:20]]
    assert page_order(page) == expected.tolist()
    # with it, descending, a text and a range of the duration (a bad bound first: one plain line)
    text = worst[-1]
    kept = view.ordered_rows("ap", row_filter=RowFilter(text=text, label=label))
    low = float(np.median(view.table["duration"][kept]))
    page.check("#dataset-descending input")
    page.fill("#dataset-text textarea, #dataset-text input", text)
    page.press("#dataset-text textarea, #dataset-text input", "Enter")
    choose(page, "dataset-range-column", "duration")
    page.fill("#dataset-high textarea, #dataset-high input", "two")
    page.press("#dataset-high textarea, #dataset-high input", "Enter")
    page.wait_for_function("() => document.querySelector('#dataset-page-info').innerText"
                           ".startsWith(\"the range's upper bound must be a number, not 'two'\")")
    page.fill("#dataset-high textarea, #dataset-high input", "")
    page.press("#dataset-high textarea, #dataset-high input", "Enter")
    page.fill("#dataset-low textarea, #dataset-low input", f"{low:g}")
    page.press("#dataset-low textarea, #dataset-low input", "Enter")
    expected = view.ordered_rows("ap", True, RowFilter(text=text, label=label, ranges={"duration": (float(f"{low:g}"), None)}))
    assert len(expected) > 0
    page.wait_for_function("(n) => document.querySelector('#dataset-page-info').innerText.includes(`of ${n} (of`)",
                           arg=len(expected))
    assert page_order(page) == expected.tolist()
    assert [row[0] for row in video_rows(page)] == [view.videos[i] for i in expected[:20]]

    page.click("#dataset-export")
    link = page.wait_for_selector("#dataset-exported a[href]")
    target = dataset["folder"] / "corrected.json"
    href = link.get_attribute("href")
    with urllib.request.urlopen(href if href.startswith("http") else page.url_root + href.lstrip("/"),
                                timeout=10) as answer:
        target.write_bytes(answer.read())
    corrected = load_ground_truth(target, dataset["subset"])
    original = load_ground_truth(dataset["truth"], dataset["subset"])
    assert set(corrected) == set(original)
    assert all(corrected[v] == sorted(original[v], key=lambda g: (g.start, g.end)) for v in original if v != worst)
    expected = sorted(truth[1:], key=lambda g: (g.start, g.end))
    if len(truth) > 1:
        edited = truth[1]
        expected = sorted([g if g is not edited else type(g)(g.start, round(g.end + 0.1, 3), g.label)
                           for g in truth[1:]], key=lambda g: (g.start, g.end))
    assert [(round(g.start, 3), round(g.end, 3), g.label) for g in corrected[worst]] == \
        [(round(g.start, 3), round(g.end, 3), g.label) for g in expected]
    result = evaluate_detection(corrected, load_predictions(dataset["results"][0]), [0.3, 0.5, 0.7])
    assert 0 < result.mean_map <= 1


#: Counts clicks on the Analyze tab's inspector buttons (its shortcuts click them: ui/inspector.js).
COUNT_INSPECTOR_PRESSES_JS = """() => { window.inspectorPresses = 0; document.addEventListener('click', (event) => {
    if (event.target.closest('button[id^="inspector-"], button[id^="nudge-"], button[id^="set-"], button[id^="label-key-"]'))
        window.inspectorPresses += 1; }, true); }"""


@pytest.mark.browser
@needs_browser
def test_keys_in_another_tab_never_reach_the_analyze_tabs_inspector(page, dataset):
    # a video analysed in the Analyze tab, a segment selected in its inspector
    video = make_video(dataset["folder"] / "analyze.mp4", SyntheticVideoSpec(duration=20.0, width=160, height=120,
                                                                            fps=10.0, num_actions=2, seed=5))
    page.get_by_role("tab", name="Analyze").click()
    upload_and_analyze(page, video.path)
    page.wait_for_selector("#segment-count-value", timeout=ANALYSIS_TIMEOUT_MS)
    page.click("#segments-table [data-testid='cell-0-1']")
    page.wait_for_function("() => /Inspecting #\\d/.test(document.querySelector('#inspector-info')?.innerText)")
    before = (page.inner_text("#inspector-info"), corrections(page))
    page.evaluate(COUNT_INSPECTOR_PRESSES_JS)

    # the Dataset tab (its own keys, the inspector's letters among them), and the Search and Settings tabs
    for tab, shown in (("Dataset", "#dataset-load"), ("Search", "#search-box"), ("Settings", "#doctor")):
        page.get_by_role("tab", name=tab).click()
        page.wait_for_selector(shown, state="visible")
        for key in ("a", "r", "n", "z", "Shift+X", "Alt+c", "u", "Control+z", "i", "o", "1", ","):
            press(page, key)
        page.wait_for_timeout(500)  # a nudge key presses its button a frame later; an edit's answer comes after
        assert page.evaluate("() => window.inspectorPresses") == 0, tab
    page.get_by_role("tab", name="Analyze").click()
    page.wait_for_selector("#dataset-load", state="hidden")
    assert (page.inner_text("#inspector-info"), corrections(page)) == before

    press(page, "r")  # in the Analyze tab the same key does act on its inspector
    page.wait_for_function("() => document.querySelector('#inspector-info').innerText.includes('(rejected)')")
    assert page.evaluate("() => window.inspectorPresses") == 1
    page.get_by_role("tab", name="Dataset").click()


@pytest.mark.browser
@needs_browser
def test_video_ids_and_classes_are_drawn_as_plain_text(page, tmp_path):
    data = synthetic_ground_truth(3, 2, "activitynet", seed=4)
    hostile = '<img src=x onerror="window.pwned=1">'
    first = next(iter(data["database"]))
    data["database"][hostile] = data["database"].pop(first)
    for entry in data["database"][hostile]["annotations"]:
        entry["label"] = "<b>bold</b>"
    truth_path = tmp_path / "gt.json"
    truth_path.write_text(json.dumps(data))
    truth = load_ground_truth(truth_path)
    results = write_results(tmp_path / "r.json", plant_detections(truth, ground_truth_durations(truth_path),
                                                                  ErrorModel(seed=1)))
    view = load_dataset(truth_path, [results])
    page.evaluate("(data) => window.utalDatasetTable.load(data, ['video', false, '<img', null, false, null, '', ''])",
                  table_payload(view))
    page.wait_for_function("() => document.querySelector('#dataset-page-info').innerText.includes('of 1 (of 3)')")
    assert video_rows(page)[0][0] == hostile and "<b>bold</b>" in video_rows(page)[0]
    assert page.evaluate("() => document.querySelectorAll('#dataset-table img, #dataset-table b').length") == 0
    assert page.evaluate("() => window.pwned") is None
