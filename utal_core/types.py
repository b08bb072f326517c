"""Plain data types shared by every stage of the pipeline."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

#: The views of CLIP-AE, in a fixed order: appearance (CBP), motion (optical flow), CLIP, audio.
VIEW_NAMES: tuple[str, ...] = ("cbp", "motion", "clip", "audio")


@dataclass
class ViewFeatures:
    """Per-snippet features of one video, all on one snippet grid.

    ``views`` holds the views that are present ([T, D] float32 each); ``absent`` says why each
    missing view is missing. ``extras`` holds per-snippet side outputs such as
    ``"clip_prior"`` [T] (zero-shot action-vs-background score), ``"cbp_probs"`` [T, 1000]
    (ImageNet class probabilities), ``"audio_scores"`` [T, 521] (AudioSet class scores),
    ``"motion_energy"`` [T] (camera-compensated foreground motion), ``"motion_fine"`` [T, 4] and
    ``"audio_rms_fine"`` [T, 8] (the same inside equal sub-windows of each snippet) and
    ``"shot_cut"`` [T] (1 where a hard cut falls in or just before the snippet).
    ``warnings`` holds plain messages about damaged input met on the way (decode errors).
    """

    times: np.ndarray
    views: dict[str, np.ndarray] = field(default_factory=dict)
    absent: dict[str, str] = field(default_factory=dict)
    extras: dict[str, np.ndarray] = field(default_factory=dict)
    warnings: list[str] = field(default_factory=list)

    @property
    def num_snippets(self) -> int:
        return int(len(self.times))

    def non_finite(self) -> list[str]:
        """Names of the views and extras that hold NaN or infinite values."""
        arrays = {"times": self.times} | self.views | self.extras
        return [name for name, values in arrays.items()
                if np.issubdtype(np.asarray(values).dtype, np.floating) and not np.isfinite(values).all()]


@dataclass
class Segment:
    """One localized action instance, in seconds (window-centre convention, see media.SnippetGrid)."""

    start: float
    end: float
    score: float
    cluster: int = -1
    label: str | None = None
    label_score: float | None = None
    #: The curve that scored it best (a view's evidence or "fused"; see localize.localize_sources), when known.
    source: str | None = None
    #: The segment's number, the one id the researcher sees everywhere (table, inspector, corrections, cues):
    #: given once per analysis and kept by a segment that survives a re-segmentation (edits.numbered_segments).
    number: int | None = None

    @property
    def duration(self) -> float:
        return self.end - self.start
