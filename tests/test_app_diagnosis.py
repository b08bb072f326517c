"""Another detector's results in the app (ui/diagnosis.py): read from an ActivityNet results file, matched to the
analysed video by id, judged by the same DETAD function as `diagnose`, drawn as a row of its own."""

from __future__ import annotations

import dataclasses
import json
import re
import os
import subprocess
import sys

from utal_core.evaluate import GroundTruth, load_ground_truth
from utal_core.viz import timeline_figure

from utal_core.diagnose import offset_histogram

from ui.diagnosis import ERROR_COLUMNS, MISSED, load_detector, show_detector

from .conftest import shared_file
from .test_viz import synthetic_analysis, traces_with


def test_the_fixture_results_are_judged_like_the_cli_and_drawn_as_a_row():
    """anet_pred_small.json names its video without the "v_" that the ground truth and the file stem carry."""
    truth_path, results_path = shared_file("eval_fixtures/anet_gt_small.json"), shared_file("eval_fixtures/anet_pred_small.json")
    video = "v_bYUmtLBL7W4"  # the first of the fixture's two videos
    truth = load_ground_truth(truth_path)[video]
    analysis = dataclasses.replace(synthetic_analysis(duration=224.49), video_id=video)
    results = load_detector(str(results_path))
    rows, info, breakdown, errors, spans, histograms = show_detector(results, analysis, truth, 0.5, False)
    (row,) = rows
    cli = subprocess.run([sys.executable, "-m", "utal_core", "diagnose", str(truth_path), str(results_path), "--json"],
                         capture_output=True, text=True, check=True, env=os.environ | {"PYTHONPATH": "."})
    expected = json.loads(cli.stdout)
    judged = [item["outcome"] for item in expected["predictions"] if item["video"] == video]
    missed = [item for item in expected["missed"] if item["video"] == video]
    counts = {outcome: count for outcome, count, _ in breakdown.value["data"]}
    assert counts == {outcome: judged.count(outcome) for outcome in expected["counts"]} | {MISSED: len(missed)}
    assert len(errors.value["data"]) == len(spans) == len(judged) - judged.count("true positive") + len(missed)
    assert [span.start for span in spans] == sorted(span.start for span in spans)
    # The offsets column is the CLI's start and end offsets of each listed prediction (prediction minus its GT).
    columns = {name: i for i, name in enumerate(ERROR_COLUMNS)}
    offsets = {(round(item["start"], 2), round(item["end"], 2)): (item["start_offset"], item["end_offset"])
               for item in expected["predictions"] if item["video"] == video and item["outcome"] != "true positive"}
    listed = [item for item in errors.value["data"] if item[0] != MISSED]
    assert listed and all(
        (row_[columns["start offset (s)"]], row_[columns["end offset (s)"]]) == tuple(
            "" if value is None else round(value, 2) for value in offsets[(row_[1], row_[2])]) for row_ in listed)
    # The histograms are diagnose's (one bar per bin of the offsets of this video's located predictions).
    located = [item["start_offset"] for item in expected["predictions"]
               if item["video"] == video and item["outcome"] in ("true positive", "localization error")]
    assert histograms.count("<rect") == 2 * 20 and f"(max {max(offset_histogram(located).counts)})" in histograms
    figure = timeline_figure(analysis, truth, extra_rows=[row.band_row()])
    drawn = traces_with(figure, "detector")
    assert sum(len(t.x) for t in drawn) == len(results.predictions["bYUmtLBL7W4"])
    assert {t.yaxis for t in drawn} == {"y2"} and "detector: anet_pred_small.json" in figure.layout.yaxis2.ticktext[1]
    assert "drawn in its own lane" in info


def test_results_without_this_video_draw_nothing_and_say_so(tmp_path):
    analysis = synthetic_analysis()
    other = tmp_path / "other.json"
    other.write_text(json.dumps({"results": {"someone_else": [{"segment": [1, 2], "score": 0.5, "label": "x"}]}}))
    rows, info, *_ = show_detector(load_detector(str(other)), analysis, [GroundTruth(1.0, 2.0, "x")], 0.5, False)
    shown = re.sub(r"\\(.)", r"\1", info)  # as the page renders it (untrusted names are backslash-escaped Markdown)
    assert rows == [] and "other.json has no results for clip (it has: someone_else)" in shown
