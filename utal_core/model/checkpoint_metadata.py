"""A CLIP-AE checkpoint's metadata, read without loading its weights or importing torch.

What an analysis needs to know before it runs the model (which views the checkpoint was trained with)
comes from here, so that an analysis served from the prediction cache never imports torch. Loading and
saving the weights is :mod:`utal_core.model.checkpoint`.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

from safetensors import SafetensorError, safe_open

from ..errors import UTALError

FORMAT_NAME = "clip-ae"
CHECKPOINT_VERSION = 1
METADATA_KEY = "clip_ae"


def read_checkpoint_metadata(path: str | os.PathLike) -> dict:
    """The checkpoint's metadata, checked for format and version."""
    path = Path(path)
    if not path.is_file():
        raise UTALError(f"checkpoint not found: {path}")
    try:
        # "numpy": reading the header needs no framework, and "pt" would import torch
        with safe_open(str(path), framework="numpy") as handle:
            raw = (handle.metadata() or {}).get(METADATA_KEY)
        meta = json.loads(raw) if raw is not None else None
    except RecursionError:
        raise UTALError(f"{path} is not a readable CLIP-AE checkpoint (its metadata is nested too deeply)") from None
    except (SafetensorError, OSError, ValueError) as error:
        raise UTALError(f"{path} is not a readable CLIP-AE checkpoint ({error})") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_NAME:
        raise UTALError(f"{path} is not a CLIP-AE checkpoint")
    if meta.get("version") != CHECKPOINT_VERSION:
        raise UTALError(f"{path} is a version {meta.get('version')} checkpoint; this program reads version {CHECKPOINT_VERSION}")
    return meta


def checkpoint_views(path: str | os.PathLike) -> frozenset[str]:
    """The views the checkpoint at ``path`` was trained with, from its metadata alone."""
    model_config = read_checkpoint_metadata(path).get("model_config")
    dims = model_config.get("input_dims") if isinstance(model_config, dict) else None
    if not isinstance(dims, dict):
        raise UTALError(f"{path} does not match this version of CLIP-AE (its metadata gives no input dimensions)")
    return frozenset(str(view) for view in dims)
