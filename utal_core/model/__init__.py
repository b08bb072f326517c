"""CLIP-AE: the network, its self-supervised training, per-video refinement and checkpoints.

The names below are imported lazily (on first use), so that importing this package, or its torch-free
modules (``prediction``, ``checkpoint_metadata``, ``evidence``), does not import torch: an analysis whose
model outputs come from the prediction cache starts without it.
"""

from __future__ import annotations

import importlib
import sys
import types
from typing import TYPE_CHECKING

_EXPORTS = {
    "CHECKPOINT_VERSION": "checkpoint_metadata", "read_checkpoint_metadata": "checkpoint_metadata",
    "load_checkpoint": "checkpoint", "save_checkpoint": "checkpoint",
    "CLIPAE": "clip_ae", "CLIPAEConfig": "clip_ae", "CLIPAEOutput": "clip_ae",
    "load_cached_features": "data", "load_feature_folder": "data",
    "Prediction": "prediction", "predict": "inference", "torch_threads": "inference",
    "PseudoLabelConfig": "evidence", "initial_pseudo_labels": "evidence", "LossWeights": "losses",
    "RefineConfig": "refine", "refine": "refine", "TrainConfig": "train", "TrainedModel": "train", "train": "train",
}

if TYPE_CHECKING:
    from .checkpoint import load_checkpoint, save_checkpoint
    from .checkpoint_metadata import CHECKPOINT_VERSION, read_checkpoint_metadata
    from .clip_ae import CLIPAE, CLIPAEConfig, CLIPAEOutput
    from .data import load_cached_features, load_feature_folder
    from .evidence import PseudoLabelConfig, initial_pseudo_labels
    from .inference import predict, torch_threads
    from .losses import LossWeights
    from .prediction import Prediction
    from .refine import RefineConfig, refine
    from .train import TrainConfig, TrainedModel, train

__all__ = [
    "CHECKPOINT_VERSION", "CLIPAE", "CLIPAEConfig", "CLIPAEOutput", "LossWeights", "Prediction",
    "PseudoLabelConfig", "RefineConfig", "TrainConfig", "TrainedModel", "initial_pseudo_labels", "load_cached_features",
    "load_checkpoint", "load_feature_folder", "predict", "read_checkpoint_metadata", "refine", "save_checkpoint",
    "torch_threads", "train",
]


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'utal_core.model' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)


class _Package(types.ModuleType):
    """This package, where the functions ``train`` and ``refine`` keep their names: importing the submodules of
    the same names (which the import system binds on the package) leaves them to :func:`__getattr__`."""

    def __setattr__(self, name: str, value: object) -> None:
        if not (isinstance(value, types.ModuleType) and _EXPORTS.get(name) == name):
            super().__setattr__(name, value)


sys.modules[__name__].__class__ = _Package
