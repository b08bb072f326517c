"""Detection mAP, readers, Hungarian mapping and the `eval` CLI."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from utal_core.cli import main
from utal_core.errors import UTALError
from utal_core.evaluate import (
    ANET_TIOUS,
    THUMOS_TIOUS,
    GroundTruth,
    Prediction,
    apply_label_mapping,
    evaluate_detection,
    hungarian_label_mapping,
    load_ground_truth,
    load_predictions,
    segment_tiou,
)
from utal_core.types import Segment

from .conftest import SHARED_DATA

FIXTURES = SHARED_DATA / "eval_fixtures"
THUMOS_JSON = SHARED_DATA / "thumos14" / "thumos14.json"
EXPECTED_FIXTURE_MAP = [0.7143, 0.7143, 0.7143, 0.6875, 0.6875, 0.5972, 0.5208, 0.5208, 0.5208, 0.5000]


def _need(path: Path) -> Path:
    if not path.exists():
        pytest.skip(f"shared data not present: {path}")
    return path


def _reference_ap(ground_truth, predictions, thresholds):
    """Transcription of ActivityNet's compute_average_precision_detection (one class), as an oracle.

    The one change: equal tIoUs are visited in index order (the original's quicksort order is arbitrary).
    """
    npos = sum(len(v) for v in ground_truth.values())
    lock = {video: -np.ones((len(thresholds), len(v))) for video, v in ground_truth.items()}
    ordered = sorted(predictions, key=lambda p: -p[3])
    tp = np.zeros((len(thresholds), len(ordered)))
    fp = np.zeros((len(thresholds), len(ordered)))
    for idx, (video, start, end, _) in enumerate(ordered):
        segments = ground_truth.get(video, [])
        if not segments:
            fp[:, idx] = 1
            continue
        tiou = np.array([max(0.0, min(end, e) - max(start, s)) / ((end - start) + (e - s) - max(0.0, min(end, e) - max(start, s)))
                         for s, e in segments])
        for tidx, threshold in enumerate(thresholds):
            for jdx in np.argsort(-tiou, kind="stable"):
                if tiou[jdx] < threshold:
                    fp[tidx, idx] = 1
                    break
                if lock[video][tidx, jdx] >= 0:
                    continue
                tp[tidx, idx] = 1
                lock[video][tidx, jdx] = idx
                break
            if fp[tidx, idx] == 0 and tp[tidx, idx] == 0:
                fp[tidx, idx] = 1
    ap = np.zeros(len(thresholds))
    for tidx in range(len(thresholds)):
        tp_sum, fp_sum = np.cumsum(tp[tidx]), np.cumsum(fp[tidx])
        mprec = np.hstack([[0], tp_sum / (tp_sum + fp_sum), [0]])
        mrec = np.hstack([[0], tp_sum / npos, [1]])
        for i in range(len(mprec) - 1)[::-1]:
            mprec[i] = max(mprec[i], mprec[i + 1])
        steps = np.where(mrec[1:] != mrec[:-1])[0] + 1
        ap[tidx] = np.sum((mrec[steps] - mrec[steps - 1]) * mprec[steps])
    return ap


# --- strategies -------------------------------------------------------------------------------

_interval = st.tuples(st.floats(0, 90), st.floats(0.5, 30)).map(lambda t: (t[0], t[0] + t[1]))


@st.composite
def _ground_truth(draw, labels=("a", "b", "c")) -> dict[str, list[GroundTruth]]:
    videos = draw(st.integers(1, 4))
    return {
        f"video{v}": [GroundTruth(s, e, draw(st.sampled_from(labels))) for s, e in draw(st.lists(_interval, min_size=1, max_size=5))]
        for v in range(videos)
    }


def _perfect(ground_truth, scores) -> dict[str, list[Prediction]]:
    score = iter(scores)
    return {video: [Prediction(g.start, g.end, next(score), g.label) for g in items] for video, items in ground_truth.items()}


# --- fixtures and readers ---------------------------------------------------------------------

def test_fixture_reproduces_reference_map():
    gt = load_ground_truth(_need(FIXTURES / "anet_gt_small.json"))
    preds = load_predictions(FIXTURES / "anet_pred_small.json")
    result = evaluate_detection(gt, preds, ANET_TIOUS)
    assert np.round(result.map_per_tiou, 4).tolist() == EXPECTED_FIXTURE_MAP
    assert round(result.mean_map, 4) == 0.6178
    assert result.ignored_videos == 0 and result.num_predictions == 14


def test_video_ids_match_with_or_without_prefix():
    gt = {"v_abc": [GroundTruth(0, 10, "x")]}
    for key in ("abc", "v_abc"):
        result = evaluate_detection(gt, {key: [Prediction(0, 10, 1.0, "x")]}, [0.5])
        assert result.map_per_tiou.tolist() == [1.0] and result.ignored_videos == 0
    unprefixed_gt = {"abc": [GroundTruth(0, 10, "x")]}
    assert evaluate_detection(unprefixed_gt, {"v_abc": [Prediction(0, 10, 1.0, "x")]}, [0.5]).mean_map == 1.0


def test_predictions_outside_the_ground_truth_are_ignored_and_counted():
    gt = {"a": [GroundTruth(0, 10, "x")]}
    preds = {"a": [Prediction(0, 10, 0.5, "x")], "elsewhere": [Prediction(0, 10, 0.9, "x")]}
    result = evaluate_detection(gt, preds, [0.5])
    assert result.mean_map == 1.0 and result.ignored_videos == 1


def test_thumos_reader_loads_all_videos_and_classes():
    gt = load_ground_truth(_need(THUMOS_JSON))
    assert len(gt) == 412
    assert len({g.label for items in gt.values() for g in items}) == 20
    assert len(load_ground_truth(THUMOS_JSON, subset="test")) == 212
    assert len(load_ground_truth(THUMOS_JSON, subset="validation")) == 200
    with pytest.raises(UTALError, match="subset"):
        load_ground_truth(THUMOS_JSON, subset="training")


def test_activitynet_database_format(tmp_path):
    path = tmp_path / "anet.json"
    path.write_text(json.dumps({"version": "1.3", "database": {
        "v_a": {"subset": "validation", "duration": 20, "annotations": [{"segment": [1, 5], "label": "Run"}]},
        "v_b": {"subset": "testing", "duration": 20, "annotations": []},
    }}))
    assert load_ground_truth(path) == {"v_a": [GroundTruth(1.0, 5.0, "Run")], "v_b": []}
    assert list(load_ground_truth(path, subset="validation")) == ["v_a"]


@pytest.mark.parametrize("reader, content, message", [
    (load_ground_truth, "{not json", "not valid JSON"),
    (load_ground_truth, "[1, 2]", "expected"),
    (load_ground_truth, '{"a": {"annotations": [{"segment": [5, 1], "label": "x"}]}}', "end before start"),
    (load_ground_truth, '{"a": {"annotations": [{"segment": [1], "label": "x"}]}}', "segment"),
    (load_ground_truth, '{"a": {"annotations": [{"segment": [1, 2]}]}}', "label"),
    (load_predictions, '{"a": []}', "results"),
    (load_predictions, '{"results": {"a": [{"segment": [0, 1], "label": "x"}]}}', "score"),
    (load_predictions, '{"results": {"a": {}}}', "not a list"),
])
def test_bad_files_raise_plain_errors(tmp_path, reader, content, message):
    path = tmp_path / "file.json"
    path.write_text(content)
    with pytest.raises(UTALError, match=message):
        reader(path)
    with pytest.raises(UTALError, match="not found"):
        reader(tmp_path / "missing.json")


# --- metric properties ------------------------------------------------------------------------

def test_presets():
    assert THUMOS_TIOUS == (0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7)
    assert ANET_TIOUS == (0.5, 0.55, 0.6, 0.65, 0.7, 0.75, 0.8, 0.85, 0.9, 0.95)


@settings(max_examples=60, deadline=None)
@given(_interval, st.lists(_interval, min_size=1, max_size=6))
def test_tiou_is_symmetric_and_bounded(segment, others):
    forward = segment_tiou(segment, np.array(others))
    backward = np.array([segment_tiou(other, np.array([segment]))[0] for other in others])
    np.testing.assert_allclose(forward, backward)
    assert np.all((forward >= 0) & (forward <= 1))
    assert segment_tiou(segment, np.array([segment]))[0] == pytest.approx(1.0)


def test_tiou_of_empty_union_is_zero():
    assert segment_tiou((3, 3), np.array([[3, 3], [0, 1]])).tolist() == [0.0, 0.0]


@settings(max_examples=40, deadline=None)
@given(_ground_truth(), st.randoms(use_true_random=False))
def test_perfect_predictions_score_one_whatever_their_scores(gt, rng):
    scores = [rng.random() for _ in range(sum(map(len, gt.values())))]
    result = evaluate_detection(gt, _perfect(gt, scores), THUMOS_TIOUS)
    np.testing.assert_allclose(result.map_per_tiou, 1.0)


@settings(max_examples=40, deadline=None)
@given(_ground_truth(), st.lists(st.tuples(st.integers(0, 3), _interval, st.sampled_from("abc")), max_size=12),
       st.randoms(use_true_random=False))
def test_matches_activitynet_reference_and_depends_only_on_ranking(gt, noise, rng):
    """Random predictions (perturbed GT plus clutter, distinct scores): equal to the reference loop, invariant
    to a monotone rescaling of the scores and to the order of the input lists, and within [0, 1]."""
    boxes = [(video, g.start + shift, g.end + shift + rng.uniform(0, 2), g.label)
             for video, items in gt.items() for g in items for shift in [rng.uniform(-3, 3)]]
    boxes += [(f"video{v}", s, e, label) for v, (s, e), label in noise]
    scores = np.arange(1, len(boxes) + 1) / len(boxes)
    rng.shuffle(scores)
    preds: dict[str, list[Prediction]] = {}
    for (video, start, end, label), score in zip(boxes, scores):
        preds.setdefault(video, []).append(Prediction(start, end, float(score), label))
    result = evaluate_detection(gt, preds, ANET_TIOUS)

    for label, ap in result.per_class_ap.items():
        class_gt = {video: [(g.start, g.end) for g in items if g.label == label] for video, items in gt.items()}
        class_preds = [(video, p.start, p.end, p.score) for video, items in preds.items() if video in gt
                       for p in items if p.label == label]
        np.testing.assert_allclose(ap, _reference_ap(class_gt, class_preds, ANET_TIOUS), atol=1e-12)

    rescaled = {video: [Prediction(p.start, p.end, 3 * p.score ** 3 + 1, p.label) for p in items[::-1]]
                for video, items in reversed(list(preds.items()))}
    np.testing.assert_allclose(evaluate_detection(gt, rescaled, ANET_TIOUS).map_per_tiou, result.map_per_tiou)
    assert np.all((result.map_per_tiou >= 0) & (result.map_per_tiou <= 1 + 1e-12))


def test_false_positive_above_the_true_ones_lowers_ap_below_them_does_not():
    gt = {"a": [GroundTruth(0, 10, "x"), GroundTruth(20, 30, "x")]}
    good = [Prediction(0, 10, 0.8, "x"), Prediction(20, 30, 0.7, "x")]
    low = evaluate_detection(gt, {"a": good + [Prediction(40, 50, 0.1, "x")]}, [0.5])
    high = evaluate_detection(gt, {"a": good + [Prediction(40, 50, 0.9, "x")]}, [0.5])
    assert low.mean_map == 1.0
    assert high.mean_map == pytest.approx(2 / 3)  # precision 1/2 then 2/3, made monotone


def test_duplicate_detections_count_once():
    gt = {"a": [GroundTruth(0, 10, "x")]}
    result = evaluate_detection(gt, {"a": [Prediction(0, 10, 0.9, "x"), Prediction(0, 10, 0.8, "x")]}, [0.5])
    assert result.mean_map == 1.0  # the duplicate comes after full recall
    worse = evaluate_detection(gt, {"a": [Prediction(0, 10, 0.8, "x"), Prediction(0, 10, 0.9, "y")]}, [0.5])
    assert worse.mean_map == 1.0  # a prediction of a class absent from the GT counts for no class


def test_class_agnostic_ignores_labels():
    gt = {"a": [GroundTruth(0, 10, "x"), GroundTruth(20, 30, "y")]}
    preds = {"a": [Prediction(0, 10, 0.9, "y"), Prediction(20, 30, 0.8, "x")]}
    assert evaluate_detection(gt, preds, [0.5]).mean_map == 0.0
    agnostic = evaluate_detection(gt, preds, [0.5], class_agnostic=True)
    assert agnostic.mean_map == 1.0 and list(agnostic.per_class_ap) == ["action"]


def test_invalid_thresholds_raise():
    with pytest.raises(UTALError):
        evaluate_detection({}, {}, [0.0, 0.5])
    with pytest.raises(UTALError):
        evaluate_detection({}, {}, [])


def test_result_to_dict_is_json_ready():
    gt = {"a": [GroundTruth(0, 10, "x")]}
    data = evaluate_detection(gt, {"a": [Prediction(0, 10, 1.0, "x")]}, THUMOS_TIOUS).to_dict()
    assert json.loads(json.dumps(data))["mean_map"] == 1.0
    assert data["per_class_ap"]["x"] == [1.0] * 7


def test_prediction_from_segment():
    assert Prediction.from_segment(Segment(1, 2, 0.5, cluster=3)) == Prediction(1.0, 2.0, 0.5, "3")
    assert Prediction.from_segment(Segment(1, 2, 0.5, cluster=3, label="Diving")).label == "Diving"


# --- unsupervised protocol --------------------------------------------------------------------

@settings(max_examples=30, deadline=None)
@given(st.permutations(list(range(5))), st.randoms(use_true_random=False))
def test_hungarian_recovers_a_label_permutation(permutation, rng):
    classes = ["c0", "c1", "c2", "c3", "c4"]
    gt, preds = {}, {}
    for v in range(25):
        real = v % 5
        start = rng.uniform(0, 50)
        gt[f"v_{v}"] = [GroundTruth(start, start + 10, classes[real])]
        pseudo = str(permutation[real])
        # Mostly the right pseudo-class, plus a weaker wrong one, so each video still votes clearly.
        preds[str(v)] = [Prediction(start, start + 10, 0.9, pseudo),
                         Prediction(start + 20, start + 25, 0.3, str(permutation[(real + 1) % 5]))]
    mapping = hungarian_label_mapping(gt, preds)
    assert mapping == {str(permutation[k]): classes[k] for k in range(5)}
    mapped = apply_label_mapping(preds, mapping)
    assert evaluate_detection(gt, mapped, [0.5]).per_class_ap["c0"][0] == 1.0


def test_hungarian_with_more_pseudo_labels_than_classes_leaves_the_extra_unmapped():
    gt = {"a": [GroundTruth(0, 5, "x")], "b": [GroundTruth(0, 5, "y")], "c": [GroundTruth(0, 5, "x")]}
    preds = {"a": [Prediction(0, 5, 1, "7")], "b": [Prediction(0, 5, 1, "8")], "c": [Prediction(0, 5, 1, "9")]}
    mapping = hungarian_label_mapping(gt, preds)
    assert len(mapping) == 2 and mapping["8"] == "y" and mapping.get("7", mapping.get("9")) == "x"
    relabelled = apply_label_mapping(preds, mapping)
    assert sorted(p.label for items in relabelled.values() for p in items) == sorted(["x", "y", "7" if "9" in mapping else "9"])


def test_hungarian_empty_inputs():
    assert hungarian_label_mapping({"a": [GroundTruth(0, 1, "x")]}, {}) == {}


# --- CLI --------------------------------------------------------------------------------------

def test_cli_eval_json_and_table(capsys):
    gt, pred = str(_need(FIXTURES / "anet_gt_small.json")), str(FIXTURES / "anet_pred_small.json")
    assert main(["eval", gt, pred, "--json"]) == 0
    data = json.loads(capsys.readouterr().out)
    assert round(data["mean_map"], 4) == 0.6178
    assert main(["eval", gt, pred, "--tiou", "0.5", "0.95", "--hungarian"]) == 0
    out = capsys.readouterr().out
    assert "71.43" in out and "50.00" in out and "Wakeboarding -> Wakeboarding" in out
    assert main(["eval", gt, pred, "--preset", "thumos", "--class-agnostic", "--json"]) == 0
    assert json.loads(capsys.readouterr().out)["tiou_thresholds"] == list(THUMOS_TIOUS)


def test_cli_eval_reports_user_errors(tmp_path, capsys):
    assert main(["eval", str(tmp_path / "gt.json"), str(tmp_path / "pred.json")]) == 2
    assert "not found" in capsys.readouterr().err


def test_foreground_mask_and_calibration_error() -> None:
    from utal_core.evaluate import expected_calibration_error, foreground_mask

    times = np.arange(10) + 0.5
    mask = foreground_mask([GroundTruth(2.0, 5.0, "a"), GroundTruth(8.0, 9.0, "b")], times)
    assert mask.tolist() == [False, False, True, True, True, False, False, False, True, False]
    outcomes = np.r_[np.ones(7), np.zeros(3)]
    assert expected_calibration_error(np.full(10, 0.7), outcomes) == pytest.approx(0.0)
    assert expected_calibration_error(np.full(10, 0.2), outcomes) == pytest.approx(0.5)
    # two bins: 0.9 predicted where 1/2 happened, 0.1 where 0/2 happened -> (2*0.4 + 2*0.1) / 4
    assert expected_calibration_error(np.array([0.9, 0.9, 0.1, 0.1]), np.array([1, 0, 0, 0])) == pytest.approx(0.25)
    assert expected_calibration_error(np.array([1.0]), np.array([1.0])) == pytest.approx(0.0)
