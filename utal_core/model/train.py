"""Dataset-level self-supervised training of CLIP-AE with iterative pseudo-labels and clustering.

The loop (no labels anywhere):
1. initial actionness pseudo-labels per video from feature saliency and the CLIP prior (losses.py);
2. video pseudo-classes: k-means on each video's *foreground-minus-background* descriptor (the
   pseudo-label-weighted mean of its standardised input features minus the complement-weighted
   mean, per view, L2-normalised), so that each video's scene offset cancels;
3. train on random crops with the self-supervised losses;
4. every ``relabel_every`` epochs: pseudo-labels become a blend of the initial ones and the
   model's fused actionness, the videos are re-clustered, and the new cluster ids are matched to
   the old ones (Hungarian) so the CAS head's classes keep their meaning.
Training is deterministic on CPU for a given seed.
"""

from __future__ import annotations

import contextlib
from collections import defaultdict
from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np
import torch
from scipy.optimize import linear_sum_assignment

from ..errors import UTALError
from ..types import VIEW_NAMES, ViewFeatures
from .clip_ae import CLIPAE, CLIPAEConfig
from .inference import predict
from .evidence import PseudoLabelConfig, initial_pseudo_labels
from .losses import LossWeights, self_supervised_loss
from .optim import Optimizer


@dataclass
class TrainConfig:
    """Optimisation and pseudo-labelling schedule."""

    epochs: int = 30
    batch_size: int = 8
    max_len: int = 128
    learning_rate: float = 1e-3
    weight_decay: float = 1e-4
    relabel_every: int = 5
    #: Weight of the model's own fused actionness when pseudo-labels are refreshed.
    label_momentum: float = 0.5
    pseudo_labels: PseudoLabelConfig = field(default_factory=PseudoLabelConfig)
    losses: LossWeights = field(default_factory=LossWeights)
    device: str = "cpu"


@dataclass
class TrainedModel:
    """A trained model with the final pseudo-labels, pseudo-classes and the per-epoch loss history."""

    model: CLIPAE
    train_config: TrainConfig
    pseudo_labels: list[np.ndarray]
    cluster_ids: np.ndarray
    history: list[dict[str, float]]


@dataclass
class Batch:
    """Padded crops of videos that share one set of views."""

    views: dict[str, torch.Tensor]  # [B, T, D]
    mask: torch.Tensor  # [B, T]
    targets: torch.Tensor  # [B, T] pseudo-labels
    cluster_ids: torch.Tensor | None  # [B]


def infer_input_dims(dataset: Sequence[ViewFeatures]) -> dict[str, int]:
    """Dimension of every view present in at least one video (checking they agree)."""
    dims: dict[str, int] = {}
    for features in dataset:
        for name, values in features.views.items():
            if dims.setdefault(name, values.shape[-1]) != values.shape[-1]:
                raise UTALError(f"the {name} features change dimension across videos ({dims[name]} vs {values.shape[-1]})")
    if not dims:
        raise UTALError("the dataset has no features")
    return {name: dims[name] for name in VIEW_NAMES if name in dims}


def centred(features: np.ndarray) -> np.ndarray:
    """Features minus their mean over the video's snippets (as the model sees them)."""
    return features - features.mean(axis=0, keepdims=True)


def input_scales(dataset: Sequence[ViewFeatures], views: list[str]) -> dict[str, torch.Tensor]:
    """Per-view, per-dimension standard deviation of the video-centred features over the dataset."""
    scales = {}
    for name in views:
        stacked = np.concatenate([centred(f.views[name].astype(np.float64)) for f in dataset if name in f.views])
        scales[name] = torch.as_tensor(stacked.std(0), dtype=torch.float32)
    return scales


def video_descriptors(dataset: Sequence[ViewFeatures], weights: Sequence[np.ndarray], views: list[str],
                      scales: dict[str, torch.Tensor]) -> np.ndarray:
    """Per video: concatenated per-view foreground-minus-background means (zeros for a missing view)."""
    rows = []
    for features, foreground in zip(dataset, weights):
        parts = []
        for name in views:
            scale = np.maximum(scales[name].numpy(), 1e-6)
            if name not in features.views:
                parts.append(np.zeros_like(scale))
                continue
            x = features.views[name] / scale
            contrast = foreground @ x / max(foreground.sum(), 1e-6) - (1 - foreground) @ x / max((1 - foreground).sum(), 1e-6)
            parts.append(contrast / max(np.linalg.norm(contrast), 1e-6))
        rows.append(np.concatenate(parts))
    return np.stack(rows)


def cluster_videos(descriptors: np.ndarray, k: int, seed: int, previous: np.ndarray | None = None) -> np.ndarray:
    """k-means pseudo-classes, relabelled to agree as much as possible with ``previous``."""
    if len(descriptors) < k:
        raise UTALError(f"cannot form {k} pseudo-classes from {len(descriptors)} videos; lower --k")
    from sklearn.cluster import KMeans  # here, not at the top: `analyze` refines without it

    labels = KMeans(n_clusters=k, n_init=10, random_state=seed).fit_predict(descriptors)
    if previous is None:
        return labels
    overlap = np.zeros((k, k))
    np.add.at(overlap, (labels, previous), 1)
    new, old = linear_sum_assignment(-overlap)
    mapping = dict(zip(new, old))
    return np.array([mapping[label] for label in labels])


def _crops(length: int, max_len: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Full-length crops that together cover the video, with random placement."""
    if length <= max_len:
        return [(0, length)]
    count = -(-length // max_len)
    starts = np.linspace(0, length - max_len, count) + rng.uniform(-0.5, 0.5, count) * (length - max_len) / count
    return [(int(s), int(s) + max_len) for s in np.clip(np.rint(starts), 0, length - max_len)]


def make_batches(dataset: Sequence[ViewFeatures], views: list[str], targets: Sequence[np.ndarray],
                 cluster_ids: np.ndarray | None, max_len: int, batch_size: int, device: str,
                 rng: np.random.Generator) -> Iterator[Batch]:
    """One epoch of shuffled batches; crops in a batch share their set of present views."""
    groups: dict[tuple[str, ...], list[tuple[int, int, int]]] = defaultdict(list)
    for index, features in enumerate(dataset):
        present = tuple(name for name in views if name in features.views)
        if present:
            groups[present].extend((index, start, end) for start, end in _crops(features.num_snippets, max_len, rng))
    chunks: list[tuple[tuple[str, ...], list[tuple[int, int, int]]]] = []
    for present in sorted(groups):
        crops = groups[present]
        order = rng.permutation(len(crops))
        chunks.extend((present, [crops[i] for i in order[s:s + batch_size]]) for s in range(0, len(crops), batch_size))
    for c in rng.permutation(len(chunks)):
        present, crops = chunks[c]
        yield _collate(dataset, present, crops, targets, cluster_ids, device)


def _collate(dataset: Sequence[ViewFeatures], present: tuple[str, ...], crops: list[tuple[int, int, int]],
             targets: Sequence[np.ndarray], cluster_ids: np.ndarray | None, device: str) -> Batch:
    width = max(end - start for _, start, end in crops)
    mask = np.zeros((len(crops), width), dtype=bool)
    target = np.zeros((len(crops), width), dtype=np.float32)
    views = {name: np.zeros((len(crops), width, dataset[crops[0][0]].views[name].shape[-1]), dtype=np.float32)
             for name in present}
    for row, (index, start, end) in enumerate(crops):
        mask[row, :end - start] = True
        target[row, :end - start] = targets[index][start:end]
        for name in present:
            views[name][row, :end - start] = dataset[index].views[name][start:end]
    return Batch(
        views={name: torch.from_numpy(value).to(device) for name, value in views.items()},
        mask=torch.from_numpy(mask).to(device),
        targets=torch.from_numpy(target).to(device),
        cluster_ids=None if cluster_ids is None else torch.as_tensor(cluster_ids[[i for i, _, _ in crops]], dtype=torch.long, device=device),
    )


def training_step(model: CLIPAE, optimizer: Optimizer, batch: Batch, weights: LossWeights,
                  attention_window: int | None = None) -> dict[str, float]:
    """One gradient step on ``batch`` (``attention_window``: see :meth:`CLIPAE.forward`); returns the loss parts."""
    model.train()
    output = model(batch.views, batch.mask, attention_window)
    loss, parts = self_supervised_loss(output, batch.targets, batch.cluster_ids, weights)
    optimizer.zero_grad(set_to_none=True)
    loss.backward()
    optimizer.step()
    return parts | {"total": float(loss.detach())}


@contextlib.contextmanager
def deterministic(seed: int, device: str) -> Iterator[None]:
    """Seed torch and, on CPU, force deterministic kernels for the duration of the block."""
    previous = torch.are_deterministic_algorithms_enabled()
    torch.manual_seed(seed)
    _set_deterministic_algorithms(device == "cpu" or previous)
    try:
        yield
    finally:
        _set_deterministic_algorithms(previous)


def _set_deterministic_algorithms(mode: bool) -> None:
    """``torch.use_deterministic_algorithms(mode)`` without its import of torch._inductor (about 5 s per
    process, only to set a torch.compile option this project never uses), where torch allows."""
    setter = getattr(torch._C, "_set_deterministic_algorithms", None)
    if setter is None:
        torch.use_deterministic_algorithms(mode)
    else:
        setter(mode, warn_only=False)


def refresh_pseudo_labels(model: CLIPAE, dataset: Sequence[ViewFeatures], initial: Sequence[np.ndarray],
                          momentum: float) -> list[np.ndarray]:
    """Blend the initial pseudo-labels with the model's fused actionness."""
    return [((1 - momentum) * base + momentum * predict(model, features).actionness).astype(np.float32)
            for base, features in zip(initial, dataset)]


def train(dataset: Sequence[ViewFeatures], config: CLIPAEConfig | None = None,
          train_config: TrainConfig = TrainConfig(), seed: int = 0) -> TrainedModel:
    """Train CLIP-AE on unlabeled ``dataset`` (videos of any length; views may be missing)."""
    if not dataset:
        raise UTALError("no videos to train on")
    config = config or CLIPAEConfig(input_dims=infer_input_dims(dataset))
    views = [name for name in VIEW_NAMES if name in config.input_dims]
    rng = np.random.default_rng(seed)
    with deterministic(seed, train_config.device):
        model = CLIPAE(config)
        scales = input_scales(dataset, views)
        model.set_input_scale(scales)
        model.to(train_config.device)
        optimizer = torch.optim.AdamW(model.parameters(), lr=train_config.learning_rate, weight_decay=train_config.weight_decay)
        initial = [initial_pseudo_labels(features, views, train_config.pseudo_labels) for features in dataset]
        targets = initial
        clusters = cluster_videos(video_descriptors(dataset, targets, views, scales), config.num_classes, seed)
        history = []
        for epoch in range(train_config.epochs):
            if epoch and epoch % train_config.relabel_every == 0:
                targets = refresh_pseudo_labels(model, dataset, initial, train_config.label_momentum)
                descriptors = video_descriptors(dataset, targets, views, scales)
                clusters = cluster_videos(descriptors, config.num_classes, seed, previous=clusters)
            parts = [training_step(model, optimizer, batch, train_config.losses)
                     for batch in make_batches(dataset, views, targets, clusters, train_config.max_len,
                                                       train_config.batch_size, train_config.device, rng)]
            history.append({name: float(np.mean([p[name] for p in parts if name in p])) for name in parts[0]} | {"epoch": epoch})
        model.eval()
    return TrainedModel(model=model, train_config=train_config, pseudo_labels=list(targets), cluster_ids=clusters, history=history)
