"""The snippet grid: the one time convention of the project, written once.

Snippet ``i`` covers the window ``[i * stride, i * stride + window]`` seconds of presentation
time; its time is the window centre ``i * stride + window / 2``. A segment made of snippets
``a..b`` (inclusive) spans ``[centre(a) - stride / 2, centre(b) + stride / 2]``, so adjacent
snippets tile the time axis without gaps. Everything (features, curves, segments, exports)
uses these conversions.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass

import numpy as np

#: Default sampling: one snippet per second with a one-second window.
DEFAULT_STRIDE_S = 1.0
DEFAULT_WINDOW_S = 1.0
#: Adaptive grid (:meth:`SnippetGrid.adaptive`): a short clip gets at least this many snippets ...
ADAPTIVE_MIN_SNIPPETS = 40
#: ... a long video at most this many (1800: the stride grows past 1 s above 30 minutes) ...
ADAPTIVE_MAX_SNIPPETS = 1800
#: ... and no stride is shorter than this (clips under 2 s get fewer snippets).
ADAPTIVE_MIN_STRIDE_S = 0.05
#: Adaptive strides are whole multiples of this step (10 ms), so snippet times stay round.
ADAPTIVE_STRIDE_STEP_S = 0.01
#: THUMOS14 feature releases: 16-frame snippets at 25 fps.
THUMOS_FPS = 25.0
THUMOS_SNIPPET_FRAMES = 16


@dataclass(frozen=True)
class SnippetGrid:
    """Snippet stride and window in seconds over a video of ``duration`` seconds."""

    duration: float
    stride: float = DEFAULT_STRIDE_S
    window: float = DEFAULT_WINDOW_S

    def __post_init__(self) -> None:
        if not (self.stride > 0 and self.window > 0):
            raise ValueError("stride and window must be positive")
        if not self.duration > 0:
            raise ValueError("duration must be positive")

    @classmethod
    def thumos(cls, duration: float) -> "SnippetGrid":
        """The THUMOS14 I3D preset: 16 frames at 25 fps (0.64 s stride and window)."""
        step = THUMOS_SNIPPET_FRAMES / THUMOS_FPS
        return cls(duration=duration, stride=step, window=step)

    @classmethod
    def adaptive(cls, duration: float, base_stride: float = DEFAULT_STRIDE_S,
                 min_snippets: int = ADAPTIVE_MIN_SNIPPETS, max_snippets: int = ADAPTIVE_MAX_SNIPPETS,
                 min_stride: float = ADAPTIVE_MIN_STRIDE_S) -> "SnippetGrid":
        """A grid whose stride (= window) follows the duration: ``base_stride``, shortened so that the
        video has at least ``min_snippets`` (never below ``min_stride``), lengthened so that it has at
        most ``max_snippets``. Strides are rounded to 10 ms in the direction that keeps the bound."""
        if not (0 < min_snippets <= max_snippets):
            raise ValueError("need 0 < min_snippets <= max_snippets")
        if not duration > 0:
            raise ValueError("duration must be positive")
        steps = round(base_stride / ADAPTIVE_STRIDE_STEP_S, 6)

        def count(num_steps: float) -> int:
            stride = num_steps * ADAPTIVE_STRIDE_STEP_S
            return cls(duration=duration, stride=stride, window=stride).num_snippets

        # Each search starts one step on the near side of the division's estimate, which floating point can put a
        # step off (5.6 s / 40 / 10 ms = 13.999...), and walks to the bound.
        if count(steps) > max_snippets:  # the fewest 10 ms steps that keep at most max_snippets
            steps = max(1, math.floor(duration / (max_snippets + 1) / ADAPTIVE_STRIDE_STEP_S))
            while count(steps) > max_snippets:
                steps += 1
        elif count(steps) < min_snippets:  # the most 10 ms steps that keep at least min_snippets
            steps = math.floor(duration / min_snippets / ADAPTIVE_STRIDE_STEP_S) + 1
            while steps > 1 and count(steps) < min_snippets:
                steps -= 1
            steps = max(steps, min_stride / ADAPTIVE_STRIDE_STEP_S)
        stride = round(steps * ADAPTIVE_STRIDE_STEP_S, 6)
        return cls(duration=duration, stride=stride, window=stride)

    @property
    def num_snippets(self) -> int:
        """Number of whole windows that fit, at least one (a short video is one snippet)."""
        if self.duration <= self.window:
            return 1
        return int(math.floor((self.duration - self.window) / self.stride + 1e-9)) + 1

    @property
    def times(self) -> np.ndarray:
        """Window centres in seconds, shape [num_snippets]."""
        return self.index_to_seconds(np.arange(self.num_snippets))

    def index_to_seconds(self, index):
        """Centre time of snippet ``index`` (scalar or array, fractional indices allowed)."""
        return np.asarray(index, dtype=np.float64) * self.stride + min(self.window, self.duration) / 2

    def seconds_to_index(self, seconds):
        """Fractional snippet index whose centre is at ``seconds`` (inverse of index_to_seconds)."""
        return (np.asarray(seconds, dtype=np.float64) - min(self.window, self.duration) / 2) / self.stride

    def nearest_index(self, seconds) -> np.ndarray:
        """Index of the snippet whose centre is nearest to ``seconds``, clipped to the grid."""
        return np.clip(np.rint(self.seconds_to_index(seconds)), 0, self.num_snippets - 1).astype(np.int64)

    def span_seconds(self, first: int, last: int) -> tuple[float, float]:
        """Start and end in seconds of the run of snippets ``first..last`` (inclusive), clipped to the video."""
        start = float(self.index_to_seconds(first)) - self.stride / 2
        end = float(self.index_to_seconds(last)) + self.stride / 2
        return max(0.0, start), min(self.duration, end)

    def sub_windows(self, bins: int) -> tuple[np.ndarray, float]:
        """Centres [num_snippets, bins] (s) and width (s) of ``bins`` equal parts of each snippet's window."""
        window = min(self.window, self.duration)
        return (self.times - window / 2)[:, None] + (np.arange(bins) + 0.5) * window / bins, window / bins

    def to_dict(self) -> dict:
        return asdict(self)


def make_grid(duration: float, stride: float | None = None, window: float | None = None,
              min_snippets: int = ADAPTIVE_MIN_SNIPPETS, max_snippets: int = ADAPTIVE_MAX_SNIPPETS) -> SnippetGrid:
    """The grid every entry point uses: a fixed ``stride`` when given, else :meth:`SnippetGrid.adaptive`;
    ``window`` defaults to the stride."""
    if stride is None:
        stride = SnippetGrid.adaptive(duration, DEFAULT_STRIDE_S, min_snippets, max_snippets).stride
    return SnippetGrid(duration, stride=stride, window=window or stride)
