"""Hostile evaluator inputs (issue 10, points 6 and 7): one `error:` line and exit status 2 each."""

from __future__ import annotations

import json

import pytest

from utal_core.cli import main

GROUND_TRUTH = {"database": {"v1": {"subset": "test", "annotations": [{"segment": [1.0, 4.0], "label": "jump"}]}}}


def _prediction(segment="[1.0, 4.0]", score="0.9") -> str:
    return '{"results": {"v1": [{"segment": %s, "score": %s, "label": "jump"}]}}' % (segment, score)


def _run(tmp_path, capsys, ground_truth: str, predictions: str, *extra: str) -> tuple[int, list[str]]:
    (tmp_path / "gt.json").write_text(ground_truth)
    (tmp_path / "pred.json").write_text(predictions)
    code = main(["eval", str(tmp_path / "gt.json"), str(tmp_path / "pred.json"), *extra])
    return code, capsys.readouterr().err.strip().splitlines()


def test_valid_inputs_still_evaluate(tmp_path, capsys):
    code, err = _run(tmp_path, capsys, json.dumps(GROUND_TRUTH), _prediction(), "--json")
    assert code == 0 and err == []


@pytest.mark.parametrize("predictions, message", [
    (_prediction(score="1e400"), "score is not finite (inf)"),
    (_prediction(score="NaN"), "score is not finite (nan)"),
    (_prediction(score="-Infinity"), "score is not finite (-inf)"),
    (_prediction(segment="[-3.0, 2.0]"), "segment starting before 0 s"),
    (_prediction(segment="[2.0, 2.0]"), "end before start or of zero length"),
    (_prediction(segment="[5.0, 2.0]"), "end before start or of zero length"),
    (_prediction(segment="[1.0, 1e400]"), "segment that is not finite"),
    ('{"results": ' + "[" * 50_000 + "]" * 50_000 + "}", "nested too deeply"),
], ids=["1e400", "nan", "-inf", "negative", "zero-length", "reversed", "infinite end", "deep"])
def test_bad_predictions_are_one_plain_error(tmp_path, capsys, predictions, message):
    code, err = _run(tmp_path, capsys, json.dumps(GROUND_TRUTH), predictions)
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


@pytest.mark.parametrize("ground_truth, message", [
    (json.dumps(GROUND_TRUTH).replace("[1.0, 4.0]", "[-1.0, 4.0]"), "segment starting before 0 s"),
    (json.dumps(GROUND_TRUTH).replace("[1.0, 4.0]", "[4.0, 4.0]"), "of zero length"),
    ("[" * 50_000 + "]" * 50_000, "nested too deeply"),
    # issue 21, point 10: read as something else before, now refused with the video named
    (json.dumps(GROUND_TRUTH).replace("[1.0, 4.0]", '"19"'), "without a valid [start, end] segment"),
    (json.dumps(GROUND_TRUTH).replace("[1.0, 4.0]", "[false, true]"), "bounds are not numbers"),
    (json.dumps(GROUND_TRUTH).replace('"jump"', "null"), "without a label that is text"),
    (json.dumps(GROUND_TRUTH).replace('"jump"', '{"a": 1}'), "without a label that is text"),
    (json.dumps(GROUND_TRUTH).replace('"jump"', '"\\u200b"'), "without a label that is text"),
], ids=["negative", "zero-length", "deep", "string segment", "booleans", "null label", "object label",
        "zero-width label"])
def test_bad_ground_truth_is_one_plain_error(tmp_path, capsys, ground_truth, message):
    code, err = _run(tmp_path, capsys, ground_truth, _prediction())
    assert code == 2 and len(err) == 1 and err[0].startswith("error: ") and message in err[0], err


@pytest.mark.parametrize("tiou", ["nan", "inf", "0", "1.5"])
def test_bad_tiou_thresholds_are_one_plain_error(tmp_path, capsys, tiou):
    code, err = _run(tmp_path, capsys, json.dumps(GROUND_TRUTH), _prediction(), "--tiou", "0.5", tiou)
    assert code == 2 and len(err) == 1 and "tIoU thresholds must be one or more numbers in (0, 1]" in err[0], err
