"""CLIP view (open_clip): image embeddings of each snippet's centre frame, plus zero-shot text priors.

Weights are resolved in this order, and the first that exists wins:

1. an explicit file (``weights=PATH``);
2. ``checkpoints/<model>_<pretrained>.{safetensors,pth,pt,bin}``;
3. open_clip's download caches (the Hugging Face hub cache, ``~/.cache/clip``) for the tag;
4. a hub download, only when ``allow_download`` is on, ``HF_HUB_OFFLINE`` is not set and the hub
   answers a TCP connection within a second.

If none works the encoder is unavailable with the reason; random weights are used only when
``allow_random=True`` (tests) and no weights were found.

Text side: a prompt bank (templates x vocabulary, prompt-ensembled like open_clip's
``build_zero_shot_classifier``). Per snippet: ``clip_prior`` [T] = softmax over {mean action
embedding, mean background embedding} (scaled by the model's logit scale), the probability of
"action"; ``clip_topk`` [T, k] vocabulary indices and ``clip_topk_probs`` [T, k] their softmax
probabilities over the vocabulary.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import socket
import threading
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UTALError
from .base import (RANDOM_WEIGHTS, EncodedBatch, EncoderConfig, Fingerprint, FrameEncoder, file_sha256,
                   find_checkpoint, frames_to_tensor, register_encoder)

PROMPTS_DIR = Path(__file__).resolve().parents[2] / "assets" / "prompts"
HUB_HOST = ("huggingface.co", 443)
_HUB_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")


@dataclass
class ClipConfig(EncoderConfig):
    """open_clip model name + pretrained tag, weights sources and the prompt bank."""

    model: str = "ViT-B-32"
    pretrained: str = "laion2b_s34b_b79k"
    weights: str | None = None
    allow_download: bool = True
    allow_random: bool = False
    vocabulary: str = "kinetics400"
    templates: str = "action_templates"
    background: str = "background"
    top_k: int = 5


def read_prompt_list(name_or_path: str) -> list[str]:
    """Non-empty lines of ``assets/prompts/<name>.txt`` or of an explicit file path."""
    path = Path(name_or_path)
    if not path.is_file():
        path = PROMPTS_DIR / f"{name_or_path}.txt"
    if not path.is_file():
        raise UTALError(f"prompt list not found: {name_or_path} (looked in {PROMPTS_DIR})")
    lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines()]
    return [line for line in lines if line]


def _connects(timeout_s: float) -> bool:
    try:
        with socket.create_connection(HUB_HOST, timeout=timeout_s):
            return True
    except OSError:
        return False


def hub_reachable(timeout_s: float = 1.0) -> bool:
    """False when HF_HUB_OFFLINE is set or the hub does not accept a TCP connection quickly.

    The check runs in a daemon thread so a slow DNS lookup cannot stall the caller either.
    """
    if os.environ.get("HF_HUB_OFFLINE", "").lower() in ("1", "true", "yes", "on"):
        return False
    answer: list[bool] = []
    probe = threading.Thread(target=lambda: answer.append(_connects(timeout_s)), daemon=True)
    probe.start()
    probe.join(2 * timeout_s)
    return bool(answer and answer[0])


def _cached_hub_file(pretrained_cfg: dict) -> Path | None:
    """The tag's weights if open_clip already downloaded them (HF hub cache or ~/.cache/clip)."""
    hub_id = pretrained_cfg.get("hf_hub", "")
    if hub_id:
        from huggingface_hub import try_to_load_from_cache

        repo, filename = os.path.split(hub_id)
        for candidate in ((filename,) if filename else _HUB_WEIGHT_FILES):
            cached = try_to_load_from_cache(repo.rstrip("/"), candidate)
            if isinstance(cached, str) and os.path.isfile(cached):
                return Path(cached)
    url = pretrained_cfg.get("url", "")
    if url:
        legacy = Path.home() / ".cache" / "clip" / os.path.basename(url)
        if legacy.is_file():
            return legacy
    return None


def load_open_clip(model_name: str, pretrained: str | None, device: str = "cpu", precision: str = "fp32"):
    """``open_clip.create_model``, with a weights file that is not open_clip weights (a pickle, random
    bytes, a damaged or foreign safetensors file) refused by one plain UTALError."""
    import open_clip
    from safetensors import SafetensorError

    try:
        return open_clip.create_model(model_name, pretrained=pretrained, device=device, precision=precision)
    except (pickle.UnpicklingError, SafetensorError, EOFError, KeyError, RuntimeError, OSError, ValueError,
            TypeError, AttributeError) as error:
        name = Path(pretrained).name if pretrained else "random"
        raise UTALError(f"CLIP weights {name} could not be loaded as {model_name} open_clip weights "
                        f"({type(error).__name__})") from None


def resolve_clip_weights(config: ClipConfig) -> tuple[Path | None, str | None]:
    """(weights file, None) or (None, reason it could not be found); see the module docstring for the order."""
    import open_clip

    if config.weights:
        path = Path(config.weights)
        return (path, None) if path.is_file() else (None, f"CLIP weights file not found: {path}")
    local = find_checkpoint(f"{config.model}_{config.pretrained}")
    if local:
        return local, None
    pretrained_cfg = open_clip.get_pretrained_cfg(config.model, config.pretrained)
    if not pretrained_cfg:
        return None, f"open_clip has no pretrained tag {config.pretrained!r} for {config.model!r}"
    cached = _cached_hub_file(pretrained_cfg)
    if cached:
        return cached, None
    missing = (f"no local weights for {config.model}/{config.pretrained} (pass --clip-weights PATH or put them at "
               f"checkpoints/{config.model}_{config.pretrained}.safetensors)")
    if not config.allow_download:
        return None, missing
    if not hub_reachable():
        return None, f"{missing}; the model hub is not reachable (offline)"
    try:
        return Path(open_clip.download_pretrained(pretrained_cfg)), None
    except Exception as error:  # any download failure means "unavailable", reported with its cause
        return None, f"{missing}; download failed: {error}"


@register_encoder("clip")
class ClipEncoder(FrameEncoder):
    """open_clip image embeddings (L2-normalised) with zero-shot action prior and top-k vocabulary matches."""

    view = "clip"
    config_class = ClipConfig

    def __init__(self, config: ClipConfig) -> None:
        super().__init__(config)
        self.config: ClipConfig = config
        self._model: Any = None
        self.vocabulary = read_prompt_list(config.vocabulary)
        self.templates = read_prompt_list(config.templates)
        self.background_prompts = read_prompt_list(config.background)
        self.weights_path, reason = resolve_clip_weights(config)
        if reason and config.allow_random:
            reason = None
        self.unavailable_reason = reason

    @property
    def random_weights(self) -> bool:
        return self.weights_path is None and self.config.allow_random

    @property
    def dim(self) -> int:
        import open_clip

        config = open_clip.get_model_config(self.config.model)
        if config is None:
            raise UTALError(f"unknown open_clip model {self.config.model!r}")
        return int(config["embed_dim"])

    @property
    def fingerprint(self) -> Fingerprint:
        sha = RANDOM_WEIGHTS if self.random_weights else file_sha256(self.weights_path) if self.available else ""
        prompts = "\n".join(self.vocabulary + ["|"] + self.templates + ["|"] + self.background_prompts)
        prompt_hash = hashlib.sha256(prompts.encode()).hexdigest()[:16]
        return Fingerprint(self.name, sha, params=f"{self.config.model}|prompts={prompt_hash}|k={self.config.top_k}")

    def _load(self) -> None:
        import open_clip
        import torch
        from open_clip.zero_shot_classifier import build_zero_shot_classifier

        self.require_available()
        device = self.config.device
        pretrained = None if self.random_weights else str(self.weights_path)
        model = load_open_clip(self.config.model, pretrained, device, "fp16" if self.config.half else "fp32")
        model.eval()
        tokenizer = open_clip.get_tokenizer(self.config.model)
        with torch.inference_mode():
            self._class_embeddings = build_zero_shot_classifier(
                model, tokenizer, self.vocabulary, self.templates, device=device)  # [D, K]
            action = torch.nn.functional.normalize(self._class_embeddings.mean(dim=1), dim=0)
            background = model.encode_text(tokenizer(self.background_prompts).to(device), normalize=True).mean(dim=0)
            background = torch.nn.functional.normalize(background, dim=0)
        self._prior_embeddings = torch.stack([action, background], dim=1)  # [D, 2]
        self._logit_scale = float(model.logit_scale.detach().exp())
        preprocess = model.visual.preprocess_cfg
        self._mean, self._std = preprocess["mean"], preprocess["std"]
        size = model.visual.image_size
        self._image_size = size if isinstance(size, int) else size[0]
        self._tokenizer = tokenizer
        self._model = model

    def text_tower(self) -> dict:
        """The loaded model and tokenizer, for a text scorer in the same embedding space."""
        if self._model is None:
            self._load()
        return {"model": self._model, "tokenizer": self._tokenizer, "model_name": self.config.model}

    def encode_batch(self, frames: np.ndarray) -> EncodedBatch:
        """Image embeddings [B, D] plus ``clip_prior`` [B], ``clip_topk`` [B, k], ``clip_topk_probs`` [B, k]."""
        import torch

        if self._model is None:
            self._load()
        images = frames_to_tensor(frames, self._image_size, self._mean, self._std, self.config.device,
                                  self.config.half, interpolation="bicubic")
        self.calls += 1
        with torch.inference_mode():
            embeddings = self._model.encode_image(images, normalize=True)
            prior = (self._logit_scale * embeddings @ self._prior_embeddings).float().softmax(dim=-1)[:, 0]
            class_probs = (self._logit_scale * embeddings @ self._class_embeddings).float().softmax(dim=-1)
            top = class_probs.topk(min(self.config.top_k, len(self.vocabulary)), dim=-1)
        return EncodedBatch(embeddings.float().cpu().numpy(), {
            "clip_prior": prior.cpu().numpy(),
            "clip_topk": top.indices.cpu().numpy().astype(np.int32),
            "clip_topk_probs": top.values.cpu().numpy(),
        })
