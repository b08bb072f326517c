"""Side signals of the decode pass, kept as per-snippet extras next to the views.

- ``shot_cut`` [T] in {0, 1}: 1 when a hard cut falls inside the snippet's window or just before it
  (between the previous fine frame and the first one of the window). Detected on the fine frame
  stream as PySceneDetect's detectors do, without a second decode: the content score of two
  consecutive frames is the mean absolute difference of their HSV channels (ContentDetector,
  0-255); a cut is a score of at least ``threshold`` that is also ``ratio`` times the mean score
  of the ``neighbours`` pairs either side (AdaptiveDetector), so fast motion or a pan, which raise
  every neighbouring score too, is no cut. Cuts closer than ``min_shot_s`` keep the stronger.
- ``audio_rms_fine`` [T, AUDIO_FINE_BINS]: RMS of the 16 kHz audio in equal sub-windows of each
  snippet's window, for placing a boundary inside a snippet (``motion_fine`` is its motion twin).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from .encoders.base import pool_at
from .grid import SnippetGrid

#: ``ViewFeatures.extras`` keys of the side signals.
SHOT_CUT_KEY = "shot_cut"
AUDIO_RMS_FINE_KEY = "audio_rms_fine"
#: Sub-windows per snippet of ``audio_rms_fine``.
AUDIO_FINE_BINS = 8
#: The audio energy is measured in hops of this length (s) before it is binned.
AUDIO_HOP_S = 0.005


@dataclass(frozen=True)
class ShotCutConfig:
    """Cut detection settings (defaults: PySceneDetect's ContentDetector threshold, AdaptiveDetector ratio)."""

    threshold: float = 27.0
    ratio: float = 3.0
    neighbours: int = 2
    min_shot_s: float = 0.5


class ShotCutDetector:
    """Takes the fine frames of one video in time order; gives the per-snippet ``shot_cut`` signal."""

    def __init__(self, grid: SnippetGrid, config: ShotCutConfig = ShotCutConfig()) -> None:
        self.grid, self.config = grid, config
        self.previous: np.ndarray | None = None
        self.scores: list[float] = []
        self.times: list[float] = []

    def add(self, frames: np.ndarray, times: np.ndarray) -> None:
        """Score each frame against the one before it (the first frame of a video has no score)."""
        import cv2

        for frame, time in zip(frames, times):
            hsv = cv2.cvtColor(np.ascontiguousarray(frame), cv2.COLOR_RGB2HSV)
            if self.previous is not None:
                self.scores.append(float(cv2.absdiff(hsv, self.previous).mean()))
                self.times.append(float(time))
            self.previous = hsv

    def cut_times(self) -> np.ndarray:
        """Times (s) of the first frame after each detected cut."""
        scores, config = np.asarray(self.scores), self.config
        cuts: list[int] = []
        for j in np.flatnonzero(scores >= config.threshold):
            around = np.r_[scores[max(0, j - config.neighbours):j], scores[j + 1:j + 1 + config.neighbours]]
            if around.size and scores[j] < config.ratio * around.mean():
                continue
            if cuts and self.times[j] - self.times[cuts[-1]] < config.min_shot_s:
                if scores[j] > scores[cuts[-1]]:
                    cuts[-1] = j
                continue
            cuts.append(int(j))
        return np.asarray([self.times[j] for j in cuts], dtype=np.float64)

    def finish(self) -> np.ndarray:
        """``shot_cut`` [T]: 1 for each snippet whose window holds the first frame after a cut."""
        return cut_signal(self.cut_times(), self.grid)


def cut_signal(cut_times: np.ndarray, grid: SnippetGrid) -> np.ndarray:
    """[T] float32: 1 where a snippet's window holds one of ``cut_times`` (the nearest snippet when none does)."""
    signal = np.zeros(grid.num_snippets, np.float32)
    half = min(grid.window, grid.duration) / 2
    for time in cut_times:
        inside = np.flatnonzero(np.abs(grid.times - time) <= half)
        signal[inside if inside.size else grid.nearest_index(time)] = 1.0
    return signal


class AudioLoudness:
    """``audio_rms_fine`` of a waveform that arrives in consecutive chunks: each hop's power is kept, the samples are not."""

    def __init__(self, sample_rate: int, grid: SnippetGrid, bins: int = AUDIO_FINE_BINS) -> None:
        self.sample_rate, self.grid, self.bins = sample_rate, grid, bins
        self.hop = max(1, int(round(AUDIO_HOP_S * sample_rate)))
        self.rest = np.zeros(0, np.float32)
        self.powers: list[np.ndarray] = []

    def add(self, samples: np.ndarray) -> None:
        """Take the next samples (the first chunk starts at video time 0)."""
        samples = np.concatenate([self.rest, samples])
        count = len(samples) // self.hop
        self.powers.append(np.square(samples[:count * self.hop].reshape(count, self.hop), dtype=np.float32).mean(axis=1))
        self.rest = samples[count * self.hop:]

    def finish(self) -> np.ndarray:
        """[T, bins] RMS in ``bins`` equal sub-windows of each snippet's window (zeros without a whole hop)."""
        power = np.concatenate(self.powers) if self.powers else np.zeros(0, np.float32)
        if not len(power):
            return np.zeros((self.grid.num_snippets, self.bins), np.float32)
        centres = (np.arange(len(power)) + 0.5) * self.hop / self.sample_rate
        targets, width = self.grid.sub_windows(self.bins)
        return np.sqrt(pool_at(power, centres, targets.ravel(), width / 2)).reshape(self.grid.num_snippets, self.bins)


def audio_rms_fine(samples: np.ndarray, sample_rate: int, grid: SnippetGrid, bins: int = AUDIO_FINE_BINS) -> np.ndarray:
    """[T, bins] RMS of ``samples`` (sample 0 = video time 0) in ``bins`` equal sub-windows of each window."""
    loudness = AudioLoudness(sample_rate, grid, bins)
    loudness.add(samples)
    return loudness.finish()
