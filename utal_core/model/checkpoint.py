"""CLIP-AE checkpoints: safetensors weights with the configs JSON-encoded in the file's metadata.

Metadata key ``"clip_ae"`` holds ``{"format": "clip-ae", "version": N, "model_config": {...},
"train_config": {...} | null, "input_dims": {...}, ...extra}``. A file is written to a temporary
name beside the target and renamed into place, so a crash never leaves half a checkpoint.

Loading never trusts the metadata with memory: the model is first built on PyTorch's ``meta``
device (shapes only, no storage) and its tensor names and shapes are compared with the file's
header, so a 1 KB file that claims ``hidden_dim=16384`` is refused before anything is allocated.
Weights that are NaN or infinite are refused too.
"""

from __future__ import annotations

import json
import os
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from ..errors import UTALError
from ..export import temporary_sibling
from ..limits import Limits
from .checkpoint_metadata import CHECKPOINT_VERSION, FORMAT_NAME, METADATA_KEY, read_checkpoint_metadata
from .clip_ae import CLIPAE, CLIPAEConfig
from .train import TrainConfig


def save_checkpoint(path: str | os.PathLike, model: CLIPAE, train_config: TrainConfig | None = None,
                    extra: dict | None = None) -> None:
    """Write ``model`` and its configs to ``path`` atomically (``extra``: more JSON-able metadata)."""
    path = Path(path)
    meta = (extra or {}) | {
        "format": FORMAT_NAME,
        "version": CHECKPOINT_VERSION,
        "model_config": asdict(model.config),
        "train_config": asdict(train_config) if train_config is not None else None,
        "input_dims": dict(model.config.input_dims),
    }
    tensors = {name: value.detach().cpu().contiguous() for name, value in model.state_dict().items()}
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = temporary_sibling(path)
    except OSError as error:
        raise UTALError(f"Cannot write {path}: {error.strerror or error}") from None
    os.close(handle)
    try:
        save_file(tensors, temporary, metadata={METADATA_KEY: json.dumps(meta)})
        os.replace(temporary, path)
    except (OSError, SafetensorError) as error:
        Path(temporary).unlink(missing_ok=True)
        raise UTALError(f"Cannot write {path}: {getattr(error, 'strerror', None) or error}") from None
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _checked_config(path: Path, meta: dict, limits: Limits) -> CLIPAEConfig:
    """The model config of ``meta``, with the file's tensor shapes checked against it on the meta device."""
    try:
        config = CLIPAEConfig(**meta["model_config"])
        with safe_open(str(path), framework="pt") as handle:
            stored = {name: tuple(handle.get_slice(name).get_shape()) for name in handle.keys()}
        if not 0 <= config.caf_stages <= len(stored):  # each stage is several tensors: bound the loop first
            raise ValueError(f"{config.caf_stages} CAF stages in a file of {len(stored)} tensors")
        with torch.device("meta"):
            expected = {name: tuple(value.shape) for name, value in CLIPAE(config).state_dict().items()}
    except (SafetensorError, KeyError, TypeError, ValueError, RuntimeError, OverflowError) as error:
        raise UTALError(f"{path} does not match this version of CLIP-AE ({str(error).splitlines()[0]})") from None
    parameters = sum(torch.Size(shape).numel() for shape in expected.values())
    if parameters > limits.max_checkpoint_parameters:
        raise UTALError(f"{path} describes a model of {parameters:,} parameters, more than the "
                        f"{limits.max_checkpoint_parameters:,} allowed")
    if stored != expected:
        wrong = sorted(set(stored) ^ set(expected)) or sorted(n for n in expected if stored[n] != expected[n])
        raise UTALError(f"{path} does not match its own configuration (tensor {wrong[0]}: "
                        f"{stored.get(wrong[0], 'none')} stored, {expected.get(wrong[0], 'none')} described)")
    return config


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu",
                    limits: Limits | None = None) -> tuple[CLIPAE, dict]:
    """The model stored at ``path`` (in eval mode) and its metadata; shapes are checked before any allocation."""
    path = Path(path)
    meta = read_checkpoint_metadata(path)
    config = _checked_config(path, meta, limits or Limits.from_env())
    try:
        weights = load_file(str(path), device=str(device))
        model = CLIPAE(config)
        model.load_state_dict(weights)
    except (SafetensorError, RuntimeError) as error:
        raise UTALError(f"{path} does not match this version of CLIP-AE ({str(error).splitlines()[0]})") from None
    broken = next((name for name, value in weights.items() if not torch.isfinite(value).all()), None)
    if broken is not None:
        raise UTALError(f"{path} holds NaN or infinite weights (tensor {broken})")
    return model.to(device).eval(), meta
