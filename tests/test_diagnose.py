"""`diagnose`: the DETAD false-positive breakdown, checked by hand on two cases written out below."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from .conftest import shared_file
from utal_core.cli import main
from utal_core.diagnose import (BACKGROUND, CONFUSION, DOUBLE_DETECTION, LOCALIZATION, TRUE_POSITIVE,
                                WRONG_LABEL, diagnose_detection, offset_histogram, report_html)
from utal_core.evaluate import GroundTruth, Prediction, load_ground_truth, load_predictions

# ---------------------------------------------------------------------------------------------
# Case 1, every outcome once or more (tIoU 0.5, lowest tIoU 0.1). Video v1 (ground truth):
#   g0 [10, 20] jump    g1 [40, 60] run    g2 [80, 90] jump
HAND_GT = {"v1": [GroundTruth(10, 20, "jump"), GroundTruth(40, 60, "run"), GroundTruth(80, 90, "jump")],
           "v2": []}
# Each prediction, in score order, with the reason for its verdict:
HAND_CASE = [
    # a: tIoU with g0 = 10/10 = 1.0, same label, g0 still free -> true positive (g0)
    ("v1", Prediction(10, 20, 0.9, "jump"), TRUE_POSITIVE, 0),
    # b: tIoU with g0 = 9/10 = 0.9 >= 0.5, same label, but a took g0 first -> double detection
    ("v1", Prediction(11, 20, 0.8, "jump"), DOUBLE_DETECTION, 0),
    # c: best tIoU is g0's, 9/10 = 0.9 >= 0.5, but g0 is a jump and c says run; c's own class (g1) overlaps 0
    #    -> wrong label
    ("v1", Prediction(10, 19, 0.7, "run"), WRONG_LABEL, 0),
    # d: tIoU with g1 = 8/20 = 0.4, in [0.1, 0.5), same label -> localization error (start offset 0, end -12)
    ("v1", Prediction(40, 48, 0.6, "run"), LOCALIZATION, 1),
    # e: tIoU with g1 = [50, 60] / [40, 70] = 10/30 = 0.33, in [0.1, 0.5), g1 is a run, e says jump -> confusion
    ("v1", Prediction(50, 70, 0.5, "jump"), CONFUSION, 1),
    # f: overlaps no ground truth (tIoU 0 < 0.1) -> background
    ("v1", Prediction(95, 99, 0.4, "run"), BACKGROUND, None),
    # g: tIoU with g1 = 18/20 = 0.9, same label, g1 still free (d did not reach 0.5) -> true positive (g1)
    ("v1", Prediction(41, 59, 0.3, "run"), TRUE_POSITIVE, 1),
    # h: its video is in the ground truth with no instance at all -> background
    ("v2", Prediction(1, 5, 0.2, "jump"), BACKGROUND, None),
    # i: its video is not in the ground truth at all -> left out (ignored), as eval does
    ("v3", Prediction(1, 5, 0.95, "jump"), None, None),
]
# And g2 [80, 90] is matched by nobody -> missed.


def _hand_predictions() -> dict[str, list[Prediction]]:
    predictions: dict[str, list[Prediction]] = {}
    for video, prediction, _, _ in HAND_CASE:
        predictions.setdefault(video, []).append(prediction)
    return predictions


def test_hand_checked_case_gets_every_outcome_right() -> None:
    diagnosis = diagnose_detection(HAND_GT, _hand_predictions(), tiou=0.5)
    expected = [(outcome, gt) for video, _, outcome, gt in HAND_CASE if outcome is not None]
    assert [(item.outcome, item.gt_index) for item in diagnosis.predictions] == expected
    assert diagnosis.counts == {TRUE_POSITIVE: 2, DOUBLE_DETECTION: 1, WRONG_LABEL: 1, LOCALIZATION: 1,
                                CONFUSION: 1, BACKGROUND: 2}
    assert [(video, index) for video, index, _ in diagnosis.missed] == [("v1", 2)]
    assert diagnosis.ignored_predictions == 1
    tious = [item.tiou for item in diagnosis.predictions]
    assert tious == pytest.approx([1.0, 0.9, 0.9, 0.4, 1 / 3, 0.0, 0.9, 0.0])


def test_offsets_are_taken_over_true_positives_and_localization_errors() -> None:
    diagnosis = diagnose_detection(HAND_GT, _hand_predictions(), tiou=0.5)
    offsets = sorted((item.start_offset, item.end_offset) for item in diagnosis.predictions
                     if item.outcome in (TRUE_POSITIVE, LOCALIZATION))
    assert offsets == [(0, -12), (0, 0), (1, -1)]  # d, a, g
    # End offsets 0, -1, -12 on 20 bins over [-12, 12]: -12 in the first bin, -1 and 0 on either side of 0.
    assert sum(diagnosis.end_offsets.counts) == 3
    assert diagnosis.end_offsets.edges[0] == -12 and diagnosis.end_offsets.edges[-1] == 12
    assert diagnosis.end_offsets.counts[0] == 1 and diagnosis.end_offsets.counts[9] == 1 and diagnosis.end_offsets.counts[10] == 1


def test_class_agnostic_turns_label_errors_into_matches() -> None:
    diagnosis = diagnose_detection(HAND_GT, _hand_predictions(), tiou=0.5, class_agnostic=True)
    # c (tIoU 0.9 with g0, taken by a) becomes a double detection, e (0.33 with g1) a localization error.
    assert diagnosis.counts[WRONG_LABEL] == diagnosis.counts[CONFUSION] == 0
    assert [item.outcome for item in diagnosis.predictions][2] == DOUBLE_DETECTION
    assert [item.outcome for item in diagnosis.predictions][4] == LOCALIZATION


# ---------------------------------------------------------------------------------------------
# Case 2: the shared fixture (../shared/data/eval_fixtures), derived by hand at tIoU 0.5 and 0.7.
# Video bYUmtLBL7W4, all Wakeboarding: A1 [11.55, 57.07], A2 [68.62, 126.04], A3 [135.49, 201.31].
# Video hDPLy21Yyuk, Cleaning shoes:  B1 [21.39, 76.16]. Every prediction has its video's label, so there
# is no wrong label and no confusion; every prediction touches a ground truth by >= 0.1, so no background.
# Predictions in file order (= score order), best tIoU and the verdict at 0.5 | at 0.7:
FIXTURE_CASE = [
    # [0, 206.35]:      A3 0.319 (A1 0.221, A2 0.278)        -> localization | localization
    (LOCALIZATION, LOCALIZATION, 2),
    # [33.64, 206.35]:  A3 0.381                              -> localization | localization
    (LOCALIZATION, LOCALIZATION, 2),
    # [148.03, 204.10]: A3 0.777 >= 0.5 and 0.7, A3 free       -> TP (A3)      | TP (A3)
    (TRUE_POSITIVE, TRUE_POSITIVE, 2),
    # [0, 123.36]:      A2 0.434                              -> localization | localization
    (LOCALIZATION, LOCALIZATION, 1),
    # [67.29, 206.35]:  A3 0.473                              -> localization | localization
    (LOCALIZATION, LOCALIZATION, 2),
    # [33.64, 125.60]:  A2 0.617: >= 0.5 and A2 free -> TP; < 0.7 -> localization
    (TRUE_POSITIVE, LOCALIZATION, 1),
    # [0, 53.83]:       A1 0.741 >= 0.7, A1 free               -> TP (A1)      | TP (A1)
    (TRUE_POSITIVE, TRUE_POSITIVE, 0),
    # [67.29, 123.36]:  A2 0.932: at 0.5 A2 was taken by [33.64, 125.60] -> double; at 0.7 A2 is free -> TP
    (DOUBLE_DETECTION, TRUE_POSITIVE, 1),
    # [100.93, 204.10]: A3 0.638: at 0.5 A3 taken -> double; < 0.7 -> localization
    (DOUBLE_DETECTION, LOCALIZATION, 2),
    # [38.13, 53.83]:   A1 0.345                              -> localization | localization
    (LOCALIZATION, LOCALIZATION, 0),
    # [21.22, 75.04]:   B1 0.976, B1 free                      -> TP (B1)      | TP (B1)
    (TRUE_POSITIVE, TRUE_POSITIVE, 0),
    # [21.22, 43.96]:   B1 0.411                              -> localization | localization
    (LOCALIZATION, LOCALIZATION, 0),
    # [0, 75.04]:       B1 0.704 >= 0.5 and 0.7, B1 taken      -> double       | double
    (DOUBLE_DETECTION, DOUBLE_DETECTION, 0),
    # [29.56, 70.49]:   B1 0.747, B1 taken                     -> double       | double
    (DOUBLE_DETECTION, DOUBLE_DETECTION, 0),
]
# Every ground truth is found at both thresholds: nothing missed.
FIXTURE_COUNTS = {0.5: {TRUE_POSITIVE: 4, DOUBLE_DETECTION: 4, WRONG_LABEL: 0, LOCALIZATION: 6, CONFUSION: 0, BACKGROUND: 0},
                  0.7: {TRUE_POSITIVE: 4, DOUBLE_DETECTION: 2, WRONG_LABEL: 0, LOCALIZATION: 8, CONFUSION: 0, BACKGROUND: 0}}


def _fixture() -> tuple[Path, Path]:
    return shared_file("eval_fixtures/anet_gt_small.json"), shared_file("eval_fixtures/anet_pred_small.json")


@pytest.mark.parametrize("tiou,column", [(0.5, 0), (0.7, 1)])
def test_fixture_matches_the_hand_derivation(tiou: float, column: int) -> None:
    gt_path, pred_path = _fixture()
    diagnosis = diagnose_detection(load_ground_truth(gt_path), load_predictions(pred_path), tiou=tiou)
    assert [item.outcome for item in diagnosis.predictions] == [row[column] for row in FIXTURE_CASE]
    assert [item.gt_index for item in diagnosis.predictions] == [row[2] for row in FIXTURE_CASE]
    assert diagnosis.counts == FIXTURE_COUNTS[tiou]
    assert diagnosis.missed == []


def test_diagnose_cli_prints_the_hand_derived_breakdown(tmp_path: Path, capsys) -> None:
    gt_path, pred_path = _fixture()
    html_path = tmp_path / "report.html"
    assert main(["diagnose", str(gt_path), str(pred_path), "--json", "--html", str(html_path)]) == 0
    report = json.loads(capsys.readouterr().out)
    assert report["counts"] == FIXTURE_COUNTS[0.5]
    assert [p["outcome"] for p in report["predictions"]] == [row[0] for row in FIXTURE_CASE]
    assert report["predictions"][2]["gt_start"] == pytest.approx(135.4928658346334)
    assert report["predictions"][2]["tiou"] == pytest.approx(0.7766, abs=1e-4)
    page = html_path.read_text()
    assert page.startswith("<!DOCTYPE html>") and page.count("<svg") == 3
    assert not re.search(r"(src|href)=\"?(https?:)?//", page), "the report must not fetch anything"
    assert main(["diagnose", str(gt_path), str(pred_path), "--tiou", "0.7"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert any(re.fullmatch(r"\s*double detection\s+2\s+14\.3%", line) for line in lines)


def test_limit_factor_keeps_detads_top_predictions_per_class() -> None:
    gt_path, pred_path = _fixture()
    # G = 3 Wakeboarding and 1 Cleaning shoes: factor 1 keeps the top 3 and the top 1.
    diagnosis = diagnose_detection(load_ground_truth(gt_path), load_predictions(pred_path), limit_factor=1)
    assert [item.score for item in diagnosis.predictions] == pytest.approx([0.65334, 0.56203, 0.44215, 0.56674], abs=1e-4)
    assert diagnosis.counts[TRUE_POSITIVE] == 2 and diagnosis.counts[LOCALIZATION] == 2
    assert [(video, index) for video, index, _ in diagnosis.missed] == [("v_bYUmtLBL7W4", 0), ("v_bYUmtLBL7W4", 1)]


def test_report_escapes_labels_and_bounds_its_table() -> None:
    predictions = {"v1": [Prediction(10, 20, 0.9 - i / 100, "<script>") for i in range(5)]}
    page = report_html(diagnose_detection(HAND_GT, predictions), max_rows=2)
    assert "<script>" not in page and "&lt;script&gt;" in page
    assert "the 2 highest-scored of 5" in page


def test_offset_histogram_is_symmetric_and_counts_everything() -> None:
    histogram = offset_histogram([-0.5, 0.25, 2.0], bins=4)
    assert histogram.edges == [-2.0, -1.0, 0.0, 1.0, 2.0] and histogram.counts == [0, 1, 1, 1]
    assert offset_histogram([]).counts == [0] * 20


@pytest.mark.parametrize("args,message", [
    (["--tiou", "0"], "tIoU threshold must be in (0, 1]"),
    (["--min-tiou", "0.9"], "lowest tIoU must be in [0, 0.5]"),
    (["--limit-factor", "0"], "limit factor must be a positive whole number"),
    (["--subset", "testing"], "no video in subset 'testing'"),
])
def test_bad_options_are_one_error_line(args: list[str], message: str, capsys) -> None:
    gt_path, pred_path = _fixture()
    assert main(["diagnose", str(gt_path), str(pred_path), *args]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and message in err[0]


def test_bad_files_are_one_error_line(tmp_path: Path, capsys) -> None:
    gt_path, _ = _fixture()
    broken = tmp_path / "broken.json"
    broken.write_text("{not json")
    for argv in ([str(tmp_path / "absent.json"), str(gt_path)], [str(gt_path), str(broken)], [str(gt_path), str(gt_path)]):
        assert main(["diagnose", *argv]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: ")

