"""Self-supervised objectives of CLIP-AE (no labels anywhere).

The initial pseudo-labels come from label-free evidence (evidence.py); training then refines them
iteratively with the model's own fused actionness (see train.py). Targets are graded
probabilities and every head is fitted to them with soft binary cross-entropy, whose minimum is
the target itself: the heads learn graded, calibrated actionness instead of being hardened to
0 or 1.

Losses on one batch:
- pseudo-label loss: soft BCE of the fused head (and, weaker, each view head) against the targets;
- cross-view consistency: each head's (detached) actionness is a soft target for every other head;
- cross-view contrastive (InfoNCE): the same snippet in two views is the positive pair, other
  snippets of the same video are negatives (except immediate neighbours, near-duplicates);
- multiple-instance loss: the video-level CAS score must predict the video's pseudo-class.
"""

from __future__ import annotations

import itertools
from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn import functional as F

from .clip_ae import CLIPAEOutput


@dataclass
class LossWeights:
    """Weights of the self-supervised loss terms."""

    fused: float = 1.0
    views: float = 0.5
    consistency: float = 0.5
    contrastive: float = 0.1
    mil: float = 0.5
    contrast_temperature: float = 0.1
    #: Snippets within this many steps of the positive are not used as negatives.
    contrast_exclusion: int = 2


def soft_bce(logits: Tensor, targets: Tensor, mask: Tensor) -> Tensor:
    """Binary cross-entropy against graded targets in [0, 1], averaged over the real snippets."""
    losses = F.binary_cross_entropy_with_logits(logits, targets, reduction="none")
    return (losses * mask).sum() / mask.sum().clamp_min(1)


def consistency_loss(head_logits: dict[str, Tensor], mask: Tensor) -> Tensor:
    """Every head's actionness (detached) is a soft target for every other head."""
    losses = [soft_bce(head_logits[student], torch.sigmoid(head_logits[teacher].detach()), mask)
              for teacher, student in itertools.permutations(head_logits, 2)]
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
        "fused": soft_bce(output.logits, targets, mask),
        "views": torch.stack([soft_bce(v, targets, mask) for v in output.view_logits.values()]).mean(),
        "consistency": consistency_loss(output.view_logits | {"fused": output.logits}, mask),
        "contrastive": contrastive_loss(output.projections, mask, weights.contrast_temperature, weights.contrast_exclusion),
    }
    if cluster_ids is not None:
        parts["mil"] = F.cross_entropy(output.video_logits, cluster_ids)
    total = sum(getattr(weights, name) * value for name, value in parts.items())
    return total, {name: float(value.detach()) for name, value in parts.items()}
