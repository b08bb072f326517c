"""Label-free per-snippet evidence of action: each view's own curve, and the pseudo-labels made from them.

Each view contributes one raw scalar signal per snippet, the most direct evidence it has that
something is happening, computed from that view's input alone:

- ``motion``: the camera-compensated frame difference (``extras["motion_difference"]``, log grey
  levels), else the motion features' saliency;
- ``audio``: loudness (log RMS of the snippet's audio, from ``extras["audio_rms_fine"]``), else the
  audio features' saliency;
- ``cbp``: appearance saliency, the distance of a snippet's feature from the video's median one;
- ``clip``: CLIP's zero-shot action prior (its log-odds); without CLIP, ``bridge``: the label
  bridge's action prior (ImageNet/AudioSet class probabilities mapped through class names), an
  offline stand-in under its own name.

A view's *evidence curve* is its signal smoothed at a time scale and placed on the video's own range
(:func:`utal_core.curves.ranged_curve`); a flat signal has none. The curves at
:data:`CURVE_SCALE_S` are the per-view timeline; the localizer proposes and scores on every view's
curves at several scales next to the fused one (localize.py), so a burst that one view alone sees is
proposed and scored on that view's curve, not averaged away. The model's pseudo-labels are the views'
curves combined by their maximum and re-ranged: ``sigmoid(sharpness * (e - offset))``, graded labels
never pushed to 0 or 1. (Every view being on its own range, a view of pure noise also reaches 1
somewhere; the mean would damp that, but on real footage the maximum did better, see PseudoLabelConfig.)
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from ..curves import ranged_curve, within_range
from ..encoders.motion import MOTION_DIFFERENCE_KEY, MOTION_FINE_KEY
from ..signals import AUDIO_RMS_FINE_KEY
from ..text import BRIDGE_PRIOR_KEY
from ..types import ViewFeatures

#: The extras that carry a view's evidence directly (named where they are made).
AUDIO_RMS_KEY = AUDIO_RMS_FINE_KEY
#: Name of the label bridge's evidence signal (it is no view of its own).
BRIDGE_SIGNAL = "bridge"
#: Time scale (s) of the evidence curves drawn per view.
CURVE_SCALE_S = 1.0


@dataclass
class PseudoLabelConfig:
    """How the views' evidence becomes graded pseudo-labels (see the module docstring).

    Chosen by leave-one-group-out on the real dev clips (benchmarks/real_clips.py --logo).
    ``use_clip_prior`` turns the text prior on: CLIP's, or else the label bridge's.
    """

    sharpness: float = 4.0
    offset: float = 0.5
    scale_s: float = CURVE_SCALE_S
    #: "max" or "mean" of the views' ranged curves. Leave-one-group-out on the dev clips chose "max"
    #: (benchmarks/real_clips.py --logo): a burst that one view shows stays at full height in the targets.
    combine: str = "max"
    use_clip_prior: bool = True

    def __post_init__(self) -> None:
        if self.combine not in ("max", "mean"):
            raise ValueError(f"combine must be 'max' or 'mean', got {self.combine!r}")


def feature_saliency(features: np.ndarray) -> np.ndarray:
    """Distance of each snippet's feature to the video's median feature, [T, D] -> [T]."""
    return np.linalg.norm(features - np.median(features, axis=0), axis=1)


def prior_logit(probability: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) of a prior, clipped away from 0 and 1."""
    probability = np.clip(np.asarray(probability, dtype=np.float64), 1e-4, 1 - 1e-4)
    return np.log(probability / (1 - probability))


def view_signals(features: ViewFeatures, views: list[str], use_text_prior: bool = True) -> dict[str, np.ndarray]:
    """The raw scalar evidence signal [T] of each used view (and of the text prior), by name; each
    is computed from its own view's features and extras only."""
    signals: dict[str, np.ndarray] = {}
    for name in views:
        if name not in features.views:
            continue
        if name == "motion" and MOTION_DIFFERENCE_KEY in features.extras:
            signals[name] = np.log1p(255.0 * np.asarray(features.extras[MOTION_DIFFERENCE_KEY], dtype=np.float64))
        elif name == "audio" and AUDIO_RMS_KEY in features.extras:
            fine = np.asarray(features.extras[AUDIO_RMS_KEY], dtype=np.float64).reshape(features.num_snippets, -1)
            signals[name] = np.log(np.sqrt(np.mean(np.square(fine), axis=1)) + 1e-5)
        elif name == "clip" and "clip_prior" in features.extras:
            if use_text_prior:
                signals[name] = prior_logit(features.extras["clip_prior"])
        else:
            signals[name] = feature_saliency(np.asarray(features.views[name], dtype=np.float64))
    if use_text_prior and "clip" not in signals and BRIDGE_PRIOR_KEY in features.extras:
        signals[BRIDGE_SIGNAL] = prior_logit(features.extras[BRIDGE_PRIOR_KEY])
    return signals


def snippet_stride(features: ViewFeatures) -> float:
    """Seconds between consecutive snippets (1 for a one-snippet video)."""
    times = np.asarray(features.times, dtype=np.float64)
    return float(np.median(np.diff(times))) if len(times) > 1 else 1.0


def view_curves(features: ViewFeatures, views: list[str], scale_s: float = CURVE_SCALE_S,
                use_text_prior: bool = True) -> dict[str, np.ndarray]:
    """Each used view's evidence curve [T] in [0, 1] at ``scale_s`` (and the text prior's), by name;
    a view whose signal is flat is left out."""
    stride = snippet_stride(features)
    curves = {name: ranged_curve(signal, stride, scale_s)
              for name, signal in view_signals(features, views, use_text_prior).items()}
    return {name: curve for name, curve in curves.items() if curve is not None}


def evidence(features: ViewFeatures, views: list[str], config: PseudoLabelConfig = PseudoLabelConfig()) -> np.ndarray:
    """The views' evidence curves combined (``config.combine``) and re-ranged: [T] in [0, 1] (0.5 everywhere
    when no view has any contrast)."""
    curves = view_curves(features, views, config.scale_s, config.use_clip_prior)
    combine = np.max if config.combine == "max" else np.mean
    combined = within_range(combine(list(curves.values()), axis=0)) if curves else None
    return np.full(features.num_snippets, 0.5) if combined is None else combined


def initial_pseudo_labels(features: ViewFeatures, views: list[str], config: PseudoLabelConfig = PseudoLabelConfig()) -> np.ndarray:
    """Graded label-free actionness in (0, 1) per snippet: ``sigmoid(sharpness * (evidence - offset))``."""
    logits = config.sharpness * (evidence(features, views, config) - config.offset)
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


def fine_evidence(features: ViewFeatures, window: float) -> tuple[np.ndarray, np.ndarray] | None:
    """Evidence below the snippet: times (s) and the mean of the ranged fine motion energy and fine audio
    loudness (``extras["motion_fine"]`` [T, k], ``extras["audio_rms_fine"]`` [T, m], each over equal parts
    of a snippet's ``window``), on the finer of the two time axes; None without either."""
    times = np.asarray(features.times, dtype=np.float64)
    curves = []
    for key, transform in ((MOTION_FINE_KEY, np.log1p), (AUDIO_RMS_KEY, lambda x: np.log(x + 1e-5))):
        if key not in features.extras:
            continue
        fine = np.asarray(features.extras[key], dtype=np.float64).reshape(len(times), -1)
        bins = fine.shape[1]
        at = ((times - window / 2)[:, None] + (np.arange(bins) + 0.5) * window / bins).ravel()
        ranged = within_range(transform(fine.ravel()))
        if ranged is not None:
            curves.append((at, ranged))
    if not curves:
        return None
    axis = max(curves, key=lambda curve: len(curve[0]))[0]
    return axis, np.mean([np.interp(axis, at, values) for at, values in curves], axis=0)
