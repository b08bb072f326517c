"""The Dataset tab in headless Debian chromium: the THUMOS14 ground truth (or, without ../shared, a generated one in
its layout) with two results files of the seeded error model; sort by AP, open the worst video in the Analyze tab
(its ground-truth lane, one lane per detector, both detectors' errors, the player and the inspector's strips),
correct it with the inspector's keys, next video by key, back to the table with the sort kept, and the corrected
dataset ground truth exported and read back by the evaluator's reader.

The video table is the page's (ui/dataset_table.js): its rows and order after a sort and after filters are checked
against DatasetView.ordered_rows. Keys pressed in the Dataset tab leave the Analyze tab's inspector as it was, and
a hostile video id is drawn as plain text.

One app server and one page for the browser tests; they run in order on that page. Fast tests check where a videos
folder may be, what a click on a row may send, and a dataset's video as the Analyze tab holds it without an
analysis (the handlers that need one say so)."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

from utal_core.dataset import RowFilter, load_dataset
from utal_core.dataset.report import summary_tables
from utal_core.diagnose import TRUE_POSITIVE
from utal_core.edits import segment_tag
from utal_core.evaluate import evaluate_detection, ground_truth_durations, load_ground_truth, load_predictions
from utal_core.synth.detections import ErrorModel, plant_detections, synthetic_ground_truth, write_results
from utal_core.synth.video import SyntheticVideoSpec, make_video

from ui.dataset_tab import (
    DATASET_ROOT_ENV, DatasetBar, DatasetTab, LoadedDataset, chosen_cursor, table_payload, videos_folder,
)
from ui.explorer import Explorer
from ui.services import AppConfig, AppServices
from ui.diagnosis import show_detector
from ui.inspector import Inspector
from utal_core.dataset.load import file_digest
from utal_core.dataset.video import Cursor, DatasetVideo, dataset_video
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


#: The timeline's lanes: bars per lane (the ground truth, each detector's summed over its outcomes) and the
#: edits lane's outlines ("track").
LANES_JS = """() => { const counts = {};
    for (const t of document.querySelector('#timeline .js-plotly-plot').data) {
        const meta = t.meta || {};
        const lane = meta.ground_truth ? 'ground truth' : meta.detector || (meta.track ? 'track' : null);
        if (lane) counts[lane] = (counts[lane] || 0) + t.x.length;
    }
    return counts; }"""


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
    # it opens in the Analyze tab, as the video on screen, with the dataset bar
    page.wait_for_function("(v) => document.querySelector('#status')?.innerText.includes(v)", arg=worst)
    page.wait_for_selector("#dataset-bar", state="visible")
    assert page.locator("#dataset-load").is_hidden()
    assert page.inner_text("#dataset-place").startswith(f"Dataset: video 1 of {len(order)}")
    # its lanes on the Analyze tab's timeline: the ground truth and one per detector (one bar per instance and
    # prediction, the detector's coloured by outcome), and the edits lane over every instance
    page.wait_for_function("(n) => (document.querySelector('#timeline .js-plotly-plot')?.data || [])"
                           ".filter(t => t.meta && t.meta.detector).length >= n", arg=2)
    drawn = page.evaluate(LANES_JS)
    expected = {"ground truth": len(view.ground_truth[worst]), "track": len(view.ground_truth[worst])} | {
        d.name: len(view.outcomes(worst, k)) for k, d in enumerate(view.detectors)}
    assert drawn == expected
    assert not page.evaluate("() => document.querySelector('#timeline .js-plotly-plot').data"
                             ".some(t => t.meta && (t.meta.curve || t.meta.segments !== undefined))")
    # its errors: every false positive and missed instance of both detectors, in time order, as diagnose judges them
    on_screen = dataset_video(view, Cursor(tuple(view.ordered_rows("ap").tolist()), 0), "k")
    _, _, _, listed, spans, _ = show_detector(None, on_screen, on_screen.ground_truth, 0.5, False)
    listed = listed.value["data"]
    assert len(listed) == sum(o.outcome != TRUE_POSITIVE for k in range(2) for o in view.outcomes(worst, k)) + \
        sum(len(view.missed(worst, k)) for k in range(2)) > 0
    page.wait_for_selector("#errors-table [data-testid='cell-0-0']")
    errors = table(page, "errors-table")
    assert len(errors) >= min(len(listed), 5)
    assert errors == [[f"{cell:g}" if isinstance(cell, float) else str(cell) for cell in row]
                      for row in listed[:len(errors)]]
    assert page.evaluate("() => document.querySelectorAll('#offset-histograms svg').length") == 4
    # the file is there: the player; an error click opens the inspector on the instance it was judged against
    page.wait_for_function("() => document.querySelector('#player video')?.readyState >= 1")
    layer = on_screen.edit_layer()
    matched = [(row, Inspector._nearest(layer, span.start, span.end)) for row, span in enumerate(spans[:len(errors)])]
    matched = list({key: row for row, key in reversed(matched) if key is not None}.items())
    assert matched, "no listed error overlaps an instance"

    def inspect_error(row: int, key: str) -> str:
        """Opens the inspector on the error of ``row``; the tag (``#n``) it shows for the instance ``key``."""
        tag = segment_tag(layer.segment(key))
        page.click(f"#errors-table [data-testid='cell-{row}-0']")
        page.wait_for_function("(k) => document.querySelector('#inspector-info')?.innerText.includes('Inspecting ' + k)",
                               arg=tag)
        page.wait_for_selector("#inspector-strips figure img")
        return tag

    # a correction with the inspector's keys: one instance rejected, another's end one frame (0.2 s) later
    truth = view.ground_truth[worst]
    rejected, row = matched[0]
    tag = inspect_error(row, rejected)
    press(page, "r")
    page.wait_for_function("(k) => document.querySelector('#inspector-info').innerText.includes(k + ' (rejected)')",
                           arg=tag)
    moved = None
    if len(matched) > 1:
        moved, row = matched[1]
        tag = inspect_error(row, moved)
        press(page, "v")
        page.wait_for_function("(k) => document.querySelector('#inspector-info').innerText.includes(k + ' (edited)')",
                               arg=tag)

    press(page, "j")  # the next video of the AP order; nothing of the worst one stays
    page.wait_for_function("(v) => document.querySelector('#status')?.innerText.includes(v)", arg=order[1])
    page.wait_for_function("() => document.querySelector('#dataset-place').innerText.startsWith('Dataset: video 2 of')")
    page.wait_for_function("() => document.querySelector('#inspector-info').innerText.includes('No segment inspected')")
    assert worst not in page.inner_text("#status") + page.inner_text("#dataset-place")
    assert corrections(page) == []
    page.wait_for_function("(n) => (document.querySelector('#timeline .js-plotly-plot')?.data || [])"
                           ".find(t => t.meta && t.meta.ground_truth)?.x.length === n", arg=len(view.ground_truth[order[1]]))

    press(page, "b")  # back to the table: the same sort and page
    page.wait_for_selector("#dataset-table", state="visible")
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
    kept = [g if f"r{j}" != moved else type(g)(g.start, round(g.end + 0.2, 3), g.label)
            for j, g in enumerate(truth) if f"r{j}" != rejected]
    expected = sorted(kept, key=lambda g: (g.start, g.end))
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


def test_a_dataset_video_is_the_video_on_screen_without_an_analysis(tmp_path):
    """A row opened in the Analyze tab: its lanes alone, every handler that needs an analysis says so, corrections
    made with the inspector are saved under the dataset's key and exported, and kept across next / previous."""
    truth_path = tmp_path / "gt.json"
    truth_path.write_text(json.dumps(synthetic_ground_truth(6, 3, "activitynet", seed=2)))
    truth_file = load_ground_truth(truth_path)
    durations = ground_truth_durations(truth_path)
    results = [write_results(tmp_path / f"r{k}.json", plant_detections(truth_file, durations, model))
               for k, model in enumerate(MODELS)]
    view = load_dataset(truth_path, results)
    loaded = LoadedDataset(view, file_digest(truth_path))
    explorer = Explorer(AppServices(AppConfig(library_dir=tmp_path / "library", work_dir=tmp_path / "work")))
    explorer.services.sessions.attach_visitor("dataset-test", None)
    tab, request = DatasetTab(explorer), SimpleNamespace(session_hash="dataset-test")
    order = view.ordered_rows("ap").tolist()
    tabs, video, cache, truth, *_, status, player, rows, figure, count, downloads = tab.open_row(
        loaded, json.dumps({"row": order[1], "order": order}), {}, request)
    assert isinstance(video, DatasetVideo) and video.video_id == view.videos[order[1]] and truth == video.ground_truth
    assert video.content_hash == loaded.edits_key(video.video_id) and cache[video.content_hash] is video
    assert video.video_id in status and "no video file" in status and rows == [] and downloads is None
    assert DatasetBar.follow(video)[1].startswith(f"**Dataset**: video 2 of {len(order)}")
    assert DatasetBar.follow(None)[1] == ""

    detectors, info, breakdown, errors, spans, _ = show_detector(None, video, truth, 0.5, False)
    assert [row.name for row in detectors] == [d.name for d in view.detectors]
    counts = {row[0]: row[1:] for row in breakdown.value["data"]}  # a column per detector: "count · share"
    assert breakdown.value["headers"] == ["outcome", "detector 1", "detector 2"]
    assert [int(counts["missed ground truth"][k].split(" · ")[0]) for k in range(2)] == [
        len(view.missed(video.video_id, k)) for k in range(2)]
    assert {row[3] for row in errors.value["data"]} <= {d.name for d in view.detectors}
    assert len(errors.value["data"]) == len(spans) == sum(
        sum(o.outcome != TRUE_POSITIVE for o in view.outcomes(video.video_id, k)) + len(view.missed(video.video_id, k))
        for k in range(2))
    figure, _, _ = explorer.render(video, truth, None, detectors)
    data = json.loads(figure.plot)
    lanes: dict[str, int] = {}
    for trace in data["data"]:
        meta = trace.get("meta", {})
        lane = "ground truth" if meta.get("ground_truth") else meta.get("detector") or ("track" if meta.get("track") else None)
        if lane:
            lanes[lane] = lanes.get(lane, 0) + len(trace["x"])
    assert lanes == {"ground truth": len(truth), "track": len(truth)} | {
        d.name: len(view.outcomes(video.video_id, k)) for k, d in enumerate(view.detectors)}
    assert not any("curve" in t.get("meta", {}) or "segments" in t.get("meta", {}) for t in data["data"])
    assert data["layout"]["xaxis"]["range"] == [0, video.duration]
    assert "No analysis of this video" in " ".join(a["text"] for a in data["layout"]["annotations"]).replace("<br>", " ")

    for needs_analysis in (lambda: explorer.downloads(video, request),
                           lambda: explorer.resegment(video, truth, None, detectors, 0.3, 0.0, 0.0, 0.6, "auto"),
                           lambda: explorer.select_segment(video, None, 0)):
        with pytest.raises(UTALError, match="needs an analysis of the video"):
            needs_analysis()
    assert explorer.threshold_bands(video, truth, None, detectors, None) == (None, None)
    assert explorer.render_media(video, truth, None, request)[:4] == ([], [], [], [])

    inspector = Inspector(explorer)  # a correction through the inspector: the first instance rejected
    selection = inspector.fast_outputs(video, "r0")[0]
    inspector.decide("reject")(video, cache, selection, request)
    assert explorer.services.sessions.get("dataset-test").edit_store.load(loaded.edits_key(video.video_id))[0].operations
    exported = load_ground_truth(tab.export(loaded, {}, request))  # a page of its own: the visitor's store
    assert exported[video.video_id] == sorted(truth[1:], key=lambda g: (g.start, g.end))
    assert all(exported[v] == sorted(truth_file[v], key=lambda g: (g.start, g.end)) for v in view.videos
               if v != video.video_id)

    following = tab.step(+1)(loaded, video, cache, request)
    assert following[1].video_id == view.videos[order[2]] and not following[1].edit_layer().operations
    again = tab.step(-1)(loaded, following[1], following[2], request)[1]
    assert again.video_id == video.video_id and [op.kind for op in again.edits.operations] == ["reject"]
    with pytest.raises(UTALError, match="Open a video from the Dataset tab"):
        tab.step(+1)(loaded, None, cache, request)
