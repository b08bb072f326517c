"""Running a trained CLIP-AE on one video: raw per-snippet outputs that the app caches.

Re-thresholding, NMS and re-clustering work on a :class:`Prediction`, never rerunning the model.
"""

from __future__ import annotations

from contextlib import contextmanager
from typing import Iterator

import numpy as np
import torch

from ..errors import UTALError
from ..types import VIEW_NAMES, ViewFeatures
from .clip_ae import CLIPAE
from .defaults import DEFAULT_ATTENTION_WINDOW
from .prediction import Prediction


@contextmanager
def torch_threads(count: int) -> Iterator[None]:
    """Torch's intra-op thread count set to ``count`` inside the block (0: left as it is)."""
    previous = torch.get_num_threads()
    if count > 0:
        torch.set_num_threads(count)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


def usable_views(model: CLIPAE, features: ViewFeatures) -> list[str]:
    """The views that both the model knows and the video has, checking their dimensions."""
    names = [name for name in model.views if name in features.views]
    if not names:
        raise UTALError(f"the video has none of the views the model was trained on ({', '.join(model.views)})")
    for name in names:
        got, want = features.views[name].shape[-1], model.config.input_dims[name]
        if got != want:
            raise UTALError(f"the {name} features have {got} dimensions but the model expects {want}")
    return names


def view_tensors(features: ViewFeatures, names: list[str], device: torch.device | str = "cpu") -> dict[str, torch.Tensor]:
    """The named views as [1, T, D] float32 tensors."""
    return {name: torch.as_tensor(np.asarray(features.views[name], dtype=np.float32), device=device).unsqueeze(0)
            for name in names}


@torch.no_grad()
def predict(model: CLIPAE, features: ViewFeatures, attention_window: int | None = DEFAULT_ATTENTION_WINDOW) -> Prediction:
    """Per-view and fused actionness, CAS and video scores for one whole video (``attention_window``: see
    :meth:`CLIPAE.forward`)."""
    names = usable_views(model, features)
    device = next(model.parameters()).device
    was_training = model.training
    model.eval()
    try:
        output = model(view_tensors(features, names, device), attention_window=attention_window)
    finally:
        model.train(was_training)
    view_actionness = output.view_actionness
    return Prediction(
        times=np.asarray(features.times, dtype=np.float64),
        view_actionness={name: view_actionness[name][0].cpu().numpy() if name in view_actionness else None
                         for name in VIEW_NAMES},
        actionness=output.actionness[0].cpu().numpy(),
        cas=output.cas[0].cpu().numpy(),
        video_scores=torch.softmax(output.video_logits[0], dim=-1).cpu().numpy(),
    )
