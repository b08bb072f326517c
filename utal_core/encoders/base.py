"""The encoder protocol, a tiny decorator registry, and helpers shared by every view's encoder.

An encoder turns one kind of input into per-snippet features of one view:

- ``FrameEncoder``: a batch of RGB frames [B, H, W, 3] uint8 (one centre frame per snippet);
- ``StreamEncoder``: the low-resolution fine frame stream of the same decode pass (several frames
  per snippet, in time order), fed batch by batch to a per-video :class:`StreamAccumulator`;
- ``AudioEncoder``: the mono waveform in consecutive chunks, fed to a per-video :class:`AudioAccumulator`;
- ``VideoEncoder``: a video path plus the grid (features computed elsewhere, e.g. I3D .npy files).

Weights are resolved when an encoder is created (cheap: paths and a sha256); the model itself
is loaded on first use. An encoder whose weights cannot be found is still created, reports
``available = False`` with the reason, and raises UTALError if asked to encode.
"""

from __future__ import annotations

import hashlib
import os
from abc import ABC, abstractmethod
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, ClassVar

import numpy as np

from ..errors import UTALError
from ..grid import SnippetGrid
from ..resources import DATA_ROOT

#: Where shipped or user-provided weights are looked up after an explicit path.
CHECKPOINTS_DIR = DATA_ROOT / "checkpoints"
#: Bump when preprocessing changes in a way that changes cached features.
ENCODER_CODE_VERSION = "2"
#: Fingerprint value for a model deliberately run on random weights (tests only).
RANDOM_WEIGHTS = "random-init"


@dataclass(frozen=True)
class Fingerprint:
    """What identifies an encoder's outputs: its name, weights hash, code version and settings."""

    name: str
    weights_sha256: str
    version: str = ENCODER_CODE_VERSION
    params: str = ""

    def to_dict(self) -> dict:
        return asdict(self)


@dataclass
class EncodedBatch:
    """Features [B, D] of one view plus per-row side outputs (``extras``: name -> [B, ...])."""

    features: np.ndarray
    extras: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class EncoderConfig:
    """Settings shared by every encoder."""

    device: str = "cpu"
    half: bool = False


class Encoder(ABC):
    """One view's feature extractor (see the module docstring for the three input kinds)."""

    #: Registry name, set by :func:`register_encoder`.
    name: ClassVar[str] = ""
    #: The ViewFeatures view this encoder fills.
    view: ClassVar[str] = ""
    config_class: ClassVar[type[EncoderConfig]] = EncoderConfig

    def __init__(self, config: EncoderConfig) -> None:
        self.config = config
        self.weights_path: Path | None = None
        self.unavailable_reason: str | None = None
        #: Number of model forward calls, for tests and benchmarks.
        self.calls = 0

    @property
    def available(self) -> bool:
        return self.unavailable_reason is None

    @property
    @abstractmethod
    def dim(self) -> int:
        """Feature dimension D."""

    @property
    @abstractmethod
    def fingerprint(self) -> Fingerprint:
        """Identity of this encoder's outputs, part of the feature cache key."""

    def require_available(self) -> None:
        """Raise UTALError with the reason when the encoder cannot run."""
        if not self.available:
            raise UTALError(f"{self.name} encoder unavailable: {self.unavailable_reason}")

    def describe(self) -> dict:
        """Availability report used by ``doctor``."""
        return {
            "name": self.name,
            "view": self.view,
            "available": self.available,
            "reason": self.unavailable_reason,
            "weights": str(self.weights_path) if self.weights_path else None,
            "weights_sha256": file_sha256(self.weights_path) if self.weights_path else None,
        }


class FrameEncoder(Encoder):
    """Encodes batches of RGB frames."""

    @abstractmethod
    def encode_batch(self, frames: np.ndarray) -> EncodedBatch:
        """Features of frames [B, H, W, 3] uint8 RGB."""

    def encode(self, frames: np.ndarray) -> np.ndarray:
        """Features [B, D] float32 of frames [B, H, W, 3] uint8 RGB."""
        return self.encode_batch(frames).features


class StreamAccumulator(ABC):
    """Per-video state of a StreamEncoder: takes the fine frames in time order, then gives the features."""

    @abstractmethod
    def add(self, frames: np.ndarray, times: np.ndarray) -> None:
        """Take the next fine frames [B, h, w, 3] uint8 RGB shown at ``times`` [B] seconds."""

    @abstractmethod
    def finish(self) -> EncodedBatch:
        """Features [T, D] (and extras) on the grid the accumulator was opened with."""


class StreamEncoder(Encoder):
    """Encodes the fine frame stream (several low-resolution frames per snippet) onto the snippet grid."""

    @abstractmethod
    def open(self, grid: SnippetGrid) -> StreamAccumulator:
        """A fresh accumulator for one video on ``grid``."""

    def encode_batch(self, frames: np.ndarray, times: np.ndarray, grid: SnippetGrid) -> EncodedBatch:
        """Features [T, D] of a whole fine stream held in memory (tests and small clips)."""
        accumulator = self.open(grid)
        accumulator.add(frames, times)
        return accumulator.finish()

    def encode(self, frames: np.ndarray, times: np.ndarray, grid: SnippetGrid) -> np.ndarray:
        """Features [T, D] float32 on ``grid``."""
        return self.encode_batch(frames, times, grid).features


class AudioAccumulator(ABC):
    """Per-video state of an AudioEncoder: takes the waveform in consecutive chunks, then gives the features."""

    @abstractmethod
    def add(self, samples: np.ndarray) -> None:
        """Take the next mono float32 ``samples`` (the first chunk starts at video time 0)."""

    @abstractmethod
    def finish(self) -> EncodedBatch:
        """Features [T, D] (and extras) on the grid the accumulator was opened with."""


class AudioEncoder(Encoder):
    """Encodes a mono waveform, streamed in chunks, onto the snippet grid."""

    @abstractmethod
    def open(self, sample_rate: int, grid: SnippetGrid) -> AudioAccumulator:
        """A fresh accumulator for one video's waveform at ``sample_rate`` on ``grid``."""

    def encode_batch(self, samples: np.ndarray, sample_rate: int, grid: SnippetGrid) -> EncodedBatch:
        """Features [T, D] of a whole waveform held in memory (sample 0 = video time 0; tests and small clips)."""
        accumulator = self.open(sample_rate, grid)
        accumulator.add(samples)
        return accumulator.finish()

    def encode(self, samples: np.ndarray, sample_rate: int, grid: SnippetGrid) -> np.ndarray:
        """Features [T, D] float32 on ``grid``."""
        return self.encode_batch(samples, sample_rate, grid).features


class VideoEncoder(Encoder):
    """Produces a whole video's features from its path (no decoding by the extractor)."""

    @abstractmethod
    def encode_batch(self, path: Path, grid: SnippetGrid) -> EncodedBatch:
        """Features [T, D] of the video at ``path`` on ``grid``."""

    def encode(self, path: Path, grid: SnippetGrid) -> np.ndarray:
        """Features [T, D] float32 on ``grid``."""
        return self.encode_batch(path, grid).features


_ENCODERS: dict[str, type[Encoder]] = {}


def register_encoder(name: str) -> Callable[[type[Encoder]], type[Encoder]]:
    """Class decorator: make an Encoder subclass creatable as ``create_encoder(name, ...)``."""

    def register(cls: type[Encoder]) -> type[Encoder]:
        if name in _ENCODERS:
            raise ValueError(f"encoder {name!r} registered twice")
        cls.name = name
        _ENCODERS[name] = cls
        return cls

    return register


def list_encoders() -> list[str]:
    """Names of all registered encoders."""
    return sorted(_ENCODERS)


def encoder_class(name: str) -> type[Encoder]:
    """The registered class for ``name``; UTALError naming the choices when unknown."""
    try:
        return _ENCODERS[name]
    except KeyError:
        raise UTALError(f"unknown encoder {name!r}; choose from {', '.join(list_encoders())}") from None


def create_encoder(name: str, **config) -> Encoder:
    """Create the encoder registered as ``name`` with its config dataclass built from ``config``."""
    cls = encoder_class(name)
    try:
        return cls(cls.config_class(**config))
    except TypeError as error:
        raise UTALError(f"bad settings for encoder {name!r}: {error}") from None


_SHA256_CACHE: dict[tuple[str, int, int], str] = {}


def file_sha256(path: str | os.PathLike) -> str:
    """sha256 of a file's bytes, memoised per (path, size, mtime) for this process."""
    stat = os.stat(path)
    key = (str(Path(path).resolve()), stat.st_size, stat.st_mtime_ns)
    if key not in _SHA256_CACHE:
        digest = hashlib.sha256()
        with open(path, "rb") as handle:
            for chunk in iter(lambda: handle.read(1 << 20), b""):
                digest.update(chunk)
        _SHA256_CACHE[key] = digest.hexdigest()
    return _SHA256_CACHE[key]


def find_checkpoint(stem: str, suffixes: tuple[str, ...] = (".safetensors", ".pth", ".pt", ".bin")) -> Path | None:
    """``checkpoints/<stem><suffix>`` for the first suffix that exists, else None."""
    for suffix in suffixes:
        candidate = CHECKPOINTS_DIR / f"{stem}{suffix}"
        if candidate.is_file():
            return candidate
    return None


def load_state_dict(path: Path) -> dict:
    """A torch state dict from a .safetensors file or a torch pickle (weights only)."""
    import torch

    if path.suffix == ".safetensors":
        from safetensors.torch import load_file

        return load_file(str(path))
    state = torch.load(str(path), map_location="cpu", weights_only=True)
    if isinstance(state, dict) and "state_dict" in state:
        state = state["state_dict"]
    return state


def frames_to_tensor(frames: np.ndarray, size: int, mean, std, device: str, half: bool,
                     interpolation: str = "bilinear"):
    """uint8 frames [B, H, W, 3] -> normalised [B, 3, size, size]: short side resized, centre crop."""
    import torch
    import torch.nn.functional as F

    images = torch.from_numpy(np.require(frames, requirements=["C", "W"])).to(device).permute(0, 3, 1, 2).float().div_(255.0)
    height, width = images.shape[-2:]
    scale = size / min(height, width)
    new_h, new_w = max(size, round(height * scale)), max(size, round(width * scale))
    if (new_h, new_w) != (height, width):
        images = F.interpolate(images, size=(new_h, new_w), mode=interpolation, align_corners=False, antialias=True)
    top, left = (new_h - size) // 2, (new_w - size) // 2
    images = images[:, :, top:top + size, left:left + size]
    mean_t = torch.tensor(mean, device=device).view(1, 3, 1, 1)
    std_t = torch.tensor(std, device=device).view(1, 3, 1, 1)
    images = (images - mean_t) / std_t
    return images.half() if half else images


def pool_onto_grid(values: np.ndarray, centres: np.ndarray, grid: SnippetGrid) -> np.ndarray:
    """Resample rows ``values`` [N, D] taken at times ``centres`` [N] onto the snippet grid.

    A snippet gets the mean of the rows whose centre lies inside its window; a snippet whose
    window holds no row gets the row with the nearest centre.
    """
    return pool_at(values, centres, grid.times, min(grid.window, grid.duration) / 2)


def pool_at(values: np.ndarray, centres: np.ndarray, targets: np.ndarray, half_width: float) -> np.ndarray:
    """Mean of the rows ``values`` [N, ...] whose time ``centres`` [N] (sorted) lies in
    ``[target - half_width, target + half_width)``, for each of ``targets`` [M]; the row with the
    nearest centre where that window holds none."""
    if len(values) == 0:
        raise ValueError("no rows to resample")
    targets = np.asarray(targets, dtype=np.float64)
    lo = np.searchsorted(centres, targets - half_width, side="left")
    hi = np.searchsorted(centres, targets + half_width, side="left")
    cumulative = np.concatenate([np.zeros((1,) + values.shape[1:], np.float64), np.cumsum(values, axis=0, dtype=np.float64)])
    counts = (hi - lo).reshape((-1,) + (1,) * (values.ndim - 1))
    means = (cumulative[hi] - cumulative[lo]) / np.maximum(counts, 1)
    right = np.clip(np.searchsorted(centres, targets), 1, len(centres) - 1) if len(centres) > 1 else np.zeros(len(targets), int)
    left = np.maximum(right - 1, 0)
    nearest = np.where(np.abs(centres[left] - targets) <= np.abs(centres[right] - targets), left, right)
    return np.where(counts > 0, means, values[nearest]).astype(np.float32)
