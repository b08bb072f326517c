"""Curves -> segments: the CoLA-style inference (multi-threshold proposals, outer-inner contrast, NMS).

Pure numpy functions of cached per-snippet curves, fast enough to rerun on every slider move.

:func:`localize_sources` is the analysis' localizer; it reads several curves of one video (each
view's own evidence and the fused actionness) and is chosen by leave-one-group-out on the real dev
clips (benchmarks/real_clips.py --logo):

1. Every source is smoothed at each time scale of ``LocalizeParams.scales_s`` and placed on its own
   range, [0, 1] (:func:`utal_core.curves.ranged_curve`), so a short burst and a long action each
   have a scale that shows them; a flat source is left out.
2. Proposals come from *every* one of these curves: each is thresholded at every level of
   ``thresholds``, and each run of consecutive samples strictly above a level is a proposal. Runs
   of one level separated by a gap shorter than ``merge_gap_s`` are joined; proposals shorter than
   ``min_duration_s`` are dropped; identical proposals are kept once. Shot cuts (``cuts``: the
   snippets that start a new shot) split every proposal that spans one into its pieces, which join
   the candidates (an action rarely runs on unchanged across a cut; the unsplit one stays too).
3. Score: per source, the outer-inner contrast (below) averaged over the scales no coarser than half
   the proposal's length (the finest scale always counts): a 2 s burst is not judged on a curve that
   smoothing has spread over 8 s. A proposal's score is its best source's, and ``Segment.source``
   names it. The maximum, not the mean: a strong burst in one view (a collision seen and not heard)
   is not averaged away by the views that saw nothing.
4. Greedy NMS at ``nms_iou``; of the rest, those scoring above ``min_relative_score`` times the
   video's best segment (a segment with a tenth of the contrast of the clearest action in the video,
   or none, is no finding), then the ``max_segments`` best.

Outer-inner contrast: the mean of the curve inside the proposal minus its mean over
``max(1, outer_margin * length)`` samples on *each* side. Where a side runs past the video's start or
end the curve is mirrored there, so an edge proposal is compared with what the video shows on both
sides of its boundary and never with nothing: a sub-second stub at the start no longer scores as if
it were an action, and the whole video is scored by the same test as any other proposal.

:func:`localize` is the single-curve form (proposals from one actionness curve, optionally min-max
normalised and upsampled). Without a CAS the scored curve is the actionness itself and segments have
``cluster = -1``. With a CAS [T, K] (features mode: the unsupervised protocol's pseudo-classes), every
proposal is scored once per selected pseudo-class k on CAS[:, k], plus ``video_score_weight *
video_scores[k]``, and gets ``cluster = k`` (CoLA's actionness branch). Selected classes: those whose
video score reaches ``class_threshold``, or the best one when none does; NMS is class-wise unless
``class_agnostic_nms``.

Times: upsampled sample ``j`` is the ``j``-th of ``upsample`` equal parts of snippet
``j // upsample``'s stride, so a run of samples ``a..b`` spans fractional snippet indices
``[a / upsample - 0.5, (b + 1) / upsample - 0.5]``, converted with
:meth:`SnippetGrid.index_to_seconds` and clipped to the video. With ``upsample = 1`` this is
exactly :meth:`SnippetGrid.span_seconds` (window-centre convention).
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields, replace
from typing import Mapping, Sequence

import numpy as np

from .curves import ranged_curve
from .errors import UTALError
from .evaluate import segment_tiou
from .grid import SnippetGrid
from .types import Segment

#: CoLA's actionness threshold sweep 0.1, 0.125, ..., 0.9.
DEFAULT_THRESHOLDS: tuple[float, ...] = tuple(np.round(np.arange(0.1, 0.925, 0.025), 4).tolist())
#: Time scales (s) at which :func:`localize_sources` reads every source.
DEFAULT_SCALES_S: tuple[float, ...] = (1.0, 2.0, 4.0)
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
    scales_s: tuple[float, ...] = DEFAULT_SCALES_S
    #: Analyses only (pipeline.analysis_segments): split proposals at shot cuts; move boundaries on fine evidence.
    split_at_cuts: bool = True
    refine_boundaries: bool = True
    #: :func:`localize_sources` keeps only segments scoring above this fraction of the video's best segment.
    min_relative_score: float = 0.1
    #: Analyses only: a segment touching the video's start or end must be at least this long (:func:`drop_edge_stubs`).
    min_edge_duration_s: float = 1.0

    def __post_init__(self) -> None:
        object.__setattr__(self, "thresholds", tuple(float(t) for t in np.atleast_1d(self.thresholds)))
        if not self.thresholds or not np.all(np.isfinite(self.thresholds)):
            raise UTALError("localization needs at least one finite threshold")
        object.__setattr__(self, "scales_s", tuple(float(t) for t in np.atleast_1d(self.scales_s)))
        if not self.scales_s or not all(np.isfinite(t) and t >= 0 for t in self.scales_s):
            raise UTALError("localization needs at least one time scale, each finite and not negative")
        if min(self.min_duration_s, self.merge_gap_s, self.outer_margin, self.min_edge_duration_s) < 0:
            raise UTALError("min duration, merge gap, outer margin and min edge duration must not be negative")
        if not 0 <= self.min_relative_score < 1:
            raise UTALError(f"the minimum relative score must be in [0, 1), got {self.min_relative_score}")
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
        return asdict(self) | {"thresholds": list(self.thresholds), "scales_s": list(self.scales_s)}

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
    first, last, start_s, end_s = _timed_proposals([fine], grid, params, cuts)
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


#: Each source's curves at the sorted time scales (None where flat at that scale), upsampled: see :func:`ranged_sources`.
RangedSources = dict[str, list[np.ndarray | None]]


def ranged_sources(sources: Mapping[str, np.ndarray], grid: SnippetGrid, params: LocalizeParams) -> RangedSources:
    """Every source smoothed at each of ``params.scales_s`` (sorted), placed on its own range and upsampled by
    ``params.upsample``; a source flat at every scale is left out. All that :func:`localize_ranged` reads of the
    curves; no threshold enters it, so a caller that cuts the same curves at many thresholds keeps it."""
    scales = np.sort(np.asarray(params.scales_s))
    ranged: RangedSources = {}
    for name, signal in sources.items():
        signal = np.nan_to_num(np.asarray(signal, dtype=np.float64))
        if signal.ndim != 1 or signal.shape[0] != grid.num_snippets:
            raise ValueError(f"source {name!r} must be 1-D [T={grid.num_snippets}], got shape {signal.shape}")
        curves = [ranged_curve(signal, grid.stride, scale) for scale in scales]
        if any(curve is not None for curve in curves):
            ranged[name] = [None if curve is None else _upsample(curve, params.upsample) for curve in curves]
    return ranged


def localize_sources(sources: Mapping[str, np.ndarray], grid: SnippetGrid, params: LocalizeParams = LocalizeParams(),
                     cuts: np.ndarray | None = None) -> list[Segment]:
    """Segments (seconds, best score first, ``cluster = -1``) from several curves [T] of one video, by name:
    proposals from every source at every scale, each scored by its best source (see the module docstring)."""
    return localize_ranged(ranged_sources(sources, grid, params), grid, params, cuts)


def localize_ranged(ranged: RangedSources, grid: SnippetGrid, params: LocalizeParams = LocalizeParams(),
                    cuts: np.ndarray | None = None) -> list[Segment]:
    """:func:`localize_sources` from the sources' curves made by :func:`ranged_sources` with the same ``params``."""
    scales = np.sort(np.asarray(params.scales_s))
    if not ranged:
        return []
    first, last, start_s, end_s = _timed_proposals([c for curves in ranged.values() for c in curves if c is not None],
                                                   grid, params, cuts)
    if first.size == 0:
        return []
    # A proposal is read at the scales no coarser than half its length (and always at the finest one), so a
    # short burst is not scored on a curve that has blurred it into its surroundings.
    fits = (scales[:, None] <= (end_s - start_s)[None, :] / 2) | (np.arange(len(scales)) == 0)[:, None]
    contrast = np.stack([_scale_matched(curves, fits, first, last, params.outer_margin) for curves in ranged.values()])
    names, best = list(ranged), np.argmax(contrast, axis=0)
    scores = contrast[best, np.arange(len(best))]
    keep = _nms_indices(start_s, end_s, scores, None, params.nms_iou)
    keep = keep[scores[keep] > params.min_relative_score * max(float(scores.max()), 0.0)][: params.max_segments]
    return [Segment(float(start_s[i]), float(end_s[i]), float(scores[i]), -1, source=names[best[i]]) for i in keep]


def _scale_matched(curves: list[np.ndarray | None], fits: np.ndarray, first: np.ndarray, last: np.ndarray,
                   margin: float) -> np.ndarray:
    """Per proposal, the mean outer-inner contrast over the scales that ``fits`` [scales, N] allows (a flat
    curve at a scale counts as no contrast there)."""
    total = np.zeros(len(first))
    for curve, allowed in zip(curves, fits):
        if curve is not None:
            total += np.where(allowed, _outer_inner_contrast(curve[:, None], first, last, margin)[:, 0], 0.0)
    return total / fits.sum(axis=0)


def _timed_proposals(curves: list[np.ndarray], grid: SnippetGrid, params: LocalizeParams, cuts: np.ndarray | None
                     ) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]:
    """First and last samples, start and end seconds of the distinct proposals of all ``curves`` (upsampled
    by ``params.upsample``), split at ``cuts`` and at least ``params.min_duration_s`` long."""
    length, sample_s = len(curves[0]), grid.stride / params.upsample
    runs = [_proposals(curve, sample_s, params) for curve in curves]
    first, last = _unique_runs(np.concatenate([r[0] for r in runs]), np.concatenate([r[1] for r in runs]), length)
    if cuts is not None and len(cuts):
        first, last = split_at_cuts(first, last, np.asarray(cuts, dtype=np.int64) * params.upsample, length)
    start_s = np.clip(grid.index_to_seconds(first / params.upsample - 0.5), 0.0, grid.duration)
    end_s = np.clip(grid.index_to_seconds((last + 1) / params.upsample - 0.5), 0.0, grid.duration)
    long_enough = (end_s - start_s) >= params.min_duration_s
    return first[long_enough], last[long_enough], start_s[long_enough], end_s[long_enough]


def drop_edge_stubs(segments: Sequence[Segment], duration: float, min_edge_duration_s: float,
                    reach_s: float = 0.0) -> list[Segment]:
    """``segments`` less those shorter than ``min_edge_duration_s`` that reach within ``reach_s`` of the video's
    start or end: there the curves' smoothing and the first frame's missing motion make sub-second runs that are
    no action."""
    return [s for s in segments
            if s.end - s.start >= min_edge_duration_s or (s.start > reach_s and s.end < duration - reach_s)]


def refine_boundaries(segments: Sequence[Segment], times: np.ndarray, evidence: np.ndarray, reach_s: float,
                      duration: float) -> list[Segment]:
    """Move each start to the strongest rise and each end to the strongest fall of a fine evidence curve
    (``evidence`` at sorted ``times``) within ``reach_s`` of the snippet-quantised boundary; a boundary
    without a rise (or fall) there stays. A moved boundary sits halfway between the two samples."""
    times, evidence = np.asarray(times, dtype=np.float64), np.asarray(evidence, dtype=np.float64)
    if len(times) < 2 or reach_s <= 0:
        return list(segments)
    middles, steps = (times[1:] + times[:-1]) / 2, np.diff(evidence)
    # The steps within reach of a boundary lie in a short run of the sorted middles: found by bisection (with a
    # margin for rounding), then tested exactly, for all boundaries at once (this is on the re-threshold path).
    margin = 1e-9 * max(1.0, float(np.abs(middles).max()))

    def best(boundaries: np.ndarray, sign: float, low: np.ndarray, high: np.ndarray, move: np.ndarray) -> np.ndarray:
        first = np.searchsorted(middles, boundaries - reach_s - margin, side="left")
        after = np.searchsorted(middles, boundaries + reach_s + margin, side="right")
        index = first[:, None] + np.arange(max(int((after - first).max(initial=0)), 1))[None, :]
        inside = (index < after[:, None]) & move[:, None]
        index = np.minimum(index, len(middles) - 1)
        at = middles[index]
        near = inside & (np.abs(at - boundaries[:, None]) <= reach_s) & (at > low[:, None]) & (at < high[:, None])
        signed = np.where(near, sign * steps[index], -np.inf)
        choice = signed.argmax(axis=1)  # the first of equal steps, as in time order
        rows = np.arange(len(boundaries))
        return np.where(signed[rows, choice] > 0, at[rows, choice], boundaries)

    starts = np.array([s.start for s in segments], dtype=np.float64)
    ends = np.array([s.end for s in segments], dtype=np.float64)
    unbounded = np.full(len(starts), np.inf)
    starts = best(starts, 1.0, -unbounded, ends, starts > 0)
    ends = best(ends, -1.0, starts, unbounded, ends < duration)
    starts, ends = np.clip(starts, 0.0, duration), np.clip(ends, 0.0, duration)
    return [replace(segment, start=float(start), end=float(end)) for segment, start, end in zip(segments, starts, ends)]


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
    """Mean inside each run minus the mean over ``max(1, margin * length)`` samples on each side, per curve:
    [N, C]. A side that runs past the video's start or end reads the curve mirrored there."""
    if first.size == 0:
        return np.zeros((0, curves.shape[1]))
    run_length = last - first + 1
    width = np.maximum(1, np.floor(margin * run_length)).astype(np.int64)
    pad = int(width.max())
    padded = np.pad(curves, ((pad, pad), (0, 0)), mode="symmetric")
    cumulative = np.concatenate([np.zeros((1, curves.shape[1])), np.cumsum(padded, axis=0)])
    first, last = first + pad, last + pad
    inner_mean = (cumulative[last + 1] - cumulative[first]) / run_length[:, None]
    outer_sum = (cumulative[first] - cumulative[first - width]) + (cumulative[last + 1 + width] - cumulative[last + 1])
    return inner_mean - outer_sum / (2 * width)[:, None]


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
