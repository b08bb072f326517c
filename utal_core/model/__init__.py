"""CLIP-AE: the network, its self-supervised training, per-video refinement and checkpoints."""

from .checkpoint import CHECKPOINT_VERSION, load_checkpoint, read_checkpoint_metadata, save_checkpoint
from .clip_ae import CLIPAE, CLIPAEConfig, CLIPAEOutput
from .data import load_cached_features, load_feature_folder
from .inference import Prediction, predict, torch_threads
from .evidence import PseudoLabelConfig, initial_pseudo_labels
from .losses import LossWeights
from .refine import RefineConfig, refine
from .train import TrainConfig, TrainedModel, train

__all__ = [
    "CHECKPOINT_VERSION", "CLIPAE", "CLIPAEConfig", "CLIPAEOutput", "LossWeights", "Prediction", "PseudoLabelConfig",
    "RefineConfig", "TrainConfig", "TrainedModel", "initial_pseudo_labels", "load_cached_features",
    "load_checkpoint", "load_feature_folder", "predict", "read_checkpoint_metadata", "refine", "save_checkpoint", "torch_threads", "train",
]
