"""Self-supervised objectives of CLIP-AE (no labels anywhere) and the initial pseudo-labels.

Initial pseudo-labels (reconstruction): for every available view, a *feature saliency* — how far
each snippet's feature lies from the video's median feature, as a robust z-score — and, when the
CLIP view is used, the zero-shot CLIP-text prior (its logit, robust-z-scored). Their mean ``s`` becomes
``sigmoid(sharpness * (s - offset))``: a snippet must stand out from the video's typical content
by about ``offset`` robust deviations to count as action. Without CLIP's prior, the label
bridge's prior (``extras["bridge_prior"]``: class probabilities weighted by their names' action
affinity, see utal_core.text) adds its log-odds inside the sigmoid. Training then refines these labels
iteratively with the model's own fused actionness (see train.py).

Losses on one batch:
- pseudo-label loss: confidence-weighted BCE of the fused head (and, weaker, each view head)
  against hardened pseudo-labels; the weight ``|2p - 1|`` ignores undecided snippets;
- cross-view consistency: confident snippets of each head supervise every other head;
- cross-view contrastive (InfoNCE): the same snippet in two views is the positive pair, other
  snippets of the same video are negatives (except immediate neighbours, near-duplicates);
- multiple-instance loss: the video-level CAS score must predict the video's pseudo-class.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import numpy as np
import torch
from torch import Tensor
from torch.nn import functional as F

from ..text import BRIDGE_PRIOR_KEY
from ..types import ViewFeatures
from .clip_ae import CLIPAEOutput


@dataclass
class PseudoLabelConfig:
    """How saliency and the text prior are turned into initial actionness pseudo-labels.

    ``use_clip_prior`` turns the text prior on: CLIP's, or else the label bridge's.
    """

    sharpness: float = 1.5
    offset: float = 1.0
    use_clip_prior: bool = True


@dataclass
class LossWeights:
    """Weights of the self-supervised loss terms."""

    fused: float = 1.0
    views: float = 0.5
    consistency: float = 0.5
    contrastive: float = 0.1
    mil: float = 0.5
    #: Heads more confident than this (|2a - 1|) supervise the other heads.
    consistency_confidence: float = 0.6
    contrast_temperature: float = 0.1
    #: Snippets within this many steps of the positive are not used as negatives.
    contrast_exclusion: int = 2


def robust_z(values: np.ndarray) -> np.ndarray:
    """(x - median) / (1.4826 * MAD), safe for constant inputs."""
    median = np.median(values)
    spread = 1.4826 * np.median(np.abs(values - median))
    return (values - median) / max(float(spread), 1e-6)


def feature_saliency(features: np.ndarray) -> np.ndarray:
    """Robust z-score of each snippet's distance to the video's median feature, [T, D] -> [T]."""
    distance = np.linalg.norm(features - np.median(features, axis=0), axis=1)
    return robust_z(distance)


def prior_logit(probability: np.ndarray) -> np.ndarray:
    """log(p / (1 - p)) of a prior, clipped away from 0 and 1."""
    probability = np.clip(np.asarray(probability, dtype=np.float64), 1e-4, 1 - 1e-4)
    return np.log(probability / (1 - probability))


def initial_pseudo_labels(features: ViewFeatures, views: list[str], config: PseudoLabelConfig = PseudoLabelConfig()) -> np.ndarray:
    """Label-free actionness in [0, 1] per snippet from feature saliency and a text prior.

    CLIP's prior (when the CLIP view is used) is one more robust-z signal, as its logit scale makes
    it too confident to take at face value. Without it, the label bridge's prior is added as prior
    log-odds (Bayes' rule on the saliency label): robust-z-scoring would stretch a nearly flat,
    uninformative bridge prior to the same weight as a saliency signal, whereas the log-odds leave
    labels unchanged where the prior says 0.5 and move them only as far as it is confident.
    """
    signals = [feature_saliency(features.views[name]) for name in views if name in features.views]
    clip_prior = features.extras.get("clip_prior") if "clip" in views and "clip" in features.views else None
    bridge_prior = features.extras.get(BRIDGE_PRIOR_KEY)
    if config.use_clip_prior and clip_prior is not None:
        signals.append(robust_z(prior_logit(clip_prior)))
    logits = (config.sharpness * (np.mean(signals, axis=0) - config.offset) if signals
              else np.zeros(features.num_snippets))
    if config.use_clip_prior and clip_prior is None and bridge_prior is not None:
        logits = logits + prior_logit(bridge_prior)
    return (1.0 / (1.0 + np.exp(-logits))).astype(np.float32)


def confidence_bce(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Class-balanced BCE against hardened targets, each snippet weighted by its confidence |2p - 1|.

    Positive and negative snippets are averaged separately (then equally weighted), since actions
    are usually a minority of a video and would otherwise be drowned out.
    """
    positive = targets > 0.5
    weights = (2 * targets - 1).abs() * mask
    losses = F.binary_cross_entropy_with_logits(logits, positive.float(), reduction="none")
    parts = [(weights * losses * side).sum() / (weights * side).sum().clamp_min(1e-6) for side in (positive, ~positive)]
    return 0.5 * (parts[0] + parts[1])


def consistency_loss(head_logits: dict[str, Tensor], mask: Tensor, min_confidence: float) -> Tensor:
    """Every head's confident snippets (detached) supervise every other head."""
    losses = []
    for teacher, student in itertools.permutations(head_logits, 2):
        probabilities = torch.sigmoid(head_logits[teacher].detach())
        confident = mask & ((2 * probabilities - 1).abs() > min_confidence)
        losses.append(confidence_bce(head_logits[student], probabilities, confident))
    return torch.stack(losses).mean() if losses else head_logits[next(iter(head_logits))].new_zeros(())


def contrastive_loss(projections: dict[str, Tensor], mask: Tensor, temperature: float, exclusion: int) -> Tensor:
    """Snippet-level InfoNCE between every pair of views (same step positive, other steps negative)."""
    names = list(projections)
    if len(names) < 2:
        return mask.new_zeros((), dtype=torch.float32)
    steps = torch.arange(mask.shape[1], device=mask.device)
    gap = (steps.unsqueeze(0) - steps.unsqueeze(1)).abs()
    neighbour = (gap > 0) & (gap <= exclusion)
    keys = mask.unsqueeze(1) & ~neighbour.unsqueeze(0)  # [B, T, T]
    losses = []
    for first, second in itertools.combinations(names, 2):
        similarity = projections[first] @ projections[second].transpose(1, 2) / temperature
        for logits in (similarity, similarity.transpose(1, 2)):
            log_probabilities = torch.log_softmax(logits.masked_fill(~keys, float("-inf")), dim=-1)
            positive = log_probabilities.diagonal(dim1=1, dim2=2).masked_fill(~mask, 0.0)
            losses.append(-positive.sum() / mask.sum().clamp_min(1))
    return torch.stack(losses).mean()


def self_supervised_loss(output: CLIPAEOutput, targets: Tensor, cluster_ids: Tensor | None,
                         weights: LossWeights) -> tuple[Tensor, dict[str, float]]:
    """Total loss of one batch and its parts (as floats, for logging)."""
    mask = output.mask
    parts = {
        "fused": confidence_bce(output.logits, targets, mask),
        "views": torch.stack([confidence_bce(v, targets, mask) for v in output.view_logits.values()]).mean(),
        "consistency": consistency_loss(output.view_logits | {"fused": output.logits}, mask, weights.consistency_confidence),
        "contrastive": contrastive_loss(output.projections, mask, weights.contrast_temperature, weights.contrast_exclusion),
    }
    if cluster_ids is not None:
        parts["mil"] = F.cross_entropy(output.video_logits, cluster_ids)
    total = sum(getattr(weights, name) * value for name, value in parts.items())
    return total, {name: float(value.detach()) for name, value in parts.items()}
