"""Dataset mode (issue 23): the summary equals `eval` and `diagnose` on the same files and the planted counts of
the error model; the per-video table, its paging, video matching, the cache, the CLI and its reports."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import numpy as np
import pytest

from .conftest import shared_file
from utal_core.cli import main
from utal_core.dataset import RowFilter, load_dataset, match_video_files
from utal_core.diagnose import OUTCOMES
from utal_core.evaluate import (THUMOS_TIOUS, GroundTruth, Prediction, evaluate_detection, ground_truth_durations,
                                load_ground_truth, load_predictions, match_classes)
from utal_core.dataset.metrics import LENGTH_EDGES, length_sensitivity
from utal_core.synth.detections import MISSED, ErrorModel, plant_detections, synthetic_ground_truth, write_results


def _write_set(folder: Path, ground_truth_json: dict, subset: str | None, seeds=(1, 2)) -> dict:
    """The ground truth and one planted results file per seed, written under ``folder``."""
    gt_path = folder / "gt.json"
    gt_path.write_text(json.dumps(ground_truth_json))
    ground_truth = load_ground_truth(gt_path, subset)
    results, planted = [], []
    for seed in seeds:
        plant = plant_detections(ground_truth, ground_truth_durations(gt_path), ErrorModel(seed=seed))
        results.append(write_results(folder / f"detector{seed}.json", plant))
        planted.append(plant)
    return {"gt": gt_path, "results": results, "planted": planted, "subset": subset}


@pytest.fixture(scope="module", params=["synthetic", "thumos14"])
def thumos_set(request, tmp_path_factory) -> dict:
    """THUMOS14-layout ground truth with two planted detectors: the real file (skipped when ../shared is absent)
    and a synthetic one, so the checks run in every clone."""
    folder = tmp_path_factory.mktemp(f"dataset_{request.param}")
    if request.param == "thumos14":
        raw = json.loads(shared_file("thumos14/thumos14.json").read_text())
        return _write_set(folder, raw, "test")
    return _write_set(folder, synthetic_ground_truth(30, 5, layout="thumos14", seed=3), None)


def _cli_json(capsys, *argv: str) -> dict:
    assert main(list(argv)) == 0
    return json.loads(capsys.readouterr().out)


def _subset_args(data: dict) -> list[str]:
    return ["--subset", data["subset"]] if data["subset"] else []


def test_summary_equals_eval_per_tiou_and_per_class(thumos_set, capsys):
    summary = _cli_json(capsys, "dataset", str(thumos_set["gt"]), *map(str, thumos_set["results"]),
                        *_subset_args(thumos_set), "--json")["summary"]
    for detector, results in zip(summary["detectors"], thumos_set["results"]):
        evaluation = _cli_json(capsys, "eval", str(thumos_set["gt"]), str(results), "--preset", "thumos",
                               *_subset_args(thumos_set), "--json")
        assert detector["evaluation"]["map_per_tiou"] == evaluation["map_per_tiou"]
        assert detector["evaluation"]["per_class_ap"] == evaluation["per_class_ap"]
        assert detector["evaluation"]["num_predictions"] == evaluation["num_predictions"]


def test_summary_equals_diagnose_and_the_planted_counts(thumos_set, capsys):
    summary = _cli_json(capsys, "dataset", str(thumos_set["gt"]), *map(str, thumos_set["results"]),
                        *_subset_args(thumos_set), "--json")["summary"]
    for detector, results, planted in zip(summary["detectors"], thumos_set["results"], thumos_set["planted"]):
        diagnosis = _cli_json(capsys, "diagnose", str(thumos_set["gt"]), str(results), *_subset_args(thumos_set),
                              "--json")
        assert detector["counts"] == diagnosis["counts"]
        assert detector["missed"] == len(diagnosis["missed"])
        assert detector["counts"] == {outcome: planted.counts[outcome] for outcome in OUTCOMES}
        assert detector["missed"] == planted.counts[MISSED]
        assert all(planted.counts[outcome] > 0 for outcome in (*OUTCOMES, MISSED))  # every error type was planted
    difference = summary["difference"]
    first, second = summary["detectors"]
    assert difference["counts"] == {o: second["counts"][o] - first["counts"][o] for o in OUTCOMES}


def test_per_video_table_equals_the_planted_counts_and_eval_of_each_video(thumos_set):
    view = load_dataset(thumos_set["gt"], thumos_set["results"], subset=thumos_set["subset"])
    rows = {row["video"]: row for row in view.page(limit=len(view.ground_truth)).rows}
    for k, planted in enumerate(thumos_set["planted"]):
        suffix = "" if k == 0 else f"_{k + 1}"
        for video, counts in planted.per_video.items():
            assert rows[video]["missed" + suffix] == counts[MISSED]
            assert {o: rows[video][o.replace(" ", "_") + suffix] for o in OUTCOMES} == {o: counts[o] for o in OUTCOMES}
            assert len(view.missed(video, k)) == counts[MISSED]
            assert [item.outcome for item in view.outcomes(video, k)].count("background") == counts["background"]
    predictions = load_predictions(thumos_set["results"][0])
    annotated = [video for video in view.videos if view.ground_truth[video]]
    for video in annotated[:: max(1, len(annotated) // 12)]:
        alone = evaluate_detection({video: view.ground_truth[video]}, {video: predictions.get(video, [])},
                                   THUMOS_TIOUS)
        assert rows[video]["ap"] == pytest.approx(alone.mean_map, abs=1e-12)
        assert rows[video]["ap_delta"] == pytest.approx(rows[video]["ap_2"] - rows[video]["ap"])


def test_activitynet_layout_ids_without_prefix_and_its_thresholds(tmp_path, capsys):
    data = _write_set(tmp_path, synthetic_ground_truth(40, 6, layout="activitynet", seed=5), None, seeds=(4,))
    results = json.loads(data["results"][0].read_text())
    results["results"] = {video.removeprefix("v_"): items for video, items in results["results"].items()}
    data["results"][0].write_text(json.dumps(results))
    view = load_dataset(data["gt"], data["results"])
    detector = view.detectors[0]
    assert view.layout == "activitynet" and detector.result.tiou_thresholds[0] == 0.5
    assert len(detector.result.tiou_thresholds) == 10 and detector.ignored_predictions == 0
    assert detector.diagnosis.counts == {o: data["planted"][0].counts[o] for o in OUTCOMES}
    assert view.detectors[0].sensitivity.edges[:3] == [0.0, 30.0, 60.0]


def test_length_sensitivity_by_hand():
    # One class: an XS instance (2 s) found exactly, an XL one (30 s) not found.
    ground_truth = {"v": [GroundTruth(0, 2, "a"), GroundTruth(10, 40, "a")]}
    predictions = {"v": [Prediction(0, 2, 0.9, "a"), Prediction(50, 52, 0.5, "a")]}
    matched = match_classes(ground_truth, predictions, THUMOS_TIOUS)
    sensitivity = length_sensitivity(ground_truth, matched, slice(None), LENGTH_EDGES["thumos14"])
    assert sensitivity.instances == [1, 0, 0, 0, 1]
    # XS: the exact prediction is a true positive at every tIoU, ranked first: AP 1. XL: the exact prediction matched
    # an instance of another bin and is left out; the other one matches nothing: AP 0.
    assert sensitivity.average_map_n == [1.0, None, None, None, 0.0]
    # All instances: recall 1/2 at precision 1 (2 instances per class on average), then a false positive: AP 0.5.
    assert sensitivity.base == 0.5


def test_page_sorts_filters_and_pages(thumos_set):
    view = load_dataset(thumos_set["gt"], thumos_set["results"], subset=thumos_set["subset"])
    aps = view.table["ap"]
    page = view.page("ap", descending=False, offset=0, limit=5)
    assert page.total == len(view.ground_truth) and len(page.rows) == 5
    finite = np.sort(aps[np.isfinite(aps)])
    assert [row["ap"] for row in page.rows] == pytest.approx(finite[:5].tolist())
    descending = view.page("ap", descending=True, limit=len(aps)).rows
    assert [row["ap"] for row in descending][: len(finite)] == pytest.approx(finite[::-1].tolist())
    assert all(row["ap"] is None for row in descending[len(finite):])  # no ground truth: NaN, last either way
    label = view.detectors[0].result.per_class_ap.__iter__().__next__()
    kept = view.page("missed", True, RowFilter(label=label, ranges={"missed": (1, None)}), 0, 10_000)
    assert kept.rows and all(label in row["classes"].split(", ") and row["missed"] >= 1 for row in kept.rows)
    assert [row["missed"] for row in kept.rows] == sorted((row["missed"] for row in kept.rows), reverse=True)
    named = view.page("video", False, RowFilter(text=view.videos[-1].upper()), 0, 10)
    assert [row["video"] for row in named.rows] == [view.videos[-1]]
    second = view.page("ap_delta", False, None, 3, 4)
    assert second.offset == 3 and [r["video"] for r in second.rows] == \
        [view.videos[i] for i in view.ordered_rows("ap_delta")[3:7]]


def test_ties_keep_the_ground_truths_order_either_way(tmp_path):
    """Equal texts and numbers equal but for float noise (a video's AP of 5/12 along two paths) are ties: they keep
    the ground truth's order, ascending and descending (the Dataset tab's page sorts the same way)."""
    data = _write_set(tmp_path, synthetic_ground_truth(6, 3, "activitynet", seed=1), None, seeds=(1,))
    view = load_dataset(data["gt"], data["results"])
    table = dict(view.table, coverage=np.array([5 / 12, 0.41666666666666696, 0.41666666666666663, 0.25, np.nan, 5 / 12]),
                 classes=np.array(["b", "a", "b", "a", "c", "b"], dtype=object))
    tied = dataclasses.replace(view, table=table, _orders={})
    assert tied.ordered_rows("coverage").tolist() == [3, 0, 1, 2, 5, 4]
    assert tied.ordered_rows("coverage", True).tolist() == [0, 1, 2, 5, 3, 4]
    assert tied.ordered_rows("classes").tolist() == [1, 3, 0, 2, 5, 4]
    assert tied.ordered_rows("classes", True).tolist() == [4, 0, 2, 5, 1, 3]
    assert tied.ordered_rows("coverage", row_filter=RowFilter(ranges={"coverage": (None, 0.416667)})).tolist() == \
        [3, 0, 1, 2, 5]


def test_video_folder_matched_with_and_without_prefix(tmp_path):
    for name in ("v_abc.mp4", "def.MKV", "ghi.txt", "video_test_1.webm"):
        (tmp_path / name).write_bytes(b"x")
    found = match_video_files(tmp_path, ["abc", "v_def", "v_ghi", "video_test_1", "none"])
    assert found == {"abc": tmp_path / "v_abc.mp4", "v_def": tmp_path / "def.MKV",
                     "video_test_1": tmp_path / "video_test_1.webm"}


def test_cache_reads_back_and_follows_the_files(tmp_path):
    data = _write_set(tmp_path, synthetic_ground_truth(12, 3, layout="thumos14", seed=8), None, seeds=(1,))
    cache = tmp_path / "cache"
    first = load_dataset(data["gt"], data["results"], cache_dir=cache)
    assert len(list(cache.iterdir())) == 1
    again = load_dataset(data["gt"], data["results"], cache_dir=cache)
    assert again.summary() == first.summary()
    results = json.loads(data["results"][0].read_text())
    video = next(video for video, items in results["results"].items() if items)
    results["results"][video] = results["results"][video][1:]
    data["results"][0].write_text(json.dumps(results))
    changed = load_dataset(data["gt"], data["results"], cache_dir=cache)
    assert len(list(cache.iterdir())) == 2
    assert changed.detectors[0].result.num_predictions == first.detectors[0].result.num_predictions - 1
    # The video folder is matched afresh on a cached load.
    folder = tmp_path / "videos"
    folder.mkdir()
    (folder / f"{changed.videos[1]}.mp4").write_bytes(b"x")
    with_videos = load_dataset(data["gt"], data["results"], videos=folder, cache_dir=cache)
    assert len(list(cache.iterdir())) == 2
    assert with_videos.page("has_video", True, RowFilter(has_video=True)).rows[0]["video"] == changed.videos[1]
    assert with_videos.summary()["videos_with_files"] == 1


def test_html_report_is_self_contained(thumos_set, tmp_path, capsys):
    out = tmp_path / "report.html"
    assert main(["dataset", str(thumos_set["gt"]), *map(str, thumos_set["results"]), *_subset_args(thumos_set),
                 "--rows", "3", "--html", str(out)]) == 0
    text = capsys.readouterr().out
    assert "mAP (%) at each tIoU" in text and "Sensitivity to instance length" in text
    page = out.read_text()
    assert page.count("<svg") >= 5 and "<script" not in page and "http://" not in page.replace(
        'xmlns="http://www.w3.org/2000/svg"', "")
    assert all(video in page for video in list(load_ground_truth(thumos_set["gt"], thumos_set["subset"]))[:3])


@pytest.mark.parametrize("argv, message", [
    (["RESULTS_BAD"], "score is not finite"),
    (["RESULTS", "--subset", "nope"], "no video in subset 'nope'"),
    (["RESULTS", "--sort", "nope"], "no column 'nope' to sort by"),
    (["RESULTS", "--videos", "MISSING"], "video folder not found"),
    (["MISSING"], "predictions file not found"),
    (["RESULTS", "--diagnose-tiou", "1.5"], "the tIoU threshold must be in (0, 1]"),
])
def test_bad_input_is_one_plain_error(tmp_path, capsys, argv, message):
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"database": {"v1": {"subset": "test", "annotations": [
        {"segment": [1.0, 4.0], "label": "jump"}]}}}))
    (tmp_path / "RESULTS").write_text('{"results": {"v1": [{"segment": [1, 4], "score": 0.9, "label": "jump"}]}}')
    (tmp_path / "RESULTS_BAD").write_text('{"results": {"v1": [{"segment": [1, 4], "score": NaN, "label": "jump"}]}}')
    args = [str(tmp_path / a) if a.isupper() else a for a in argv]
    assert main(["dataset", str(gt), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_error_model_script_writes_results_and_counts_that_diagnose_reproduces(tmp_path, capsys):
    from utal_core.synth.detections import main as plant_main

    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps(synthetic_ground_truth(20, 4, layout="activitynet", seed=2)))
    out, counts = tmp_path / "results.json", tmp_path / "counts.json"
    assert plant_main([str(gt), str(out), "--seed", "7", "--fill-to", "30", "--counts", str(counts)]) == 0
    planted = json.loads(counts.read_text())["counts"]
    assert sum(len(items) for items in json.loads(out.read_text())["results"].values()) == 20 * 30
    capsys.readouterr()
    diagnosis = _cli_json(capsys, "diagnose", str(gt), str(out), "--json")
    assert diagnosis["counts"] == {o: planted[o] for o in OUTCOMES} and len(diagnosis["missed"]) == planted[MISSED]
