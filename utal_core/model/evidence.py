"""Label-free per-snippet evidence of action, and the graded pseudo-labels made from it.

Each view contributes one scalar signal per snippet, the most direct evidence it has that something
is happening:

- ``motion``: compensated foreground motion (``extras["motion_energy"]``), else the motion
  features' saliency;
- ``audio``: loudness (log RMS of the snippet's audio, from ``extras["audio_rms_fine"]``), else the
  audio features' saliency;
- ``cbp``: appearance saliency, the distance of a snippet's feature from the video's median one;
- ``clip``: CLIP's zero-shot action prior (its log-odds); without CLIP, ``bridge``: the label
  bridge's action prior (ImageNet/AudioSet class probabilities mapped through class names).

Every signal is placed on its video's own range: ``(s - q_low) / (q_high - q_low)`` between two
quantiles, clipped to [0, 1]. Nothing assumes that the median snippet is background or that
actions are rare: a clip that is action for 90% of its length keeps high evidence for 90% of its
snippets. A flat signal carries no information and is left out. The views' signals are averaged, smoothed over ``smooth_s`` seconds (an action lasts
longer than one noisy snippet), and mapped to a probability ``sigmoid(sharpness * (e - offset))``:
graded labels that a researcher can threshold, never pushed to 0 or 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.ndimage import gaussian_filter1d

from ..encoders.motion import MOTION_ENERGY_KEY, MOTION_FINE_KEY
from ..signals import AUDIO_RMS_FINE_KEY
from ..text import BRIDGE_PRIOR_KEY
from ..types import ViewFeatures

#: The extras that carry a view's evidence directly (named where they are made).
AUDIO_RMS_KEY = AUDIO_RMS_FINE_KEY
#: Name of the label bridge's evidence signal (it is no view of its own).
BRIDGE_SIGNAL = "bridge"


@dataclass
class PseudoLabelConfig:
    """How evidence becomes graded pseudo-labels (see the module docstring).

    ``use_clip_prior`` turns the text prior on: CLIP's, or else the label bridge's.
    """

    sharpness: float = 6.0
    offset: float = 0.4
    smooth_s: float = 0.6
    low_quantile: float = 0.05
    high_quantile: float = 0.95
    use_clip_prior: bool = True


def feature_saliency(features: np.ndarray) -> np.ndarray:
    """Distance of each snippet's feature to the video's median feature, [T, D] -> [T]."""
    return np.linalg.norm(features - np.median(features, axis=0), axis=1)


def prior_logit(probability: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) of a prior, clipped away from 0 and 1."""
    probability = np.clip(np.asarray(probability, dtype=np.float64), 1e-4, 1 - 1e-4)
    return np.log(probability / (1 - probability))


def within_video_range(signal: np.ndarray, low: float = 0.05, high: float = 0.95) -> np.ndarray | None:
    """``signal`` rescaled so its ``low`` quantile is 0 and its ``high`` quantile 1, clipped to [0, 1];
    None for a flat signal: without contrast inside the video it says nothing either way."""
    signal = np.nan_to_num(np.asarray(signal, dtype=np.float64))
    lo, hi = np.quantile(signal, [low, high])
    if not hi - lo > 1e-6 * max(1.0, abs(hi)):
        return None
    return np.clip((signal - lo) / (hi - lo), 0.0, 1.0)


def view_signals(features: ViewFeatures, views: list[str], use_text_prior: bool = True) -> dict[str, np.ndarray]:
    """The raw scalar evidence signal [T] of each used view (and of the text prior), by name."""
    signals: dict[str, np.ndarray] = {}
    for name in views:
        if name not in features.views:
            continue
        if name == "motion" and MOTION_ENERGY_KEY in features.extras:
            signals[name] = np.log1p(np.asarray(features.extras[MOTION_ENERGY_KEY], dtype=np.float64))
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


def evidence(features: ViewFeatures, views: list[str], config: PseudoLabelConfig = PseudoLabelConfig()) -> np.ndarray:
    """Mean of the used views' range-normalised signals, smoothed over ``config.smooth_s``: [T] in [0, 1]."""
    ranged = [within_video_range(s, config.low_quantile, config.high_quantile)
              for s in view_signals(features, views, config.use_clip_prior).values()]
    informative = [r for r in ranged if r is not None]
    if not informative:
        return np.full(features.num_snippets, 0.5)
    mean = np.mean(informative, axis=0)
    sigma = config.smooth_s / snippet_stride(features)
    return gaussian_filter1d(mean, sigma, mode="nearest") if sigma > 0.25 else mean


def initial_pseudo_labels(features: ViewFeatures, views: list[str], config: PseudoLabelConfig = PseudoLabelConfig()) -> np.ndarray:
    """Graded label-free actionness in (0, 1) per snippet: ``sigmoid(sharpness * (evidence - offset))``."""
    logits = config.sharpness * (evidence(features, views, config) - config.offset)
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


def fine_evidence(features: ViewFeatures, window: float, config: PseudoLabelConfig = PseudoLabelConfig()
                  ) -> tuple[np.ndarray, np.ndarray] | None:
    """Evidence below the snippet: times (s) and the mean of the range-normalised fine motion energy and
    fine audio loudness (``extras["motion_fine"]`` [T, k], ``extras["audio_rms_fine"]`` [T, m], each over
    equal parts of a snippet's ``window``), on the finer of the two time axes; None without either."""
    times = np.asarray(features.times, dtype=np.float64)
    curves = []
    for key, transform in ((MOTION_FINE_KEY, np.log1p), (AUDIO_RMS_KEY, lambda x: np.log(x + 1e-5))):
        if key not in features.extras:
            continue
        fine = np.asarray(features.extras[key], dtype=np.float64).reshape(len(times), -1)
        bins = fine.shape[1]
        at = ((times - window / 2)[:, None] + (np.arange(bins) + 0.5) * window / bins).ravel()
        ranged = within_video_range(transform(fine.ravel()), config.low_quantile, config.high_quantile)
        if ranged is not None:
            curves.append((at, ranged))
    if not curves:
        return None
    axis = max(curves, key=lambda curve: len(curve[0]))[0]
    return axis, np.mean([np.interp(axis, at, values) for at, values in curves], axis=0)
