"""The timeline: actionness curves over named lanes, as plain Plotly JSON (pure functions of an ``Analysis``).

The curves' panel (axis ``y``) holds one line per actionness curve, one bar trace per pseudo-action cluster
(``meta.segments`` = the cluster id: each segment a bar spanning its start..end, so hover shows that segment)
and the threshold. Under it, on the lanes' axis (``y2``, :mod:`.lanes`), named lanes: the audio loudness, the
ground truth, each other detector's predictions (stacked, coloured by outcome, with a legend), and the edits
lane. The legend sits right of the plot; a view the video lacks gets a legend entry that says so and a line
above the plot, wrapped so that it is never cut. The trace count stays small, so that an update after a
slider move is cheap, and what no re-segmentation changes is drawn once per analysis (:func:`timeline_base`).
"""

from __future__ import annotations

import functools
import json
import textwrap
from typing import TYPE_CHECKING, Sequence

import numpy as np
import plotly.graph_objects as go

from ..edits import EditLayer, segment_tag
from ..evaluate import GroundTruth
from ..types import Segment
from .lanes import (
    EDITS_LANE, KINDS_LEGEND, LANE_AXIS_KEY, LANE_PITCH, BandRow, LanePlan, band_lane, edits_lane, edits_lane_rows, waveform_lane,
)
from .tables import cluster_colour, cluster_names

if TYPE_CHECKING:
    from ..pipeline import Analysis

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
GROUND_TRUTH_COLOUR = "#444444"
#: Pixels of one lane sub-row (its bar and the gap under it), of the space between curves and lanes, and the
#: least the curves' panel keeps (the figure grows past its height for more lanes).
ROW_PX, LANES_GAP_PX, MIN_CURVES_PX = 15, 10, 150
#: Margins (px): above the plot (the modebar; plus one line per line of the absent-views note) and below it.
TOP_PX, NOTE_LINE_PX, BOTTOM_PX, LEFT_PX = 28, 14, 36, 60
#: The margins beside the plot are made wide enough for what Plotly puts there (the legend on the right, the lane
#: names on the left), a little wider than measured, so that Plotly does not have to grow them once it has drawn
#: the figure, which costs it a second drawing of the whole figure. A legend entry: its symbol and gaps, and per
#: character of its name (font size 10); a lane name: its gap, and per character (font size 11).
LEGEND_ENTRY_PX, LEGEND_CHAR_PX = 48, 5
LANE_NAME_GAP_PX, LANE_NAME_CHAR_PX = 16, 5.6
#: The absent-views note is wrapped at this many characters (about 500 px: clear of the modebar on the right).
NOTE_CHARS = 90
ABSENT_REASON_CHARS = 80


def _segment_hover_labels(analysis: "Analysis") -> np.ndarray:
    """Per snippet: the name of the cluster of the best segment covering it, else an empty string."""
    times = analysis.grid.times
    labels = np.full(len(times), "", dtype=object)
    names = cluster_names(analysis)
    for segment in sorted(analysis.segments, key=lambda s: s.score):
        inside = (times >= segment.start) & (times <= segment.end)
        labels[inside] = f"segment {segment_tag(segment)}: {names.get(segment.cluster, segment.cluster)} ({segment.score:.2f})"
    return labels


def _curve_traces(analysis: "Analysis") -> tuple[list[dict], list[str]]:
    """One line per present curve and an empty legend entry per absent one; and the absence notes."""
    times = analysis.grid.times.tolist()
    traces, notes = [], []
    for key, (name, colour) in CURVE_STYLES.items():
        curve = analysis.curves.get(key)
        if key == "clip" and analysis.config.get("clip_weights", {}).get("verified") is False:
            name = f"{name} (unverified weights)"
        if curve is None and key in OPTIONAL_CURVES:
            continue
        if curve is None:
            reason = analysis.absent.get(key, "not computed")
            notes.append(f"{name}: {_first_clause(reason)}")
            traces.append({"type": "scatter", "x": [None], "y": [None], "mode": "lines", "name": f"{name} — absent",
                           "line": {"color": colour, "dash": "dot"}, "hoverinfo": "skip", "legendgroup": "curves",
                           "meta": {"absent": key, "reason": reason}})
            continue
        is_fused = key == "fused"
        traces.append({"type": "scatter", "x": times, "y": np.asarray(curve, dtype=np.float64).tolist(),
                       "mode": "lines", "name": name, "line": {"color": colour, "width": 3 if is_fused else 1.5},
                       "legendgroup": "curves",
                       "hovertemplate": f"{name}: %{{y:.3f}}" + ("<br>%{customdata}" if is_fused else "")
                       + "<extra></extra>", "meta": {"curve": key}})
    return traces, notes


def _first_clause(reason: str) -> str:
    """A reason's first clause (up to a parenthesis or a semicolon), for the absent-views line; the status line
    and the legend entry's ``meta`` keep it whole. At most :data:`ABSENT_REASON_CHARS` characters."""
    clause = reason.split(" (")[0].split("; ")[0].rstrip(".")
    return clause if len(clause) <= ABSENT_REASON_CHARS else clause[:ABSENT_REASON_CHARS - 1] + "…"


def _band(spans: Sequence[tuple[float, float]], height: float, name: str, colour: str,
          hover: Sequence[str], meta: dict, visible: bool | str = True) -> dict:
    """One bar per ``(start, end)`` span on the curves' panel, from 0 to ``height``, as one bar trace."""
    starts = np.array([s for s, _ in spans], dtype=np.float64)
    ends = np.array([e for _, e in spans], dtype=np.float64)
    return {"type": "bar", "x": ((starts + ends) / 2).tolist(), "y": [height] * len(spans),
            "width": (ends - starts).tolist(), "base": 0.0, "name": name,
            "marker": {"color": colour, "line": {"width": 0}},
            "opacity": 0.3, "customdata": list(hover), "hovertemplate": "%{customdata}<extra></extra>", "meta": meta,
            "visible": visible}


def _segment_bands(analysis: "Analysis", height: float, selected_cluster: int | None) -> list[dict]:
    """One bar trace per cluster (``selected_cluster`` alone visible when given); ``meta.segments`` names the
    cluster, so the page finds these traces whatever lanes the timeline has."""
    names = cluster_names(analysis)
    by_cluster: dict[int, list[Segment]] = {}
    for segment in analysis.segments:
        by_cluster.setdefault(segment.cluster, []).append(segment)
    bands = []
    for cluster, segments in sorted(by_cluster.items()):
        hover = [f"{segment_tag(s)} {names.get(cluster, cluster)}<br>{s.start:.2f}–{s.end:.2f} s<br>score {s.score:.3f}"
                 for s in segments]
        visible = True if selected_cluster is None or cluster == selected_cluster else "legendonly"
        bands.append(_band([(s.start, s.end) for s in segments], height, names.get(cluster, str(cluster)),
                           cluster_colour(cluster), hover, {"segments": cluster}, visible))
    return bands


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


@functools.cache
def _template() -> dict:
    """Plotly's "plotly_white" template as plain data (Plotly.js knows no templates by name)."""
    return json.loads(go.Figure(layout={"template": "plotly_white"}).to_json())["layout"]["template"]


def absent_note(notes: Sequence[str]) -> list[str]:
    """The absent-views line, wrapped into lines of at most :data:`NOTE_CHARS` characters (none without notes)."""
    return textwrap.wrap("absent views — " + "; ".join(notes), NOTE_CHARS) if notes else []


def _layout(revision: str, duration: float, band_height: float, plan: LanePlan, note: list[str], height: int) -> dict:
    """Axes, margins and legend: the curves' panel (``band_height`` high) over the lanes, each lane :data:`ROW_PX`
    per sub-row, the curves at least :data:`MIN_CURVES_PX` tall (the figure grows past ``height`` when the lanes
    need it); zoom and legend clicks kept while ``revision`` stays."""
    top = TOP_PX + NOTE_LINE_PX * len(note)
    lanes_px = (plan.rows * LANE_PITCH + LANE_PITCH - 1) * ROW_PX / LANE_PITCH
    curves_px = max(height - top - BOTTOM_PX - lanes_px - LANES_GAP_PX, MIN_CURVES_PX)
    plot_px = curves_px + LANES_GAP_PX + lanes_px
    annotations = [{"text": "<br>".join(note), "xref": "paper", "yref": "paper", "x": 0, "y": 1, "yshift": 4,
                    "xanchor": "left", "yanchor": "bottom", "align": "left", "showarrow": False,
                    "font": {"size": 11, "color": "#a33"}, "name": "absent"}] if note else []
    return {
        "height": round(top + plot_px + BOTTOM_PX), "barmode": "overlay", "bargap": 0, "hovermode": "x unified",
        "uirevision": revision, "template": _template(),
        "margin": {"l": LEFT_PX, "r": 10, "t": top, "b": BOTTOM_PX},
        "legend": {"orientation": "v", "x": 1.01, "xanchor": "left", "y": 1, "yanchor": "top", "font": {"size": 10},
                   "tracegroupgap": 6, "maxheight": round(curves_px)},  # beside the curves (it scrolls past that)
        "xaxis": {"range": [0, duration], "anchor": LANE_AXIS_KEY.replace("axis", ""), "domain": [0, 1],
                  "ticksuffix": " s", "hoverformat": ".1f"},  # the unit on the ticks: no title under them
        "yaxis": {"domain": [round((lanes_px + LANES_GAP_PX) / plot_px, 6), 1], "anchor": "x",
                  "title": {"text": "actionness", "font": {"size": 11}},
                  "range": [0, band_height * 1.02]},
        LANE_AXIS_KEY: plan.axis((0, round(lanes_px / plot_px, 6))),
        "annotations": annotations,
    }


def _band_height(analysis: "Analysis") -> float:
    present = [np.nanmax(c) for c in analysis.curves.values() if c is not None and len(c)]
    return float(max([1.0, *present]))


def _layer_of(analysis: "Analysis") -> EditLayer:
    """The analysis's edits layer, or (without edits yet) an empty one over its segments, not kept: the edits
    lane outlines every segment either way."""
    if analysis.edits is not None:
        return analysis.edits
    return EditLayer(tuple(analysis.segments), analysis.duration, analysis.media.get("fps"))


def _lanes(plan: LanePlan, ground_truth: Sequence[GroundTruth] | None, extra_rows: Sequence[BandRow]) -> list[dict]:
    """The ground truth's lane (when given) and one lane per ``extra_rows``, in ``plan``."""
    rows = [*([BandRow("ground truth", [(g.start, g.end) for g in ground_truth],
                       [f"ground truth: {g.label}<br>{g.start:.2f}–{g.end:.2f} s" for g in ground_truth],
                       GROUND_TRUTH_COLOUR, {"ground_truth": True})] if ground_truth is not None else []),
            *extra_rows]
    return [trace for row in rows for trace in band_lane(row, plan)]


def _with_margins(data: list[dict], layout: dict) -> dict:
    """``layout`` with the right margin as wide as the legend and the left one as the lane names (see
    :data:`LEGEND_ENTRY_PX`)."""
    margin = layout["margin"]
    legend = [len(trace["name"]) for trace in data if trace.get("showlegend", True) and trace.get("name")]
    lanes = [len(name) for name in layout[LANE_AXIS_KEY].get("ticktext", [])]
    return layout | {"margin": margin | {
        "r": LEGEND_ENTRY_PX + LEGEND_CHAR_PX * max(legend) if legend else margin["r"],
        "l": max(margin["l"], round(LANE_NAME_GAP_PX + LANE_NAME_CHAR_PX * max(lanes, default=0)))}}


def _with_kinds_legend(lanes: list[dict], layout: dict) -> dict:
    if any(trace.get("legend") == KINDS_LEGEND for trace in lanes):  # beside the lanes, under the curves' legend
        layout[KINDS_LEGEND] = layout["legend"] | {"y": 0, "yanchor": "bottom", "maxheight": None}
    return layout


def timeline_base(analysis: "Analysis", ground_truth: Sequence[GroundTruth] | None = None, height: int = 420,
                  extra_rows: Sequence[BandRow] = ()) -> dict:
    """What no re-segmentation of ``analysis`` changes in its timeline (see :func:`timeline_figure`): the curves,
    the lanes, the axes and the layout, as plain JSON data (keep it per analysis); :func:`timeline_json` adds the
    segments and the edits."""
    curves, notes = _curve_traces(analysis)
    plan = LanePlan([], [])
    lanes = waveform_lane(analysis, plan)
    lanes += _lanes(plan, ground_truth, extra_rows)
    rows = edits_lane_rows(analysis.segments)
    lanes += edits_lane(None, plan.take(EDITS_LANE, rows)[0], rows)
    layout = _layout(analysis.content_hash, analysis.duration, _band_height(analysis), plan, absent_note(notes),
                     height)
    return {"data": [*curves, *lanes], "layout": _with_kinds_legend(lanes, layout)}


def lanes_timeline_json(revision: str, duration: float, layer: EditLayer, ground_truth: Sequence[GroundTruth] | None,
                        note: str, extra_rows: Sequence[BandRow] = ()) -> str:
    """The timeline of a video with no analysis (a dataset's video): the same figure as :func:`timeline_json`'s,
    its curves' panel empty (at its least, :data:`MIN_CURVES_PX`) under ``note`` (why), the lanes (ground truth,
    ``extra_rows``) and the edits lane of ``layer`` (what a drag edits), over ``duration`` seconds, as Plotly
    JSON."""
    plan = LanePlan([], [])
    lanes = _lanes(plan, ground_truth, extra_rows)
    rows = edits_lane_rows(layer.raw)
    lanes += edits_lane(layer, plan.take(EDITS_LANE, rows)[0], rows)
    layout = _layout(revision, duration, 1.0, plan, textwrap.wrap(note, NOTE_CHARS), height=0)
    return json.dumps({"data": lanes, "layout": _with_margins(lanes, _with_kinds_legend(lanes, layout))})


def timeline_json(analysis: "Analysis", ground_truth: Sequence[GroundTruth] | None = None,
                  selected_cluster: int | None = None, height: int = 420, extra_rows: Sequence[BandRow] = (),
                  base: dict | None = None) -> str:
    """The timeline (see :func:`timeline_figure`) as Plotly JSON, from ``base`` (:func:`timeline_base` of the same
    analysis, ground truth, height and rows; made here when not given) and this segmentation: the segment bands,
    the threshold, the fused curve's hover names and the edits lane. Plain data, no Plotly objects: this is the
    app's re-threshold path."""
    base = base if base is not None else timeline_base(analysis, ground_truth, height, extra_rows)
    *curves_and_lanes, track, _ = base["data"]
    lane = track["meta"]["lane"]
    hover = _segment_hover_labels(analysis).tolist()
    traces = [trace | {"customdata": hover} if trace.get("meta", {}).get("curve") == "fused" else trace
              for trace in curves_and_lanes]
    shape, label = _threshold_marks(analysis)
    layout = base["layout"] | {"shapes": [*base["layout"].get("shapes", []), shape],
                               "annotations": [label, *base["layout"].get("annotations", [])]}
    data = [*_segment_bands(analysis, _band_height(analysis), selected_cluster), *traces,
            *edits_lane(_layer_of(analysis), lane[0], round((lane[1] - lane[0]) / LANE_PITCH) + 1)]
    return json.dumps({"data": data, "layout": _with_margins(data, layout)})


def timeline_figure(analysis: "Analysis", ground_truth: Sequence[GroundTruth] | None = None,
                    selected_cluster: int | None = None, height: int = 420,
                    extra_rows: Sequence[BandRow] = ()) -> go.Figure:
    """The timeline: actionness curves, threshold, segment bands by cluster, and under them the lanes (audio
    loudness for a video with sound, the ground truth when given, one lane per ``extra_rows``, last the edits lane:
    :func:`.lanes.edits_row`, the researcher's corrections over the outlines of every segment).

    ``selected_cluster`` shows only that cluster's bands (the others stay in the legend, hidden).
    ``uirevision`` is the content hash, so zoom and legend clicks survive re-segmenting.
    """
    return go.Figure(json.loads(timeline_json(analysis, ground_truth, selected_cluster, height, extra_rows)))
