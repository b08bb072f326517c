"""Error analysis of a detector against ground truth: which prediction matched what, and why the others failed.

The false-positive breakdown follows DETAD (Alwassel, Caba Heilbron, Escorcia and Ghanem, "Diagnosing
Error in Temporal Action Detectors", ECCV 2018; the reference code is
``HumamAlwassel/DETAD``, ``src/action_detector_diagnosis.py``, ``analyze_fp_error_types``). At one
tIoU threshold ``t``:

- a prediction is a **true positive** when the ActivityNet matching (per class, by decreasing score,
  the still-unmatched ground truth of highest tIoU in its video, tIoU >= ``t``) gives it a ground
  truth: the same matching as ``eval`` (:func:`~utal_core.evaluate.match_classes`);
- every other prediction is compared with *all* ground truth of its video, whatever the label, and
  takes the one of highest tIoU (the first one on ties):

  ============================  =====================  ===================
  highest tIoU                  same label             another label
  ============================  =====================  ===================
  >= ``t``                      double detection       wrong label
  in [``min_tiou``, ``t``)      localization error     confusion
  < ``min_tiou`` or no GT       background             background
  ============================  =====================  ===================

  (a "double detection" reached the threshold on a ground truth already taken by a higher-scored
  prediction). DETAD's ``min_tiou_thr`` is 0.1, the default here.

Two choices differ from the DETAD plots and are said here so the numbers can be compared: every
prediction is analysed (DETAD's profile keeps the top ``10 * G`` per class, ``G`` the number of
ground-truth instances of the class: pass ``limit_factor=10`` to do the same), and predictions on
videos absent from the ground truth are left out and counted in ``ignored_predictions``, as in
``eval`` (DETAD calls them background). Missed ground truth is every instance no prediction matched.
Boundary offsets (prediction minus ground truth, seconds: a positive start offset starts late) are
taken over the predictions that found the right action, the true positives and the localization
errors, against the ground truth they were judged on.
"""

from __future__ import annotations

import html
from collections import Counter
from dataclasses import asdict, dataclass, field
from typing import Callable, Mapping, Sequence

import numpy as np

from .errors import UTALError
from .evaluate import (ClassMatches, GroundTruth, Prediction, judged_predictions, label_function, match_classes,
                       segment_tiou)

TRUE_POSITIVE = "true positive"
DOUBLE_DETECTION = "double detection"
WRONG_LABEL = "wrong label"
LOCALIZATION = "localization error"
CONFUSION = "confusion"
BACKGROUND = "background"
#: Every kind of outcome, in DETAD's order.
OUTCOMES: tuple[str, ...] = (TRUE_POSITIVE, DOUBLE_DETECTION, WRONG_LABEL, LOCALIZATION, CONFUSION, BACKGROUND)
#: DETAD's lowest tIoU at which a prediction still counts as touching a ground truth.
DETAD_MIN_TIOU = 0.1
#: Bins of each offset histogram.
HISTOGRAM_BINS = 20


@dataclass(frozen=True)
class PredictionOutcome:
    """One prediction, what it was judged against, and the verdict.

    ``gt_index`` indexes the video's ground-truth list (None when no ground truth overlaps it);
    ``tiou`` is the tIoU with that ground truth; the offsets are prediction minus ground truth in seconds.
    """

    video: str
    start: float
    end: float
    score: float
    label: str
    outcome: str
    gt_index: int | None
    gt_start: float | None
    gt_end: float | None
    gt_label: str | None
    tiou: float

    @property
    def start_offset(self) -> float | None:
        return None if self.gt_start is None else self.start - self.gt_start

    @property
    def end_offset(self) -> float | None:
        return None if self.gt_end is None else self.end - self.gt_end

    def to_dict(self) -> dict:
        return asdict(self) | {"start_offset": self.start_offset, "end_offset": self.end_offset}


@dataclass(frozen=True)
class Histogram:
    """Counts over equal bins; ``edges`` has one more entry than ``counts``."""

    edges: list[float]
    counts: list[int]


@dataclass
class Diagnosis:
    """The outcome of every prediction, the missed ground truth and the boundary offsets, at one tIoU."""

    tiou: float
    min_tiou: float
    class_agnostic: bool
    predictions: list[PredictionOutcome]
    missed: list[tuple[str, int, GroundTruth]]
    num_ground_truth: int
    ignored_predictions: int = 0
    start_offsets: Histogram = field(default_factory=lambda: Histogram([], []))
    end_offsets: Histogram = field(default_factory=lambda: Histogram([], []))

    @property
    def counts(self) -> dict[str, int]:
        """Number of predictions of each outcome, every outcome listed."""
        counts = dict.fromkeys(OUTCOMES, 0)
        for item in self.predictions:
            counts[item.outcome] += 1
        return counts

    def to_dict(self) -> dict:
        """Plain JSON-ready form."""
        return {
            "tiou": self.tiou, "min_tiou": self.min_tiou, "class_agnostic": self.class_agnostic,
            "num_ground_truth": self.num_ground_truth, "num_predictions": len(self.predictions),
            "ignored_predictions": self.ignored_predictions, "counts": self.counts,
            "missed": [{"video": video, "gt_index": index, "start": gt.start, "end": gt.end, "label": gt.label}
                       for video, index, gt in self.missed],
            "start_offsets": asdict(self.start_offsets), "end_offsets": asdict(self.end_offsets),
            "predictions": [item.to_dict() for item in self.predictions],
        }


def limit_per_class(ground_truth: Mapping[str, Sequence[GroundTruth]], predictions: Mapping[str, Sequence[Prediction]],
                    factor: int, label_of: Callable[[GroundTruth | Prediction], str] = lambda item: item.label,
                    ) -> dict[str, list[Prediction]]:
    """Only the ``factor * G`` highest-scored predictions of each class (DETAD's ``limit_factor``), ``G`` the
    class's number of ground-truth instances, in their input order; a class absent from the ground truth keeps none."""
    instances = Counter(label_of(gt) for items in ground_truth.values() for gt in items)
    ranked = sorted(((p.score, video, i) for video, items in predictions.items() for i, p in enumerate(items)),
                    key=lambda row: -row[0])
    taken: Counter[str] = Counter()
    kept: set[tuple[str, int]] = set()
    for _, video, i in ranked:
        label = label_of(predictions[video][i])
        if taken[label] < factor * instances[label]:
            taken[label] += 1
            kept.add((video, i))
    return {video: [p for i, p in enumerate(items) if (video, i) in kept] for video, items in predictions.items()}


def offset_histogram(values: Sequence[float], bins: int = HISTOGRAM_BINS) -> Histogram:
    """Histogram of offsets on a range symmetric about 0 (so "early" and "late" read alike)."""
    values = np.asarray(values, dtype=np.float64)
    reach = float(np.max(np.abs(values))) if len(values) else 0.0
    reach = reach if reach > 0 else 1.0
    counts, edges = np.histogram(values, bins=bins, range=(-reach, reach))
    return Histogram([round(float(e), 6) for e in edges], [int(c) for c in counts])


def _judge_video(items: Sequence[Prediction], matched: np.ndarray, spans: np.ndarray, labels: np.ndarray,
                 tiou: float, min_tiou: float, label_of: Callable[[GroundTruth | Prediction], str],
                 chunk: int = 4096) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """(outcome index in :data:`OUTCOMES`, gt index or -1, tIoU) of each prediction of one video: a true positive on
    the ground truth the matching gave it (``matched``, -1: none), else DETAD's verdict against the video's ground
    truth of highest tIoU (``spans`` [G, 2], the first one on ties). The tIoUs are computed a chunk of predictions at
    a time, against all of the video's ground truth."""
    codes = np.full(len(items), OUTCOMES.index(BACKGROUND), dtype=np.int64)
    gt_index = np.full(len(items), -1, dtype=np.int64)
    overlap = np.zeros(len(items))
    if not len(spans):
        return codes, gt_index, overlap
    for first in range(0, len(items), chunk):
        part = items[first:first + chunk]
        bounds = np.array([(p.start, p.end) for p in part], dtype=np.float64).reshape(-1, 1, 2)
        overlaps = segment_tiou(bounds, spans)
        rows = np.arange(len(part))
        best = overlaps.argmax(axis=1)
        top = overlaps[rows, best]
        same_label = labels[best] == np.array([label_of(p) for p in part], dtype=object)
        verdict = np.where(top >= tiou, np.where(same_label, OUTCOMES.index(DOUBLE_DETECTION), OUTCOMES.index(WRONG_LABEL)),
                           np.where(top >= min_tiou, np.where(same_label, OUTCOMES.index(LOCALIZATION),
                                                              OUTCOMES.index(CONFUSION)), OUTCOMES.index(BACKGROUND)))
        index = np.where(top > 0, best, -1)
        hit = matched[first:first + len(part)]
        positive = hit >= 0
        verdict[positive] = OUTCOMES.index(TRUE_POSITIVE)
        index[positive] = hit[positive]
        top[positive] = overlaps[rows[positive], hit[positive]]
        part_rows = slice(first, first + len(part))
        codes[part_rows], gt_index[part_rows], overlap[part_rows] = verdict, index, top
    return codes, gt_index, overlap


def check_diagnose_thresholds(tiou: float, min_tiou: float) -> None:
    """A plain error unless 0 < ``tiou`` <= 1 and 0 <= ``min_tiou`` <= ``tiou``."""
    if not 0 < tiou <= 1:
        raise UTALError(f"the tIoU threshold must be in (0, 1], not {tiou:g}")
    if not 0 <= min_tiou <= tiou:
        raise UTALError(f"the lowest tIoU must be in [0, {tiou:g}], not {min_tiou:g}")


def diagnose_detection(
    ground_truth: Mapping[str, Sequence[GroundTruth]],
    predictions: Mapping[str, Sequence[Prediction]],
    tiou: float = 0.5,
    min_tiou: float = DETAD_MIN_TIOU,
    class_agnostic: bool = False,
    limit_factor: int | None = None,
) -> Diagnosis:
    """DETAD false-positive analysis of ``predictions`` at ``tiou`` (see the module docstring for the rules).

    Prediction video ids may carry or drop the ActivityNet ``v_`` prefix; ``class_agnostic`` collapses
    every label into one; ``limit_factor`` keeps DETAD's top ``limit_factor * G`` predictions per class.
    """
    check_diagnose_thresholds(tiou, min_tiou)
    if limit_factor is not None and limit_factor < 1:
        raise UTALError(f"the limit factor must be a positive whole number, not {limit_factor}")
    judged, _, ignored = judged_predictions(ground_truth, predictions)
    label_of = label_function(class_agnostic)
    if limit_factor is not None:
        judged = limit_per_class(ground_truth, judged, limit_factor, label_of)
    matched = match_classes(ground_truth, judged, [tiou], label_of)
    return diagnosis_from_matches(ground_truth, judged, matched, 0, tiou, min_tiou, class_agnostic, ignored)


def diagnosis_from_matches(
    ground_truth: Mapping[str, Sequence[GroundTruth]],
    judged: Mapping[str, Sequence[Prediction]],
    matched: Mapping[str, ClassMatches],
    row: int,
    tiou: float,
    min_tiou: float = DETAD_MIN_TIOU,
    class_agnostic: bool = False,
    ignored: int = 0,
) -> Diagnosis:
    """The :class:`Diagnosis` of ``judged`` (predictions on ground-truth videos only, with its ids) given the eval
    matching ``matched`` (:func:`~utal_core.evaluate.match_classes`), whose threshold ``row`` is ``tiou``."""
    label_of = label_function(class_agnostic)
    matched_of: dict[str, np.ndarray] = {}
    for class_matches in matched.values():
        for p in np.flatnonzero(class_matches.matches[row] >= 0):
            video = class_matches.video_names[class_matches.member_video[p]]
            into = matched_of.setdefault(video, np.full(len(judged[video]), -1, dtype=np.int64))
            into[class_matches.member_item[p]] = class_matches.matches[row, p]

    outcomes: list[PredictionOutcome] = []
    for video, items in judged.items():
        video_gt = ground_truth[video]
        spans = np.array([(g.start, g.end) for g in video_gt], dtype=np.float64).reshape(-1, 2)
        labels = np.array([label_of(g) for g in video_gt], dtype=object)
        hits = matched_of.get(video)
        hits = np.full(len(items), -1, dtype=np.int64) if hits is None else hits
        codes, gt_index, overlap = _judge_video(items, hits, spans, labels, tiou, min_tiou, label_of)
        for prediction, code, index, tiou_with in zip(items, codes.tolist(), gt_index.tolist(), overlap.tolist()):
            gt = video_gt[index] if index >= 0 else None
            outcomes.append(PredictionOutcome(
                video, prediction.start, prediction.end, prediction.score, prediction.label, OUTCOMES[code],
                index if gt else None, gt.start if gt else None, gt.end if gt else None, gt.label if gt else None,
                round(tiou_with, 6)))

    taken = {(video, int(j)) for video, hits in matched_of.items() for j in hits[hits >= 0]}
    missed = [(video, j, gt) for video, items in ground_truth.items() for j, gt in enumerate(items) if (video, j) not in taken]
    located = [item for item in outcomes if item.outcome in (TRUE_POSITIVE, LOCALIZATION)]
    return Diagnosis(
        tiou=tiou, min_tiou=min_tiou, class_agnostic=class_agnostic, predictions=outcomes, missed=missed,
        num_ground_truth=sum(len(items) for items in ground_truth.values()), ignored_predictions=ignored,
        start_offsets=offset_histogram([item.start_offset for item in located]),
        end_offsets=offset_histogram([item.end_offset for item in located]),
    )


# ---------------------------------------------------------------------------------------------
# Self-contained HTML report (inline SVG, no script, nothing fetched)

#: Colours of the outcomes, DETAD's palette.
OUTCOME_COLOURS = dict(zip(OUTCOMES, ("#33a02c", "#b2df8a", "#1f78b4", "#fb9a99", "#e31a1c", "#a6cee3")))
#: Most prediction rows the HTML table shows (the highest-scored); the JSON always holds all of them.
HTML_MAX_ROWS = 2000


def histogram_svg(title: str, histogram: Histogram, width: int = 420, height: int = 180) -> str:
    """One bar per bin, the x axis labelled at its ends and at 0, in seconds."""
    counts = histogram.counts or [0]
    top = max(max(counts), 1)
    bar = (width - 40) / len(counts)
    bars = "".join(
        f'<rect x="{30 + i * bar:.1f}" y="{height - 30 - (height - 50) * c / top:.1f}" width="{max(bar - 1, 1):.1f}" '
        f'height="{(height - 50) * c / top:.1f}" fill="#1f78b4"><title>{c}</title></rect>' for i, c in enumerate(counts))
    low, high = (histogram.edges[0], histogram.edges[-1]) if histogram.edges else (-1.0, 1.0)
    axis = (f'<line x1="30" y1="{height - 30}" x2="{width - 10}" y2="{height - 30}" stroke="#444"/>'
            f'<text x="30" y="{height - 12}" font-size="11">{low:.2f} s</text>'
            f'<text x="{width / 2 + 10:.0f}" y="{height - 12}" font-size="11" text-anchor="middle">0</text>'
            f'<text x="{width - 10}" y="{height - 12}" font-size="11" text-anchor="end">{high:.2f} s</text>'
            f'<text x="30" y="16" font-size="13">{html.escape(title)} (max {top})</text>')
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">{bars}{axis}</svg>'


def breakdown_svg(counts: Mapping[str, int], width: int = 640, height: int = 40) -> str:
    """One stacked bar of the outcome shares."""
    total = max(sum(counts.values()), 1)
    x, parts = 0.0, []
    for outcome, count in counts.items():
        share = width * count / total
        parts.append(f'<rect x="{x:.1f}" y="0" width="{share:.1f}" height="{height}" fill="{OUTCOME_COLOURS[outcome]}">'
                     f'<title>{outcome}: {count}</title></rect>')
        x += share
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">{"".join(parts)}</svg>'


def html_cell(value: object) -> str:
    if value is None:
        return "<td></td>"
    return f"<td>{value:.3f}</td>" if isinstance(value, float) else f"<td>{html.escape(str(value))}</td>"


def report_html(diagnosis: Diagnosis, title: str = "Detection error analysis", max_rows: int = HTML_MAX_ROWS) -> str:
    """The diagnosis as one HTML page that needs nothing else: summary, breakdown bar, offset histograms,
    the highest-scored ``max_rows`` predictions with their verdicts, and the missed ground truth."""
    counts = diagnosis.counts
    total = max(len(diagnosis.predictions), 1)
    summary = "".join(
        f'<tr><td><span style="background:{OUTCOME_COLOURS[o]}">&emsp;</span> {o}</td><td>{n}</td>'
        f"<td>{100 * n / total:.1f}%</td></tr>" for o, n in counts.items())
    ranked = sorted(diagnosis.predictions, key=lambda item: -item.score)[:max_rows]
    columns = ("video", "start", "end", "score", "label", "outcome", "gt_index", "gt_label", "tiou", "start_offset", "end_offset")
    rows = "".join("<tr>" + "".join(html_cell(getattr(item, c)) for c in columns) + "</tr>" for item in ranked)
    missed = "".join(f"<tr>{html_cell(v)}{html_cell(j)}{html_cell(g.start)}{html_cell(g.end)}{html_cell(g.label)}</tr>"
                     for v, j, g in diagnosis.missed)
    shown = (f"the {len(ranked)} highest-scored of {len(diagnosis.predictions)}"
             if len(ranked) < len(diagnosis.predictions) else f"all {len(ranked)}")
    mode = "class-agnostic" if diagnosis.class_agnostic else "class-wise"
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<p>tIoU {diagnosis.tiou:g} ({mode}; below {diagnosis.min_tiou:g} a prediction is background), {diagnosis.num_ground_truth}
ground-truth instances, {len(diagnosis.predictions)} predictions, {len(diagnosis.missed)} ground truth missed,
{diagnosis.ignored_predictions} predictions on videos without ground truth left out. Outcomes as in DETAD (Alwassel et al., ECCV 2018).</p>
{breakdown_svg(counts)}
<table><tr><th>outcome</th><th>predictions</th><th>share</th></tr>{summary}</table>
<h2>Boundary offsets (prediction minus ground truth; true positives and localization errors)</h2>
{histogram_svg("start offset", diagnosis.start_offsets)} {histogram_svg("end offset", diagnosis.end_offsets)}
<h2>Predictions ({shown})</h2>
<table><tr>{"".join(f"<th>{c}</th>" for c in columns)}</tr>{rows}</table>
<h2>Missed ground truth</h2>
<table><tr><th>video</th><th>gt_index</th><th>start</th><th>end</th><th>label</th></tr>{missed}</table>
</body></html>
"""
