"""CLIP-AE checkpoints: safetensors weights with the configs JSON-encoded in the file's metadata.

Metadata key ``"clip_ae"`` holds ``{"format": "clip-ae", "version": N, "model_config": {...},
"train_config": {...} | null, "input_dims": {...}, ...extra}``. A file is written to a temporary
name beside the target and renamed into place, so a crash never leaves half a checkpoint.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, safe_open, save_file

from ..errors import UTALError
from .clip_ae import CLIPAE, CLIPAEConfig
from .train import TrainConfig

FORMAT_NAME = "clip-ae"
CHECKPOINT_VERSION = 1
_METADATA_KEY = "clip_ae"


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
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(handle)
    try:
        save_file(tensors, temporary, metadata={_METADATA_KEY: json.dumps(meta)})
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def read_checkpoint_metadata(path: str | os.PathLike) -> dict:
    """The checkpoint's metadata, checked for format and version."""
    path = Path(path)
    if not path.is_file():
        raise UTALError(f"checkpoint not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as handle:
            raw = (handle.metadata() or {}).get(_METADATA_KEY)
        meta = json.loads(raw) if raw is not None else None
    except (SafetensorError, OSError, ValueError) as error:
        raise UTALError(f"{path} is not a readable CLIP-AE checkpoint ({error})") from error
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise UTALError(f"{path} is not a CLIP-AE checkpoint")
    if meta.get("version") != CHECKPOINT_VERSION:
        raise UTALError(f"{path} is a version {meta.get('version')} checkpoint; this program reads version {CHECKPOINT_VERSION}")
    return meta


def load_checkpoint(path: str | os.PathLike, device: str | torch.device = "cpu") -> tuple[CLIPAE, dict]:
    """The model stored at ``path`` (in eval mode) and its metadata."""
    meta = read_checkpoint_metadata(path)
    try:
        model = CLIPAE(CLIPAEConfig(**meta["model_config"]))
        model.load_state_dict(load_file(str(path), device=str(device)))
    except (SafetensorError, KeyError, TypeError, ValueError, RuntimeError) as error:
        raise UTALError(f"{path} does not match this version of CLIP-AE ({str(error).splitlines()[0]})") from error
    return model.to(device).eval(), meta
