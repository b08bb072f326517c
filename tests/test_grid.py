import numpy as np
import pytest
from hypothesis import given, strategies as st

from utal_core.grid import ADAPTIVE_MAX_SNIPPETS, ADAPTIVE_MIN_SNIPPETS, SnippetGrid, make_grid

durations = st.floats(min_value=0.05, max_value=7200.0, allow_nan=False)
strides = st.floats(min_value=0.04, max_value=5.0, allow_nan=False)


@given(durations, strides, st.floats(min_value=0.5, max_value=3.0))
def test_index_seconds_round_trip(duration, stride, window_ratio):
    grid = SnippetGrid(duration, stride=stride, window=stride * window_ratio)
    indices = np.arange(grid.num_snippets)
    np.testing.assert_allclose(grid.seconds_to_index(grid.index_to_seconds(indices)), indices, atol=1e-6)
    np.testing.assert_array_equal(grid.nearest_index(grid.times), indices)


@given(durations, strides)
def test_every_window_lies_inside_the_video(duration, stride):
    grid = SnippetGrid(duration, stride=stride, window=stride)
    last_window_end = (grid.num_snippets - 1) * grid.stride + grid.window
    assert grid.num_snippets >= 1
    assert last_window_end <= duration + 1e-6 or grid.num_snippets == 1
    assert last_window_end + grid.stride > duration - 1e-6  # no whole window left out at the end


def test_default_grid_is_one_snippet_per_second_at_window_centres():
    grid = SnippetGrid(60.06)
    assert grid.num_snippets == 60
    np.testing.assert_allclose(grid.times[:3], [0.5, 1.5, 2.5])
    assert grid.span_seconds(0, 59) == (0.0, 60.0)
    assert grid.span_seconds(10, 12) == (10.0, 13.0)


def test_thumos_preset_is_16_frames_at_25_fps():
    grid = SnippetGrid.thumos(10.0)
    assert grid.stride == pytest.approx(0.64) and grid.window == pytest.approx(0.64)
    np.testing.assert_allclose(grid.times[:2], [0.32, 0.96])


def test_short_video_is_one_snippet_centred_on_it():
    grid = SnippetGrid(0.4)
    assert grid.num_snippets == 1
    assert grid.times[0] == pytest.approx(0.2)
    assert grid.span_seconds(0, 0) == (0.0, 0.4)


@pytest.mark.parametrize("bad", [dict(duration=0), dict(duration=5, stride=0), dict(duration=5, window=-1)])
def test_invalid_grids_are_rejected(bad):
    with pytest.raises(ValueError):
        SnippetGrid(**bad)


@given(st.floats(min_value=2.0, max_value=36_000.0, allow_nan=False))
def test_adaptive_grid_keeps_its_bounds_and_round_trips(duration):
    grid = SnippetGrid.adaptive(duration)
    assert grid.window == grid.stride
    assert ADAPTIVE_MIN_SNIPPETS <= grid.num_snippets <= ADAPTIVE_MAX_SNIPPETS
    assert grid.stride == pytest.approx(round(grid.stride / 0.01) * 0.01)  # 10 ms steps
    if ADAPTIVE_MIN_SNIPPETS <= duration <= ADAPTIVE_MAX_SNIPPETS:
        assert grid.stride == 1.0
    indices = np.arange(grid.num_snippets)
    np.testing.assert_allclose(grid.seconds_to_index(grid.index_to_seconds(indices)), indices, atol=1e-6)
    np.testing.assert_array_equal(grid.nearest_index(grid.times), indices)
    # The stride is the largest (short clips) or smallest (long videos) 10 ms step within the bound.
    if duration < ADAPTIVE_MIN_SNIPPETS:
        assert SnippetGrid(duration, grid.stride + 0.01, grid.stride + 0.01).num_snippets < ADAPTIVE_MIN_SNIPPETS
    if duration > ADAPTIVE_MAX_SNIPPETS:
        assert SnippetGrid(duration, grid.stride - 0.01, grid.stride - 0.01).num_snippets > ADAPTIVE_MAX_SNIPPETS


def test_adaptive_grid_examples():
    assert (SnippetGrid.adaptive(10.0).stride, SnippetGrid.adaptive(10.0).num_snippets) == (0.25, 40)
    # 5.6 / 40 / 0.01 is 13.999... in floating point: the largest stride with 40 snippets is still found
    assert (SnippetGrid.adaptive(5.6).stride, SnippetGrid.adaptive(5.6).num_snippets) == (0.14, 40)
    assert SnippetGrid.adaptive(600.0).stride == 1.0
    hour = SnippetGrid.adaptive(3600.0)
    assert (hour.stride, hour.num_snippets) == (2.0, 1800)
    tiny = SnippetGrid.adaptive(0.5)  # the stride floor: fewer snippets, never sub-frame strides
    assert tiny.stride == 0.05 and tiny.num_snippets == 10


def test_make_grid_is_fixed_when_a_stride_is_given_and_adaptive_otherwise():
    assert make_grid(10.0) == SnippetGrid.adaptive(10.0)
    assert make_grid(10.0, stride=1.0) == SnippetGrid(10.0, 1.0, 1.0)
    assert make_grid(10.0, stride=0.5, window=2.0) == SnippetGrid(10.0, 0.5, 2.0)
    assert make_grid(10.0, window=1.0) == SnippetGrid(10.0, 0.25, 1.0)


def test_adaptive_grid_rejects_inconsistent_bounds():
    with pytest.raises(ValueError):
        SnippetGrid.adaptive(10.0, min_snippets=50, max_snippets=40)
