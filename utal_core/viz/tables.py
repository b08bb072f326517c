"""Table rows, cluster names and colours, ground-truth selection and thumbnails for an analysis."""

from __future__ import annotations

import hashlib
import os
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Sequence

from ..evaluate import DetectionResult, GroundTruth, GroundTruthByVideo
from ..export import atomic_write_bytes, segment_label
from ..media import thumbnail_jpeg
from ..types import Segment

if TYPE_CHECKING:
    from ..pipeline import Analysis

#: Colours of clusters 0, 1, ... (cycled); -1 (unclustered) is grey.
CLUSTER_COLOURS: tuple[str, ...] = (
    "#e6550d", "#3182bd", "#31a354", "#756bb1", "#d6616b", "#8c6d31", "#e7ba52", "#17becf", "#7b4173", "#637939",
)
UNCLUSTERED_COLOUR = "#7f7f7f"
#: Columns of :func:`segment_rows`.
SEGMENT_COLUMNS: tuple[str, ...] = ("#", "start (s)", "end (s)", "duration (s)", "score", "cluster", "name")
#: Columns of :func:`cluster_rows`.
CLUSTER_COLUMNS: tuple[str, ...] = ("cluster", "name", "segments", "name score", "runner-ups", "named by")
THUMBNAIL_WIDTH = 192
#: Two durations closer than this (seconds) name the same video when matching ground truth to it.
DURATION_MATCH_S = 0.5


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
    """Table rows (see ``SEGMENT_COLUMNS``) of the visible segments, in time order; ``#`` is the segment's number,
    as the inspector, the corrections and the subtitles show it (:attr:`Segment.number`)."""
    names = cluster_names(analysis)
    return [[s.number, round(s.start, 2), round(s.end, 2), round(s.duration, 2), round(s.score, 3),
             names.get(s.cluster, str(s.cluster)), segment_label(s)]
            for _, s in visible_segments(analysis, cluster)]


def cluster_rows(analysis: "Analysis") -> list[list]:
    """Table rows (see ``CLUSTER_COLUMNS``), one per cluster."""
    return [[c.id, c.name, c.size, round(c.name_score, 3), runner_ups(c.alternatives), c.named_by]
            for c in analysis.clusters]


def runner_ups(alternatives: Sequence[tuple[str, float]]) -> str:
    """Runner-up names with their scores, ``"clapping 0.41, dancing 0.40"``."""
    return ", ".join(f"{name} {score:.2f}" for name, score in alternatives)


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
