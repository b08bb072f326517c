"""Multi-view feature extraction in one streaming pass, with a content-addressed disk cache.

One decode pass (an ffmpeg process, or PyAV in this process) reads the video once and gives two
streams: the snippet-centre frames
(appearance encoders: cbp, clip) and a low-resolution fine stream of several frames per snippet
(:func:`fine_stream_grid`; the motion encoder and shot-cut detection). Reader threads keep a few
batches decoded ahead, so decoding runs while the encoders work. The audio track is decoded once, in chunks,
for the audio encoder (and ``audio_rms_fine``); video-level encoders (precomputed features) read
their files. The result is a :class:`ViewFeatures` on one snippet grid, with the side signals of
:mod:`utal_core.signals` among its extras.

Cache entry (``<cache>/<key[:2]>/<key>.npz`` + ``.json``): the key hashes the file content
(:func:`content_hash`), every encoder's fingerprint, the grid and the frame size. The npz holds
``times``, one array per present view and the extras as ``extra_<name>``; the json holds the
absent reasons, fingerprints, grid, versions and the npz's sha256. Both files are written to a
temp file and renamed; a missing, unreadable or mismatching entry is recomputed.
"""

from __future__ import annotations

import ctypes
import hashlib
import dataclasses
import io
import json
import math
import os
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any, Callable, Iterable, Sequence

import numpy as np

from . import media
from .encoders import AudioEncoder, EncodedBatch, Encoder, FrameEncoder, StreamEncoder, VideoEncoder, create_encoder
from .errors import UTALError
from .export import atomic_write_bytes
from .grid import SnippetGrid, make_grid
from .identity import content_hash
from .limits import Limits
from .signals import AUDIO_RMS_FINE_KEY, SHOT_CUT_KEY, AudioLoudness, ShotCutConfig, ShotCutDetector
from .strips import STRIP_SHORT_SIDE
from .types import VIEW_NAMES, ViewFeatures

#: progress(stage, fraction in [0, 1]); stages: "probe", "frames", "audio", "video", "done".
ProgressCallback = Callable[[str, float], None]
DEFAULT_SHORT_SIDE = 256
#: The fine stream: about this many frames per second ...
FINE_RATE_HZ = 8.0
#: ... and at least this many per snippet (never more than the video's frame rate) ...
FINE_MIN_PER_SNIPPET = 4
#: ... at this short side (pixels).
FINE_SHORT_SIDE = 96
_CACHE_FORMAT = 2
#: glibc's mallopt parameters (malloc.h).
_M_MMAP_THRESHOLD, _M_ARENA_MAX = -3, -8


def feature_cache_path(cache_dir: str | os.PathLike, key: str) -> Path:
    """Where the content-addressed feature cache in ``cache_dir`` keeps the entry of ``key``."""
    return Path(cache_dir) / key[:2] / f"{key}.npz"


def fine_stream_grid(grid: SnippetGrid, fps: float, rate_hz: float = FINE_RATE_HZ,
                     min_per_snippet: int = FINE_MIN_PER_SNIPPET) -> SnippetGrid:
    """The fine stream's grid: ``k`` frames per snippet stride, ``k = max(min_per_snippet, round(rate_hz *
    stride))``, capped so that no two samples fall on one video frame; with window = stride its frames
    tile each snippet's window exactly."""
    per_snippet = max(min_per_snippet, round(rate_hz * grid.stride))
    if fps > 0:
        per_snippet = min(per_snippet, max(1, math.floor(fps * grid.stride + 1e-6)))
    step = grid.stride / per_snippet
    return SnippetGrid(grid.duration, stride=step, window=step)


#: Where a Linux system shows a loaded GPU driver (NVIDIA's, or ROCm's that torch also reports as CUDA).
GPU_DRIVER_PATHS = ("/proc/driver/nvidia", "/dev/nvidiactl", "/dev/kfd")


def limit_heap_growth() -> None:
    """Keep glibc's heap from growing with the video's length (a no-op elsewhere): buffers of 256 KB and more
    (frame batches, audio chunks) are mapped on their own and returned to the system when freed, and malloc
    keeps at most two arenas. By default glibc raises that threshold once such a buffer is freed, and later
    ones land on the decoding threads' heaps: over an hour of 720p, RSS grew by 400 MB (955 to 1360 MB)
    during the frame pass, and stayed at 940-985 MB with these settings."""
    try:
        libc = ctypes.CDLL("libc.so.6")
        libc.mallopt(_M_ARENA_MAX, 2)
        libc.mallopt(_M_MMAP_THRESHOLD, 256 * 1024)
    except (OSError, AttributeError):
        pass


def resolve_device(device: str) -> str:
    """``"auto"`` -> ``"cuda"`` when a CUDA device is present, else ``"cpu"``; other values unchanged.

    On Linux without a GPU driver the answer is "cpu" without asking torch (importing it takes seconds)."""
    if device != "auto":
        return device
    if sys.platform.startswith("linux") and not any(os.path.exists(path) for path in GPU_DRIVER_PATHS):
        return "cpu"
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def library_versions() -> dict[str, str]:
    """Versions of the libraries whose behaviour shapes the features."""
    import importlib.metadata as metadata

    versions = {}
    packages = ("torch", "torchaudio", "torchvision", "open_clip_torch", "onnxruntime", "opencv-python-headless", "numpy")
    for package in packages:
        try:
            versions[package] = metadata.version(package)
        except metadata.PackageNotFoundError:
            versions[package] = "not installed"
    return versions


def write_features(npz_path: str | os.PathLike, features: ViewFeatures, metadata: dict) -> None:
    """Write ``features`` as npz plus a json sidecar (``metadata`` + absent reasons + npz sha256), atomically."""
    npz_path = Path(npz_path)
    arrays: dict[str, Any] = {"times": np.asarray(features.times)} | dict(features.views)
    arrays |= {f"extra_{name}": value for name, value in features.extras.items()}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    data = buffer.getvalue()
    sidecar = dict(metadata) | {"absent": features.absent, "warnings": features.warnings,
                                "npz_sha256": hashlib.sha256(data).hexdigest(), "cache_format": _CACHE_FORMAT}
    atomic_write_bytes(npz_path, data)
    atomic_write_bytes(npz_path.with_suffix(".json"), json.dumps(sidecar, indent=1).encode())


def read_features(npz_path: str | os.PathLike) -> tuple[ViewFeatures, dict]:
    """Read what :func:`write_features` wrote; ValueError if the files are missing, corrupt or mismatched."""
    npz_path = Path(npz_path)
    try:
        metadata = json.loads(npz_path.with_suffix(".json").read_text())
        data = npz_path.read_bytes()
    except (OSError, json.JSONDecodeError, RecursionError) as error:
        raise ValueError(f"unreadable feature files {npz_path}: {error}") from error
    if not isinstance(metadata, dict):
        raise ValueError(f"the sidecar of {npz_path} is not a JSON object")
    if hashlib.sha256(data).hexdigest() != metadata.get("npz_sha256"):
        raise ValueError(f"checksum mismatch in {npz_path}")
    try:
        with np.load(io.BytesIO(data)) as arrays:
            loaded = {name: arrays[name] for name in arrays.files}
        times = loaded.pop("times")
    except Exception as error:  # np.load raises several types (BadZipFile, ValueError, KeyError...)
        raise ValueError(f"corrupt feature file {npz_path}: {error}") from error
    extras = {name[len("extra_"):]: value for name, value in loaded.items() if name.startswith("extra_")}
    views = {name: value for name, value in loaded.items() if not name.startswith("extra_")}
    features = ViewFeatures(times=times, views=views, absent=dict(metadata.get("absent", {})), extras=extras,
                            warnings=[str(w) for w in metadata.get("warnings", [])])
    if features.non_finite():
        raise ValueError(f"{npz_path} holds NaN or infinite values ({', '.join(features.non_finite())})")
    return features, metadata


class FeatureExtractor:
    """Holds loaded encoders (no per-video state) and extracts :class:`ViewFeatures` from videos.

    ``encoders`` are registry names or ready Encoder objects; ``encoder_configs`` maps a name to
    extra config fields (e.g. ``{"clip": {"weights": "ViT-B-32.safetensors"}}``). At most one
    encoder per view. ``cache_dir=None`` disables the cache. ``fine_short_side`` and ``fine_rate_hz``
    set the fine stream (motion, shot cuts); ``shot_cuts=None`` turns cut detection off. ``deblock=False``
    (the default) decodes without the in-loop deblocking filter: a fifth less decoding work, and on Big
    Buck Bunny the 256-pixel frames stay within 42.5 dB PSNR (median; 33.2 dB worst) of a full decode. ``limits``
    bounds each video's duration and snippet count (default: :meth:`Limits.from_env`).
    """

    def __init__(self, encoders: Iterable[str | Encoder] = VIEW_NAMES, device: str = "auto", batch_size: int = 32,
                 cache_dir: str | os.PathLike | None = None, encoder_configs: dict[str, dict] | None = None,
                 short_side: int = DEFAULT_SHORT_SIDE, fine_short_side: int = FINE_SHORT_SIDE,
                 fine_rate_hz: float = FINE_RATE_HZ, shot_cuts: ShotCutConfig | None = ShotCutConfig(),
                 limits: Limits | None = None, deblock: bool = False) -> None:
        self.device = resolve_device(device)
        self.deblock = deblock
        limit_heap_growth()
        self.limits = limits or Limits.from_env()
        self.batch_size = batch_size
        self.short_side = short_side
        self.fine_short_side, self.fine_rate_hz, self.shot_cuts = fine_short_side, fine_rate_hz, shot_cuts
        self.cache_dir = Path(cache_dir) if cache_dir else None
        configs = encoder_configs or {}
        half = self.device.startswith("cuda")
        self.encoders: list[Encoder] = [
            spec if isinstance(spec, Encoder)
            else create_encoder(spec, **({"device": self.device, "half": half} | configs.get(spec, {})))
            for spec in encoders
        ]
        views = [encoder.view for encoder in self.encoders]
        if len(set(views)) != len(views):
            raise UTALError(f"two encoders for the same view: {views}")
        #: Seconds spent per stage in the last extraction ("decode_frames": waiting for decoded frames,
        #: "decode_audio", "shot_cuts", encoder names).
        self.last_timings: dict[str, float] = {}
        #: Whether the last extraction was served from the cache.
        self.last_from_cache = False

    def decode_settings(self) -> dict:
        """Everything besides the encoders that shapes the features: frame sizes, fine stream, cut detection,
        and the media backend (the two resize and convert colours with different FFmpeg builds)."""
        return {"media_backend": media.choose_backend().name, "short_side": self.short_side, "fine_short_side": self.fine_short_side,
                "fine_rate_hz": self.fine_rate_hz, "fine_min_per_snippet": FINE_MIN_PER_SNIPPET,
                "shot_cuts": dataclasses.asdict(self.shot_cuts) if self.shot_cuts else None, "deblock": self.deblock}

    def cache_key(self, path: str | os.PathLike, grid: SnippetGrid) -> str:
        """Content hash of the file + encoder fingerprints + grid + decode settings."""
        identity = {
            "content": content_hash(path),
            "encoders": sorted((e.view, json.dumps(e.fingerprint.to_dict(), sort_keys=True)) for e in self.encoders),
            "grid": grid.to_dict(),
            "decode": self.decode_settings(),
            "format": _CACHE_FORMAT,
        }
        return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()

    def _cache_path(self, key: str) -> Path:
        return feature_cache_path(self.cache_dir, key)

    def proxy(self, video_hash: str) -> media.ProxyVideo | None:
        """Where the cache keeps the proxy (:func:`utal_core.media.write_proxy`, at the frame strips' size) of
        the video of content ``video_hash``, written or not; None without a cache."""
        if self.cache_dir is None:
            return None
        return media.ProxyVideo(self.cache_dir / "proxies" / f"{video_hash[:24]}_{STRIP_SHORT_SIDE}.mp4",
                                STRIP_SHORT_SIDE)

    def metadata(self, path: str | os.PathLike, grid: SnippetGrid) -> dict:
        """What the json sidecar records besides absent reasons: source, grid, fingerprints, versions."""
        return {
            "source": str(path),
            "grid": grid.to_dict(),
            "decode": self.decode_settings(),
            "fingerprints": {e.view: e.fingerprint.to_dict() for e in self.encoders},
            "versions": library_versions(),
        }

    def extract(self, path: str | os.PathLike, grid: SnippetGrid | None = None,
                progress: ProgressCallback | None = None, info: media.MediaInfo | None = None) -> ViewFeatures:
        """Features of every view of the video at ``path`` on ``grid`` (default: the adaptive grid);
        ``info`` saves a second probe when the caller has one."""
        report = progress or (lambda stage, fraction: None)
        report("probe", 0.0)
        info = info or media.probe(path, self.limits)
        grid = grid or make_grid(info.duration)
        self.limits.check_analysis(Path(path).name, info.duration, grid.num_snippets, info.frame_count)
        self.last_timings, self.last_from_cache = {}, False
        cache_path = self._cache_path(self.cache_key(path, grid)) if self.cache_dir else None
        if cache_path is not None and cache_path.exists():
            try:
                features = self._check_entry(*read_features(cache_path), grid)
                self.last_from_cache = True
                report("done", 1.0)
                return features
            except ValueError:
                pass  # a corrupt or mismatching entry is recomputed and overwritten below
        features = self._compute(path, info, grid, report)
        if features.non_finite():
            raise UTALError(f"{Path(path).name}: the encoders produced NaN or infinite features "
                            f"({', '.join(features.non_finite())})")
        if cache_path is not None:
            dims = {encoder.view: encoder.dim for encoder in self.encoders if encoder.view in features.views}
            write_features(cache_path, features, self.metadata(path, grid) | {"dims": dims})
        report("done", 1.0)
        return features

    def _check_entry(self, features: ViewFeatures, metadata: dict, grid: SnippetGrid) -> ViewFeatures:
        """``features`` when a cache entry fits ``grid`` and the encoders' dimensions; ValueError otherwise.

        The dimensions are those the sidecar recorded when the entry was written (the key holds the encoders'
        fingerprints), so that a cache hit loads no network (the cbp encoder knows its own only once its ONNX
        session is built: half a second); entries written before they were recorded ask the encoders."""
        if features.num_snippets != grid.num_snippets or not np.allclose(features.times, grid.times):
            raise ValueError("the cache entry is on another snippet grid")
        recorded = metadata.get("dims") if isinstance(metadata.get("dims"), dict) else {}
        for encoder in self.encoders:
            values = features.views.get(encoder.view)
            if values is None:
                continue
            dim = recorded[encoder.view] if encoder.view in recorded else encoder.dim
            if values.ndim != 2 or values.shape != (grid.num_snippets, dim):
                raise ValueError(f"the cached {encoder.view} features have shape {values.shape}")
        return features

    def _compute(self, path, info: media.MediaInfo, grid: SnippetGrid, report: ProgressCallback) -> ViewFeatures:
        features = ViewFeatures(times=grid.times)
        runnable = []
        for encoder in self.encoders:
            if encoder.available:
                runnable.append(encoder)
            else:
                features.absent[encoder.view] = encoder.unavailable_reason
        frame_encoders = [e for e in runnable if isinstance(e, (FrameEncoder, StreamEncoder))]
        if frame_encoders:
            self._run_frame_encoders(path, info, grid, frame_encoders, features, report)
        for encoder in runnable:
            if isinstance(encoder, AudioEncoder):
                self._run_audio_encoder(path, info, grid, encoder, features, report)
            elif isinstance(encoder, VideoEncoder):
                report("video", 0.0)
                try:
                    self._store(features, encoder, self._timed(encoder.name, encoder.encode_batch, Path(path), grid))
                except UTALError as error:
                    features.absent[encoder.view] = str(error)
        return features

    def _timed(self, stage: str, function, *args):
        start = time.perf_counter()
        result = function(*args)
        self.last_timings[stage] = self.last_timings.get(stage, 0.0) + time.perf_counter() - start
        return result

    @staticmethod
    def _store(features: ViewFeatures, encoder: Encoder, encoded: EncodedBatch) -> None:
        features.views[encoder.view] = np.asarray(encoded.features, dtype=np.float32)
        features.extras.update(encoded.extras)

    def _run_frame_encoders(self, path, info, grid: SnippetGrid, encoders: Sequence[FrameEncoder | StreamEncoder],
                            features: ViewFeatures, report: ProgressCallback) -> None:
        """The one decode pass: centre frames to the frame encoders, the fine stream to the stream
        encoders and the shot-cut detector."""
        centre_encoders = [e for e in encoders if isinstance(e, FrameEncoder)]
        accumulators = {e.name: e.open(grid) for e in encoders if isinstance(e, StreamEncoder)}
        shots = ShotCutDetector(grid, self.shot_cuts) if self.shot_cuts else None
        fine = None
        if accumulators or shots:
            fine = media.FineStream(fine_stream_grid(grid, info.fps, self.fine_rate_hz), self.fine_short_side)
        outputs: dict[str, list] = defaultdict(list)
        batches = media.iter_frames(path, grid, short_side=self.short_side, batch_size=self.batch_size, info=info,
                                    fine=fine, warnings=features.warnings, skip_loop_filter=not self.deblock)
        report("frames", 0.0)
        while (batch := self._timed("decode_frames", next, batches, None)) is not None:
            if batch.kind == media.FINE_FRAMES:
                for name, accumulator in accumulators.items():
                    self._timed(name, accumulator.add, batch.frames, batch.times)
                if shots is not None:
                    self._timed("shot_cuts", shots.add, batch.frames, batch.times)
                continue
            for encoder in centre_encoders:
                outputs[encoder.name].append(self._timed(encoder.name, encoder.encode_batch, batch.frames))
            report("frames", min(1.0, (batch.indices[-1] + 1) / grid.num_snippets))
        for encoder in centre_encoders:
            parts = outputs[encoder.name]
            extras = {name: np.concatenate([part.extras[name] for part in parts]) for name in parts[0].extras}
            self._store(features, encoder, EncodedBatch(np.concatenate([part.features for part in parts]), extras))
        for stream_encoder in encoders:
            if stream_encoder.name in accumulators:
                finished = self._timed(stream_encoder.name, accumulators[stream_encoder.name].finish)
                self._store(features, stream_encoder, finished)
        if shots is not None:
            features.extras[SHOT_CUT_KEY] = shots.finish()

    def _run_audio_encoder(self, path, info, grid: SnippetGrid, encoder: AudioEncoder, features: ViewFeatures,
                           report: ProgressCallback) -> None:
        """The audio track, decoded and encoded chunk by chunk: memory holds a chunk, never the whole track."""
        report("audio", 0.0)
        rate = media.AUDIO_SAMPLE_RATE
        accumulator, loudness = encoder.open(rate, grid), AudioLoudness(rate, grid)
        chunks = media.iter_audio(path, rate, info, features.warnings)
        received = 0
        while (chunk := self._timed("decode_audio", next, chunks, None)) is not None:
            self._timed(encoder.name, accumulator.add, chunk)
            loudness.add(chunk)
            received += len(chunk)
            report("audio", min(1.0, received / max(1.0, info.duration * rate)))
        if not received:
            features.absent[encoder.view] = media.EMPTY_AUDIO_REASON if info.has_audio else media.NO_AUDIO_REASON
            return
        self._store(features, encoder, self._timed(encoder.name, accumulator.finish))
        features.extras[AUDIO_RMS_FINE_KEY] = loudness.finish()
        report("audio", 1.0)


def extract_features(path: str | os.PathLike, grid: SnippetGrid | None = None,
                     encoders: Iterable[str | Encoder] = VIEW_NAMES, device: str = "auto", batch_size: int = 32,
                     cache_dir: str | os.PathLike | None = None, encoder_configs: dict[str, dict] | None = None,
                     progress: ProgressCallback | None = None) -> ViewFeatures:
    """One-shot :class:`FeatureExtractor` ``.extract``; keep an extractor around to reuse loaded models."""
    extractor = FeatureExtractor(encoders, device=device, batch_size=batch_size, cache_dir=cache_dir,
                                 encoder_configs=encoder_configs)
    return extractor.extract(path, grid, progress=progress)
