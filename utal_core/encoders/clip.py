"""CLIP view (open_clip): image embeddings of each snippet's centre frame, plus zero-shot text priors.

Weights are resolved in this order, and the first that exists wins:

1. an explicit file (``weights=PATH``);
2. ``checkpoints/<model>_<pretrained>.{safetensors,pth,pt,bin}``;
3. open_clip's download caches (the Hugging Face hub cache, ``~/.cache/clip``) for the tag;
4. a hub download, only when ``allow_download`` is on, ``HF_HUB_OFFLINE`` is not set and the hub
   answers a TCP connection within a second.

If none works the encoder is unavailable with the reason; random weights are used only when
``allow_random=True`` (tests) and no weights were found.

Weights are named "CLIP" only when their text tower passes a sanity check
(:func:`check_text_tower`: near-synonyms must be each other's nearest prompts); otherwise, e.g. a
randomly initialised model saved in the hub's format, everything that names the view says
"CLIP (unverified weights)" and carries a warning.

Text side: a prompt bank (templates x vocabulary, prompt-ensembled like open_clip's
``build_zero_shot_classifier``), cached on disk per weights file and prompt bank. Per snippet:
``clip_prior`` [T] = softmax over {mean action embedding, mean background embedding} (scaled by
the model's logit scale), the probability of "action"; ``clip_topk`` [T, k] vocabulary indices
and ``clip_topk_probs`` [T, k] their softmax probabilities over the vocabulary.
"""

from __future__ import annotations

import hashlib
import os
import pickle
import socket
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

from ..cache import cached_array, default_cache_dir
from ..errors import UTALError
from ..resources import DATA_ROOT
from .base import (RANDOM_WEIGHTS, EncodedBatch, EncoderConfig, Fingerprint, FrameEncoder, file_sha256,
                   find_checkpoint, frames_to_tensor, register_encoder)

PROMPTS_DIR = DATA_ROOT / "assets" / "prompts"
HUB_HOST = ("huggingface.co", 443)
_HUB_WEIGHT_FILES = ("open_clip_model.safetensors", "open_clip_pytorch_model.bin")
#: Near-synonyms from unrelated categories: a trained text tower puts each anchor's prompt nearest its
#: own partner's; an untrained one matches about one in eight by chance.
SANITY_PAIRS: tuple[tuple[str, str], ...] = (
    ("dog", "puppy"), ("car", "taxi"), ("pizza", "sandwich"), ("guitar", "violin"),
    ("sofa", "couch"), ("ship", "boat"), ("mountain", "hill"), ("bird", "parrot"),
)
SANITY_TEMPLATE = "a photo of a {}"
#: Share of anchors that must find their own partner (6 of 8; random weights: p about 1e-4).
SANITY_MIN_ACCURACY = 0.75
VERIFIED_LABEL = "CLIP"
UNVERIFIED_LABEL = "CLIP (unverified weights)"


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


@dataclass(frozen=True)
class TextTowerCheck:
    """Result of :func:`check_text_tower`: the share of anchors whose nearest partner was their own."""

    accuracy: float

    @property
    def verified(self) -> bool:
        return self.accuracy >= SANITY_MIN_ACCURACY

    @property
    def label(self) -> str:
        """What the UI and CLI call the view: "CLIP" only for weights that pass the check."""
        return VERIFIED_LABEL if self.verified else UNVERIFIED_LABEL

    @property
    def warning(self) -> str | None:
        if self.verified:
            return None
        return (f"These CLIP weights failed the text sanity check ({self.accuracy:.0%} of synonym pairs matched, "
                f"{SANITY_MIN_ACCURACY:.0%} needed): they look untrained or broken, so the view is shown as "
                f"{UNVERIFIED_LABEL!r} and its curve, search results and cluster names mean little.")

    def to_dict(self) -> dict:
        return asdict(self) | {"verified": self.verified, "label": self.label, "warning": self.warning}


def check_text_tower(embed: Callable[[Sequence[str]], np.ndarray]) -> TextTowerCheck:
    """Does a text encoder know what words mean? ``embed`` maps texts to unit vectors [N, D].

    Each anchor prompt of :data:`SANITY_PAIRS` must be nearer its own partner than every other
    partner. The prompts share one template, so an untrained tower (whose similarities follow
    shared tokens, not meaning) cannot pass by the template alone; a sha256 list of the hub's files
    would instead call every fine-tuned or unlisted real checkpoint unverified.
    """
    anchors = embed([SANITY_TEMPLATE.format(anchor) for anchor, _ in SANITY_PAIRS])
    partners = embed([SANITY_TEMPLATE.format(partner) for _, partner in SANITY_PAIRS])
    nearest = (np.asarray(anchors) @ np.asarray(partners).T).argmax(axis=1)
    return TextTowerCheck(float(np.mean(nearest == np.arange(len(SANITY_PAIRS)))))


def encode_prompts(model: Any, tokens: Any) -> Any:
    """``model.encode_text(tokens, normalize=True)``, about 4x faster for short prompts.

    A standard open_clip ``CLIP`` text tower has a causal mask and pools the end token, so no
    output it uses sees the padding after the longest prompt's end token; that padding (most of
    the 77-token context) is cut off. Other text towers run as they are.
    """
    import open_clip
    import torch

    if (type(model).encode_text is not open_clip.CLIP.encode_text or model.attn_mask is None
            or model.text_pool_type != "argmax"):
        return model.encode_text(tokens, normalize=True)
    ends = tokens.argmax(dim=-1)  # the end token has the highest id
    length = int(ends.max()) + 1
    cast_dtype = model.transformer.get_cast_dtype()
    x = model.token_embedding(tokens[:, :length]).to(cast_dtype) + model.positional_embedding[:length].to(cast_dtype)
    x = model.ln_final(model.transformer(x, attn_mask=model.attn_mask[:length, :length]))
    x = x[torch.arange(len(x), device=x.device), ends]
    if model.text_projection is not None:
        linear = isinstance(model.text_projection, torch.nn.Linear)
        x = model.text_projection(x) if linear else x @ model.text_projection
    return torch.nn.functional.normalize(x, dim=-1)


def embed_prompts(model: Any, tokenizer: Callable, texts: Sequence[str], device: str = "cpu",
                  batch_size: int = 256) -> np.ndarray:
    """Unit-norm text embeddings [N, D] float32 of ``texts``, without gradients, in batches of
    prompts of similar length (so :func:`encode_prompts` cuts each batch's padding short)."""
    import torch

    if not texts:
        return np.zeros((0, 0), np.float32)
    tokens = tokenizer(list(texts))
    order = torch.argsort(tokens.argmax(dim=-1), stable=True)
    with torch.inference_mode():
        chunks = [encode_prompts(model, tokens[order[start:start + batch_size]].to(device)).float().cpu().numpy()
                  for start in range(0, len(texts), batch_size)]
    return np.concatenate(chunks)[torch.argsort(order).numpy()]


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
            TypeError, AttributeError, AssertionError) as error:  # open_clip asserts shapes while loading
        name = Path(pretrained).name if pretrained else "random"
        raise UTALError(f"CLIP weights {name} could not be loaded as {model_name} open_clip weights "
                        f"({type(error).__name__})") from None


def _any_downloaded_weights() -> bool:
    """Whether any open_clip weights file lies in the Hugging Face hub cache or open_clip's legacy cache: without
    one (and without a reachable hub) no tag can resolve, and open_clip (seconds of imports) need not load."""
    hub = os.environ.get("HF_HUB_CACHE") or os.environ.get("HUGGINGFACE_HUB_CACHE") or \
        os.path.join(os.environ.get("HF_HOME") or os.path.join(Path.home(), ".cache", "huggingface"), "hub")
    legacy = Path.home() / ".cache" / "clip"
    return any(next(Path(hub).glob(f"models--*/snapshots/*/{name}"), None) is not None for name in _HUB_WEIGHT_FILES) \
        or (legacy.is_dir() and any(legacy.iterdir()))


def resolve_clip_weights(config: ClipConfig) -> tuple[Path | None, str | None]:
    """(weights file, None) or (None, reason it could not be found); see the module docstring for the order."""
    if config.weights:
        path = Path(config.weights)
        return (path, None) if path.is_file() else (None, f"CLIP weights file not found: {path}")
    local = find_checkpoint(f"{config.model}_{config.pretrained}")
    if local:
        return local, None
    missing = (f"no local weights for {config.model}/{config.pretrained} (pass --clip-weights PATH or put them at "
               f"checkpoints/{config.model}_{config.pretrained}.safetensors)")
    if not _any_downloaded_weights() and not (config.allow_download and hub_reachable()):
        return None, missing + ("" if not config.allow_download else "; the model hub is not reachable (offline)")
    import open_clip

    pretrained_cfg = open_clip.get_pretrained_cfg(config.model, config.pretrained)
    if not pretrained_cfg:
        return None, f"open_clip has no pretrained tag {config.pretrained!r} for {config.model!r}"
    cached = _cached_hub_file(pretrained_cfg)
    if cached:
        return cached, None
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
        self._ready = False  # prompt bank and preprocessing built (the model alone serves text_check)
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

    def _prompt_bank(self, model: Any, tokenizer: Callable) -> np.ndarray:
        """Unit-norm [K + 1, D]: each vocabulary entry's prompt-ensembled embedding (templates averaged,
        as open_clip's ``build_zero_shot_classifier``), then the background prompts' mean.

        Cached on disk per weights file and prompt bank: on a CPU the bank (3,200 prompts by
        default) takes minutes, and every process that loads CLIP needs it.
        """
        key = hashlib.sha256("\n".join([self.fingerprint.weights_sha256, self.fingerprint.params,
                                         self.config.model]).encode()).hexdigest()[:24]
        path = default_cache_dir() / "clip_prompts" / f"{key}.npy"

        def compute() -> np.ndarray:
            prompts = [template.format(entry) for entry in self.vocabulary for template in self.templates]
            embedded = embed_prompts(model, tokenizer, prompts + self.background_prompts, self.config.device)
            per_entry = embedded[: len(prompts)].reshape(len(self.vocabulary), len(self.templates), -1).mean(axis=1)
            bank = np.concatenate([per_entry, embedded[len(prompts):].mean(axis=0, keepdims=True)])
            return (bank / np.linalg.norm(bank, axis=1, keepdims=True)).astype(np.float32)

        if self.random_weights:
            return compute()  # no file to key the cache on
        return cached_array(path, compute, rows=len(self.vocabulary) + 1)

    def _load_model(self) -> None:
        """The model, its tokenizer and the text-tower check (16 prompts): enough for ``doctor``."""
        import open_clip

        self.require_available()
        device = self.config.device
        pretrained = None if self.random_weights else str(self.weights_path)
        try:
            model = load_open_clip(self.config.model, pretrained, device, "fp16" if self.config.half else "fp32")
        except UTALError as error:
            name = self.weights_path.name if self.weights_path else "random weights"
            self.unavailable_reason = f"{name} does not load into open_clip {self.config.model}: {error}"
            raise UTALError(f"{self.name} encoder unavailable: {self.unavailable_reason}") from None
        model.eval()
        tokenizer = open_clip.get_tokenizer(self.config.model)
        self._text_check = check_text_tower(lambda texts: embed_prompts(model, tokenizer, texts, device))
        self._tokenizer = tokenizer
        self._model = model

    def _load(self) -> None:
        import torch

        if self._model is None:
            self._load_model()
        model, device = self._model, self.config.device
        bank = torch.from_numpy(self._prompt_bank(model, self._tokenizer)).to(device)
        if self.config.half:
            bank = bank.half()
        self._class_embeddings = bank[:-1].T.contiguous()  # [D, K]
        action = torch.nn.functional.normalize(self._class_embeddings.float().mean(dim=1), dim=0).to(bank.dtype)
        self._prior_embeddings = torch.stack([action, bank[-1]], dim=1)  # [D, 2]
        self._logit_scale = float(model.logit_scale.detach().exp())
        preprocess = model.visual.preprocess_cfg
        self._mean, self._std = preprocess["mean"], preprocess["std"]
        size = model.visual.image_size
        self._image_size = size if isinstance(size, int) else size[0]
        self._ready = True

    @property
    def text_check(self) -> TextTowerCheck:
        """The text-tower sanity check of the weights (loads the model, not the prompt bank, on first use)."""
        if self._model is None:
            self._load_model()
        return self._text_check

    def describe(self) -> dict:
        """``doctor``'s report, plus the view's label ("CLIP" or "CLIP (unverified weights)") and any warning
        when the weights load (checking them loads the model)."""
        try:
            check = self.text_check if self.available else None
        except UTALError:
            check = None  # the weights do not load: describe() reports the reason
        report = super().describe()
        if check is not None:
            report |= {key: value for key, value in check.to_dict().items() if key != "accuracy"}
            report["sanity_accuracy"] = check.accuracy
        return report

    def text_tower(self) -> dict:
        """The loaded model and tokenizer, for a text scorer in the same embedding space."""
        if self._model is None:
            self._load_model()
        return {"model": self._model, "tokenizer": self._tokenizer, "model_name": self.config.model,
                "verified": self.text_check.verified}

    def encode_batch(self, frames: np.ndarray) -> EncodedBatch:
        """Image embeddings [B, D] plus ``clip_prior`` [B], ``clip_topk`` [B, k], ``clip_topk_probs`` [B, k]."""
        import torch

        if not self._ready:
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
