"""The boundary inspector's figure: every view's actionness curve zoomed to the windows around one segment's
start and end (the same windows as its frame strips), with the current and the model's boundaries marked."""

from __future__ import annotations

from typing import TYPE_CHECKING

import numpy as np
import plotly.graph_objects as go
from plotly.subplots import make_subplots

from .strips import STRIP_HALF_WINDOW_S
from .types import Segment
from .viz import CURVE_STYLES

if TYPE_CHECKING:
    from .pipeline import Analysis

BOUNDARY_COLOUR = "#d62728"
MODEL_BOUNDARY_COLOUR = "#7f7f7f"


def boundary_curves_figure(analysis: "Analysis", segment: Segment, model: Segment | None = None,
                           half_window: float = STRIP_HALF_WINDOW_S, height: int = 190) -> go.Figure:
    """Two panels, around ``segment``'s start and around its end: the per-view curves (visual, motion,
    CLIP-text, audio, fused) within ``half_window`` seconds, the boundary as a solid line and the model's
    (``model``, when the boundary was moved) as a dashed one."""
    figure = make_subplots(rows=1, cols=2, shared_yaxes=True, horizontal_spacing=0.04,
                           subplot_titles=(f"around the start {segment.start:.3f} s",
                                           f"around the end {segment.end:.3f} s"))
    times = analysis.grid.times
    for column, (bound, before) in enumerate(((segment.start, model and model.start),
                                              (segment.end, model and model.end)), start=1):
        low, high = bound - half_window, bound + half_window
        # One snippet beyond each side, so the lines reach the panel's edges.
        inside = np.flatnonzero((times >= low - analysis.grid.stride) & (times <= high + analysis.grid.stride))
        for key, (name, colour) in CURVE_STYLES.items():
            curve = analysis.curves.get(key)
            if curve is None or not len(inside):
                continue
            figure.add_trace(go.Scatter(
                x=times[inside], y=np.asarray(curve, dtype=np.float64)[inside], mode="lines+markers", name=name,
                line={"color": colour, "width": 3 if key == "fused" else 1.5}, marker={"size": 4},
                legendgroup=key, showlegend=column == 1, meta={"curve": key, "bound": column},
                hovertemplate=f"{name}: %{{y:.3f}}<extra></extra>"), row=1, col=column)
        figure.add_vline(x=bound, line={"color": BOUNDARY_COLOUR, "width": 2}, row=1, col=column)
        if before is not None and abs(before - bound) > 1e-6:
            figure.add_vline(x=before, line={"color": MODEL_BOUNDARY_COLOUR, "width": 1.5, "dash": "dash"},
                             row=1, col=column)
        figure.update_xaxes(range=[low, high], row=1, col=column)
    figure.update_layout(height=height, margin={"l": 40, "r": 10, "t": 28, "b": 24}, template="plotly_white",
                         hovermode="x unified", legend={"orientation": "h", "y": -0.25, "x": 0, "font": {"size": 10}},
                         font={"size": 10})
    return figure
