"""The timeline's lanes: named rows under the curves, on one axis of their own (``y2``), top to bottom the audio
loudness (videos with sound), the ground truth, each other detector's predictions and last the edits lane.

A lane is one or more sub-rows: its spans are packed greedily (:func:`pack_rows`) so that overlapping spans
(a 1.2-3.0 s localization error under a 1.0-3.4 s hit) each get a row of their own and all stay visible. Every
sub-row is one unit tall, :data:`LANE_PITCH` apart, on a reversed axis (row 0 at the top); a lane's name is
the axis's tick label at the middle of its sub-rows, so names sit at the left margin. Lane bars are plain
JSON trace data (no Plotly objects), so that a re-segmentation reuses them.
"""

from __future__ import annotations

import html
from dataclasses import dataclass
from typing import TYPE_CHECKING, Mapping, Sequence

import numpy as np

from ..edits import EditedSegment, EditLayer
from ..export import segment_label
from ..signals import AUDIO_RMS_FINE_KEY
from ..types import Segment

if TYPE_CHECKING:
    from ..pipeline import Analysis

#: Distance between two sub-rows' tops; each is 1 tall, so 0.25 apart.
LANE_PITCH = 1.25
#: The lanes' axis: its id in traces and its key in the layout.
LANE_AXIS, LANE_AXIS_KEY = "y2", "yaxis2"
#: Longest lane name shown (a detector's file name is cut with an ellipsis; the full name is in the hover).
LANE_NAME_CHARS = 32
#: A lane of more sub-rows than this is squeezed into this many rows' height (thinner bars, all still drawn).
MAX_LANE_ROWS = 6
#: The edits row: colour of each status (a rejected segment is also struck through with a cross pattern).
EDIT_COLOURS: dict[str, str] = {"accepted": "#2ca02c", "edited": "#1f77b4", "added": "#9467bd",
                                "rejected": "#9e9e9e", "untouched": "#ffffff"}
EDITS_LANE = "edits (drag)"
#: The legend of the lanes' kinds (a detector's outcomes), right of the lanes, apart from the curves' legend.
KINDS_LEGEND = "legend2"
WAVEFORM_LANE = "audio loudness"
WAVEFORM_COLOUR = "#2ca02c"
#: Most points of the loudness envelope (a long video's loudness is max-pooled down to this many).
WAVEFORM_POINTS = 2000


@dataclass(frozen=True)
class BandRow:
    """A lane of bars under the timeline's curves (the ground truth, another detector's predictions): one bar per
    span with its hover text, and the trace's ``meta``. With ``kinds`` (one per span, e.g. each prediction's
    outcome), the bars are one trace per kind, coloured by ``kind_colours`` and named in the legend; without,
    one trace in ``colour``."""

    name: str
    spans: Sequence[tuple[float, float]]
    hover: Sequence[str]
    colour: str
    meta: dict
    kinds: Sequence[str] | None = None
    kind_colours: Mapping[str, str] | None = None


def pack_rows(spans: Sequence[tuple[float, float]]) -> list[int]:
    """The sub-row of each ``(start, end)`` span, greedily: in order of start, each span goes to the first
    sub-row whose last span ended at or before its start (touching spans share a row), else to a new one. No two
    overlapping spans share a sub-row, and the count of sub-rows is the largest number of spans overlapping at
    one time (the greedy interval partition is optimal)."""
    rows = [0] * len(spans)
    ends: list[float] = []
    for index in sorted(range(len(spans)), key=lambda i: (spans[i][0], spans[i][1])):
        start, end = spans[index]
        row = next((r for r, last in enumerate(ends) if last <= start + 1e-9), len(ends))
        if row == len(ends):
            ends.append(end)
        else:
            ends[row] = end
        rows[index] = row
    return rows


def lane_name(name: str) -> str:
    """A lane's name as its tick label: cut to :data:`LANE_NAME_CHARS` and escaped, so a file name is plain text
    (Plotly reads tags in labels)."""
    short = name if len(name) <= LANE_NAME_CHARS else name[:LANE_NAME_CHARS - 1] + "…"
    return html.escape(short, quote=False)


@dataclass
class LanePlan:
    """Where each lane goes: ``names`` and ``middles`` (tick labels and their positions), the number of sub-rows."""

    names: list[str]
    middles: list[float]
    rows: int = 0

    def take(self, name: str, count: int = 1) -> tuple[float, float]:
        """Reserve room for the lane ``name`` of ``count`` sub-rows (at most :data:`MAX_LANE_ROWS` rows' height);
        returns the base of its first sub-row and the height of each (1, or less in a squeezed lane)."""
        count = max(count, 1)
        height = min(1.0, MAX_LANE_ROWS / count)
        first = self.rows * LANE_PITCH
        self.rows += min(count, MAX_LANE_ROWS)
        self.names.append(lane_name(name))
        self.middles.append(round((first + (self.rows - 1) * LANE_PITCH + 1) / 2, 6))  # first top to last bottom
        return first, height

    def axis(self, domain: tuple[float, float]) -> dict:
        """The lanes' y axis: reversed (the first lane on top), fixed, the lane names as tick labels."""
        return {"domain": list(domain), "range": [self.rows * LANE_PITCH, -(LANE_PITCH - 1)], "fixedrange": True,
                "tickmode": "array", "tickvals": self.middles, "ticktext": self.names, "showgrid": False,
                "zeroline": False, "ticks": "", "tickfont": {"size": 11}, "anchor": "x", "automargin": True}


def _bars(spans: Sequence[tuple[float, float]], bases: Sequence[float], height: float, name: str, colour: str,
          hover: Sequence[str], meta: dict) -> dict:
    """One bar per span, ``height`` tall from its base, as a plain bar trace on the lanes' axis."""
    starts = np.array([s for s, _ in spans], dtype=np.float64)
    ends = np.array([e for _, e in spans], dtype=np.float64)
    return {"type": "bar", "x": ((starts + ends) / 2).round(6).tolist(), "y": [height] * len(spans),
            "width": (ends - starts).round(6).tolist(), "base": [round(b, 6) for b in bases], "name": name,
            "marker": {"color": colour, "line": {"width": 0}}, "opacity": 0.85, "customdata": list(hover),
            "hovertemplate": "%{customdata}<extra></extra>", "meta": meta, "xaxis": "x", "yaxis": LANE_AXIS,
            "showlegend": False}


def band_lane(row: BandRow, plan: LanePlan) -> list[dict]:
    """The traces of one :class:`BandRow`, packed into sub-rows (:func:`pack_rows`) under its name in ``plan``."""
    packed = pack_rows(row.spans)
    base, height = plan.take(row.name, max(packed, default=0) + 1)
    bases = [base + r * height * LANE_PITCH for r in packed]
    if row.kinds is None or row.kind_colours is None:
        return [_bars(row.spans, bases, height, row.name, row.colour, row.hover, row.meta)]
    traces = []
    for kind, colour in row.kind_colours.items():
        chosen = [i for i, k in enumerate(row.kinds) if k == kind]
        trace = _bars([row.spans[i] for i in chosen], [bases[i] for i in chosen], height, kind, colour,
                      [row.hover[i] for i in chosen], row.meta | {"kind": kind})
        # Every kind is in the legend (an empty one too: the legend says what each colour means).
        traces.append(trace | {"showlegend": True, "legend": KINDS_LEGEND, "legendgroup": row.name,
                               "legendgrouptitle": {"text": lane_name(row.name)}})
    return traces


def loudness_envelope(analysis: "Analysis") -> tuple[np.ndarray, np.ndarray] | None:
    """``(times, loudness in 0..1)`` of the analysed video's sound, from the fine audio RMS of the decode pass
    (``audio_rms_fine``, kept with its features: nothing is decoded again), max-pooled to at most
    :data:`WAVEFORM_POINTS`; None for a video without sound or without its features in memory."""
    features = analysis.features
    rms = None if features is None else features.extras.get(AUDIO_RMS_FINE_KEY)
    if rms is None:
        return None
    rms = np.asarray(rms, dtype=np.float64)
    if rms.ndim != 2 or rms.shape[0] != analysis.grid.num_snippets or not np.isfinite(rms).all() or rms.max() <= 0:
        return None
    centres, _ = analysis.grid.sub_windows(rms.shape[1])
    times, values = centres.ravel(), rms.ravel()
    group = int(np.ceil(len(values) / WAVEFORM_POINTS))
    if group > 1:
        usable = len(values) // group * group
        times = times[:usable].reshape(-1, group).mean(axis=1)
        values = values[:usable].reshape(-1, group).max(axis=1)
    # Loudness on a 40 dB scale below the loudest moment, so quiet speech still shows.
    decibels = 20 * np.log10(np.maximum(values / values.max(), 1e-2))
    return times, (decibels / 40 + 1).clip(0, 1)


def waveform_lane(analysis: "Analysis", plan: LanePlan) -> list[dict]:
    """The audio loudness lane: a filled envelope, symmetric about its row's middle (as a waveform is drawn);
    nothing for a video without sound."""
    envelope = loudness_envelope(analysis)
    if envelope is None:
        return []
    times, loudness = envelope
    middle = plan.take(WAVEFORM_LANE)[0] + 0.5
    upper, lower = middle - loudness / 2, middle + loudness / 2
    return [{"type": "scatter", "mode": "lines", "x": np.concatenate([times, times[::-1]]).round(4).tolist(),
             "y": np.concatenate([upper, lower[::-1]]).round(4).tolist(), "fill": "toself",
             "fillcolor": WAVEFORM_COLOUR, "line": {"width": 0.5, "color": WAVEFORM_COLOUR}, "name": WAVEFORM_LANE,
             "hoverinfo": "skip", "showlegend": False, "meta": {"waveform": True}, "xaxis": "x", "yaxis": LANE_AXIS}]


def edits_row(layer: EditLayer | None, selected: str | None = None) -> dict:
    """The edits row's bars as plain lists: every reviewed, edited or added segment of ``layer`` (and the
    ``selected`` one, outlined): ``keys``, ``x`` (middles), ``width``, ``color``, ``pattern``, ``line``, ``hover``;
    ``selected``, the ``frame`` length and the ``duration``, with which the app's inspector draws a nudge
    before the server has answered; ``rows``, the sub-row of each bar in the lane (overlapping segments are
    stacked, :func:`pack_rows`); and ``track``, the ``x``, ``width`` and ``rows`` of every segment of the layer
    (the outlines a drag on the timeline grabs, ui/instrument.js). The timeline draws it; the page restyles the
    row with it after each edit (no full redraw)."""
    everything = layer.segments() if layer is not None else []
    packed = dict(zip((i.key for i in everything), pack_rows([(i.segment.start, i.segment.end) for i in everything])))
    items = [item for item in everything if item.status != "untouched" or item.key == selected]
    raw = {f"r{i}": s for i, s in enumerate(layer.raw)} if layer is not None else {}

    def hover(item: EditedSegment) -> str:
        segment, status = item.segment, item.status
        text = f"{status} {item.tag}: {segment.start:.3f}–{segment.end:.3f} s, {segment_label(segment)}"
        before = raw.get(item.key)
        if status == "edited" and before is not None and (before.start, before.end) != (segment.start, segment.end):
            text += f"<br>model: {before.start:.3f}–{before.end:.3f} s"
        return text

    def middles(chosen: Sequence) -> list[float]:
        return [round((i.segment.start + i.segment.end) / 2, 6) for i in chosen]

    def widths(chosen: Sequence) -> list[float]:
        return [round(i.segment.end - i.segment.start, 6) for i in chosen]

    return {"keys": [i.key for i in items], "x": middles(items), "width": widths(items),
            "rows": [packed[i.key] for i in items],
            "color": [EDIT_COLOURS[i.status] for i in items],
            "pattern": ["x" if i.status == "rejected" else "" for i in items],
            "line": [3 if i.key == selected else 0 for i in items],
            "hover": [hover(i) for i in items], "selected": selected,
            "frame": layer.frame_s if layer is not None else None,
            "duration": layer.duration if layer is not None else None,
            "track": {"x": middles(everything), "width": widths(everything), "rows": [packed[i.key] for i in everything]}}


def edits_lane_rows(segments: Sequence[Segment]) -> int:
    """Sub-rows of the edits lane: as many as ``segments`` overlap at most and one spare for segments added, at
    most :data:`MAX_LANE_ROWS`."""
    return min(max(pack_rows([(s.start, s.end) for s in segments]), default=-1) + 2, MAX_LANE_ROWS)


def edits_lane(layer: EditLayer | None, base: float, rows: int) -> list[dict]:
    """The edits lane of ``rows`` sub-rows from ``base`` on the lanes' axis: the outline of every segment of the
    layer (``meta.track``, with the lane's first and last sub-row's bases, ``lane``: what a drag grabs), and over
    them the edits row's bars (``meta.edits``, :func:`edits_row`); overlapping segments on sub-rows of their own
    (the last sub-row takes any beyond)."""
    row = edits_row(layer)

    def bases(packed: Sequence[int]) -> list[float]:
        return [round(base + min(r, rows - 1) * LANE_PITCH, 6) for r in packed]

    track = {"type": "bar", "x": row["track"]["x"], "y": [1.0] * len(row["track"]["x"]),
             "width": row["track"]["width"], "base": bases(row["track"]["rows"]), "name": "segments",
             "hoverinfo": "skip", "marker": {"color": "rgba(0,0,0,0)", "line": {"width": 1, "color": "#888"}},
             "meta": {"track": True, "lane": [base, round(base + (rows - 1) * LANE_PITCH, 6)], "pitch": LANE_PITCH,
                      "frame": row["frame"], "duration": row["duration"]}, "showlegend": False, "xaxis": "x", "yaxis": LANE_AXIS}
    edits = {"type": "bar", "x": row["x"], "y": [1.0] * len(row["x"]), "width": row["width"], "base": bases(row["rows"]),
             "name": "edits", "marker": {"color": row["color"], "pattern": {"shape": row["pattern"], "fgcolor": "#555"},
                                         "line": {"width": row["line"], "color": "#111"}},
             "opacity": 0.75, "customdata": row["hover"], "hovertemplate": "%{customdata}<extra></extra>",
             "meta": {"edits": True}, "showlegend": False, "xaxis": "x", "yaxis": LANE_AXIS}
    return [track, edits]
