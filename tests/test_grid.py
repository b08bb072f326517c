import numpy as np
import pytest
from hypothesis import given, strategies as st

from utal_core.grid import SnippetGrid

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
