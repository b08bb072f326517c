"""Plotly figures of a dataset view (pure functions of it): the DETAD outcome breakdown, AP per class, the
sensitivity to instance length (one video is drawn by the app's timeline: ``utal_core.viz``).

Labels and ids in hover texts are HTML-escaped (they are untrusted text).
"""

from __future__ import annotations

import html

import plotly.graph_objects as go

from ..diagnose import OUTCOMES, TRUE_POSITIVE
from .view import DatasetView

#: One colour per detector (the first, the second, ...), as in the HTML report.
DETECTOR_COLOURS = ("#1f78b4", "#e31a1c", "#33a02c", "#ff7f00")
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
