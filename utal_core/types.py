"""Plain data types shared by every stage of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: The three views of CLIP-AE, in a fixed order.
VIEW_NAMES: tuple[str, ...] = ("cbp", "clip", "audio")


@dataclass
class ViewFeatures:
    """Per-snippet features of one video, all on one snippet grid.

    ``views`` holds the views that are present ([T, D] float32 each); ``absent`` says why each
    missing view is missing. ``extras`` holds per-snippet side outputs such as
    ``"clip_prior"`` [T] (zero-shot action-vs-background score), ``"cbp_probs"`` [T, 1000]
    (ImageNet class probabilities) and ``"audio_scores"`` [T, 521] (AudioSet class scores).
    """

    times: np.ndarray
    views: dict[str, np.ndarray] = field(default_factory=dict)
    absent: dict[str, str] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def num_snippets(self) -> int:
        return int(len(self.times))


@dataclass
class Segment:
    """One localized action instance, in seconds (window-centre convention, see media.SnippetGrid)."""

    start: float
    end: float
    score: float
    cluster: int = -1
    label: str | None = None
    label_score: float | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start
