"""The CLIP-AE network: per-view projections, audio-visual CAF, CBP<->CLIP collaboration, heads.

Shapes: ``B`` videos (or crops), ``T`` snippets, ``D_v`` input dims of view ``v``, ``d`` hidden.
Any subset of the views may be given; the modules that need a missing view are skipped:

- CAF (audio <-> CBP cross-attention fusion, the paper's equation) runs when audio and CBP are
  both present. Per-view features are L2-normalised, ``Λ = X_a W X_cbpᵀ`` (T x T), and a softmax
  over each axis gives one attention map per stream. Following ``X̃_a = X_a·A_a``, each stream
  is re-weighted *over its own time steps*: at step ``j``, ``X̃_a[j] = Σ_i softmax_i(Λ[i, j]) X_a[i]``
  is the audio that best matches CBP snippet ``j`` (and symmetrically for CBP). Stages are dense:
  stage ``s`` reads a linear fusion of the original features and all previous stage outputs,
  and the stream's output fuses all of them, so the originals are never suppressed.
- Cross-view collaboration (CBP <-> CLIP; our reconstruction) runs when CBP and CLIP are both
  present. It is *actionness-guided mutual attention*: each view gets a preliminary actionness
  ``a_v``; CBP snippets attend to CLIP snippets with logits ``cos(q_i, k_j)/τ + log a_clip[j]``
  (and CLIP to CBP with ``log a_cbp[j]``), and add the attended values residually. CLIP, which
  covers whole actions, thereby lends its extent to CBP's short discriminative peaks, and CBP
  lends its precision to CLIP. The training losses (cross-view pseudo-label consistency) add the
  actionness-level half of the guidance.
- Heads: per-view actionness, fused actionness (a learned, presence-renormalised weighting of
  the view embeddings), and a class activation sequence (CAS) over ``K`` pseudo-classes whose
  video-level score is the mean CAS over the top-k snippets ranked by fused actionness.

Both attentions are T x T in the paper. With ``attention_window`` W (analyses: DEFAULT_ATTENTION_WINDOW),
a video longer than W snippets is attended within a band instead: snippet ``i`` sees the snippets
``j`` with ``|i - j| <= W // 2``, computed in blocks of W // 2 queries, so memory grows with T * W, not
T * T. Up to W snippets the result is the full attention, bit for bit.

During training, ``view_dropout`` randomly removes whole views (never all of them), so that a
view missing at test time is a situation the model has seen.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Callable

import torch
from torch import Tensor, nn
from torch.nn import functional as F

from ..types import VIEW_NAMES




@dataclass
class CLIPAEConfig:
    """Architecture of :class:`CLIPAE`; ``input_dims`` names the views the model knows."""

    input_dims: dict[str, int] = field(default_factory=lambda: {"cbp": 2048, "clip": 512, "audio": 128})
    hidden_dim: int = 128
    caf_stages: int = 2
    num_classes: int = 20
    dropout: float = 0.3
    #: Probability of removing each view from a training batch (at least one view always stays).
    view_dropout: float = 0.2
    temporal_kernel: int = 3
    attention_temperature: float = 0.1
    contrast_dim: int = 64
    #: Fraction of snippets (ranked by fused actionness) averaged into the video-level class score.
    topk_ratio: float = 0.125

    def __post_init__(self) -> None:
        unknown = set(self.input_dims) - set(VIEW_NAMES)
        if unknown or not self.input_dims:
            raise ValueError(f"input_dims must name some of {VIEW_NAMES}, got {sorted(self.input_dims)}")


@dataclass
class CLIPAEOutput:
    """Raw network outputs; logits are kept so that losses stay numerically stable."""

    view_logits: dict[str, Tensor]  # [B, T] per view that was used
    logits: Tensor  # [B, T] fused actionness logits
    cas_logits: Tensor  # [B, T, K]
    video_logits: Tensor  # [B, K]
    embeddings: dict[str, Tensor]  # [B, T, d] per used view, after CAF and collaboration
    projections: dict[str, Tensor]  # [B, T, contrast_dim] per used view, L2-normalised
    fused: Tensor  # [B, T, d]
    mask: Tensor  # [B, T] True on real snippets

    @property
    def actionness(self) -> Tensor:
        return torch.sigmoid(self.logits)

    @property
    def view_actionness(self) -> dict[str, Tensor]:
        return {name: torch.sigmoid(value) for name, value in self.view_logits.items()}

    @property
    def cas(self) -> Tensor:
        """Per-class foreground probability: softmax over pseudo-classes times fused actionness."""
        return torch.softmax(self.cas_logits, dim=-1) * self.actionness.unsqueeze(-1)


def _masked_softmax(logits: Tensor, key_mask: Tensor, dim: int) -> Tensor:
    return torch.softmax(logits.masked_fill(~key_mask, float("-inf")), dim=dim)


def _attend(logits_of: Callable[[slice, slice], Tensor], values: Tensor, key_mask: Tensor, window: int | None,
            keys_first: bool = False) -> Tensor:
    """``softmax_k(logits[q, k]) @ values`` for every query ``q`` of a [B, T, d] sequence, over the real keys
    (``key_mask`` [B, T]); ``logits_of(queries, keys)`` gives the [B, q, k] logits of two index ranges
    ([B, k, q] with ``keys_first``).

    With a ``window`` shorter than the sequence, each query sees only the keys within ``window // 2``
    snippets of it, computed in blocks of queries, so memory grows with T * window instead of T * T;
    up to ``window`` snippets this is the full attention, computed as one block.
    """
    key_dim = 1 if keys_first else 2

    def block(queries: slice, keys: slice, allowed: Tensor) -> Tensor:  # allowed: [B, q, k]
        logits = logits_of(queries, keys)
        weights = _masked_softmax(logits, allowed.transpose(1, 2) if keys_first else allowed, dim=key_dim)
        return (weights.transpose(1, 2) if keys_first else weights) @ values[:, keys]

    length = values.shape[1]
    if window is None or length <= window:
        return block(slice(None), slice(None), key_mask.unsqueeze(1))
    half = max(1, window // 2)
    positions = torch.arange(length, device=values.device)
    blocks = []
    for start in range(0, length, half):
        stop = min(length, start + half)
        low, high = max(0, start - half), min(length, stop + half)
        allowed = key_mask[:, None, low:high] & ((positions[start:stop, None] - positions[None, low:high]).abs() <= half)
        allowed = allowed | ~allowed.any(dim=2, keepdim=True)  # a padding query with no real key in reach: its output is masked later
        blocks.append(block(slice(start, stop), slice(low, high), allowed))
    return torch.cat(blocks, dim=1)


class _TemporalBlock(nn.Module):
    """Conv1d over time with a residual connection, on [B, T, d] tensors."""

    def __init__(self, dim: int, kernel: int, dropout: float):
        super().__init__()
        self.conv = nn.Conv1d(dim, dim, kernel, padding=kernel // 2)
        self.norm = nn.LayerNorm(dim)
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        y = self.conv((x * mask.unsqueeze(-1)).transpose(1, 2)).transpose(1, 2)
        return self.norm(x + self.dropout(F.gelu(y)))


class ViewProjection(nn.Module):
    """Centre a view on its video's mean, scale it, project it to ``d``, add temporal context.

    Centring per video removes the constant scene/camera offset of each video: it says nothing
    about where the actions are, and would let the heads memorise videos instead of actions.
    """

    def __init__(self, input_dim: int, config: CLIPAEConfig):
        super().__init__()
        self.register_buffer("input_std", torch.ones(input_dim))
        self.linear = nn.Linear(input_dim, config.hidden_dim)
        self.dropout = nn.Dropout(config.dropout)
        self.temporal = _TemporalBlock(config.hidden_dim, config.temporal_kernel, config.dropout)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        weights = mask.unsqueeze(-1).to(x.dtype)
        video_mean = (x * weights).sum(dim=1, keepdim=True) / weights.sum(dim=1, keepdim=True).clamp_min(1)
        x = (x - video_mean) / self.input_std * weights
        return self.temporal(self.dropout(F.gelu(self.linear(x))), mask)


class CAFStage(nn.Module):
    """One audio<->CBP cross-attention stage reading the dense history of both streams."""

    def __init__(self, dim: int, history: int, temperature: float):
        super().__init__()
        self.gather_audio = nn.Linear(history * dim, dim)
        self.gather_cbp = nn.Linear(history * dim, dim)
        # fill_diagonal_ rather than torch.eye: on the meta device (checkpoint shape checks) eye goes through
        # torch's Python reference kernels, whose import costs seconds at every start.
        self.correlation = nn.Parameter(torch.zeros(dim, dim).fill_diagonal_(1.0))
        self.out_audio = nn.Linear(dim, dim)
        self.out_cbp = nn.Linear(dim, dim)
        self.norm_audio = nn.LayerNorm(dim)
        self.norm_cbp = nn.LayerNorm(dim)
        self.temperature = temperature

    def forward(self, audio_history: list[Tensor], cbp_history: list[Tensor], mask: Tensor,
                window: int | None = None) -> tuple[Tensor, Tensor]:
        x_audio = self.gather_audio(torch.cat(audio_history, dim=-1))
        x_cbp = self.gather_cbp(torch.cat(cbp_history, dim=-1))
        unit_audio, unit_cbp = F.normalize(x_audio, dim=-1), F.normalize(x_cbp, dim=-1)

        def correlation(audio_steps: slice, cbp_steps: slice) -> Tensor:  # [B, Ta, Tc]
            return unit_audio[:, audio_steps] @ self.correlation @ unit_cbp[:, cbp_steps].transpose(1, 2) / self.temperature

        # Softmax over the audio axis re-weights audio at each CBP step, and vice versa.
        audio_tilde = _attend(lambda cbp_steps, audio_steps: correlation(audio_steps, cbp_steps), x_audio, mask, window,
                              keys_first=True)
        cbp_tilde = _attend(correlation, x_cbp, mask, window)
        new_audio = self.norm_audio(x_audio + F.gelu(self.out_audio(audio_tilde)))
        new_cbp = self.norm_cbp(x_cbp + F.gelu(self.out_cbp(cbp_tilde)))
        return new_audio, new_cbp


class CrossAttentionFusion(nn.Module):
    """Multi-stage CAF with dense skip connections (DenseNet-style concatenation of all stages)."""

    def __init__(self, config: CLIPAEConfig):
        super().__init__()
        d, n = config.hidden_dim, config.caf_stages
        self.stages = nn.ModuleList(CAFStage(d, s + 1, config.attention_temperature) for s in range(n))
        self.merge_audio = nn.Linear((n + 1) * d, d)
        self.merge_cbp = nn.Linear((n + 1) * d, d)

    def forward(self, audio: Tensor, cbp: Tensor, mask: Tensor, window: int | None = None) -> tuple[Tensor, Tensor]:
        audio_history, cbp_history = [audio], [cbp]
        for stage in self.stages:
            new_audio, new_cbp = stage(audio_history, cbp_history, mask, window)
            audio_history.append(new_audio)
            cbp_history.append(new_cbp)
        merged_audio = self.merge_audio(torch.cat(audio_history, dim=-1))
        merged_cbp = self.merge_cbp(torch.cat(cbp_history, dim=-1))
        return audio + merged_audio, cbp + merged_cbp


class _GuidedAttention(nn.Module):
    """Query view attends to a guide view, biased towards the guide's confident action snippets."""

    def __init__(self, dim: int, temperature: float):
        super().__init__()
        self.query = nn.Linear(dim, dim)
        self.key = nn.Linear(dim, dim)
        self.value = nn.Linear(dim, dim)
        self.out = nn.Linear(dim, dim)
        self.norm = nn.LayerNorm(dim)
        self.temperature = temperature

    def forward(self, x: Tensor, guide: Tensor, guide_actionness: Tensor, mask: Tensor, window: int | None = None) -> Tensor:
        q = F.normalize(self.query(x), dim=-1)
        k = F.normalize(self.key(guide), dim=-1)
        bias = torch.log(guide_actionness + 1e-4)

        def logits(queries: slice, keys: slice) -> Tensor:
            return q[:, queries] @ k[:, keys].transpose(1, 2) / self.temperature + bias[:, keys].unsqueeze(1)

        attended = _attend(logits, self.value(guide), mask, window)
        return self.norm(x + self.out(attended))


class CrossViewCollaboration(nn.Module):
    """CBP <-> CLIP mutual attention, each direction guided by the other view's preliminary actionness."""

    def __init__(self, config: CLIPAEConfig):
        super().__init__()
        d, tau = config.hidden_dim, config.attention_temperature
        self.prelim_cbp = nn.Linear(d, 1)
        self.prelim_clip = nn.Linear(d, 1)
        self.cbp_from_clip = _GuidedAttention(d, tau)
        self.clip_from_cbp = _GuidedAttention(d, tau)

    def forward(self, cbp: Tensor, clip: Tensor, mask: Tensor, window: int | None = None) -> tuple[Tensor, Tensor]:
        cbp_actionness = torch.sigmoid(self.prelim_cbp(cbp)).squeeze(-1)
        clip_actionness = torch.sigmoid(self.prelim_clip(clip)).squeeze(-1)
        new_cbp = self.cbp_from_clip(cbp, clip, clip_actionness, mask, window)
        new_clip = self.clip_from_cbp(clip, cbp, cbp_actionness, mask, window)
        return new_cbp, new_clip


class _Head(nn.Module):
    """Temporal conv head: [B, T, d] -> [B, T, out]."""

    def __init__(self, dim: int, out: int, kernel: int, dropout: float):
        super().__init__()
        self.hidden = nn.Conv1d(dim, dim, kernel, padding=kernel // 2)
        self.dropout = nn.Dropout(dropout)
        self.out = nn.Conv1d(dim, out, 1)

    def forward(self, x: Tensor, mask: Tensor) -> Tensor:
        h = self.dropout(F.gelu(self.hidden((x * mask.unsqueeze(-1)).transpose(1, 2))))
        return self.out(h).transpose(1, 2)


class CLIPAE(nn.Module):
    """CLIP-assisted cross-view audio-visual enhancement network (see the module docstring)."""

    def __init__(self, config: CLIPAEConfig):
        super().__init__()
        self.config = config
        d, kernel, dropout = config.hidden_dim, config.temporal_kernel, config.dropout
        self.views = [name for name in VIEW_NAMES if name in config.input_dims]
        self.projections = nn.ModuleDict({name: ViewProjection(config.input_dims[name], config) for name in self.views})
        self.caf = CrossAttentionFusion(config) if {"audio", "cbp"} <= set(self.views) else None
        self.collaboration = CrossViewCollaboration(config) if {"cbp", "clip"} <= set(self.views) else None
        self.view_heads = nn.ModuleDict({name: _Head(d, 1, kernel, dropout) for name in self.views})
        self.contrast_heads = nn.ModuleDict({name: nn.Linear(d, config.contrast_dim) for name in self.views})
        self.fusion_weights = nn.Parameter(torch.zeros(len(self.views)))
        self.fused_head = _Head(d, 1, kernel, dropout)
        self.cas_head = _Head(d, config.num_classes, kernel, dropout)

    def set_input_scale(self, scales: dict[str, Tensor]) -> None:
        """Store the per-view, per-dimension standard deviation (of video-centred features) used to scale inputs."""
        for name, scale in scales.items():
            if name in self.projections:
                self.projections[name].input_std.copy_(scale.clamp_min(1e-6))

    def _drop_views(self, names: list[str]) -> list[str]:
        keep = [name for name in names if torch.rand(()) >= self.config.view_dropout]
        if keep:
            return keep
        return [names[int(torch.randint(len(names), ()))]]

    def forward(self, views: dict[str, Tensor], mask: Tensor | None = None, attention_window: int | None = None) -> CLIPAEOutput:
        """Run on the views present in ``views`` ([B, T, D_v] each); ``mask`` [B, T] marks real snippets.

        ``attention_window``: None, the full T x T attention of CAF and of the collaboration; a number, each
        snippet attends only to the snippets within half of it (the same as full attention when T <= it)."""
        names = [name for name in self.views if name in views]
        if not names:
            raise ValueError(f"none of the model's views {self.views} were given")
        if self.training and self.config.view_dropout > 0 and len(names) > 1:
            names = self._drop_views(names)
        first = views[names[0]]
        if mask is None:
            mask = torch.ones(first.shape[:2], dtype=torch.bool, device=first.device)
        hidden = {name: self.projections[name](views[name], mask) for name in names}
        if self.caf is not None and {"audio", "cbp"} <= hidden.keys():
            hidden["audio"], hidden["cbp"] = self.caf(hidden["audio"], hidden["cbp"], mask, attention_window)
        if self.collaboration is not None and {"cbp", "clip"} <= hidden.keys():
            hidden["cbp"], hidden["clip"] = self.collaboration(hidden["cbp"], hidden["clip"], mask, attention_window)

        weights = torch.softmax(self.fusion_weights[[self.views.index(name) for name in names]], dim=0)
        fused = sum(weight * hidden[name] for weight, name in zip(weights, names))
        logits = self.fused_head(fused, mask).squeeze(-1)
        cas_logits = self.cas_head(fused, mask)
        return CLIPAEOutput(
            view_logits={name: self.view_heads[name](hidden[name], mask).squeeze(-1) for name in names},
            logits=logits,
            cas_logits=cas_logits,
            video_logits=self._video_logits(cas_logits, logits, mask),
            embeddings=hidden,
            projections={name: F.normalize(self.contrast_heads[name](hidden[name]), dim=-1) for name in names},
            fused=fused,
            mask=mask,
        )

    def _video_logits(self, cas_logits: Tensor, logits: Tensor, mask: Tensor) -> Tensor:
        """Mean CAS over each video's top-k snippets ranked by fused actionness (k from ``topk_ratio``)."""
        lengths = mask.sum(dim=1)
        k = torch.clamp((lengths.float() * self.config.topk_ratio).ceil().long(), min=1)
        order = logits.detach().masked_fill(~mask, float("-inf")).argsort(dim=1, descending=True)
        ranked = cas_logits.gather(1, order.unsqueeze(-1).expand_as(cas_logits))
        chosen = (torch.arange(mask.shape[1], device=mask.device).unsqueeze(0) < k.unsqueeze(1)).float()
        return (ranked * chosen.unsqueeze(-1)).sum(dim=1) / k.unsqueeze(1).float()


def count_parameters(model: nn.Module) -> int:
    """Number of trainable parameters."""
    return sum(math.prod(p.shape) for p in model.parameters() if p.requires_grad)
