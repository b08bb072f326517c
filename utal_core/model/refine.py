"""Per-video test-time refinement: a few self-supervised steps on one video's features.

Starting from a trained model, the pseudo-labels are the video's evidence labels (evidence.py),
blended with the model's own fused actionness by ``label_momentum`` (0 by default: the checkpoint
gives the starting weights, the video's evidence the targets), and the multiple-instance target is
the model's own video-level pseudo-class, so refinement adapts this video's curves without changing
what the pseudo-classes mean. Starting from scratch (no checkpoint), a small model is fitted to the
evidence labels alone, with a single pseudo-class.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field

import numpy as np

from ..types import VIEW_NAMES, ViewFeatures
from .clip_ae import CLIPAE, CLIPAEConfig
from .defaults import DEFAULT_ATTENTION_WINDOW
from .inference import predict, usable_views
from .evidence import PseudoLabelConfig, initial_pseudo_labels
from .losses import LossWeights
from .optim import AdamW
from .train import deterministic, input_scales, make_batches, training_step


@dataclass
class RefineConfig:
    """Test-time refinement schedule."""

    steps: int = 20
    learning_rate: float = 5e-4
    #: Weight of the starting model's fused actionness in the pseudo-labels. 0: the checkpoint only gives
    #: the starting weights and the video's own evidence is the target (on the real clips of
    #: benchmarks/real_clips.py, 0.5 gave 0.322 class-agnostic mAP against 0.402 for 0).
    label_momentum: float = 0.0
    max_len: int = 1024
    #: Longest stretch of snippets one attention sees (:meth:`CLIPAE.forward`); crops of ``max_len`` fit in one.
    attention_window: int | None = DEFAULT_ATTENTION_WINDOW
    pseudo_labels: PseudoLabelConfig = field(default_factory=PseudoLabelConfig)
    losses: LossWeights = field(default_factory=LossWeights)
    #: Architecture used when starting from scratch.
    scratch_hidden_dim: int = 64
    device: str = "cpu"


def refine(features: ViewFeatures, model: CLIPAE | None = None, config: RefineConfig = RefineConfig(),
           seed: int = 0) -> CLIPAE:
    """A copy of ``model`` (or a fresh model when None) adapted to the one video ``features``."""
    with deterministic(seed, config.device):
        if model is None:
            views = [name for name in VIEW_NAMES if name in features.views]
            model = CLIPAE(CLIPAEConfig(input_dims={name: features.views[name].shape[-1] for name in views},
                                        hidden_dim=config.scratch_hidden_dim, num_classes=1))
            model.set_input_scale(input_scales([features], views))
            targets = initial_pseudo_labels(features, views, config.pseudo_labels)
            video_class = None
        else:
            views = usable_views(model, features)
            model = copy.deepcopy(model)
            start = predict(model, features, config.attention_window)
            initial = initial_pseudo_labels(features, views, config.pseudo_labels)
            targets = ((1 - config.label_momentum) * initial + config.label_momentum * start.actionness).astype(np.float32)
            video_class = np.array([int(np.argmax(start.video_scores))])
        model.to(config.device)
        optimizer = AdamW(model.parameters(), lr=config.learning_rate)
        rng = np.random.default_rng(seed)
        steps = 0
        while steps < config.steps:
            for batch in make_batches([features], views, [targets], video_class, config.max_len, 1, config.device, rng):
                training_step(model, optimizer, batch, config.losses, config.attention_window)
                steps += 1
                if steps == config.steps:
                    break
        return model.eval()
