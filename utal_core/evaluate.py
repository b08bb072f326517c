"""Detection evaluation: mAP at temporal IoU thresholds, kept apart from the model (numpy/scipy only).

Matching follows the ActivityNet reference ``compute_average_precision_detection``: per class,
predictions are sorted by score over all videos, and each is matched to the still-unmatched
ground truth of highest tIoU in its video, provided that tIoU reaches the threshold; AP is the
VOC/ActivityNet interpolated area under the precision-recall curve. mAP averages over the
classes present in the ground truth. Two deliberate details: ties in score keep the file order
(a stable sort), and predictions on videos absent from the ground truth (e.g. another subset)
are left out and counted in :attr:`DetectionResult.ignored_videos` instead of being false
positives.

The unsupervised protocol maps pseudo-classes to real classes with the Hungarian algorithm on a
video-level confusion matrix (:func:`hungarian_label_mapping`) before class-wise mAP, and also
reports class-agnostic mAP (all labels collapsed into one).
"""

from __future__ import annotations

import json
import math
import numbers
import os
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Hashable, Iterable, Mapping, Sequence

import numpy as np

from .checks import plain_label
from .errors import UTALError
from .types import Segment

#: THUMOS14 tIoU thresholds 0.1:0.1:0.7.
THUMOS_TIOUS: tuple[float, ...] = tuple(np.round(np.arange(0.1, 0.75, 0.1), 2).tolist())
#: ActivityNet tIoU thresholds 0.5:0.05:0.95.
ANET_TIOUS: tuple[float, ...] = tuple(np.round(np.arange(0.5, 0.975, 0.05), 2).tolist())
#: The label every instance gets in class-agnostic evaluation.
AGNOSTIC_LABEL = "action"
_ANET_VIDEO_PREFIX = "v_"
_PLAIN_NUMBERS = (float, int)
#: Numbers below this in size are finite floats, or ints that convert to floats exactly.
_EXACT = 2.0 ** 53
#: Label text -> its plain form, for the labels already read (a results file repeats a few hundred labels 10^5 times).
_PLAIN_LABELS: dict[str, str] = {}
_MAX_PLAIN_LABELS = 100_000


@dataclass(frozen=True)
class GroundTruth:
    """One annotated action instance of a video, in seconds."""

    start: float
    end: float
    label: str


@dataclass(frozen=True)
class Prediction:
    """One predicted action instance of a video, in seconds."""

    start: float
    end: float
    score: float
    label: str

    @classmethod
    def from_segment(cls, segment: Segment) -> "Prediction":
        """A prediction from a localized segment; its label is the segment's label, else its cluster id."""
        label = segment.label if segment.label is not None else str(segment.cluster)
        return cls(float(segment.start), float(segment.end), float(segment.score), label)


GroundTruthByVideo = dict[str, list[GroundTruth]]
PredictionsByVideo = dict[str, list[Prediction]]


@dataclass
class DetectionResult:
    """mAP per tIoU threshold, their mean, and the AP of every class (rows follow ``tiou_thresholds``)."""

    tiou_thresholds: np.ndarray
    map_per_tiou: np.ndarray
    per_class_ap: dict[str, np.ndarray] = field(default_factory=dict)
    class_agnostic: bool = False
    num_videos: int = 0
    num_ground_truth: int = 0
    num_predictions: int = 0
    ignored_videos: int = 0

    @property
    def mean_map(self) -> float:
        """mAP averaged over the tIoU thresholds."""
        return float(np.mean(self.map_per_tiou)) if len(self.map_per_tiou) else 0.0

    def to_dict(self) -> dict:
        """Plain JSON-ready form."""
        return {
            "tiou_thresholds": [float(t) for t in self.tiou_thresholds],
            "map_per_tiou": [float(m) for m in self.map_per_tiou],
            "mean_map": self.mean_map,
            "per_class_ap": {label: [float(a) for a in ap] for label, ap in self.per_class_ap.items()},
            "class_agnostic": self.class_agnostic,
            "num_videos": self.num_videos,
            "num_ground_truth": self.num_ground_truth,
            "num_predictions": self.num_predictions,
            "ignored_videos": self.ignored_videos,
        }


# ---------------------------------------------------------------------------------------------
# Readers


def _read_json(path: str | Path, what: str) -> object:
    path = Path(path)
    if not path.is_file():
        raise UTALError(f"{what} file not found: {path}")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UTALError(f"{what} file {path} is not valid JSON ({error})") from None
    except RecursionError:
        raise UTALError(f"{what} file {path} is nested too deeply to be ActivityNet or THUMOS JSON") from None


def _is_number(value: object) -> bool:
    """A real number that is not a bool (plain floats and ints first: the ABC check is slow at 10^5 entries)."""
    return type(value) in _PLAIN_NUMBERS or (isinstance(value, numbers.Real) and not isinstance(value, bool))


def _segment_bounds(item: Any, path: Path, video_id: str) -> tuple[float, float]:
    segment = item.get("segment") if isinstance(item, dict) or isinstance(item, Mapping) else None
    if not isinstance(segment, list) or len(segment) != 2:  # a string "19" would read as [1, 9]
        raise UTALError(f"{path}: video {video_id} has an entry without a valid [start, end] segment")
    if not (_is_number(segment[0]) and _is_number(segment[1])):
        raise UTALError(f"{path}: video {video_id} has a segment whose bounds are not numbers: {str(segment)[:60]}")
    try:
        start, end = (float(value) for value in segment)
    except OverflowError:
        raise UTALError(f"{path}: video {video_id} has a segment that is not finite: {str(segment)[:60]}") from None
    if not (math.isfinite(start) and math.isfinite(end)):
        raise UTALError(f"{path}: video {video_id} has a segment that is not finite: [{start}, {end}]")
    if start < 0:
        raise UTALError(f"{path}: video {video_id} has a segment starting before 0 s: [{start}, {end}]")
    if end <= start:
        raise UTALError(f"{path}: video {video_id} has a segment with end before start or of zero length: [{start}, {end}]")
    return start, end


def _entry_label(item: Mapping, path: Path, video_id: str) -> str:
    """The entry's label as plain one-line text; a missing, non-text or invisible label is refused (a null
    would otherwise read as "None", an object as its Python text)."""
    label = item.get("label") if isinstance(item, dict) or isinstance(item, Mapping) else None
    if not isinstance(label, (str, int)) or isinstance(label, bool) or not plain_label(str(label)):
        raise UTALError(f"{path}: video {video_id} has an entry without a label that is text ({str(label)[:40]!r})")
    text = plain_label(str(label))
    if isinstance(label, str) and len(_PLAIN_LABELS) < _MAX_PLAIN_LABELS:
        _PLAIN_LABELS[label] = text
    return text


def load_ground_truth(path: str | Path, subset: str | None = None) -> GroundTruthByVideo:
    """Read ActivityNet (``{"database": {...}}``) or THUMOS14-style (``{video: {...}}``) ground truth.

    ``subset`` keeps only the videos whose ``"subset"`` field equals it (e.g. ``"test"``,
    ``"validation"``). Videos without annotations are kept (with an empty list): predictions on
    them are false positives.
    """
    path = Path(path)
    data = _read_json(path, "ground truth")
    database = data.get("database", data) if isinstance(data, dict) else None
    if not isinstance(database, dict) or not all(isinstance(v, dict) for v in database.values()):
        raise UTALError(f"{path}: expected {{video_id: {{'annotations': [...]}}}} or ActivityNet {{'database': ...}}")
    ground_truth: GroundTruthByVideo = {}
    for video_id, video in database.items():
        if subset is not None and video.get("subset") != subset:
            continue
        annotations = video.get("annotations", [])
        if not isinstance(annotations, list):
            raise UTALError(f"{path}: video {video_id} has 'annotations' that is not a list")
        ground_truth[video_id] = [
            GroundTruth(*_segment_bounds(item, path, video_id), _entry_label(item, path, video_id))
            for item in annotations
        ]
    if subset is not None and not ground_truth:
        available = sorted({str(v.get("subset")) for v in database.values()})
        raise UTALError(f"{path}: no video in subset {subset!r}; subsets present: {', '.join(available)}")
    return ground_truth


def ground_truth_durations(path: str | os.PathLike) -> dict[str, float]:
    """Each video's ``duration`` field in an ActivityNet/THUMOS ground-truth JSON (videos without one left out)."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {}
    database = data.get("database", data) if isinstance(data, dict) else {}
    durations = {}
    for video, entry in database.items() if isinstance(database, dict) else ():
        if isinstance(entry, dict) and isinstance(entry.get("duration"), (int, float)) \
                and not isinstance(entry["duration"], bool) and math.isfinite(entry["duration"]):
            durations[video] = float(entry["duration"])
    return durations


def _plain_prediction(item: object) -> Prediction | None:
    """The prediction of an entry that is plainly valid (a dict, finite float or small int bounds with 0 <= start <
    end, a finite float or small int score, a label already read as plain text), else None: the strict checks below
    then take the entry and say what is wrong with it. This path reads 10^5 entries several times faster."""
    if type(item) is not dict:
        return None
    segment, score, label = item.get("segment"), item.get("score"), item.get("label")
    if type(segment) is not list or len(segment) != 2 or type(label) is not str or label not in _PLAIN_LABELS:
        return None
    start, end = segment
    if not (type(start) in _PLAIN_NUMBERS and type(end) in _PLAIN_NUMBERS and type(score) in _PLAIN_NUMBERS):
        return None
    if not (-_EXACT < start < _EXACT and -_EXACT < end < _EXACT and -_EXACT < score < _EXACT):  # NaN fails too
        return None
    if not 0 <= start < end:
        return None
    return Prediction(float(start), float(end), float(score), _PLAIN_LABELS[label])


def load_predictions(path: str | Path) -> PredictionsByVideo:
    """Read ActivityNet-format results: ``{"results": {video: [{"segment", "score", "label"}]}}``."""
    path = Path(path)
    data = _read_json(path, "predictions")
    results = data.get("results") if isinstance(data, dict) else None
    if not isinstance(results, dict):
        raise UTALError(f"{path}: expected ActivityNet results {{'results': {{video_id: [...]}}}}")
    predictions: PredictionsByVideo = {}
    for video_id, items in results.items():
        if not isinstance(items, list):
            raise UTALError(f"{path}: results of video {video_id} is not a list")
        video_predictions = []
        for item in items:
            plain = _plain_prediction(item)
            if plain is not None:
                video_predictions.append(plain)
                continue
            start, end = _segment_bounds(item, path, video_id)
            raw = item.get("score")
            if not _is_number(raw):
                raise UTALError(f"{path}: video {video_id} has a prediction without a numeric score")
            try:
                score = float(raw)
            except OverflowError:  # an integer of hundreds of digits
                score = float("inf")
            if not math.isfinite(score):
                raise UTALError(f"{path}: video {video_id} has a prediction whose score is not finite ({score})")
            video_predictions.append(Prediction(start, end, score, _entry_label(item, path, video_id)))
        predictions[video_id] = video_predictions
    return predictions


def align_video_ids(ground_truth: Mapping[str, object], predictions: Mapping[str, Sequence[Any]]) -> dict[str, list]:
    """Re-key ``predictions`` to the ground-truth ids, matching ids with or without the ActivityNet ``v_`` prefix.

    Videos that match no ground-truth video keep their own id.
    """

    def bare(video_id: str) -> str:
        return video_id.removeprefix(_ANET_VIDEO_PREFIX)

    by_bare_id = {bare(video_id): video_id for video_id in ground_truth}
    aligned: dict[str, list] = {}
    for video_id, items in predictions.items():
        key = video_id if video_id in ground_truth else by_bare_id.get(bare(video_id), video_id)
        if key in aligned:
            raise UTALError(f"predictions hold video {key} twice (with and without the 'v_' prefix)")
        aligned[key] = list(items)
    return aligned


# ---------------------------------------------------------------------------------------------
# Metric


def segment_tiou(segment: Sequence[float] | np.ndarray, segments: np.ndarray) -> np.ndarray:
    """Temporal IoU of one ``[start, end]`` against each row of ``segments`` [N, 2]; 0 where the union is empty.

    ``segment`` may also be [N, 2], pairing the rows of both one to one, or [K, 1, 2]: every one of K
    segments against every row, [K, N].
    """
    segment = np.asarray(segment, dtype=np.float64)
    segments = np.asarray(segments, dtype=np.float64).reshape(-1, 2)
    start, end = segment[..., 0], segment[..., 1]
    intersection = np.clip(np.minimum(end, segments[:, 1]) - np.maximum(start, segments[:, 0]), 0.0, None)
    union = (segments[:, 1] - segments[:, 0]) + (end - start) - intersection
    with np.errstate(divide="ignore", invalid="ignore"):
        return np.where(union > 0, intersection / np.where(union > 0, union, 1.0), 0.0)


def interpolated_average_precision(precision: np.ndarray, recall: np.ndarray) -> float:
    """Area under the precision-recall curve with precision made monotone (VOC / ActivityNet)."""
    precision = np.concatenate([[0.0], precision, [0.0]])
    recall = np.concatenate([[0.0], recall, [1.0]])
    precision = np.maximum.accumulate(precision[::-1])[::-1]
    steps = np.flatnonzero(recall[1:] != recall[:-1]) + 1
    return float(np.sum((recall[steps] - recall[steps - 1]) * precision[steps]))


def match_detections(
    ground_truth: Mapping[str, np.ndarray],
    predictions: Sequence[tuple[str, float, float, float]],
    tiou_thresholds: Sequence[float] | np.ndarray,
) -> np.ndarray:
    """The ActivityNet greedy matching of one class: [T, P] index of the ground truth each prediction
    matched at each threshold (-1: none), predictions in their input order.

    Predictions are taken by decreasing score (ties keep the input order); each takes the still-unmatched
    ground truth of highest tIoU in its video, provided that tIoU reaches the threshold.
    ``ground_truth`` maps video id -> [N, 2] segments; ``predictions`` are ``(video, start, end, score)``.
    """
    by_video: dict[Hashable, list[int]] = {}
    for index, prediction in enumerate(predictions):
        by_video.setdefault(prediction[0], []).append(index)
    bounds = np.array([p[1:3] for p in predictions], dtype=np.float64).reshape(-1, 2)
    scores = np.array([p[3] for p in predictions], dtype=np.float64)
    return _greedy_match(ground_truth, {video: np.asarray(indices) for video, indices in by_video.items()}, bounds,
                         scores, tiou_thresholds)


def _greedy_match(ground_truth: Mapping[Any, np.ndarray], by_video: Mapping[Any, np.ndarray],
                  bounds: np.ndarray, scores: np.ndarray, tiou_thresholds: Sequence[float] | np.ndarray) -> np.ndarray:
    """:func:`match_detections` on arrays: ``by_video`` maps each video to the indices of its predictions in
    ``bounds`` [P, 2] and ``scores`` [P]."""
    thresholds = np.asarray(tiou_thresholds, dtype=np.float64)
    matches = np.full((len(thresholds), len(scores)), -1, dtype=np.int64)
    order = np.argsort(-scores, kind="stable")
    # Every prediction's tIoUs with its video's ground truth, a video at a time; a prediction that reaches no
    # threshold with any of them can match nothing and is left out of the greedy loop.
    overlaps: dict[int, tuple[Hashable, np.ndarray]] = {}
    lowest = float(thresholds.min()) if len(thresholds) else np.inf
    for video, indices in by_video.items():
        segments = ground_truth.get(video)
        if segments is None or len(segments) == 0:
            continue
        for first in range(0, len(indices), 4096):
            chunk = np.asarray(indices[first:first + 4096])
            rows = segment_tiou(bounds[chunk][:, None, :], segments)
            reach = rows.max(axis=1) >= lowest
            overlaps.update((int(i), (video, row)) for i, row in zip(chunk[reach], rows[reach]))
    if not overlaps:
        return matches
    candidate = np.zeros(len(scores), dtype=bool)
    candidate[list(overlaps)] = True
    matched: dict[Hashable, np.ndarray] = {}
    for index in order[candidate[order]]:
        video, tiou = overlaps[int(index)]
        taken = matched.setdefault(video, np.zeros((len(thresholds), len(tiou)), dtype=bool))
        by_tiou = np.argsort(-tiou, kind="stable")
        # Per threshold: the first unmatched GT in tIoU order whose tIoU reaches the threshold.
        candidates = ~taken[:, by_tiou] & (tiou[by_tiou][None, :] >= thresholds[:, None])
        hit = candidates.any(axis=1)
        chosen = by_tiou[np.argmax(candidates, axis=1)]
        taken[np.flatnonzero(hit), chosen[hit]] = True
        matches[hit, index] = chosen[hit]
    return matches


def average_precision_curve(true_positive: np.ndarray, num_positives: int,
                            normalised_to: float | None = None) -> np.ndarray:
    """AP at each row of ``true_positive`` [T, P] (predictions in decreasing score order) for ``num_positives``
    ground-truth instances. ``normalised_to`` gives DETAD's normalized AP (precision as if the class had that many
    instances: ``recall * N / (recall * N + false positives)``), which makes classes and subsets of different sizes
    comparable."""
    true_positive = np.asarray(true_positive, dtype=bool).reshape(-1, np.shape(true_positive)[-1])
    if true_positive.shape[1] == 0 or num_positives == 0:
        return np.zeros(len(true_positive))
    tp_cumsum = np.cumsum(true_positive, axis=1, dtype=np.float64)
    fp_cumsum = np.cumsum(~true_positive, axis=1, dtype=np.float64)
    recall = tp_cumsum / num_positives
    if normalised_to is None:
        precision = tp_cumsum / (tp_cumsum + fp_cumsum)
    else:
        with np.errstate(divide="ignore", invalid="ignore"):
            precision = np.nan_to_num(recall * normalised_to / (recall * normalised_to + fp_cumsum))
    return np.array([interpolated_average_precision(precision[t], recall[t]) for t in range(len(true_positive))])


def average_precision_detection(
    ground_truth: Mapping[str, np.ndarray],
    predictions: Sequence[tuple[str, float, float, float]],
    tiou_thresholds: Sequence[float] | np.ndarray,
) -> np.ndarray:
    """AP of one class at each tIoU threshold (matching as in :func:`match_detections`).

    ``ground_truth`` maps video id -> [N, 2] segments; ``predictions`` are ``(video, start, end, score)``.
    """
    thresholds = np.asarray(tiou_thresholds, dtype=np.float64)
    num_positives = sum(len(segments) for segments in ground_truth.values())
    if not predictions or num_positives == 0:
        return np.zeros(len(thresholds))
    order = np.argsort(-np.array([p[3] for p in predictions], dtype=np.float64), kind="stable")
    return average_precision_curve(match_detections(ground_truth, predictions, thresholds)[:, order] >= 0,
                                   num_positives)


def label_function(class_agnostic: bool) -> Callable[[GroundTruth | Prediction], str]:
    """The label an instance is evaluated under: its own, or :data:`AGNOSTIC_LABEL` in class-agnostic mode."""
    return (lambda item: AGNOSTIC_LABEL) if class_agnostic else (lambda item: item.label)


@dataclass
class ClassMatches:
    """The ActivityNet matching of one class over a whole set, at each tIoU threshold.

    The class's predictions, in input order, are ``member_video`` (index in ``video_names``, the ground truth's
    videos in order) and ``member_item`` (index in that video's prediction list), with their ``scores``;
    ``matches`` [T, P] is the index in that video's *whole* ground-truth list of the instance each matched (-1: none);
    ``gt_members`` the class's ground truth as video -> indices in the video's ground-truth list.
    """

    label: str
    video_names: list[str]
    member_video: np.ndarray
    member_item: np.ndarray
    scores: np.ndarray
    matches: np.ndarray
    gt_members: dict[str, list[int]]

    @property
    def members(self) -> list[tuple[str, int]]:
        """The predictions as (video, index in its list)."""
        return [(self.video_names[v], int(i)) for v, i in zip(self.member_video, self.member_item)]

    @property
    def num_positives(self) -> int:
        return sum(len(indices) for indices in self.gt_members.values())

    def score_order(self) -> np.ndarray:
        """Member indices by decreasing score, ties in input order (the order AP reads them in)."""
        return np.argsort(-self.scores, kind="stable")

    def at(self, rows: slice | Sequence[int]) -> "ClassMatches":
        """The same matching at some of its thresholds only."""
        return ClassMatches(self.label, self.video_names, self.member_video, self.member_item, self.scores,
                            self.matches[rows], self.gt_members)

    def average_precision(self) -> np.ndarray:
        """AP at each threshold, as :func:`average_precision_detection` gives it."""
        if not len(self.scores) or self.num_positives == 0:
            return np.zeros(self.matches.shape[0])
        return average_precision_curve(self.matches[:, self.score_order()] >= 0, self.num_positives)


def _groups(keys: np.ndarray) -> list[tuple[int, np.ndarray]]:
    """(key, positions) of each distinct key of an int array, positions in input order, keys ascending."""
    order = np.argsort(keys, kind="stable")
    distinct, starts = np.unique(keys[order], return_index=True)
    return [(int(key), order[start:end]) for key, start, end in zip(distinct, starts, [*starts[1:], len(order)])]


def match_classes(
    ground_truth: Mapping[str, Sequence[GroundTruth]],
    predictions: Mapping[str, Sequence[Prediction]],
    tiou_thresholds: Sequence[float] | np.ndarray,
    label_of: Callable[[GroundTruth | Prediction], str] = lambda item: item.label,
) -> dict[str, ClassMatches]:
    """:func:`match_detections` for every label of the ground truth or of ``predictions`` (whose videos must all be
    in ``ground_truth``, with its ids: see :func:`judged_predictions`), on arrays grouped by label once (linear in
    the number of instances and predictions, whatever the labels)."""
    thresholds = np.asarray(tiou_thresholds, dtype=np.float64).reshape(-1)
    video_names = list(ground_truth)
    video_code = {video: k for k, video in enumerate(video_names)}
    label_code: dict[str, int] = {}
    gt_video, gt_item, gt_label, gt_bounds = [], [], [], []
    for video, items in ground_truth.items():
        for j, gt in enumerate(items):
            gt_video.append(video_code[video])
            gt_item.append(j)
            gt_label.append(label_code.setdefault(label_of(gt), len(label_code)))
            gt_bounds.append((gt.start, gt.end))
    p_video, p_item, p_label, p_bounds, p_score = [], [], [], [], []
    for video, predicted in predictions.items():
        code = video_code[video]
        for i, prediction in enumerate(predicted):
            p_video.append(code)
            p_item.append(i)
            p_label.append(label_code.setdefault(label_of(prediction), len(label_code)))
            p_bounds.append((prediction.start, prediction.end))
            p_score.append(prediction.score)
    gt_videos, gt_items = np.array(gt_video, dtype=np.int64), np.array(gt_item, dtype=np.int64)
    gt_segments = np.array(gt_bounds, dtype=np.float64).reshape(-1, 2)
    videos, member_items = np.array(p_video, dtype=np.int64), np.array(p_item, dtype=np.int64)
    bounds, scores = np.array(p_bounds, dtype=np.float64).reshape(-1, 2), np.array(p_score, dtype=np.float64)
    gt_groups = dict(_groups(np.array(gt_label, dtype=np.int64)))
    member_groups = dict(_groups(np.array(p_label, dtype=np.int64)))
    names = {code: label for label, code in label_code.items()}
    matched: dict[str, ClassMatches] = {}
    for code in sorted(label_code.values(), key=names.__getitem__):
        members = member_groups.get(code, np.zeros(0, dtype=np.int64))
        class_gt = gt_groups.get(code, np.zeros(0, dtype=np.int64))
        by_gt_video = {video: class_gt[positions] for video, positions in _groups(gt_videos[class_gt])}
        gt_members = {video_names[video]: gt_items[positions].tolist() for video, positions in by_gt_video.items()}
        in_video = np.full((len(thresholds), len(members)), -1, dtype=np.int64)
        if len(members) and by_gt_video:
            member_video = videos[members]
            in_class = _greedy_match({video: gt_segments[positions] for video, positions in by_gt_video.items()},
                                     dict(_groups(member_video)), bounds[members], scores[members], thresholds)
            # Class-list index -> the video's ground-truth list index.
            for t, p in zip(*np.nonzero(in_class >= 0)):
                in_video[t, p] = gt_items[by_gt_video[int(member_video[p])][in_class[t, p]]]
        matched[names[code]] = ClassMatches(names[code], video_names, videos[members], member_items[members],
                                            scores[members], in_video, gt_members)
    return matched


def judged_predictions(ground_truth: Mapping[str, object], predictions: Mapping[str, Sequence[Prediction]],
                       ) -> tuple[dict[str, list[Prediction]], int, int]:
    """The predictions re-keyed to the ground truth's ids (see :func:`align_video_ids`) and kept only on its videos,
    with the number of videos and of predictions left out."""
    aligned = align_video_ids(ground_truth, predictions)
    outside = [video for video in aligned if video not in ground_truth]
    judged = {video: list(items) for video, items in aligned.items() if video in ground_truth}
    return judged, len(outside), sum(len(aligned[video]) for video in outside)


def check_tiou_thresholds(tiou_thresholds: Sequence[float] | np.ndarray) -> np.ndarray:
    """The thresholds as a flat array; a plain error unless they are one or more numbers in (0, 1]."""
    thresholds = np.asarray(tiou_thresholds, dtype=np.float64).reshape(-1)
    if len(thresholds) == 0 or not np.all((thresholds > 0) & (thresholds <= 1)):
        raise UTALError("tIoU thresholds must be one or more numbers in (0, 1]")
    return thresholds


def result_from_matches(
    ground_truth: Mapping[str, Sequence[GroundTruth]],
    matched: Mapping[str, ClassMatches],
    tiou_thresholds: np.ndarray,
    rows: slice | Sequence[int] = slice(None),
    class_agnostic: bool = False,
    ignored_videos: int = 0,
) -> DetectionResult:
    """The :class:`DetectionResult` of a :func:`match_classes` matching (``rows``: which of its thresholds)."""
    label_of = label_function(class_agnostic)
    classes = sorted({label_of(gt) for items in ground_truth.values() for gt in items})
    per_class_ap: dict[str, np.ndarray] = {}
    for label in classes:
        class_matches = matched.get(label)
        if class_matches is None:
            per_class_ap[label] = np.zeros(len(tiou_thresholds))
            continue
        per_class_ap[label] = class_matches.at(rows).average_precision()
    map_per_tiou = np.mean(list(per_class_ap.values()), axis=0) if per_class_ap else np.zeros(len(tiou_thresholds))
    return DetectionResult(
        tiou_thresholds=tiou_thresholds,
        map_per_tiou=map_per_tiou,
        per_class_ap=per_class_ap,
        class_agnostic=class_agnostic,
        num_videos=len(ground_truth),
        num_ground_truth=sum(len(items) for items in ground_truth.values()),
        num_predictions=sum(len(m.scores) for m in matched.values()),
        ignored_videos=ignored_videos,
    )


def evaluate_detection(
    ground_truth: Mapping[str, Sequence[GroundTruth]],
    predictions: Mapping[str, Sequence[Prediction]],
    tiou_thresholds: Sequence[float] = ANET_TIOUS,
    class_agnostic: bool = False,
) -> DetectionResult:
    """Class-wise mAP (or class-agnostic mAP) of ``predictions`` against ``ground_truth`` at each tIoU threshold.

    Prediction video ids may carry or drop the ActivityNet ``v_`` prefix. Predictions whose label
    is not a ground-truth class count for no class (class-wise mode only).
    """
    thresholds = check_tiou_thresholds(tiou_thresholds)
    judged, ignored_videos, _ = judged_predictions(ground_truth, predictions)
    matched = match_classes(ground_truth, judged, thresholds, label_function(class_agnostic))
    return result_from_matches(ground_truth, matched, thresholds, class_agnostic=class_agnostic,
                               ignored_videos=ignored_videos)


# ---------------------------------------------------------------------------------------------
# Calibration of per-snippet actionness


def foreground_mask(ground_truth: Sequence[GroundTruth], times: np.ndarray) -> np.ndarray:
    """True at each time (snippet centre, seconds) that lies inside some ground-truth instance."""
    times = np.asarray(times, dtype=np.float64)
    mask = np.zeros(times.shape, dtype=bool)
    for item in ground_truth:
        mask |= (times >= item.start) & (times <= item.end)
    return mask


def expected_calibration_error(probabilities: np.ndarray, outcomes: np.ndarray, bins: int = 10) -> float:
    """ECE of probabilities against binary outcomes: the bin-size-weighted mean |accuracy - confidence|
    over ``bins`` equal-width confidence bins on [0, 1] (a probability of exactly 1 falls in the last bin)."""
    probabilities = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    outcomes = np.asarray(outcomes, dtype=np.float64).reshape(-1)
    if probabilities.shape != outcomes.shape:
        raise ValueError(f"{probabilities.size} probabilities for {outcomes.size} outcomes")
    if probabilities.size == 0:
        return 0.0
    if not np.all(np.isfinite(probabilities)) or probabilities.min() < 0 or probabilities.max() > 1:
        raise UTALError("calibration needs probabilities in [0, 1]")
    which = np.minimum((probabilities * bins).astype(np.int64), bins - 1)
    confidence = np.bincount(which, weights=probabilities, minlength=bins)
    accuracy = np.bincount(which, weights=outcomes, minlength=bins)
    return float(np.abs(accuracy - confidence).sum() / probabilities.size)


# ---------------------------------------------------------------------------------------------
# Unsupervised protocol


def _dominant_label(items: Iterable[Prediction]) -> str | None:
    """The label with the largest summed score in one video (ties: the first in sorted order)."""
    totals: dict[str, float] = {}
    for prediction in items:
        totals[prediction.label] = totals.get(prediction.label, 0.0) + prediction.score
    return max(sorted(totals), key=totals.__getitem__) if totals else None


def hungarian_label_mapping(
    ground_truth: Mapping[str, Sequence[GroundTruth]],
    predictions: Mapping[str, Sequence[Prediction]],
) -> dict[str, str]:
    """One-to-one pseudo-label -> real-label mapping that maximises video-level agreement.

    Each video votes once: its dominant pseudo-label (largest summed prediction score, the
    video's pseudo-class as in UTAL clustering) against every real class annotated in it. The
    confusion matrix of these votes is solved with the Hungarian algorithm
    (``scipy.optimize.linear_sum_assignment``). Every pseudo-label that appears in the predictions
    takes part; when there are more pseudo-labels than real classes, the leftover ones stay unmapped.
    """
    aligned = align_video_ids(ground_truth, predictions)
    pseudo_labels = sorted({p.label for items in aligned.values() for p in items})
    real_labels = sorted({gt.label for items in ground_truth.values() for gt in items})
    if not pseudo_labels or not real_labels:
        return {}
    pseudo_index = {label: i for i, label in enumerate(pseudo_labels)}
    real_index = {label: j for j, label in enumerate(real_labels)}
    confusion = np.zeros((len(pseudo_labels), len(real_labels)))
    for video, items in ground_truth.items():
        dominant = _dominant_label(aligned.get(video, []))
        if dominant is None:
            continue
        for label in {gt.label for gt in items}:
            confusion[pseudo_index[dominant], real_index[label]] += 1
    from scipy.optimize import linear_sum_assignment  # here: `eval` without --hungarian starts without scipy

    rows, cols = linear_sum_assignment(confusion, maximize=True)
    return {pseudo_labels[r]: real_labels[c] for r, c in zip(rows, cols)}


def apply_label_mapping(predictions: Mapping[str, Sequence[Prediction]], mapping: Mapping[str, str]) -> PredictionsByVideo:
    """Relabel predictions through ``mapping``; labels it does not cover are kept unchanged."""
    return {
        video: [Prediction(p.start, p.end, p.score, mapping.get(p.label, p.label)) for p in items]
        for video, items in predictions.items()
    }
