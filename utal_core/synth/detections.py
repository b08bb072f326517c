"""Detector results made from a ground-truth file by a documented error model, so every count is known.

:func:`plant_detections` gives every ground-truth instance one *fate*, exact counts drawn without replacement
(``round(fraction * instances)``, the instances picked by the seed):

- **missed** (``ErrorModel.missed``): no prediction at all;
- **shifted** (``ErrorModel.shifted``): only a prediction with its label whose boundaries are shifted so that its
  tIoU with the instance lies in ``[min_tiou + 0.05, tiou - 0.05]``: a DETAD *localization error*, and the
  instance is missed;
- **detected** (the rest): a prediction with its label and tIoU >= ``ErrorModel.tp_tiou`` with it: a *true positive*.

Then, each with its own probability per instance: a lower-scored **duplicate** of a detected instance (tIoU >= tiou +
0.05, same label: a *double detection*), a prediction over an instance with **another label** (tIoU >= tiou + 0.05: a
*wrong label*), a shifted prediction with another label (tIoU in the localization range: a *confusion*); and
``ErrorModel.background`` predictions per video placed where every ground truth's tIoU is below ``min_tiou`` (a
*background* error). ``ErrorModel.fill_to`` adds background predictions until each video has that many.

Every planted prediction is checked against *all* of its video's ground truth before it is kept (its highest-tIoU
instance is the one it was made from, or none for background; no instance of its own label other than its source
reaches ``tiou``), so the planted outcome is the one ``diagnose`` gives at ``tiou`` / ``min_tiou``: a candidate that
fails is redrawn (20 tries), then dropped. The counts returned are of what was kept, so with the same thresholds
``diagnose`` reproduces them exactly: true positives = detected, missed = missed + shifted, and one count per error
type. (At other tIoU thresholds only the detected instances are sure to match.)

:func:`synthetic_ground_truth` makes an ActivityNet- or THUMOS14-layout ground truth with the same kind of
instances, for tests without the real file and for the 5,000-video scale check. Run as a script:
``python -m utal_core.synth.detections GT.json OUT.json [--seed N] [--counts COUNTS.json]``.
"""

from __future__ import annotations

import argparse
import json
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..diagnose import (BACKGROUND, CONFUSION, DOUBLE_DETECTION, LOCALIZATION, OUTCOMES, TRUE_POSITIVE,
                        WRONG_LABEL)
from ..errors import UTALError
from ..evaluate import GroundTruth, Prediction, ground_truth_durations, load_ground_truth, segment_tiou
from ..export import atomic_write_text

#: The key of missed ground truth in the planted counts.
MISSED = "missed"
_TRIES = 20


@dataclass(frozen=True)
class ErrorModel:
    """The fractions and rates of :func:`plant_detections` (see the module docstring)."""

    missed: float = 0.1
    shifted: float = 0.15
    duplicate: float = 0.1
    wrong_label: float = 0.08
    confusion: float = 0.05
    background: int = 2
    fill_to: int | None = None
    #: Lowest tIoU of a detected instance's prediction with it (1.0: exact copies).
    tp_tiou: float = 0.97
    tiou: float = 0.5
    min_tiou: float = 0.1
    seed: int = 0


@dataclass
class PlantedDetections:
    """The predictions per video, and the planted outcome counts: overall and per video (every outcome and missed)."""

    predictions: dict[str, list[Prediction]]
    counts: dict[str, int]
    per_video: dict[str, dict[str, int]] = field(default_factory=dict)

    def results_json(self) -> dict:
        """ActivityNet results JSON."""
        return {"version": "utal-synth-detections", "external_data": {}, "results": {
            video: [{"segment": [round(p.start, 4), round(p.end, 4)], "score": round(p.score, 6), "label": p.label}
                    for p in items] for video, items in self.predictions.items()}}


def _shift(start: float, end: float, target_tiou: float, direction: float) -> tuple[float, float]:
    """``[start, end]`` moved by the amount that leaves ``target_tiou`` with itself (a shift by d of a length L keeps
    L - d of overlap over L + d of union)."""
    length = end - start
    d = direction * length * (1 - target_tiou) / (1 + target_tiou)
    return start + d, end + d


class _VideoPlanter:
    """Checks candidates against one video's ground truth."""

    def __init__(self, items: Sequence[GroundTruth], duration: float, model: ErrorModel, rng: np.random.Generator):
        self.items, self.duration, self.model, self.rng = items, duration, model, rng
        self.spans = np.array([(g.start, g.end) for g in items], dtype=np.float64).reshape(-1, 2)
        self.labels = [g.label for g in items]

    def _fits(self, start: float, end: float, label: str, source: int | None, low: float, high: float) -> bool:
        if start < 0 or end > self.duration or end - start <= 1e-3:
            return False
        if source is None:
            return not len(self.spans) or float(segment_tiou([start, end], self.spans).max()) < self.model.min_tiou
        overlaps = segment_tiou([start, end], self.spans)
        best = int(overlaps.argmax())
        if overlaps[best] < low or overlaps[best] >= high or overlaps[source] < overlaps[best]:
            return False
        same = (self.labels[best] == label) == (self.labels[source] == label)
        others = [j for j, other in enumerate(self.labels) if other == label and j != source]
        return same and all(overlaps[j] < self.model.tiou for j in others)

    def around(self, source: int, label: str, low: float, high: float) -> tuple[float, float] | None:
        """A segment near instance ``source`` whose tIoU with it is in [low, high), highest of the video's, or None."""
        gt = self.items[source]
        for _ in range(_TRIES):
            wanted = self.rng.uniform(low, min(high, 1.0))
            start, end = _shift(gt.start, gt.end, wanted, self.rng.choice((-1.0, 1.0)))
            if self._fits(start, end, label, source, low, high if high <= 1 else 1.0 + 1e-9):
                return start, end
        return None

    def background(self, count: int) -> list[tuple[float, float]]:
        """Up to ``count`` short segments whose tIoU with every instance is below ``min_tiou``."""
        placed: list[tuple[float, float]] = []
        for _ in range(_TRIES):
            missing = count - len(placed)
            if missing <= 0:
                break
            lengths = self.rng.uniform(0.5, max(1.0, 0.05 * self.duration), missing)
            lengths = np.minimum(lengths, 0.9 * self.duration)
            starts = self.rng.uniform(0, 1, missing) * (self.duration - lengths)
            candidates = np.stack([starts, starts + lengths], axis=1)
            if len(self.spans):
                keep = segment_tiou(candidates[:, None, :], self.spans).max(axis=1) < self.model.min_tiou
                candidates = candidates[keep]
            placed.extend((float(s), float(e)) for s, e in candidates[:missing])
        return placed


def plant_detections(ground_truth: Mapping[str, Sequence[GroundTruth]], durations: Mapping[str, float],
                     model: ErrorModel = ErrorModel()) -> PlantedDetections:
    """Detector results for ``ground_truth`` under ``model`` (see the module docstring), and their planted counts.

    ``durations`` gives each video's length (a video without one ends 10 s after its last instance).
    """
    if not 0 < model.min_tiou + 0.1 <= model.tiou <= 0.9 or not model.tiou < model.tp_tiou <= 1:
        raise UTALError("the error model needs 0 < min_tiou + 0.1 <= tiou <= 0.9 and tiou < tp_tiou <= 1")
    if model.missed + model.shifted > 1:
        raise UTALError("the missed and shifted fractions add up to more than 1")
    rng = np.random.default_rng(model.seed)
    classes = sorted({gt.label for items in ground_truth.values() for gt in items})
    instances = [(video, j) for video, items in ground_truth.items() for j in range(len(items))]
    order = rng.permutation(len(instances))
    num_missed, num_shifted = round(model.missed * len(instances)), round(model.shifted * len(instances))
    fate = {instances[i]: MISSED for i in order[:num_missed]}
    fate |= {instances[i]: LOCALIZATION for i in order[num_missed:num_missed + num_shifted]}

    predictions: dict[str, list[Prediction]] = {}
    per_video: dict[str, dict[str, int]] = {}
    low_shift, high_shift = model.min_tiou + 0.05, model.tiou - 0.05
    for video, items in ground_truth.items():
        duration = durations.get(video) or (max((g.end for g in items), default=0.0) + 10.0)
        planter = _VideoPlanter(items, duration, model, rng)
        counts = dict.fromkeys((*OUTCOMES, MISSED), 0)
        rows: list[tuple[float, float, float, str, str]] = []  # start, end, score, label, outcome

        def add(segment: tuple[float, float] | None, score: float, label: str, outcome: str) -> bool:
            if segment is None:
                return False
            rows.append((segment[0], segment[1], score, label, outcome))
            counts[outcome] += 1
            return True

        for j, gt in enumerate(items):
            others = [c for c in classes if c != gt.label]
            kind = fate.get((video, j), TRUE_POSITIVE)
            if kind == MISSED:
                counts[MISSED] += 1
            elif kind == LOCALIZATION:
                counts[MISSED] += 1
                add(planter.around(j, gt.label, low_shift, high_shift), rng.uniform(0.3, 0.9), gt.label, LOCALIZATION)
            else:
                tp_score = rng.uniform(0.5, 1.0)
                if not add(planter.around(j, gt.label, model.tp_tiou, 1.01), tp_score, gt.label, TRUE_POSITIVE):
                    counts[MISSED] += 1
                elif rng.random() < model.duplicate:
                    add(planter.around(j, gt.label, model.tiou + 0.05, 1.01), tp_score * rng.uniform(0.5, 0.99),
                        gt.label, DOUBLE_DETECTION)
            if others and rng.random() < model.wrong_label:
                label = str(rng.choice(others))
                add(planter.around(j, label, model.tiou + 0.05, 1.01), rng.uniform(0.2, 0.8), label, WRONG_LABEL)
            if others and rng.random() < model.confusion:
                label = str(rng.choice(others))
                add(planter.around(j, label, low_shift, high_shift), rng.uniform(0.1, 0.6), label, CONFUSION)
        background = model.background
        if model.fill_to is not None:
            background = max(background, model.fill_to - len(rows))
        for segment in planter.background(background):
            add(segment, rng.uniform(0.0, 0.5), str(rng.choice(classes)) if classes else "action", BACKGROUND)
        predictions[video] = [Prediction(s, e, score, label) for s, e, score, label, _ in rows]
        per_video[video] = counts
    totals = {key: sum(counts[key] for counts in per_video.values()) for key in (*OUTCOMES, MISSED)}
    return PlantedDetections(predictions, totals, per_video)


def synthetic_ground_truth(num_videos: int, num_classes: int, layout: str = "activitynet", seed: int = 0) -> dict:
    """A ground-truth JSON (as a dict) of ``num_videos`` videos: ``"activitynet"`` layout (``{"database": ...}``,
    ids ``v_`` + 11 characters, subset validation, 30-240 s videos with 1-3 long instances of one class) or
    ``"thumos14"`` layout (``{video_test_...: ...}``, subset test, 60-300 s videos with 2-12 short instances of one or
    two classes)."""
    if layout not in ("activitynet", "thumos14"):
        raise UTALError(f"unknown layout {layout!r} (activitynet or thumos14)")
    rng = np.random.default_rng(seed)
    classes = [f"class_{k:03d}" for k in range(num_classes)]
    alphabet = np.array(list("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-"))
    database: dict[str, dict] = {}
    for number in range(num_videos):
        if layout == "activitynet":
            video = "v_" + "".join(rng.choice(alphabet, 11))
            video = video if video not in database else f"{video}{number}"
            duration = float(rng.uniform(30, 240))
            count, video_classes = int(rng.integers(1, 4)), [str(rng.choice(classes))]
            lengths = rng.uniform(0.1, 0.3, count) * duration
        else:
            video = f"video_test_{number:07d}"
            duration = float(rng.uniform(60, 300))
            count = int(rng.integers(2, 13))
            video_classes = [str(c) for c in rng.choice(classes, min(len(classes), int(rng.integers(1, 3))), replace=False)]
            lengths = rng.uniform(2, 10, count)
        # Instances in order with gaps: the free time split at random between them.
        gaps = rng.dirichlet(np.ones(count + 1)) * max(duration - lengths.sum(), 0.0)
        starts = np.cumsum(np.concatenate([[0.0], lengths[:-1]])) + np.cumsum(gaps[:-1])
        annotations = [{"segment": [round(float(s), 2), round(float(s + length), 2)],
                        "label": video_classes[int(rng.integers(len(video_classes)))]}
                       for s, length in zip(starts, lengths)]
        database[video] = {"subset": "validation" if layout == "activitynet" else "test",
                           "duration": round(duration, 2), "annotations": annotations}
    return {"version": "utal-synth", "database": database} if layout == "activitynet" else database


def write_results(path: str | Path, planted: PlantedDetections) -> Path:
    """Write ``planted`` as an ActivityNet results JSON (compact, atomically)."""
    return atomic_write_text(path, json.dumps(planted.results_json(), separators=(",", ":")))


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m utal_core.synth.detections GT.json OUT.json``: planted results of a ground-truth file."""
    parser = argparse.ArgumentParser(prog="python -m utal_core.synth.detections", description=main.__doc__)
    parser.add_argument("ground_truth")
    parser.add_argument("out")
    parser.add_argument("--subset", default=None)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--background", type=int, default=ErrorModel.background)
    parser.add_argument("--fill-to", type=int, default=None)
    parser.add_argument("--counts", metavar="JSON", help="also write the planted counts here")
    args = parser.parse_args(argv)
    try:
        ground_truth = load_ground_truth(args.ground_truth, args.subset)
        planted = plant_detections(ground_truth, ground_truth_durations(args.ground_truth),
                                   ErrorModel(seed=args.seed, background=args.background, fill_to=args.fill_to))
    except UTALError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    write_results(args.out, planted)
    if args.counts:
        atomic_write_text(args.counts, json.dumps({"counts": planted.counts, "per_video": planted.per_video}, indent=1))
    print(json.dumps(planted.counts))
    return 0


if __name__ == "__main__":
    sys.exit(main())
