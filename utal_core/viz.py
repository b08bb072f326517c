"""Plotly figures, table rows and thumbnails for an analysis: pure functions of an ``Analysis``.

The timeline keeps its trace count small so that an update after a slider move is cheap: one
line per actionness curve, one bar trace per pseudo-action cluster (each segment a bar spanning
its start..end, so hover shows that segment), one bar trace for the ground truth in a row of its
own, and the threshold as a layout shape. A view the video lacks gets an empty legend entry that
says why, plus a note above the plot.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .edits import EditLayer
from .evaluate import DetectionResult, GroundTruth, GroundTruthByVideo
from .export import atomic_write_bytes, cue_numbers, segment_label
from .media import thumbnail_jpeg
from .types import Segment

if TYPE_CHECKING:
    from .pipeline import Analysis

#: Curve key -> (legend name, colour), in drawing order. A view's curve is that view's own evidence
#: (model/evidence.py); "bridge" is the label bridge's text prior, the offline stand-in for CLIP's, drawn
#: only when present; "fused" is the CLIP-AE model's output.
CURVE_STYLES: dict[str, tuple[str, str]] = {
    "cbp": ("visual (CBP) evidence", "#1f77b4"),
    "motion": ("motion evidence", "#ff7f0e"),
    "clip": ("CLIP-text prior", "#9467bd"),
    "bridge": ("label-bridge text prior (no CLIP)", "#c5b0d5"),
    "audio": ("audio evidence", "#2ca02c"),
    "fused": ("fused (CLIP-AE model)", "#111111"),
}
#: Curves that are stand-ins: left out of the legend when absent instead of shown as a missing view.
OPTIONAL_CURVES: frozenset[str] = frozenset({"bridge"})
#: Colours of clusters 0, 1, ... (cycled); -1 (unclustered) is grey.
CLUSTER_COLOURS: tuple[str, ...] = (
    "#e6550d", "#3182bd", "#31a354", "#756bb1", "#d6616b", "#8c6d31", "#e7ba52", "#17becf", "#7b4173", "#637939",
)
UNCLUSTERED_COLOUR = "#7f7f7f"
GROUND_TRUTH_COLOUR = "#444444"
#: Columns of :func:`segment_rows`.
SEGMENT_COLUMNS: tuple[str, ...] = ("#", "start (s)", "end (s)", "duration (s)", "score", "cluster", "name")
#: Columns of :func:`cluster_rows`.
CLUSTER_COLUMNS: tuple[str, ...] = ("cluster", "name", "segments", "name score", "runner-ups", "named by")
THUMBNAIL_WIDTH = 192
#: The edits row: colour of each status (a rejected segment is also struck through with a cross pattern).
EDIT_COLOURS: dict[str, str] = {"accepted": "#2ca02c", "edited": "#1f77b4", "added": "#9467bd",
                                "rejected": "#9e9e9e", "untouched": "#ffffff"}


def cluster_colour(cluster: int) -> str:
    """The colour of a cluster's bands, table marks and thumbnails."""
    return UNCLUSTERED_COLOUR if cluster < 0 else CLUSTER_COLOURS[cluster % len(CLUSTER_COLOURS)]


def cluster_names(analysis: "Analysis") -> dict[int, str]:
    """Cluster id -> display name (``"2: waving"``), including ``-1`` for unclustered segments."""
    names = {info.id: f"{info.id}: {info.name}" for info in analysis.clusters}
    names[-1] = "unclustered"
    return names


def visible_segments(analysis: "Analysis", cluster: int | None = None) -> list[tuple[int, Segment]]:
    """``(index in analysis.segments, segment)`` in time order, restricted to ``cluster`` when given."""
    indexed = [(i, s) for i, s in enumerate(analysis.segments) if cluster is None or s.cluster == cluster]
    return sorted(indexed, key=lambda item: (item[1].start, item[1].end))


def segment_rows(analysis: "Analysis", cluster: int | None = None) -> list[list]:
    """Table rows (see ``SEGMENT_COLUMNS``) of the visible segments, in time order; ``#`` is the
    segment's subtitle cue number (:func:`utal_core.export.cue_numbers`)."""
    names, numbers = cluster_names(analysis), cue_numbers(analysis.segments)
    return [[numbers.get(index, ""), round(s.start, 2), round(s.end, 2), round(s.duration, 2), round(s.score, 3),
             names.get(s.cluster, str(s.cluster)), segment_label(s)]
            for index, s in visible_segments(analysis, cluster)]


def cluster_rows(analysis: "Analysis") -> list[list]:
    """Table rows (see ``CLUSTER_COLUMNS``), one per cluster."""
    return [[c.id, c.name, c.size, round(c.name_score, 3), runner_ups(c.alternatives), c.named_by]
            for c in analysis.clusters]


def runner_ups(alternatives: Sequence[tuple[str, float]]) -> str:
    """Runner-up names with their scores, ``"clapping 0.41, dancing 0.40"``."""
    return ", ".join(f"{name} {score:.2f}" for name, score in alternatives)


def _segment_hover_labels(analysis: "Analysis") -> np.ndarray:
    """Per snippet: the name of the cluster of the best segment covering it, else an empty string."""
    times = analysis.grid.times
    labels = np.full(len(times), "", dtype=object)
    names = cluster_names(analysis)
    for segment in sorted(analysis.segments, key=lambda s: s.score):
        inside = (times >= segment.start) & (times <= segment.end)
        labels[inside] = f"segment: {names.get(segment.cluster, segment.cluster)} ({segment.score:.2f})"
    return labels


def _curve_traces(analysis: "Analysis", figure: go.Figure) -> list[str]:
    """Add one line per present curve and an empty legend entry per absent one; returns absence notes."""
    times = analysis.grid.times
    hover_labels = _segment_hover_labels(analysis)
    notes = []
    for key, (name, colour) in CURVE_STYLES.items():
        curve = analysis.curves.get(key)
        if key == "clip" and analysis.config.get("clip_weights", {}).get("verified") is False:
            name = f"{name} (unverified weights)"
        if curve is None and key in OPTIONAL_CURVES:
            continue
        if curve is None:
            reason = analysis.absent.get(key, "not computed")
            notes.append(f"{name}: {reason if len(reason) <= 90 else reason[:89] + '…'}")
            figure.add_trace(go.Scatter(x=[None], y=[None], mode="lines", name=f"{name} — absent",
                                        line={"color": colour, "dash": "dot"}, hoverinfo="skip",
                                        legendgroup="curves", meta={"absent": key, "reason": reason}), row=1, col=1)
            continue
        is_fused = key == "fused"
        figure.add_trace(go.Scatter(
            x=times.tolist(), y=np.asarray(curve, dtype=np.float64).tolist(), mode="lines", name=name,
            line={"color": colour, "width": 3 if is_fused else 1.5}, legendgroup="curves",
            customdata=hover_labels if is_fused else None,
            hovertemplate=f"{name}: %{{y:.3f}}" + ("<br>%{customdata}" if is_fused else "") + "<extra></extra>",
            meta={"curve": key}), row=1, col=1)
    return notes


@dataclass(frozen=True)
class BandRow:
    """A row of bars under the timeline's curves (e.g. another detector's predictions): one bar per span,
    its hover text, one colour for all or one per bar, and the trace's ``meta``."""

    name: str
    spans: Sequence[tuple[float, float]]
    hover: Sequence[str]
    colour: str | Sequence[str]
    meta: dict


def _band(spans: Sequence[tuple[float, float]], height: float, name: str, colour: str | Sequence[str],
          hover: Sequence[str], meta: dict, visible: bool | str = True) -> dict:
    """One bar per ``(start, end)`` span, from 0 to ``height``, as a single bar trace (plain JSON data)."""
    starts = np.array([s for s, _ in spans], dtype=np.float64)
    ends = np.array([e for _, e in spans], dtype=np.float64)
    return {"type": "bar", "x": ((starts + ends) / 2).tolist(), "y": [height] * len(spans),
            "width": (ends - starts).tolist(), "base": 0.0, "name": name,
            "marker": {"color": colour if isinstance(colour, str) else list(colour), "line": {"width": 0}},
            "opacity": 0.3, "customdata": list(hover), "hovertemplate": "%{customdata}<extra></extra>", "meta": meta,
            "visible": visible}


def _segment_bands(analysis: "Analysis", height: float, selected_cluster: int | None) -> list[dict]:
    """One bar trace per cluster (``selected_cluster`` alone visible when given)."""
    names = cluster_names(analysis)
    by_cluster: dict[int, list[Segment]] = {}
    for segment in analysis.segments:
        by_cluster.setdefault(segment.cluster, []).append(segment)
    bands = []
    for cluster, segments in sorted(by_cluster.items()):
        hover = [f"{names.get(cluster, cluster)}<br>{s.start:.2f}–{s.end:.2f} s<br>score {s.score:.3f}"
                 for s in segments]
        visible = True if selected_cluster is None or cluster == selected_cluster else "legendonly"
        bands.append(_band([(s.start, s.end) for s in segments], height, names.get(cluster, str(cluster)),
                           cluster_colour(cluster), hover, {"segments": cluster}, visible))
    return bands


def edits_row(layer: EditLayer | None, selected: str | None = None) -> dict:
    """The edits row's bars as plain lists: every reviewed, edited or added segment of ``layer`` (and the
    ``selected`` one, outlined): ``keys``, ``x`` (middles), ``width``, ``color``, ``pattern``, ``line``, ``hover``;
    and ``selected``, the ``frame`` length and the ``duration``, with which the app's inspector draws a nudge
    before the server has answered. The timeline draws it; the inspector restyles the row with it after each
    edit (no full redraw)."""
    items = [item for item in (layer.segments() if layer is not None else [])
             if item.status != "untouched" or item.key == selected]
    raw = {f"r{i}": s for i, s in enumerate(layer.raw)} if layer is not None else {}

    def hover(key: str, status: str, segment: Segment) -> str:
        text = f"{status} {key}: {segment.start:.3f}–{segment.end:.3f} s, {segment_label(segment)}"
        before = raw.get(key)
        if status == "edited" and before is not None and (before.start, before.end) != (segment.start, segment.end):
            text += f"<br>model: {before.start:.3f}–{before.end:.3f} s"
        return text

    return {"keys": [i.key for i in items],
            "x": [round((i.segment.start + i.segment.end) / 2, 6) for i in items],
            "width": [round(i.segment.end - i.segment.start, 6) for i in items],
            "color": [EDIT_COLOURS[i.status] for i in items],
            "pattern": ["x" if i.status == "rejected" else "" for i in items],
            "line": [3 if i.key == selected else 0 for i in items],
            "hover": [hover(i.key, i.status, i.segment) for i in items], "selected": selected,
            "frame": layer.frame_s if layer is not None else None,
            "duration": layer.duration if layer is not None else None}


def _edits_bar(layer: EditLayer | None) -> dict:
    """The edits row's bar trace (plain JSON data, without its axes)."""
    row = edits_row(layer)
    return {"type": "bar", "x": row["x"], "y": [1.0] * len(row["x"]), "width": row["width"], "base": 0.0,
            "name": "edits", "marker": {"color": row["color"], "pattern": {"shape": row["pattern"], "fgcolor": "#555"},
                                        "line": {"width": row["line"], "color": "#111"}},
            "opacity": 0.75, "customdata": row["hover"], "hovertemplate": "%{customdata}<extra></extra>",
            "meta": {"edits": True}, "showlegend": False}


def _threshold_marks(analysis: "Analysis") -> tuple[dict, dict]:
    """The threshold's line (one threshold) or band (a sweep) on the curves' axes, and its label."""
    thresholds = analysis.params.thresholds
    low, high = min(thresholds), max(thresholds)
    if len(thresholds) == 1:
        shape = {"type": "line", "y0": low, "y1": low, "line": {"color": "#d62728", "dash": "dash", "width": 1.5}}
        text, anchor = f"threshold {low:.2f}", "bottom"
    else:
        shape = {"type": "rect", "y0": low, "y1": high, "fillcolor": "#d62728", "opacity": 0.05, "line": {"width": 0}}
        text, anchor = f"threshold sweep {low:.2f}–{high:.2f}", "top"
    label = {"text": text, "showarrow": False, "x": 0, "xanchor": "left", "xref": "x domain", "y": high,
             "yanchor": anchor, "yref": "y"}
    return shape | {"x0": 0, "x1": 1, "xref": "x domain", "yref": "y"}, label


def timeline_base(analysis: "Analysis", ground_truth: Sequence[GroundTruth] | None = None, height: int = 420,
                  extra_rows: Sequence[BandRow] = ()) -> dict:
    """What no re-segmentation of ``analysis`` changes in its timeline (see :func:`timeline_figure`): the curves,
    the rows under them, the axes and the layout, as plain JSON data. Built with Plotly (slow: keep it per
    analysis); :func:`timeline_json` adds the segments."""
    with_truth = ground_truth is not None
    rows = [*([BandRow("ground truth", [(g.start, g.end) for g in ground_truth],
                       [f"ground truth: {g.label}<br>{g.start:.2f}–{g.end:.2f} s" for g in ground_truth],
                       GROUND_TRUTH_COLOUR, {"ground_truth": True})] if with_truth else []), *extra_rows]
    band_share = 0.14 if len(rows) == 0 else 0.12
    bands = len(rows) + 1  # the edits row comes last
    figure = make_subplots(rows=1 + bands, cols=1, shared_xaxes=True, vertical_spacing=0.04,
                           row_heights=[1 - band_share * bands, *[band_share] * bands])
    notes = _curve_traces(analysis, figure)
    for number, row in enumerate(rows, start=2):
        figure.add_trace(go.Bar(_band(row.spans, 1.0, row.name, row.colour, row.hover, row.meta)), row=number, col=1)
        figure.update_yaxes(visible=False, range=[0, 1], fixedrange=True, row=number, col=1)
    figure.add_trace(go.Bar(_edits_bar(None)), row=1 + bands, col=1)
    figure.update_yaxes(visible=True, title_text="edits", title_font={"size": 10}, showticklabels=False, range=[0, 1],
                        fixedrange=True, showgrid=False, zeroline=False, row=1 + bands, col=1)
    if notes:
        figure.add_annotation(text="absent views — " + "; ".join(notes), xref="paper", yref="paper", x=0, y=1.0,
                              yanchor="bottom", xanchor="left", showarrow=False, font={"size": 11, "color": "#a33"},
                              name="absent")
    figure.update_xaxes(range=[0, analysis.duration])
    figure.update_xaxes(title_text="time (s)", row=1 + bands, col=1)
    figure.update_yaxes(title_text="actionness", range=[0, _band_height(analysis) * 1.02], row=1, col=1)
    figure.update_layout(
        height=height, barmode="overlay", bargap=0, hovermode="x unified", uirevision=analysis.content_hash,
        margin={"l": 50, "r": 10, "t": 60, "b": 40}, template="plotly_white",
        legend={"orientation": "h", "yanchor": "bottom", "y": 1.06, "x": 0},
        xaxis={"hoverformat": ".1f"},
    )
    return json.loads(figure.to_json())


def _band_height(analysis: "Analysis") -> float:
    present = [np.nanmax(c) for c in analysis.curves.values() if c is not None and len(c)]
    return float(max([1.0, *present]))


def timeline_json(analysis: "Analysis", ground_truth: Sequence[GroundTruth] | None = None,
                  selected_cluster: int | None = None, height: int = 420, extra_rows: Sequence[BandRow] = (),
                  base: dict | None = None) -> str:
    """The timeline (see :func:`timeline_figure`) as Plotly JSON, from ``base`` (:func:`timeline_base` of the same
    analysis, ground truth, height and rows; made here when not given) and this segmentation: the segment bands,
    the threshold, the fused curve's hover names and the edits row. Plain data, no Plotly objects: this is the
    app's re-threshold path."""
    base = base if base is not None else timeline_base(analysis, ground_truth, height, extra_rows)
    *curves_and_rows, edits = base["data"]
    hover = _segment_hover_labels(analysis).tolist()
    traces = [trace | {"customdata": hover} if trace.get("meta", {}).get("curve") == "fused" else trace
              for trace in curves_and_rows]
    shape, label = _threshold_marks(analysis)
    layout = base["layout"] | {"shapes": [*base["layout"].get("shapes", []), shape],
                               "annotations": [label, *base["layout"].get("annotations", [])]}
    data = [*_segment_bands(analysis, _band_height(analysis), selected_cluster), *traces,
            edits | _edits_bar(analysis.edits)]
    return json.dumps({"data": data, "layout": layout})


def timeline_figure(analysis: "Analysis", ground_truth: Sequence[GroundTruth] | None = None,
                    selected_cluster: int | None = None, height: int = 420,
                    extra_rows: Sequence[BandRow] = ()) -> go.Figure:
    """The timeline: actionness curves, threshold, segment bands by cluster, a ground-truth row when given,
    one row per ``extra_rows``, and last the edits row (:func:`edits_row`: the researcher's corrections,
    empty until there are some).

    ``selected_cluster`` shows only that cluster's bands (the others stay in the legend, hidden).
    ``uirevision`` is the content hash, so zoom and legend clicks survive re-segmenting.
    """
    return go.Figure(json.loads(timeline_json(analysis, ground_truth, selected_cluster, height, extra_rows)))


#: Two durations closer than this (seconds) name the same video when matching ground truth to it.
DURATION_MATCH_S = 0.5


def ground_truth_for_video(ground_truth: GroundTruthByVideo, video_id: str, duration: float | None = None,
                           durations: dict[str, float] | None = None) -> list[GroundTruth] | None:
    """The annotations of ``video_id`` (the file stem; with or without ActivityNet's ``v_`` prefix), else of
    the one video whose duration is within ``DURATION_MATCH_S`` of ``duration``, else None (never a guess)."""
    bare = video_id.removeprefix("v_")
    for key, items in ground_truth.items():
        if key.removeprefix("v_") == bare:
            return list(items)
    if duration is not None and durations:
        close = [key for key, length in durations.items()
                 if key in ground_truth and abs(length - duration) <= DURATION_MATCH_S]
        if len(close) == 1:
            return list(ground_truth[close[0]])
    return None


def detection_rows(result: DetectionResult) -> list[list]:
    """Rows ``[tIoU, mAP]`` of a detection result, with the mean last."""
    rows = [[f"{tiou:.2f}", round(float(value), 4)] for tiou, value in zip(result.tiou_thresholds, result.map_per_tiou)]
    return rows + [["mean", round(result.mean_map, 4)]]


@dataclass(frozen=True)
class Thumbnailer:
    """Small JPEG frames of a video at given times, cached on disk by (file, time, width)."""

    folder: Path
    width: int = THUMBNAIL_WIDTH

    def path_for(self, video: str | os.PathLike, seconds: float) -> Path:
        """Where the thumbnail of ``video`` at ``seconds`` (rounded to 0.1 s) lives."""
        stat = os.stat(video)
        key = f"{Path(video).resolve()}|{stat.st_size}|{stat.st_mtime_ns}|{round(seconds, 1)}|{self.width}"
        return self.folder / f"{hashlib.sha256(key.encode()).hexdigest()[:24]}.jpg"

    def __call__(self, video: str | os.PathLike, seconds: float) -> Path:
        """The thumbnail of ``video`` at ``seconds``, extracted through the media layer on first use."""
        target = self.path_for(video, seconds)
        if target.exists():
            return target
        return atomic_write_bytes(target, thumbnail_jpeg(video, seconds, self.width))

    def for_segments(self, video: str | os.PathLike, segments: Sequence[Segment]) -> list[Path]:
        """One thumbnail per segment, taken at its middle."""
        return [self(video, (s.start + s.end) / 2) for s in segments]
