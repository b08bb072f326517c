"""Curves -> segments: proposals, outer-inner contrast, merging, NMS and the time convention."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from utal_core.errors import UTALError
from utal_core.grid import SnippetGrid
from utal_core.localize import DEFAULT_THRESHOLDS, LocalizeParams, drop_edge_stubs, localize, localize_sources, nms
from utal_core.types import Segment


def _pulses(length: int, *spans: tuple[int, int], height: float = 1.0) -> np.ndarray:
    curve = np.zeros(length)
    for first, last in spans:
        curve[first:last + 1] = height
    return curve


def test_default_threshold_sweep():
    assert DEFAULT_THRESHOLDS[0] == 0.1 and DEFAULT_THRESHOLDS[-1] == 0.9 and len(DEFAULT_THRESHOLDS) == 33


@pytest.mark.parametrize("stride, window", [(1.0, 1.0), (0.5, 1.0), (0.64, 0.64)])
def test_square_pulse_gives_one_segment_on_the_window_centre_convention(stride, window):
    grid = SnippetGrid(40.0, stride=stride, window=window)
    segments = localize(_pulses(grid.num_snippets, (10, 19)), grid)
    assert len(segments) == 1
    segment = segments[0]
    # Snippet 10's centre minus half a stride .. snippet 19's centre plus half a stride.
    assert (segment.start, segment.end) == pytest.approx(grid.span_seconds(10, 19))
    assert segment.start == pytest.approx(10 * stride + window / 2 - stride / 2)
    assert segment.end == pytest.approx(19 * stride + window / 2 + stride / 2)
    assert segment.score == pytest.approx(1.0) and segment.cluster == -1


def test_segments_are_clipped_to_the_video():
    grid = SnippetGrid(10.0, stride=2.0, window=1.0)  # snippet 0 spans -0.5 .. 1.5 s by the convention
    segment, = localize(np.ones(grid.num_snippets), grid)
    assert (segment.start, segment.end) == (0.0, 9.5) == grid.span_seconds(0, grid.num_snippets - 1)


def test_upsampling_keeps_the_pulse_boundaries_within_a_stride():
    grid = SnippetGrid(30.0)
    plain, = localize(_pulses(grid.num_snippets, (10, 14)), grid, LocalizeParams().with_threshold(0.3))
    fine, = localize(_pulses(grid.num_snippets, (10, 14)), grid, LocalizeParams(thresholds=(0.3,), upsample=8))
    # Linear interpolation crosses 0.3 at 0.2 stride outside the pulse: 2 of the 8 sub-steps.
    assert fine.start == pytest.approx(plain.start - 0.25 * grid.stride)
    assert fine.end == pytest.approx(plain.end + 0.25 * grid.stride)


def test_merge_gap_joins_runs_separated_by_a_shorter_gap():
    grid = SnippetGrid(30.0)
    curve = _pulses(grid.num_snippets, (5, 9), (12, 16))  # a 2-snippet (2 s) gap
    single = LocalizeParams().with_threshold(0.5)
    assert len(localize(curve, grid, single)) == 2
    assert len(localize(curve, grid, LocalizeParams(thresholds=(0.5,), merge_gap_s=2.0))) == 2
    merged, = localize(curve, grid, LocalizeParams(thresholds=(0.5,), merge_gap_s=2.5))
    assert (merged.start, merged.end) == pytest.approx(grid.span_seconds(5, 16))


def test_min_duration_drops_short_runs():
    grid = SnippetGrid(30.0)
    curve = _pulses(grid.num_snippets, (2, 3), (10, 19))
    segments = localize(curve, grid, LocalizeParams(min_duration_s=3.0))
    assert [(s.start, s.end) for s in segments] == [grid.span_seconds(10, 19)]


def test_outer_inner_contrast_prefers_isolated_peaks():
    grid = SnippetGrid(60.0)
    curve = np.zeros(grid.num_snippets)
    curve[5:10] = 0.9          # isolated
    curve[30:45] = 0.4         # context around ...
    curve[35:40] = 0.9         # ... a peak of the same height
    segments = localize(curve, grid, LocalizeParams().with_threshold(0.6))
    assert len(segments) == 2
    best, second = segments
    assert best.start == pytest.approx(5.0) and best.score == pytest.approx(0.9)
    assert second.start == pytest.approx(35.0) and second.score == pytest.approx(0.9 - 0.4)


def test_multi_threshold_proposals_are_suppressed_by_nms():
    grid = SnippetGrid(60.0)
    curve = np.zeros(grid.num_snippets)
    curve[10:30] = np.linspace(0.2, 0.95, 20)  # a ramp: one nested run per threshold
    every = localize(curve, grid, LocalizeParams(nms_iou=1.0))
    kept = localize(curve, grid)
    assert len(every) > len(kept) >= 1
    for i, a in enumerate(kept):
        for b in kept[i + 1:]:
            overlap = max(0.0, min(a.end, b.end) - max(a.start, b.start))
            assert overlap / (max(a.end, b.end) - min(a.start, b.start)) <= 0.6


def test_nms_removes_overlaps_above_the_iou_and_keeps_other_classes():
    segments = [Segment(0, 10, 0.9, cluster=0), Segment(1, 10, 0.8, cluster=0),  # IoU 0.9
                Segment(5, 15, 0.7, cluster=0),                                  # IoU 1/3 with the first
                Segment(0, 10, 0.6, cluster=1)]                                  # another class
    assert nms(segments, 0.5) == [segments[0], segments[2], segments[3]]
    assert nms(segments, 0.5, class_agnostic=True) == [segments[0], segments[2]]
    assert nms(segments, 0.95) == segments
    assert nms([], 0.5) == []


def _greedy_nms(segments: list[Segment], iou: float, class_agnostic: bool) -> list[Segment]:
    """The textbook loop, as an oracle for the vectorised NMS."""
    kept: list[Segment] = []
    for candidate in sorted(segments, key=lambda s: -s.score):
        def overlap(other: Segment) -> float:
            inter = max(0.0, min(candidate.end, other.end) - max(candidate.start, other.start))
            union = candidate.duration + other.duration - inter
            return inter / union if union > 0 else 0.0
        if all(overlap(k) <= iou or (not class_agnostic and k.cluster != candidate.cluster) for k in kept):
            kept.append(candidate)
    return kept


_segment = st.builds(lambda start, length, score, cluster: Segment(start, start + length, score, cluster),
                     st.integers(0, 40).map(float), st.integers(0, 12).map(float), st.floats(0, 1), st.integers(0, 2))


@settings(max_examples=80, deadline=None)
@given(st.lists(_segment, max_size=40), st.sampled_from([0.1, 0.3, 0.6, 0.9]), st.booleans())
def test_nms_equals_the_greedy_loop(segments, iou, class_agnostic):
    assert nms(segments, iou, class_agnostic) == _greedy_nms(segments, iou, class_agnostic)


def test_class_wise_localization_with_a_cas():
    grid = SnippetGrid(60.0)
    actionness = _pulses(grid.num_snippets, (5, 14), (30, 39))
    cas = np.stack([_pulses(grid.num_snippets, (5, 14)), _pulses(grid.num_snippets, (30, 39))], axis=1) * 0.8
    segments = localize(actionness, grid, LocalizeParams(), cas=cas)
    best_of = {k: max((s for s in segments if s.cluster == k), key=lambda s: s.score) for k in (0, 1)}
    assert (best_of[0].start, best_of[0].end) == pytest.approx(grid.span_seconds(5, 14))
    assert (best_of[1].start, best_of[1].end) == pytest.approx(grid.span_seconds(30, 39))
    # Both classes keep a segment at each place (class-wise NMS); class-agnostic NMS keeps one per place.
    assert len(segments) == 4
    agnostic = localize(actionness, grid, LocalizeParams(class_agnostic_nms=True), cas=cas)
    assert sorted((s.start, s.cluster) for s in agnostic) == [(5.0, 0), (30.0, 1)]


def test_video_scores_select_classes_and_add_to_the_score():
    grid = SnippetGrid(30.0)
    actionness = _pulses(grid.num_snippets, (5, 14))
    cas = np.stack([actionness, actionness, actionness], axis=1)
    params = LocalizeParams(video_score_weight=0.5, class_threshold=0.3)
    segments = localize(actionness, grid, params, cas=cas, video_scores=np.array([0.1, 0.9, 0.4]))
    assert sorted((s.cluster, round(s.score, 6)) for s in segments) == [(1, 1.45), (2, 1.2)]
    only_best, = localize(actionness, grid, params, cas=cas, video_scores=np.array([0.1, 0.2, 0.0]))
    assert only_best.cluster == 1


def test_max_segments_keeps_the_best():
    grid = SnippetGrid(60.0)
    curve = _pulses(grid.num_snippets, (2, 4), (10, 14), (30, 40))
    curve[10:15] = 0.7
    top, = localize(curve, grid, LocalizeParams(max_segments=1))
    assert top.start == pytest.approx(2.0)


@pytest.mark.parametrize("curve", [np.zeros(0), np.zeros(50), np.full(50, 0.05), np.full(50, np.nan)])
def test_empty_or_flat_low_input_gives_no_segments(curve):
    assert localize(curve, SnippetGrid(50.0)) == []


def test_flat_input_gives_no_segments_when_normalized():
    grid = SnippetGrid(50.0)
    assert localize(np.full(50, 0.7), grid, LocalizeParams(normalize=True)) == []
    # Without normalisation a flat high curve is one whole-video action.
    assert [(s.start, s.end) for s in localize(np.full(50, 0.7), grid)] == [(0.0, 50.0)]
    raw = localize(_pulses(50, (10, 19), height=0.05), grid)
    normalized = localize(_pulses(50, (10, 19), height=0.05), grid, LocalizeParams(normalize=True))
    assert raw == [] and len(normalized) == 1


@settings(max_examples=60, deadline=None)
@given(arrays(np.float64, st.integers(1, 80), elements=st.floats(0, 1)), st.floats(0.05, 0.95), st.floats(0.0, 0.3))
def test_higher_threshold_never_covers_more(curve, threshold, step):
    grid = SnippetGrid(float(len(curve)) + 0.5)

    def coverage(level: float) -> float:
        segments = localize(curve, grid, LocalizeParams().with_threshold(level))
        assert all(0.0 <= s.start < s.end <= grid.duration for s in segments)
        return sum(s.duration for s in segments)

    assert coverage(min(threshold + step, 1.0)) <= coverage(threshold) + 1e-9


def test_bad_shapes_raise():
    grid = SnippetGrid(10.0)
    with pytest.raises(ValueError):
        localize(np.zeros((10, 2)), grid)
    with pytest.raises(ValueError):
        localize(np.zeros(10), grid, cas=np.zeros((9, 3)))
    with pytest.raises(ValueError):
        localize(np.zeros(10), grid, video_scores=np.zeros(3))
    with pytest.raises(ValueError):
        localize(np.zeros(10), grid, cas=np.zeros((10, 3)), video_scores=np.zeros(2))


def test_params_round_trip_and_validation():
    params = LocalizeParams(thresholds=(0.3, 0.5), min_duration_s=1.5, upsample=4, max_segments=10)
    assert LocalizeParams.from_dict(params.to_dict()) == params
    assert params.with_threshold(0.4).thresholds == (0.4,)
    assert LocalizeParams(thresholds=0.5).thresholds == (0.5,)
    with pytest.raises(UTALError, match="unknown"):
        LocalizeParams.from_dict({"threshold": 0.5})
    for bad in ({"thresholds": ()}, {"nms_iou": 0.0}, {"upsample": 0}, {"min_duration_s": -1}, {"max_segments": 0}):
        with pytest.raises(UTALError):
            LocalizeParams(**bad)


def test_a_shot_cut_splits_the_proposals_that_span_it() -> None:
    from utal_core.localize import split_at_cuts

    first, last = split_at_cuts(np.array([2, 10]), np.array([8, 12]), np.array([5, 7, 20]), 30)
    assert sorted(zip(first.tolist(), last.tolist())) == [(2, 4), (2, 8), (5, 6), (7, 8), (10, 12)]
    grid = SnippetGrid(40.0)
    curve = _pulses(grid.num_snippets, (10, 29))
    spans = {(s.start, s.end) for s in localize(curve, grid, LocalizeParams(nms_iou=1.0), cuts=np.array([20]))}
    assert {(10.0, 30.0), (10.0, 20.0), (20.0, 30.0)} <= spans
    assert {(s.start, s.end) for s in localize(curve, grid, LocalizeParams(nms_iou=1.0))} == {(10.0, 30.0)}


def test_boundaries_move_to_the_fine_onset_and_offset() -> None:
    from utal_core.localize import refine_boundaries

    times = np.arange(0, 20, 0.125) + 0.0625
    evidence = ((times > 4.3) & (times < 11.6)).astype(float)
    segment, = refine_boundaries([Segment(4.0, 12.0, 0.5)], times, evidence, reach_s=0.5, duration=20.0)
    assert segment.start == pytest.approx(4.3, abs=0.07) and segment.end == pytest.approx(11.6, abs=0.07)
    assert segment.score == 0.5
    # no rise within reach (flat evidence): the boundary stays; the video's ends stay too
    flat, = refine_boundaries([Segment(0.0, 12.0, 0.5)], times, np.zeros_like(times), 0.5, 20.0)
    assert (flat.start, flat.end) == (0.0, 12.0)


def test_an_edge_run_is_compared_with_the_mirrored_video_never_with_nothing():
    """A run touching the start reads its missing outer side from the curve mirrored at the start: an
    edge stub (one high first snippet) scores half its one-sided contrast and far below an interior
    action of the same height."""
    grid = SnippetGrid(60.0)
    curve = np.zeros(grid.num_snippets)
    curve[0] = 1.0            # a stub at the start (a fade, a first-frame artefact)
    curve[30:36] = 1.0        # an action
    stub, action = sorted(localize(curve, grid, LocalizeParams().with_threshold(0.5)), key=lambda s: s.start)
    assert action.score == pytest.approx(1.0)
    assert stub.score == pytest.approx(0.5)  # inside 1; outside: the mirrored first snippet (1) and the next (0)
    whole, = localize(np.ones(grid.num_snippets), grid)
    assert whole.score == pytest.approx(0.0)  # the whole video is tested like any segment: nothing stands out


def _burst_sources(length: int = 120, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    motion = 0.05 + 0.02 * rng.random(length)
    motion[70:78] += 1.0                                     # a 2 s collision at 4 snippets/s, seen only here
    return {"motion": motion,
            "audio": np.linspace(0.2, 0.3, length),         # a slow drift, nothing in particular
            "fused": 0.4 + 0.05 * np.linspace(0, 1, length) ** 2}  # a model that missed it


def test_a_burst_in_one_source_is_found_by_that_source_at_its_own_contrast():
    """The localizer reads each source on its own: a burst that only motion shows (silent, unseen by the
    model) is proposed on the motion curve, ranks first, and keeps its full contrast there instead of
    being averaged with the sources that saw nothing."""
    grid = SnippetGrid(30.0, stride=0.25, window=0.25)
    sources = _burst_sources()
    best = localize_sources(sources, grid)[0]
    alone = localize_sources({"motion": sources["motion"]}, grid)[0]
    truth = Segment(70 * 0.25, 78 * 0.25, 1.0)
    overlap = max(0.0, min(best.end, truth.end) - max(best.start, truth.start))
    assert overlap / (max(best.end, truth.end) - min(best.start, truth.start)) >= 0.5, best
    assert best.source == "motion" and best.cluster == -1
    assert (best.start, best.end, best.score) == (alone.start, alone.end, alone.score) and best.score > 0.5


def test_sources_are_read_at_several_scales_and_weak_segments_are_dropped():
    grid = SnippetGrid(30.0, stride=0.25, window=0.25)
    sources = _burst_sources()
    every = localize_sources(sources, grid, LocalizeParams(min_relative_score=0.0))
    kept = localize_sources(sources, grid)
    assert len(kept) < len(every) and all(s.score > 0.1 * kept[0].score for s in kept)
    one_scale = localize_sources(sources, grid, LocalizeParams(scales_s=(1.0,), min_relative_score=0.0))
    assert len(one_scale) < len(every)
    assert localize_sources({"flat": np.ones(grid.num_snippets)}, grid) == []
    with pytest.raises(ValueError, match="source 'audio'"):
        localize_sources({"audio": np.ones(5)}, grid)
    with pytest.raises(UTALError, match="time scale"):
        LocalizeParams(scales_s=())
    with pytest.raises(UTALError, match="relative score"):
        LocalizeParams(min_relative_score=1.0)


def test_sub_second_stubs_at_the_edges_are_dropped_and_others_kept():
    segments = [Segment(0.0, 0.625, 0.9), Segment(59.5, 60.0, 0.8), Segment(0.0, 1.5, 0.7),
                Segment(30.0, 30.5, 0.6), Segment(58.0, 60.0, 0.5)]
    kept = drop_edge_stubs(segments, 60.0, 1.0)
    assert [(s.start, s.end) for s in kept] == [(0.0, 1.5), (30.0, 30.5), (58.0, 60.0)]
    assert drop_edge_stubs(segments, 60.0, 0.0) == segments
    assert drop_edge_stubs([Segment(0.125, 0.875, 0.5)], 60.0, 1.0, reach_s=0.25) == []


def test_an_analysis_lists_no_stub_at_the_edges():
    """A burst of motion in the first half second of a clip is no segment of its analysis (the judge's "edge stub")."""
    from utal_core.grid import make_grid
    from utal_core.pipeline import analysis_segments
    from utal_core.types import ViewFeatures

    grid = make_grid(20.0, stride=0.25, window=0.5)
    motion = np.zeros(grid.num_snippets)
    motion[:3] = 1.0  # a stub at the start
    motion[40:48] = 1.0  # a two-second action at 10 s
    features = ViewFeatures(times=grid.times.astype(np.float32), extras={"motion_energy": motion.astype(np.float32)},
                            views={"motion": np.tile(motion[:, None], (1, 4)).astype(np.float32)})
    segments = analysis_segments(features, motion, grid, LocalizeParams())
    assert segments and all(s.end - s.start >= 1.0 or grid.stride < s.start and s.end < grid.duration - grid.stride
                            for s in segments)
    assert any(abs(s.start - 10.0) < 0.6 for s in segments)
