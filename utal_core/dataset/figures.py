"""Plotly figures of a dataset view (pure functions of it): the DETAD outcome breakdown, AP per class, the
sensitivity to instance length, and one video's timeline (its ground truth, corrected, and one row per detector).

Labels and ids in hover texts are HTML-escaped (they are untrusted text).
"""

from __future__ import annotations

import html
from typing import Sequence

import numpy as np
import plotly.graph_objects as go

from ..diagnose import OUTCOME_COLOURS, OUTCOMES, TRUE_POSITIVE
from ..edits import EditLayer
from .view import DatasetView

#: One colour per detector (the first, the second, ...), as in the HTML report.
DETECTOR_COLOURS = ("#1f78b4", "#e31a1c", "#33a02c", "#ff7f00")
#: Colours of a ground-truth bar by its correction status (as the Analyze tab's edits row).
STATUS_COLOURS = {"untouched": "#555555", "accepted": "#2ca02c", "edited": "#1f77b4", "added": "#9467bd",
                  "rejected": "#d9d9d9"}
MISSED_LABEL = "missed ground truth"


def _colour(k: int) -> str:
    return DETECTOR_COLOURS[k % len(DETECTOR_COLOURS)]


def _layout(figure: go.Figure, title: str, height: int) -> go.Figure:
    figure.update_layout(title=title, height=height, margin={"l": 50, "r": 10, "t": 40, "b": 40}, barmode="group",
                         legend={"orientation": "h", "y": -0.2}, template="plotly_white")
    return figure


def outcomes_figure(view: DatasetView) -> go.Figure:
    """The DETAD breakdown of every detector's predictions (errors only) and its missed instances, grouped bars."""
    names = [o for o in OUTCOMES if o != TRUE_POSITIVE] + [MISSED_LABEL]
    figure = go.Figure()
    for k, detector in enumerate(view.detectors):
        counts = detector.diagnosis.counts
        values = [counts[o] for o in OUTCOMES if o != TRUE_POSITIVE] + [len(detector.diagnosis.missed)]
        figure.add_bar(x=names, y=values, name=detector.name, marker_color=_colour(k))
    tiou = view.detectors[0].diagnosis.tiou
    return _layout(figure, f"False positives by cause and missed instances (DETAD, tIoU {tiou:g})", 320)


def class_ap_figure(view: DatasetView) -> go.Figure:
    """AP per class (mean over the tIoU thresholds, %), one bar per detector, the first detector's worst class first."""
    first = {label: float(ap.mean()) for label, ap in view.detectors[0].result.per_class_ap.items()}
    labels = sorted(first, key=lambda label: first[label])
    figure = go.Figure()
    for k, detector in enumerate(view.detectors):
        per_class = detector.result.per_class_ap
        values = [100 * float(per_class[label].mean()) if label in per_class else None for label in labels]
        figure.add_bar(x=[html.escape(label) for label in labels], y=values, name=detector.name,
                       marker_color=_colour(k))
    figure.update_yaxes(title="AP (%)")
    return _layout(figure, "AP per class (mean over the tIoU thresholds), worst first", 340)


def sensitivity_figure(view: DatasetView) -> go.Figure:
    """DETAD's average normalized mAP per instance-length bin, one bar per detector, each detector's overall value
    as a dashed line."""
    sensitivity = view.detectors[0].sensitivity
    bins = [f"{name} ({count})" for name, count in zip(sensitivity.names, sensitivity.instances)]
    figure = go.Figure()
    for k, detector in enumerate(view.detectors):
        values = [None if v is None else 100 * v for v in detector.sensitivity.average_map_n]
        figure.add_bar(x=bins, y=values, name=detector.name, marker_color=_colour(k))
        figure.add_hline(y=100 * detector.sensitivity.base, line_dash="dash", line_color=_colour(k))
    figure.update_yaxes(title="average mAP_N (%)")
    figure.update_xaxes(title="instance length (instances)")
    return _layout(figure, "Sensitivity to instance length (DETAD; dashed: all instances)", 320)


def _bars(figure: go.Figure, row: str, spans: Sequence[tuple[float, float]], colours: Sequence[str],
          hover: Sequence[str], outline: Sequence[str], name: str, legend: bool = False) -> None:
    figure.add_bar(y=[row] * len(spans), x=[end - start for start, end in spans], base=[start for start, _ in spans],
                   orientation="h", marker={"color": list(colours), "line": {"color": list(outline), "width": 2}},
                   hovertext=list(hover), hoverinfo="text", name=name, showlegend=legend, width=0.6)


def video_timeline(view: DatasetView, video: str, layer: EditLayer, selected: str | None = None,
                   height: int = 300) -> go.Figure:
    """``video``'s timeline: the corrected ground truth (``layer``, bars coloured by their correction status; the
    ``selected`` key outlined) on the top row, then one row per detector, its predictions coloured by their DETAD
    outcome; an instance a detector missed is marked with a cross on that detector's row."""
    figure = go.Figure()
    rows = ["ground truth", *(f"{k + 1}: {d.name}" for k, d in enumerate(view.detectors))]
    items = layer.segments()
    _bars(figure, rows[0], [(i.segment.start, i.segment.end) for i in items],
          [STATUS_COLOURS[i.status] for i in items],
          [f"{i.key}: {html.escape(i.segment.label or '')}<br>{i.segment.start:.2f}–{i.segment.end:.2f} s · {i.status}"
           for i in items],
          ["#d62728" if i.key == selected else "rgba(0,0,0,0)" for i in items], "ground truth")
    truth = view.ground_truth[video]
    for k, detector in enumerate(view.detectors):
        outcomes = view.outcomes(video, k)
        _bars(figure, rows[k + 1], [(o.start, o.end) for o in outcomes], [OUTCOME_COLOURS[o.outcome] for o in outcomes],
              [f"{html.escape(o.label)} · score {o.score:.2f}<br>{o.start:.2f}–{o.end:.2f} s<br>{o.outcome}"
               + (f" (tIoU {o.tiou:.2f})" if o.gt_index is not None else "") for o in outcomes],
              ["rgba(0,0,0,0)"] * len(outcomes), detector.name)
        missed = view.missed(video, k)
        figure.add_scatter(x=[(truth[j].start + truth[j].end) / 2 for j in missed], y=[rows[k + 1]] * len(missed),
                           mode="markers", marker={"symbol": "x", "size": 11, "color": "#000000"}, name=MISSED_LABEL,
                           hovertext=[f"missed: {html.escape(truth[j].label)} {truth[j].start:.2f}–{truth[j].end:.2f} s"
                                      for j in missed], hoverinfo="text", showlegend=k == 0 and bool(missed))
    for outcome in OUTCOMES:  # the legend of the outcome colours
        figure.add_bar(x=[None], y=[None], orientation="h", marker_color=OUTCOME_COLOURS[outcome], name=outcome)
    duration = view.durations.get(video, float("nan"))
    end = duration if np.isfinite(duration) else max((g.end for g in truth), default=1.0)
    figure.update_xaxes(range=[0, end], title="time (s)")
    figure.update_yaxes(categoryorder="array", categoryarray=list(reversed(rows)))
    figure.update_layout(barmode="overlay", height=height, margin={"l": 120, "r": 10, "t": 10, "b": 40},
                         legend={"orientation": "h", "y": -0.3}, template="plotly_white")
    return figure
