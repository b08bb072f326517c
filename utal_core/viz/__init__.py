"""Plotly figures, table rows and thumbnails for an analysis: pure functions of an ``Analysis``.

- :mod:`.timeline`: the timeline (curves, segment bands, threshold) drawn once per analysis plus the JSON of
  one segmentation;
- :mod:`.lanes`: its named lanes (audio loudness, ground truth, detectors stacked by :func:`pack_rows`, edits);
- :mod:`.tables`: table rows, cluster names and colours, ground-truth selection, thumbnails.

Every figure of the app (these, the inspector's curves, the dataset charts) is made of :data:`TRACE_TYPES` only:
the page's Plotly registers no other (``ui.plotly_bundle``).
"""

from .lanes import EDIT_COLOURS, LANE_PITCH, BandRow, edits_row, loudness_envelope, pack_rows
from .tables import (
    CLUSTER_COLOURS, CLUSTER_COLUMNS, DURATION_MATCH_S, SEGMENT_COLUMNS, THUMBNAIL_WIDTH, UNCLUSTERED_COLOUR,
    Thumbnailer, cluster_colour, cluster_names, cluster_rows, detection_rows, ground_truth_for_video, runner_ups,
    segment_rows, visible_segments,
)
from .timeline import (
    CURVE_STYLES, GROUND_TRUTH_COLOUR, OPTIONAL_CURVES, lanes_timeline_json, timeline_base, timeline_figure,
    timeline_json,
)

#: The Plotly trace types the app's figures use.
TRACE_TYPES = ("scatter", "bar")

__all__ = [
    "CLUSTER_COLOURS", "CLUSTER_COLUMNS", "CURVE_STYLES", "DURATION_MATCH_S", "EDIT_COLOURS", "GROUND_TRUTH_COLOUR",
    "LANE_PITCH", "OPTIONAL_CURVES", "SEGMENT_COLUMNS", "THUMBNAIL_WIDTH", "TRACE_TYPES", "UNCLUSTERED_COLOUR", "BandRow",
    "Thumbnailer", "cluster_colour", "cluster_names", "cluster_rows", "detection_rows", "edits_row",
    "ground_truth_for_video", "lanes_timeline_json", "loudness_envelope", "pack_rows", "runner_ups", "segment_rows",
    "timeline_base", "timeline_figure", "timeline_json", "visible_segments",
]
