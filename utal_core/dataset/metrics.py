"""One detector over a whole dataset: the eval mAP, the diagnose breakdown and what a per-video table needs, from
one matching.

Everything comes from one :func:`~utal_core.evaluate.match_classes` run at the evaluation thresholds plus the
diagnose threshold; ``eval``'s numbers come from :func:`~utal_core.evaluate.result_from_matches` and ``diagnose``'s
from :func:`~utal_core.diagnose.diagnosis_from_matches`, so the dataset view cannot disagree with either.

Per video (in the ground truth's order):

- ``ap``: the mean, over the tIoU thresholds and over the classes of the video's own ground truth, of the AP of the
  video's predictions of that class against the video's instances of it (the class-wise mAP of the video alone;
  predictions of other classes do not lower it: they show in the error counts). Empty ground truth: NaN.
- one count per DETAD outcome at the diagnose threshold, ``missed`` (instances no prediction matched there) and
  ``predictions``.

The sensitivity of AP to instance length follows DETAD (``sensitivity_analysis.py``): instances are put in length
bins XS..XL (DETAD's edges: ActivityNet 0/30/60/120/180 s, THUMOS14 0/3/6/12/18 s, right-closed); for a bin and a
class, the predictions kept are those matched to an instance of the bin at every threshold, or to none; their AP is
DETAD's normalized AP (precision as if every class had the average number of instances per class), averaged over
the thresholds, then over the classes with instances in the bin. ``base`` is the same over all instances. One
difference: DETAD's THUMOS14 script uses tIoU 0.5 alone; here the evaluation thresholds are used for both datasets.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Mapping, Sequence

import numpy as np

from ..diagnose import OUTCOMES, Diagnosis, diagnosis_from_matches
from ..evaluate import (ClassMatches, DetectionResult, GroundTruth, Prediction, average_precision_curve,
                        judged_predictions, match_classes, result_from_matches)

#: DETAD's length bins (seconds, right-closed) per ground-truth layout.
LENGTH_EDGES: dict[str, tuple[float, ...]] = {"activitynet": (0, 30, 60, 120, 180, np.inf),
                                              "thumos14": (0, 3, 6, 12, 18, np.inf)}
LENGTH_BIN_NAMES: tuple[str, ...] = ("XS", "S", "M", "L", "XL")
#: Per-video columns of one detector, beside the DETAD outcome counts (named with underscores).
DETECTOR_COLUMNS: tuple[str, ...] = ("ap", "predictions", "missed", *(o.replace(" ", "_") for o in OUTCOMES))


@dataclass
class Sensitivity:
    """DETAD's average normalized mAP per length bin (None where the bin has no instance)."""

    edges: list[float]
    names: list[str]
    instances: list[int]
    average_map_n: list[float | None]
    base: float

    def to_dict(self) -> dict:
        return {"characteristic": "length", "edges": [e if np.isfinite(e) else None for e in self.edges],
                "bins": self.names, "instances": self.instances, "average_map_n": self.average_map_n,
                "base": self.base}


@dataclass
class DetectorSummary:
    """One results file over the dataset: eval's result, diagnose's diagnosis, the length sensitivity and the
    per-video columns (:data:`DETECTOR_COLUMNS`, arrays in the ground truth's video order)."""

    name: str
    result: DetectionResult
    diagnosis: Diagnosis
    sensitivity: Sensitivity
    columns: dict[str, np.ndarray]
    ignored_predictions: int


def _segment_average_precision(true_positive: np.ndarray, segments: np.ndarray, positives: np.ndarray) -> np.ndarray:
    """Interpolated AP [T, S] of many independent runs at once: ``true_positive`` [T, P] holds the runs one after the
    other (``segments`` [P]: each column's run, non-decreasing, 0..S-1), each run in decreasing score order, against
    ``positives`` [S] instances. The same area as :func:`~utal_core.evaluate.interpolated_average_precision`: the sum,
    over the true positives, of 1/positives times the best precision at or after them in their run."""
    count = len(positives)
    starts = np.searchsorted(segments, np.arange(count))
    position = np.arange(true_positive.shape[1]) - starts[segments]
    tp_cumsum = np.cumsum(true_positive, axis=1, dtype=np.float64)
    before = np.concatenate([np.zeros((len(tp_cumsum), 1)), tp_cumsum], axis=1)[:, starts[segments]]
    precision = (tp_cumsum - before) / (position + 1)
    # A running maximum from the end of each run: offsets that grow run by run keep one run's values from another's.
    offset = 2.0 * (count - segments)
    envelope = np.maximum.accumulate((precision + offset)[:, ::-1], axis=1)[:, ::-1] - offset
    area = np.zeros((len(true_positive), count))
    for t in range(len(true_positive)):
        np.add.at(area[t], segments, np.where(true_positive[t], envelope[t], 0.0))
    return area / np.maximum(positives, 1)


def video_average_precision(matched: Mapping[str, ClassMatches], rows: slice,
                            video_code: Mapping[str, int]) -> np.ndarray:
    """``ap`` of every video (see the module docstring), in the ground truth's order (``video_code``: video -> row)."""
    num_videos = len(video_code)
    total = np.zeros(num_videos)
    classes = np.zeros(num_videos)
    for class_matches in matched.values():
        if not class_matches.gt_members:
            continue
        positives_of = np.zeros(num_videos, dtype=np.int64)
        for video, indices in class_matches.gt_members.items():
            positives_of[video_code[video]] = len(indices)
        classes += positives_of > 0
        if not len(class_matches.scores):
            continue
        order = np.lexsort((-class_matches.scores, class_matches.member_video))
        videos, segments = np.unique(class_matches.member_video[order], return_inverse=True)
        positives = positives_of[videos]
        area = _segment_average_precision(class_matches.matches[rows][:, order] >= 0, segments, positives)
        has_gt = positives > 0
        total[videos[has_gt]] += area[:, has_gt].mean(axis=0)
    with np.errstate(invalid="ignore"):
        return np.where(classes > 0, total / np.maximum(classes, 1), np.nan)


def length_sensitivity(ground_truth: Mapping[str, Sequence[GroundTruth]], matched: Mapping[str, ClassMatches],
                       rows: slice, edges: Sequence[float]) -> Sensitivity:
    """DETAD's sensitivity of AP to instance length (see the module docstring)."""
    edges_array = np.asarray(edges, dtype=np.float64)
    lengths = np.array([g.end - g.start for items in ground_truth.values() for g in items], dtype=np.float64)
    instance_bins = np.searchsorted(edges_array, lengths, side="left") - 1
    first_instance = np.cumsum([0] + [len(items) for items in ground_truth.values()])
    bins = len(edges_array) - 1
    classes = [m for m in matched.values() if m.gt_members]
    per_class = len(lengths) / max(len(classes), 1)
    video_code = {video: k for k, video in enumerate(ground_truth)}

    def normalized_map(class_matches: ClassMatches, keep: np.ndarray, positives: int) -> float:
        order = class_matches.score_order()
        order = order[keep[order]]
        return float(average_precision_curve(class_matches.matches[rows][:, order] >= 0, positives, per_class).mean())

    base_values: list[float] = []
    by_bin: list[list[float]] = [[] for _ in range(bins)]
    instances = [0] * bins
    for class_matches in classes:
        base_values.append(normalized_map(class_matches, np.ones(len(class_matches.scores), dtype=bool),
                                          class_matches.num_positives))
        class_bins = np.concatenate([instance_bins[first_instance[video_code[video]] + np.asarray(indices)]
                                     for video, indices in class_matches.gt_members.items()])
        matches = class_matches.matches[rows]
        flat = first_instance[class_matches.member_video][None, :] + np.maximum(matches, 0)
        member_bins = np.where(matches >= 0, instance_bins[flat] if len(instance_bins) else -1, -1)
        for b in range(bins):
            positives = int(np.sum(class_bins == b))
            instances[b] += positives
            if positives:
                keep = np.all((member_bins == b) | (matches < 0), axis=0)
                by_bin[b].append(normalized_map(class_matches, keep, positives))
    return Sensitivity(
        edges=[float(e) for e in edges_array], names=list(LENGTH_BIN_NAMES[:bins]), instances=instances,
        average_map_n=[float(np.mean(values)) if values else None for values in by_bin],
        base=float(np.mean(base_values)) if base_values else 0.0)


def summarize_detector(name: str, ground_truth: Mapping[str, Sequence[GroundTruth]],
                       predictions: Mapping[str, Sequence[Prediction]], tiou_thresholds: np.ndarray,
                       diagnose_tiou: float, min_tiou: float, length_edges: Sequence[float]) -> DetectorSummary:
    """Everything the dataset view shows of one detector, from one class matching (see the module docstring)."""
    judged, ignored_videos, ignored_predictions = judged_predictions(ground_truth, predictions)
    count = len(tiou_thresholds)
    matched = match_classes(ground_truth, judged, np.append(tiou_thresholds, diagnose_tiou))
    rows = slice(0, count)
    result = result_from_matches(ground_truth, matched, tiou_thresholds, rows, ignored_videos=ignored_videos)
    diagnosis = diagnosis_from_matches(ground_truth, judged, matched, count, diagnose_tiou, min_tiou,
                                       ignored=ignored_predictions)
    video_index = {video: k for k, video in enumerate(ground_truth)}
    columns = {column: np.zeros(len(video_index), dtype=np.int64) for column in DETECTOR_COLUMNS if column != "ap"}
    columns["ap"] = video_average_precision(matched, rows, video_index)
    outcome_columns = {outcome: outcome.replace(" ", "_") for outcome in OUTCOMES}
    for item in diagnosis.predictions:
        k = video_index[item.video]
        columns[outcome_columns[item.outcome]][k] += 1
        columns["predictions"][k] += 1
    for video, _, _ in diagnosis.missed:
        columns["missed"][video_index[video]] += 1
    return DetectorSummary(name, result, diagnosis, length_sensitivity(ground_truth, matched, rows, length_edges),
                           columns, ignored_predictions)
