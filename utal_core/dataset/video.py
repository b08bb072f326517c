"""One video of a loaded dataset, as the app's single-video view shows it without an analysis of its own.

A :class:`DatasetVideo` is what the Analyze tab holds as "the video on screen" when a video is opened from the
Dataset tab's table: its ground truth (the instances a researcher corrects, through the same edits layer as an
analysis's segments), each detector's predictions on it, its file when the dataset has one, and its place in the
order the table was sorted in. Nothing here runs a model: the localizer's curves, segments and clusters are absent.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from ..edits import EditLayer, numbered_segments
from ..evaluate import GroundTruth, Prediction
from ..types import Segment
from .view import DatasetView


@dataclass(frozen=True)
class Cursor:
    """A place in the table: the row order when the video was opened (``order``: row indices) and the position in
    it; next and previous walk that order."""

    order: tuple[int, ...]
    position: int

    def video(self, view: DatasetView) -> str:
        return view.videos[self.order[self.position]]

    def moved(self, step: int) -> "Cursor":
        return Cursor(self.order, min(max(self.position + step, 0), len(self.order) - 1))


@dataclass
class DatasetVideo:
    """A dataset's video opened in the single-video view. ``content_hash`` is the key of its corrections in the
    visitor's store (the dataset's, not the file's: the same file in another ground truth has other corrections);
    ``video_path`` is "" without a file; ``detectors`` holds each results file's name and its predictions on this
    video (every detector of the dataset, none left out)."""

    video_id: str
    content_hash: str
    video_path: str
    duration: float
    ground_truth: list[GroundTruth]
    detectors: list[tuple[str, list[Prediction]]]
    cursor: Cursor
    media: dict = field(default_factory=dict)
    #: The researcher's corrections of the ground truth (None: none yet).
    edits: EditLayer | None = None

    @property
    def segments(self) -> list[Segment]:
        """The ground-truth instances as segments (:func:`truth_segments`)."""
        return truth_segments(self.ground_truth)

    @property
    def clusters(self) -> list:
        """A dataset's video has no pseudo-action clusters (they come from an analysis)."""
        return []

    def edit_layer(self) -> EditLayer:
        """The corrections layer over the ground truth, a new empty one (at the file's frame rate) on first use."""
        if self.edits is None:
            self.edits = EditLayer(tuple(self.segments), self.duration, self.media.get("fps"))
        return self.edits


def truth_segments(ground_truth: list[GroundTruth]) -> list[Segment]:
    """Ground-truth instances as segments, in the file's order (instance ``j`` is an edits layer's ``rj``), numbered
    as an analysis's segments are (``#1``, ``#2``... in time order: the number the researcher sees)."""
    return numbered_segments([Segment(g.start, g.end, 1.0, label=g.label) for g in ground_truth])


def video_duration(view: DatasetView, video: str) -> float:
    """The video's duration from the ground truth, else the end of its last instance (at least 1 s)."""
    duration = view.durations.get(video, float("nan"))
    if np.isfinite(duration) and duration > 0:
        return float(duration)
    return max([g.end for g in view.ground_truth[video]] + [1.0])


def dataset_video(view: DatasetView, cursor: Cursor, key: str, media: dict | None = None) -> DatasetVideo:
    """The video at ``cursor`` with every detector's predictions on it (as the results files hold them: the same
    predictions ``diagnose`` judged), its file when matched (``media``: its probe, as a dict), ``key`` naming its
    corrections."""
    video = cursor.video(view)
    file: Path | None = view.video_files.get(video)
    detectors = [(detector.name, [Prediction(o.start, o.end, o.score, o.label) for o in view.outcomes(video, k)])
                 for k, detector in enumerate(view.detectors)]
    return DatasetVideo(video, key, str(file) if file is not None else "", video_duration(view, video),
                        list(view.ground_truth[video]), detectors, cursor, dict(media or {}))
