"""The dataset view: a loaded ground truth, one or more detectors' summaries and the per-video table, computed once.

The table has one row per ground-truth video (its order) and these columns:

- ``video``, ``duration`` (s, NaN when the ground truth has none), ``instances``, ``coverage`` (the share of the
  video covered by the union of its instances, NaN without a duration), ``classes`` (its labels, comma-separated),
  ``has_video`` (a file of the ``--videos`` folder matched it);
- per detector, :data:`~utal_core.dataset.metrics.DETECTOR_COLUMNS` (``ap``, ``predictions``, ``missed``,
  ``true_positive``, ``double_detection``, ``wrong_label``, ``localization_error``, ``confusion``, ``background``):
  as they are for the first detector, with ``_2``, ``_3``... for the next ones;
- with two or more detectors, ``<column>_delta``: the second minus the first.

:meth:`DatasetView.page` answers a sorted, filtered page of it from NumPy arrays (the app's server-side paging).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import numpy as np

from ..diagnose import OUTCOMES, PredictionOutcome
from ..errors import UTALError
from ..evaluate import GroundTruth
from .metrics import DETECTOR_COLUMNS, DetectorSummary

#: Columns that hold text; every other column is a number.
TEXT_COLUMNS = ("video", "classes")
#: Decimals at which the table's numbers are compared (sorts and ranges): float noise below them is no order (two
#: videos' AP of 5/12 computed along two paths tie, and keep the ground truth's order).
COMPARE_DECIMALS = 6


@dataclass(frozen=True)
class RowFilter:
    """Which rows :meth:`DatasetView.page` keeps: ``text`` in the video id (any case), ``label`` among the video's
    classes, ``has_video`` as given, and each ``ranges`` column within [low, high] (None: open)."""

    text: str = ""
    label: str | None = None
    has_video: bool | None = None
    ranges: Mapping[str, tuple[float | None, float | None]] = field(default_factory=dict)


@dataclass(frozen=True)
class TablePage:
    """``rows`` (dicts of the table's columns) from ``offset`` of the ``total`` rows that passed the filter."""

    rows: list[dict]
    total: int
    offset: int


def detector_column(column: str, detector: int) -> str:
    """The table's name of a detector column (``detector`` counts from 0)."""
    return column if detector == 0 else f"{column}_{detector + 1}"


def _coverage(items: Sequence[GroundTruth], duration: float) -> float:
    if not duration or not np.isfinite(duration):
        return float("nan")
    spans = sorted((g.start, min(g.end, duration)) for g in items)
    covered, reach = 0.0, 0.0
    for start, end in spans:
        start = max(start, reach)
        if end > start:
            covered += end - start
            reach = end
    return covered / duration


@dataclass
class DatasetView:
    """A loaded dataset (see :func:`~utal_core.dataset.load.load_dataset`): keep it and ask it for pages and videos."""

    ground_truth_path: str
    subset: str | None
    layout: str
    ground_truth: dict[str, list[GroundTruth]]
    durations: dict[str, float]
    detectors: list[DetectorSummary]
    video_files: dict[str, Path] = field(default_factory=dict)
    table: dict[str, np.ndarray] = field(default_factory=dict)
    _orders: dict[tuple[str, bool], np.ndarray] = field(default_factory=dict, repr=False)
    _label_masks: dict[str, np.ndarray] = field(default_factory=dict, repr=False)
    _outcomes: dict[int, dict[str, list[PredictionOutcome]]] = field(default_factory=dict, repr=False)
    _missed: dict[int, dict[str, list[int]]] = field(default_factory=dict, repr=False)
    _lower_names: list[str] | None = field(default=None, repr=False)

    def __post_init__(self) -> None:
        if not self.table:
            self.table = self._build_table()

    def attach_videos(self, video_files: dict[str, Path]) -> None:
        """Use ``video_files`` (video id -> file) as the matched videos: the ``has_video`` column follows."""
        self.video_files = video_files
        self.table = self._build_table()
        self._orders.clear()

    @property
    def videos(self) -> list[str]:
        return list(self.ground_truth)

    def _build_table(self) -> dict[str, np.ndarray]:
        videos = self.videos
        durations = np.array([self.durations.get(v, np.nan) for v in videos], dtype=np.float64)
        table: dict[str, np.ndarray] = {
            "video": np.array(videos, dtype=object),
            "duration": durations,
            "instances": np.array([len(self.ground_truth[v]) for v in videos], dtype=np.int64),
            "coverage": np.array([_coverage(self.ground_truth[v], d) for v, d in zip(videos, durations)]),
            "classes": np.array([", ".join(sorted({g.label for g in self.ground_truth[v]})) for v in videos],
                                dtype=object),
            "has_video": np.array([v in self.video_files for v in videos], dtype=bool),
        }
        for k, detector in enumerate(self.detectors):
            for column in DETECTOR_COLUMNS:
                table[detector_column(column, k)] = detector.columns[column]
        if len(self.detectors) >= 2:
            for column in DETECTOR_COLUMNS:
                table[f"{column}_delta"] = table[detector_column(column, 1)] - table[column]
        return table

    # -- the table -------------------------------------------------------------------------------

    def _order(self, sort_by: str, descending: bool) -> np.ndarray:
        """Row indices in the sort order (NaN last either way, numbers compared at :data:`COMPARE_DECIMALS`,
        ties in the ground truth's order); kept per key."""
        key = (sort_by, descending)
        if key not in self._orders:
            if sort_by not in self.table:
                raise UTALError(f"no column {sort_by!r} to sort by (columns: {', '.join(self.table)})")
            values = self.table[sort_by]
            if sort_by in TEXT_COLUMNS:  # equal texts share a rank: their ties keep the ground truth's order
                values = np.unique(values.astype(str), return_inverse=True)[1]
            values = np.round(values.astype(np.float64), COMPARE_DECIMALS)
            missing = np.isnan(values)
            order = np.lexsort((np.arange(len(values)), np.where(missing, 0.0, -values if descending else values),
                                missing))
            self._orders[key] = order
        return self._orders[key]

    def _mask(self, row_filter: RowFilter | None) -> np.ndarray | None:
        if row_filter is None:
            return None
        mask = np.ones(len(self.ground_truth), dtype=bool)
        if row_filter.text:
            if self._lower_names is None:
                self._lower_names = [video.lower() for video in self.videos]
            text = row_filter.text.lower()
            mask &= np.fromiter((text in name for name in self._lower_names), dtype=bool, count=len(mask))
        if row_filter.label is not None:
            if not self._label_masks:  # every label's rows in one pass, on the first label filter
                for k, video in enumerate(self.videos):
                    for label in {g.label for g in self.ground_truth[video]}:
                        self._label_masks.setdefault(label, np.zeros(len(mask), dtype=bool))[k] = True
            mask &= self._label_masks.get(row_filter.label, np.zeros(len(mask), dtype=bool))
        if row_filter.has_video is not None:
            mask &= self.table["has_video"] == row_filter.has_video
        for column, (low, high) in row_filter.ranges.items():
            if column not in self.table or column in TEXT_COLUMNS:
                raise UTALError(f"no numeric column {column!r} to filter on")
            values = np.round(self.table[column].astype(np.float64), COMPARE_DECIMALS)
            if low is not None:
                mask &= values >= low
            if high is not None:
                mask &= values <= high
        return mask

    def ordered_rows(self, sort_by: str = "ap", descending: bool = False,
                     row_filter: RowFilter | None = None) -> np.ndarray:
        """Row indices that pass ``row_filter``, in the sort order (what next/previous video walks along)."""
        order = self._order(sort_by, descending)
        mask = self._mask(row_filter)
        return order if mask is None else order[mask[order]]

    def row(self, index: int) -> dict:
        """One row of the table as plain Python values (NaN as None)."""
        def plain(value: object) -> object:
            if isinstance(value, np.generic):
                value = value.item()
            return None if isinstance(value, float) and np.isnan(value) else value
        return {column: plain(values[index]) for column, values in self.table.items()}

    def page(self, sort_by: str = "ap", descending: bool = False, row_filter: RowFilter | None = None,
             offset: int = 0, limit: int = 50) -> TablePage:
        """Rows ``offset`` to ``offset + limit`` of the table sorted by ``sort_by`` and filtered by ``row_filter``
        (NaN sorts last either way; ties keep the ground truth's order)."""
        if offset < 0 or limit < 0:
            raise UTALError("the page offset and size must not be negative")
        rows = self.ordered_rows(sort_by, descending, row_filter)
        return TablePage([self.row(int(i)) for i in rows[offset:offset + limit]], len(rows), offset)

    # -- one video -------------------------------------------------------------------------------

    def outcomes(self, video: str, detector: int = 0) -> list[PredictionOutcome]:
        """The judged predictions of one detector on ``video``, in the results file's order."""
        if detector not in self._outcomes:
            grouped: dict[str, list[PredictionOutcome]] = {}
            for item in self.detectors[detector].diagnosis.predictions:
                grouped.setdefault(item.video, []).append(item)
            self._outcomes[detector] = grouped
        return self._outcomes[detector].get(video, [])

    def missed(self, video: str, detector: int = 0) -> list[int]:
        """Indices in ``video``'s ground truth that one detector missed (at the diagnose threshold)."""
        if detector not in self._missed:
            grouped: dict[str, list[int]] = {}
            for v, j, _ in self.detectors[detector].diagnosis.missed:
                grouped.setdefault(v, []).append(j)
            self._missed[detector] = grouped
        return self._missed[detector].get(video, [])

    # -- summary ---------------------------------------------------------------------------------

    def summary(self) -> dict:
        """The dataset summary as plain JSON-ready data: per detector mAP per tIoU, AP per class, the DETAD counts
        (and missed), the length sensitivity and the offset histograms; with two detectors, the second minus the
        first."""
        detectors = []
        for detector in self.detectors:
            diagnosis = detector.diagnosis
            detectors.append({
                "name": detector.name,
                "evaluation": detector.result.to_dict(),
                "diagnose_tiou": diagnosis.tiou, "min_tiou": diagnosis.min_tiou,
                "counts": diagnosis.counts, "missed": len(diagnosis.missed),
                "ignored_predictions": detector.ignored_predictions,
                "sensitivity": detector.sensitivity.to_dict(),
                "start_offsets": {"edges": diagnosis.start_offsets.edges, "counts": diagnosis.start_offsets.counts},
                "end_offsets": {"edges": diagnosis.end_offsets.edges, "counts": diagnosis.end_offsets.counts},
            })
        summary: dict = {
            "ground_truth": self.ground_truth_path, "subset": self.subset, "layout": self.layout,
            "videos": len(self.ground_truth), "instances": int(self.table["instances"].sum()),
            "classes": len({g.label for items in self.ground_truth.values() for g in items}),
            "videos_with_files": int(self.table["has_video"].sum()), "detectors": detectors,
        }
        if len(self.detectors) >= 2:
            first, second = self.detectors[0], self.detectors[1]
            summary["difference"] = {
                "map_per_tiou": (second.result.map_per_tiou - first.result.map_per_tiou).tolist(),
                "mean_map": second.result.mean_map - first.result.mean_map,
                "per_class_ap": {label: (second.result.per_class_ap[label] - ap).tolist()
                                 for label, ap in first.result.per_class_ap.items()},
                "counts": {o: second.diagnosis.counts[o] - first.diagnosis.counts[o] for o in OUTCOMES},
                "missed": len(second.diagnosis.missed) - len(first.diagnosis.missed),
            }
        return summary
