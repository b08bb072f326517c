"""Curves -> segments: the CoLA-style inference (multi-threshold proposals, outer-inner contrast, NMS).

Pure numpy functions of cached per-snippet curves, fast enough to rerun on every slider move.

1. The actionness curve (optionally min-max normalised, optionally upsampled by linear
   interpolation) is thresholded at every level of ``LocalizeParams.thresholds``; each run of
   consecutive samples strictly above a level is a proposal. Runs of one level separated by a
   gap shorter than ``merge_gap_s`` are joined; proposals shorter than ``min_duration_s`` are
   dropped; identical proposals from different levels are kept once.
2. Score: outer-inner contrast, the mean of the scored curve inside the proposal minus its mean
   over a margin of ``outer_margin * length`` on both sides (0 when the proposal touches both
   video ends). Shot cuts (``cuts``: the snippets that start a new shot) split every proposal
   that spans one into its pieces, which join the candidates: an action rarely runs on unchanged
   across a cut, so each shot's part is scored on its own (the unsplit proposal stays, for the
   action that does). Without a CAS the scored curve is the actionness itself and segments have
   ``cluster = -1``. With a CAS [T, K], every proposal is scored once per selected pseudo-class
   k on CAS[:, k], plus ``video_score_weight * video_scores[k]``, and gets ``cluster = k``
   (CoLA's actionness branch). Selected classes: those whose video score reaches
   ``class_threshold``, or the best one when none does.
3. Greedy NMS at ``nms_iou`` (class-wise unless ``class_agnostic_nms``), then the
   ``max_segments`` best.

Times: upsampled sample ``j`` is the ``j``-th of ``upsample`` equal parts of snippet
``j // upsample``'s stride, so a run of samples ``a..b`` spans fractional snippet indices
``[a / upsample - 0.5, (b + 1) / upsample - 0.5]``, converted with
:meth:`SnippetGrid.index_to_seconds` and clipped to the video. With ``upsample = 1`` this is
exactly :meth:`SnippetGrid.span_seconds` (window-centre convention).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Sequence

import numpy as np

from .errors import UTALError
from .evaluate import segment_tiou
from .grid import SnippetGrid
from .types import Segment

#: CoLA's actionness threshold sweep 0.1, 0.125, ..., 0.9.
DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(np.round(np.arange(0.1, 0.925, 0.025), 4).tolist())
#: Video-level class score when none is given: mean of the top T // 8 CAS values (CoLA's r_act = 8).
_VIDEO_SCORE_TOP_DIVISOR = 8


@dataclass(frozen=True)
class LocalizeParams:
    """Settings of :func:`localize`; see the module docstring for what each one does."""

    thresholds: tuple[float, ...] = DEFAULT_THRESHOLDS
    min_duration_s: float = 0.0
    merge_gap_s: float = 0.0
    nms_iou: float = 0.6
    outer_margin: float = 0.25
    video_score_weight: float = 0.2
    class_threshold: float = 0.2
    upsample: int = 1
    max_segments: int | None = None
    normalize: bool = False
    class_agnostic_nms: bool = False

    def __post_init__(self) -> None:
        object.__setattr__(self, "thresholds", tuple(float(t) for t in np.atleast_1d(self.thresholds)))
        if not self.thresholds or not np.all(np.isfinite(self.thresholds)):
            raise UTALError("localization needs at least one finite threshold")
        if self.min_duration_s < 0 or self.merge_gap_s < 0 or self.outer_margin < 0:
            raise UTALError("min duration, merge gap and outer margin must not be negative")
        if not 0 < self.nms_iou <= 1:
            raise UTALError(f"NMS IoU must be in (0, 1], got {self.nms_iou}")
        if int(self.upsample) != self.upsample or self.upsample < 1:
            raise UTALError(f"upsample factor must be a positive integer, got {self.upsample}")
        object.__setattr__(self, "upsample", int(self.upsample))
        if self.max_segments is not None and self.max_segments < 1:
            raise UTALError(f"max segments must be positive, got {self.max_segments}")

    def with_threshold(self, threshold: float) -> "LocalizeParams":
        """The same settings with a single threshold (the app's slider)."""
        return replace(self, thresholds=(float(threshold),))

    def to_dict(self) -> dict:
        """Plain JSON-ready form."""
        return asdict(self) | {"thresholds": list(self.thresholds)}

    @classmethod
    def from_dict(cls, data: dict) -> "LocalizeParams":
        """Inverse of :meth:`to_dict`; unknown keys are an error."""
        unknown = set(data) - {f.name for f in fields(cls)}
        if unknown:
            raise UTALError(f"unknown localization settings: {', '.join(sorted(unknown))}")
        return cls(**data)


def localize(
    actionness: np.ndarray,
    grid: SnippetGrid,
    params: LocalizeParams = LocalizeParams(),
    cas: np.ndarray | None = None,
    video_scores: np.ndarray | None = None,
    cuts: np.ndarray | None = None,
) -> list[Segment]:
    """Segments (seconds, best score first) from an actionness curve [T] and optionally a CAS [T, K].

    ``video_scores`` [K] are the video-level pseudo-class scores; when a CAS is given without
    them, they are the mean of the top T // 8 CAS values of each class. ``cuts`` are the indices
    of snippets that begin a new shot.
    """
    curve, cas, video_scores = _checked_curves(actionness, cas, video_scores)
    if curve.size == 0:
        return []
    fine = _upsample(_minmax(curve) if params.normalize else curve, params.upsample)
    first, last = _proposals(fine, grid.stride / params.upsample, params)
    if cuts is not None and len(cuts):
        first, last = split_at_cuts(first, last, np.asarray(cuts, dtype=np.int64) * params.upsample, len(fine))
    start_s = np.clip(grid.index_to_seconds(first / params.upsample - 0.5), 0.0, grid.duration)
    end_s = np.clip(grid.index_to_seconds((last + 1) / params.upsample - 0.5), 0.0, grid.duration)
    long_enough = (end_s - start_s) >= params.min_duration_s
    first, last, start_s, end_s = first[long_enough], last[long_enough], start_s[long_enough], end_s[long_enough]
    if first.size == 0:
        return []

    if cas is None:
        scores = _outer_inner_contrast(fine[:, None], first, last, params.outer_margin)[:, 0]
        clusters = np.full(len(first), -1)
    else:
        classes = np.flatnonzero(video_scores >= params.class_threshold)
        if classes.size == 0:
            classes = np.array([int(np.argmax(video_scores))])
        contrast = _outer_inner_contrast(_upsample(cas[:, classes], params.upsample), first, last, params.outer_margin)
        scores = (contrast + params.video_score_weight * video_scores[classes][None, :]).reshape(-1)
        clusters = np.tile(classes, len(first))
        start_s, end_s = np.repeat(start_s, len(classes)), np.repeat(end_s, len(classes))

    keep = _nms_indices(start_s, end_s, scores, None if params.class_agnostic_nms else clusters, params.nms_iou)
    keep = keep[: params.max_segments]
    return [Segment(float(start_s[i]), float(end_s[i]), float(scores[i]), int(clusters[i])) for i in keep]


def refine_boundaries(segments: Sequence[Segment], times: np.ndarray, evidence: np.ndarray, reach_s: float,
                      duration: float) -> list[Segment]:
    """Move each start to the strongest rise and each end to the strongest fall of a fine evidence curve
    (``evidence`` at sorted ``times``) within ``reach_s`` of the snippet-quantised boundary; a boundary
    without a rise (or fall) there stays. A moved boundary sits halfway between the two samples."""
    times, evidence = np.asarray(times, dtype=np.float64), np.asarray(evidence, dtype=np.float64)
    if len(times) < 2 or reach_s <= 0:
        return list(segments)
    middles, steps = (times[1:] + times[:-1]) / 2, np.diff(evidence)

    def best(boundary: float, sign: float, low: float, high: float) -> float:
        near = np.flatnonzero((np.abs(middles - boundary) <= reach_s) & (middles > low) & (middles < high))
        if near.size == 0 or np.max(sign * steps[near]) <= 0:
            return boundary
        return float(middles[near[np.argmax(sign * steps[near])]])

    refined = []
    for segment in segments:
        start = best(segment.start, 1.0, -np.inf, segment.end) if segment.start > 0 else segment.start
        end = best(segment.end, -1.0, start, np.inf) if segment.end < duration else segment.end
        refined.append(replace(segment, start=min(max(start, 0.0), duration), end=min(max(end, 0.0), duration)))
    return refined


def nms(segments: Sequence[Segment], iou: float, class_agnostic: bool = False) -> list[Segment]:
    """Greedy non-maximum suppression: best first, dropping any segment whose tIoU with a kept one exceeds ``iou``.

    Class-wise by default (segments of different clusters never suppress each other); equal scores
    keep their input order.
    """
    if not segments:
        return []
    starts = np.array([s.start for s in segments], dtype=np.float64)
    ends = np.array([s.end for s in segments], dtype=np.float64)
    scores = np.array([s.score for s in segments], dtype=np.float64)
    clusters = None if class_agnostic else np.array([s.cluster for s in segments])
    return [segments[i] for i in _nms_indices(starts, ends, scores, clusters, iou)]


def _checked_curves(
    actionness: np.ndarray, cas: np.ndarray | None, video_scores: np.ndarray | None
) -> tuple[np.ndarray, np.ndarray | None, np.ndarray | None]:
    """Float64 copies with NaN as 0, shapes checked; video scores filled in from the CAS when missing."""
    curve = np.nan_to_num(np.asarray(actionness, dtype=np.float64))
    if curve.ndim != 1:
        raise ValueError(f"actionness must be 1-D [T], got shape {curve.shape}")
    if cas is None:
        if video_scores is not None:
            raise ValueError("video_scores need a CAS")
        return curve, None, None
    cas = np.nan_to_num(np.asarray(cas, dtype=np.float64))
    if cas.ndim != 2 or cas.shape[0] != curve.shape[0] or cas.shape[1] == 0:
        raise ValueError(f"CAS must be [T={curve.shape[0]}, K >= 1], got shape {cas.shape}")
    if video_scores is None:
        video_scores = _top_fraction_mean(cas) if cas.size else np.zeros(cas.shape[1])
    video_scores = np.nan_to_num(np.asarray(video_scores, dtype=np.float64).reshape(-1))
    if video_scores.shape[0] != cas.shape[1]:
        raise ValueError(f"video_scores must have K={cas.shape[1]} entries, got {video_scores.shape[0]}")
    return curve, cas, video_scores


def _minmax(curve: np.ndarray) -> np.ndarray:
    """Rescale to [0, 1]; a flat curve becomes all zeros (no evidence of action anywhere)."""
    low, high = float(curve.min()), float(curve.max())
    return (curve - low) / (high - low) if high > low else np.zeros_like(curve)


def _upsample(curves: np.ndarray, factor: int) -> np.ndarray:
    """Linear interpolation of [T] or [T, K] curves at ``factor`` equal sub-steps per snippet."""
    if factor == 1:
        return curves
    length = curves.shape[0]
    positions = np.clip((np.arange(length * factor) + 0.5) / factor - 0.5, 0, length - 1)
    lower = np.floor(positions).astype(np.int64)
    upper = np.minimum(lower + 1, length - 1)
    weight = (positions - lower).reshape((-1,) + (1,) * (curves.ndim - 1))
    return curves[lower] * (1 - weight) + curves[upper] * weight


def _runs(mask: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Row, first and last (inclusive) index of every run of True in each row of a 2-D mask, row-major order."""
    padded = np.zeros((mask.shape[0], mask.shape[1] + 2), dtype=np.int8)
    padded[:, 1:-1] = mask
    change = np.diff(padded, axis=1)
    rows, first = np.nonzero(change == 1)
    _, after_last = np.nonzero(change == -1)
    return rows, first, after_last - 1


def _proposals(fine: np.ndarray, sample_seconds: float, params: LocalizeParams) -> tuple[np.ndarray, np.ndarray]:
    """Distinct (first, last) sample runs above any threshold, close runs of one threshold merged."""
    rows, first, last = _runs(fine[None, :] > np.asarray(params.thresholds)[:, None])
    first, last = _merge_close_runs(rows, first, last, params.merge_gap_s / sample_seconds)
    return _unique_runs(first, last, len(fine))


def split_at_cuts(first: np.ndarray, last: np.ndarray, cuts: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """The runs plus, for each run that spans cuts (a cut at ``c`` starts a new piece at sample ``c``),
    its pieces between consecutive cuts; each distinct run once."""
    cuts = np.unique(cuts)
    pieces_first, pieces_last = [first], [last]
    for index in np.flatnonzero(np.searchsorted(cuts, first, side="right") < np.searchsorted(cuts, last, side="right")):
        inside = cuts[(cuts > first[index]) & (cuts <= last[index])]
        pieces_first.append(np.r_[first[index], inside])
        pieces_last.append(np.r_[inside - 1, last[index]])
    return _unique_runs(np.concatenate(pieces_first), np.concatenate(pieces_last), length)


def _merge_close_runs(rows: np.ndarray, first: np.ndarray, last: np.ndarray, max_gap: float) -> tuple[np.ndarray, np.ndarray]:
    """Join consecutive runs of the same row separated by fewer than ``max_gap`` samples."""
    if max_gap <= 0 or first.size < 2:
        return first, last
    joins_previous = (rows[1:] == rows[:-1]) & ((first[1:] - last[:-1] - 1) < max_gap)
    group_first = np.flatnonzero(np.concatenate([[True], ~joins_previous]))
    group_last = np.concatenate([group_first[1:] - 1, [first.size - 1]])
    return first[group_first], last[group_last]


def _unique_runs(first: np.ndarray, last: np.ndarray, length: int) -> tuple[np.ndarray, np.ndarray]:
    """Each distinct (first, last) once; several thresholds often yield the same run."""
    keys = np.unique(first * (length + 1) + last)
    return keys // (length + 1), keys % (length + 1)


def _outer_inner_contrast(curves: np.ndarray, first: np.ndarray, last: np.ndarray, margin: float) -> np.ndarray:
    """Mean inside each run minus mean over ``margin * length`` samples on both sides, per curve: [N, C]."""
    length = curves.shape[0]
    cumulative = np.concatenate([np.zeros((1, curves.shape[1])), np.cumsum(curves, axis=0)])
    run_length = last - first + 1
    outer_first = np.maximum(0, np.floor(first - margin * run_length)).astype(np.int64)
    outer_last = np.minimum(length - 1, np.floor(last + margin * run_length)).astype(np.int64)
    inner_mean = (cumulative[last + 1] - cumulative[first]) / run_length[:, None]
    outer_sum = (cumulative[first] - cumulative[outer_first]) + (cumulative[outer_last + 1] - cumulative[last + 1])
    outer_count = ((first - outer_first) + (outer_last - last))[:, None]
    outer_mean = np.where(outer_count > 0, outer_sum / np.maximum(outer_count, 1), 0.0)
    return inner_mean - outer_mean


def _top_fraction_mean(cas: np.ndarray) -> np.ndarray:
    """Per-class mean of the top T // 8 (at least one) activations of a CAS [T, K]."""
    top = max(1, cas.shape[0] // _VIDEO_SCORE_TOP_DIVISOR)
    return np.sort(cas, axis=0)[-top:].mean(axis=0)


def _nms_indices(starts: np.ndarray, ends: np.ndarray, scores: np.ndarray, clusters: np.ndarray | None, iou: float) -> np.ndarray:
    """Indices kept by greedy NMS, best score first; ``clusters`` None means class-agnostic.

    Exactly greedy NMS, computed in vectorised rounds over the sparse pairs that overlap by more
    than ``iou``: a segment is dropped once a better neighbour is kept, and kept once every
    better neighbour is dropped. Each round settles at least the best undecided segment; with
    proposals (disjoint runs per threshold) a few rounds settle all.
    """
    rank = np.empty(len(scores), dtype=np.int64)
    rank[np.argsort(-scores, kind="stable")] = np.arange(len(scores))
    if clusters is not None:
        # Shifting each cluster to its own stretch of the time axis keeps clusters from overlapping.
        span = float(np.max(ends) - np.min(starts)) + 1.0
        offset = np.unique(clusters, return_inverse=True)[1] * span
        starts, ends = starts + offset, ends + offset
    first, second = _overlapping_pairs(starts, ends)
    overlaps = segment_tiou(np.stack([starts[first], ends[first]], axis=1), np.stack([starts[second], ends[second]], axis=1)) > iou
    first, second = first[overlaps], second[overlaps]
    better = np.where(rank[first] < rank[second], first, second)
    worse = np.where(rank[first] < rank[second], second, first)
    undecided, kept = np.ones(len(scores), dtype=bool), np.zeros(len(scores), dtype=bool)
    while undecided.any():
        undecided[worse[kept[better]]] = False
        blocked = np.zeros(len(scores), dtype=bool)
        blocked[worse[undecided[better]]] = True
        newly_kept = undecided & ~blocked
        kept |= newly_kept
        undecided &= ~newly_kept
    indices = np.flatnonzero(kept)
    return indices[np.argsort(rank[indices])]


def _overlapping_pairs(starts: np.ndarray, ends: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Index pairs (i, j) of all segments that overlap in time, each pair once (sweep over sorted starts)."""
    order = np.argsort(starts, kind="stable")
    sorted_starts = starts[order]
    # Sorted segments i+1 .. reach-1 start before segment i ends.
    reach = np.searchsorted(sorted_starts, ends[order], side="left")
    counts = np.maximum(reach - np.arange(len(order)) - 1, 0)
    first = np.repeat(np.arange(len(order)), counts)
    within = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    return order[first], order[first + 1 + within]
