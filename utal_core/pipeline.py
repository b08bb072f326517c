"""The one pipeline behind the app, the CLI, the tests and the benchmarks.

``Pipeline`` is stateless with respect to videos (it holds only loaded models): ``encode_video``
gives cached features, ``predict`` runs the model once (its outputs are cached beside the features,
utal_core/prediction_cache.py), and everything after that (``resegment``: localization, clustering,
naming) works from the cached raw outputs, so re-thresholding never reruns a network. Per-video state
is the returned ``Analysis``. Torch is imported only when the model runs: a re-analysis served from
the caches starts without it.
"""

from __future__ import annotations

import base64
import dataclasses
import json
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterable, Iterator, Literal

import numpy as np

from . import media
from .cache import default_cache_dir
from .cluster import ClusterModel, PooledRuns, SegmentPooler, fit_cluster_model, label_segments
from .edits import EditLayer, numbered_segments, with_numbers
from .errors import UTALError
from .export import atomic_write_text
from .features import FeatureExtractor, content_hash, library_versions
from .grid import ADAPTIVE_MAX_SNIPPETS, ADAPTIVE_MIN_SNIPPETS, SnippetGrid, make_grid
from .limits import Limits
from .localize import LocalizeParams, drop_edge_stubs, localize, localize_ranged, ranged_sources, refine_boundaries
from .encoders.base import file_sha256
from .model.checkpoint_metadata import checkpoint_views
from .model.defaults import DEFAULT_ATTENTION_WINDOW
from .model.evidence import BRIDGE_SIGNAL, PseudoLabelConfig, fine_evidence, view_curves, view_signals
from .model.prediction import Prediction
from .prediction_cache import cached_prediction, prediction_key, prediction_path
from .resources import DATA_ROOT
from .signals import SHOT_CUT_KEY
from .text import TextScorer, add_bridge_prior, build_text_scorer
from .types import VIEW_NAMES, Segment, ViewFeatures

if TYPE_CHECKING:
    from .model import CLIPAE

#: Keys of ``Analysis.curves``: each view's own evidence curve (model/evidence.py; "bridge" is the label
#: bridge's text prior, drawn under its own name when there is no CLIP) and the CLIP-AE model's fused actionness.
CURVE_NAMES: tuple[str, ...] = (*VIEW_NAMES, BRIDGE_SIGNAL, "fused")
ANALYSIS_FORMAT = 1
#: The 64 characters of the binary arrays in analysis files: URL-safe base64, with no "/" that a path scrubber
#: (ui/messages.py's strip_paths) could take for the start of a path.
ARRAY_ALTCHARS = b"-_"
ROOT = Path(__file__).resolve().parents[1]
DEFAULT_CHECKPOINT = DATA_ROOT / "checkpoints" / "clip_ae_default.safetensors"

ProgressCallback = Callable[[str, float], None]
NumClusters = int | Literal["auto"]


@dataclass
class PipelineConfig:
    """Every setting of an analysis; saved inside each Analysis so results say how they were made.

    ``stride_s=None`` (the default) is the adaptive grid: 1 s snippets, finer for clips shorter than
    ``min_snippets`` seconds (a 10 s clip gets 0.25 s snippets), coarser for videos longer than
    ``max_snippets`` seconds (an hour gets 2 s); a number is a fixed stride. ``window_s`` defaults
    to the stride.
    """

    stride_s: float | None = None
    window_s: float | None = None
    min_snippets: int = ADAPTIVE_MIN_SNIPPETS
    max_snippets: int = ADAPTIVE_MAX_SNIPPETS
    views: tuple[str, ...] = VIEW_NAMES
    encoder_configs: dict[str, dict] = field(default_factory=dict)
    checkpoint: str | None = None
    refine_steps: int = 30
    #: How the views' evidence becomes the targets of per-video refinement (model/evidence.py).
    pseudo_labels: PseudoLabelConfig = field(default_factory=PseudoLabelConfig)
    device: str = "auto"
    cache_dir: str | None = None
    localize: LocalizeParams = field(default_factory=LocalizeParams)
    num_clusters: NumClusters = "auto"
    seed: int = 0
    #: Torch threads of the model stage on the CPU (0: torch's default, one per core). The model is small:
    #: on bbb's 600 snippets one thread took 5-6 s of CPU, two threads 43-56 s spinning on 2 busy cores.
    model_threads: int = 1
    #: The model's attention reaches at most this many snippets (window // 2 either side), so that its memory
    #: does not grow with the square of the video's length; videos up to this many snippets get the paper's
    #: full T x T attention. None: always full.
    attention_window: int | None = DEFAULT_ATTENTION_WINDOW

    def grid(self, duration: float) -> SnippetGrid:
        """The snippet grid of a video of ``duration`` seconds under these settings."""
        return make_grid(duration, self.stride_s, self.window_s, self.min_snippets, self.max_snippets)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self) | {"localize": self.localize.to_dict(), "views": list(self.views)}


@dataclass
class ClusterInfo:
    """A pseudo-action: its id, a suggested name with its score and the encoder that named it, its size,
    and the runner-up names."""

    id: int
    name: str
    name_score: float
    named_by: str
    size: int
    #: Runner-up names with their scores, best first (empty in files written before they were kept).
    alternatives: list[tuple[str, float]] = field(default_factory=list)

    @classmethod
    def from_dict(cls, data: dict) -> "ClusterInfo":
        """Inverse of ``dataclasses.asdict``; reads files without ``alternatives`` too."""
        alternatives = [(str(name), float(score)) for name, score in data.get("alternatives", [])]
        return cls(**{key: value for key, value in data.items() if key != "alternatives"}, alternatives=alternatives)


@dataclass
class Analysis:
    """Everything known about one analysed video; JSON-serialisable except ``features``.

    ``curves`` are the per-snippet curves: each view's evidence, from that view's input alone (None for a
    view the video lacks or whose signal is flat), and the model's fused actionness; ``segments`` and
    ``clusters`` are derived from the views' evidence and the fused curve by ``Pipeline.resegment``.
    """

    video_path: str
    video_id: str
    content_hash: str
    duration: float
    grid: SnippetGrid
    media: dict
    curves: dict[str, np.ndarray | None]
    clip_prior: np.ndarray | None
    absent: dict[str, str]
    cas: np.ndarray
    video_scores: np.ndarray
    params: LocalizeParams
    segments: list[Segment]
    clusters: list[ClusterInfo]
    segment_embeddings: dict[str, np.ndarray]
    config: dict
    versions: dict
    num_clusters: NumClusters = "auto"
    #: Plain messages about damaged input (decode errors in the middle of the file), shown beside the results.
    warnings: list[str] = field(default_factory=list)
    #: A researcher's corrections over ``segments`` (saved as their own ``edits`` entry; None: no edits yet).
    edits: EditLayer | None = None
    #: The pseudo-action clusters, fitted once (None in files written before they were kept): re-segmenting
    #: assigns the new segments to them, so a cluster keeps its id and name across thresholds.
    cluster_model: ClusterModel | None = None
    features: ViewFeatures | None = field(default=None, repr=False)
    #: What every re-segmentation of this video reuses, computed from ``features`` on first use (not saved).
    reusable: dict = field(default_factory=dict, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.segments = with_numbers(self.segments)

    @property
    def times(self) -> np.ndarray:
        return self.grid.times

    def edit_layer(self) -> EditLayer:
        """The analysis's edits layer, or a new empty one over its segments (at the video's frame rate)."""
        if self.edits is None:
            self.edits = EditLayer(tuple(self.segments), self.duration, self.media.get("fps"))
        return self.edits

    def to_dict(self) -> dict:
        """The analysis as plain JSON types (curves as lists, null for an absent view; the segment embeddings,
        thousands of numbers per segment, as :func:`encoded_array`)."""
        def listed(values):
            return None if values is None else np.asarray(values, dtype=np.float64).round(5).tolist()

        return {
            "format": ANALYSIS_FORMAT,
            "video": self.video_id,
            "video_path": self.video_path,
            "content_hash": self.content_hash,
            "duration": self.duration,
            "grid": self.grid.to_dict(),
            "times": listed(self.times),
            "media": self.media,
            "curves": {name: listed(self.curves.get(name)) for name in CURVE_NAMES},
            "clip_prior": listed(self.clip_prior),
            "absent": self.absent,
            "cas": listed(self.cas),
            "video_scores": listed(self.video_scores),
            "params": self.params.to_dict(),
            "segments": [dataclasses.asdict(s) for s in self.segments],
            "clusters": [dataclasses.asdict(c) for c in self.clusters],
            "segment_embeddings": {k: encoded_array(v) for k, v in self.segment_embeddings.items()},
            "config": self.config,
            "versions": self.versions,
            "num_clusters": self.num_clusters,
            "warnings": self.warnings,
        } | ({"edits": self.edits.to_dict()} if self.edits is not None else {}) | (
            {"cluster_model": self.cluster_model.to_dict()} if self.cluster_model is not None else {})

    @classmethod
    def from_dict(cls, data: dict) -> "Analysis":
        """Inverse of :meth:`to_dict` (without the in-memory features); reads the lists of older files too."""
        def array(values):
            return None if values is None else np.asarray(values, dtype=np.float32)

        if data.get("format") != ANALYSIS_FORMAT:
            raise UTALError(f"unsupported analysis file format {data.get('format')!r}")
        segments = with_numbers([Segment(**s) for s in data["segments"]])
        return cls(
            video_path=data["video_path"], video_id=data["video"], content_hash=data["content_hash"],
            duration=float(data["duration"]), grid=SnippetGrid(**data["grid"]), media=data["media"],
            curves={name: array(data["curves"].get(name)) for name in CURVE_NAMES},
            clip_prior=array(data.get("clip_prior")), absent=data.get("absent", {}),
            cas=array(data["cas"]), video_scores=array(data["video_scores"]),
            params=LocalizeParams.from_dict(data["params"]),
            segments=segments,
            clusters=[ClusterInfo.from_dict(c) for c in data["clusters"]],
            segment_embeddings={k: decoded_array(v) for k, v in data.get("segment_embeddings", {}).items()},
            config=data.get("config", {}), versions=data.get("versions", {}),
            num_clusters=data.get("num_clusters", "auto"), warnings=list(data.get("warnings", [])),
            edits=EditLayer.from_dict(data["edits"], segments) if data.get("edits") is not None else None,
            cluster_model=ClusterModel.from_dict(data["cluster_model"]) if data.get("cluster_model") else None,
        )

    def write_json(self, path: str | os.PathLike) -> Path:
        """Write :meth:`to_dict` atomically."""
        return atomic_write_text(path, json.dumps(self.to_dict()))


def encoded_array(values: np.ndarray) -> dict:
    """``values`` rounded to 5 decimals, as the lists of an analysis file are, then stored as float32 bytes in
    base64: ``{"dtype": "<f4", "shape": [...], "base64": "..."}``. Writing Big Buck Bunny's 2.3 million
    segment-embedding numbers as text took most of a second."""
    rounded = np.asarray(values, dtype=np.float64).round(5).astype("<f4")
    return {"dtype": "<f4", "shape": list(rounded.shape),
            "base64": base64.b64encode(rounded.tobytes(), altchars=ARRAY_ALTCHARS).decode("ascii")}


def decoded_array(data: dict | list) -> np.ndarray:
    """Inverse of :func:`encoded_array` (float32); nested lists of numbers, as older files hold, are read too.
    ValueError or TypeError when ``data`` is neither."""
    if not isinstance(data, dict):
        return np.asarray(data, dtype=np.float32)
    if data.get("dtype") != "<f4":
        raise ValueError(f"unknown array type {data.get('dtype')!r}")
    values = np.frombuffer(base64.b64decode(data["base64"], altchars=ARRAY_ALTCHARS, validate=True), dtype="<f4")
    return values.reshape([int(n) for n in data["shape"]]).astype(np.float32)


def read_analysis(path: str | os.PathLike) -> Analysis:
    """Read an ``<stem>.analysis.json`` file; a plain UTALError when it is not one."""
    try:
        return Analysis.from_dict(json.loads(Path(path).read_text()))
    except FileNotFoundError:
        raise UTALError(f"File not found: {path}") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError, RecursionError) as error:
        raise UTALError(f"{Path(path).name} is not an analysis file ({error}).") from None


def shot_cuts(features: ViewFeatures, threshold: float = 0.5) -> np.ndarray:
    """Indices of the snippets that begin a new shot (none when the decode pass gave no cut signal)."""
    strength = features.extras.get(SHOT_CUT_KEY)
    return np.zeros(0, dtype=np.int64) if strength is None else np.flatnonzero(np.asarray(strength) >= threshold)


def analysis_segments(features: ViewFeatures, fused: np.ndarray, grid: SnippetGrid, params: LocalizeParams,
                      reusable: dict | None = None) -> list[Segment]:
    """The segments of one video: proposals from each view's evidence and the fused curve, split at shot cuts
    (:func:`~utal_core.localize.localize_sources`), then, when ``params.refine_boundaries``, each boundary
    moved to the strongest rise or fall of the fine evidence within half a snippet; sub-second stubs within a
    snippet of the video's edges dropped (:func:`~utal_core.localize.drop_edge_stubs`). ``reusable`` keeps what
    does not depend on ``params`` (the views' signals, shot cuts, fine evidence) or on its thresholds (the curves
    smoothed at its scales) for the next call on the same ``features`` and ``fused``."""
    kept = {} if reusable is None else reusable
    if "sources" not in kept:
        kept["sources"] = view_signals(features, list(VIEW_NAMES)) | {"fused": fused}
        kept["cuts"] = shot_cuts(features)
        kept["fine"] = fine_evidence(features, grid.window)
    curves = ("ranged", params.scales_s, params.upsample)  # the smoothed curves: the same at every threshold
    if curves not in kept:
        kept[curves] = ranged_sources(kept["sources"], grid, params)
    segments = localize_ranged(kept[curves], grid, params, cuts=kept["cuts"] if params.split_at_cuts else None)
    fine: tuple[np.ndarray, np.ndarray] | None = kept["fine"] if params.refine_boundaries else None
    if fine is not None:
        segments = refine_boundaries(segments, *fine, grid.stride / 2, grid.duration)
    return drop_edge_stubs(segments, grid.duration, params.min_edge_duration_s, reach_s=grid.stride)


def _check_features(analysis: Analysis) -> None:
    if analysis.features is None:
        raise UTALError("This analysis was loaded without its features; analyse the video again to re-segment.")


def resolve_checkpoint(config: PipelineConfig) -> Path | None:
    """The checkpoint an analysis under ``config`` uses: its explicit path, else the shipped default,
    else none; a plain UTALError when the explicit file is missing."""
    checkpoint = Path(config.checkpoint) if config.checkpoint else (
        DEFAULT_CHECKPOINT if DEFAULT_CHECKPOINT.exists() else None)
    if checkpoint is not None and not checkpoint.exists():
        raise UTALError(f"Checkpoint not found: {checkpoint}")
    return checkpoint


def pseudo_class_label(k: int) -> str:
    """The label of pseudo-class ``k`` in results files; the unsupervised protocol maps it to a real class."""
    return f"pseudo_{k}"


def pseudo_class_segments(analysis: Analysis) -> list:
    """Segments labelled with the video's pseudo-class (argmax of the CAS head's video scores),
    the label the unsupervised protocol maps to real classes with the Hungarian algorithm."""
    label = pseudo_class_label(int(np.argmax(analysis.video_scores)))
    return [dataclasses.replace(s, label=label) for s in analysis.segments]


def run_model(model: CLIPAE | None, features: ViewFeatures, refine_steps: int = 0, seed: int = 0,
              device: str = "cpu", pseudo_labels: PseudoLabelConfig = PseudoLabelConfig(),
              attention_window: int | None = DEFAULT_ATTENTION_WINDOW) -> Prediction:
    """The model's outputs on one video, after ``refine_steps`` of per-video refinement on ``device`` towards
    the video's ``pseudo_labels`` (always refined when there is no model: a small one is then fitted from scratch),
    its attention reaching ``attention_window`` snippets (:attr:`PipelineConfig.attention_window`)."""
    from .model import RefineConfig, predict, refine

    if model is None or refine_steps > 0:
        config = RefineConfig(steps=refine_steps or RefineConfig.steps, device=device, pseudo_labels=pseudo_labels,
                              attention_window=attention_window)
        model = refine(features, model=model, config=config, seed=seed)
    prediction = predict(model.to(device), features, attention_window)
    outputs = {"actionness": prediction.actionness, "cas": prediction.cas, "video scores": prediction.video_scores}
    broken = [name for name, values in outputs.items() if not np.isfinite(values).all()]
    if broken:
        raise UTALError(f"the model produced NaN or infinite {', '.join(broken)} for this video")
    return prediction


def features_grid(features: ViewFeatures, stride_s: float) -> SnippetGrid:
    """The snippet grid of precomputed features, recovered from their window centres
    (``stride_s`` is used only for a one-snippet video, where the centres do not tell it)."""
    times = np.asarray(features.times, dtype=np.float64)
    stride = float(times[1] - times[0]) if len(times) > 1 else stride_s
    window = 2 * float(times[0])
    return SnippetGrid(duration=float(times[-1]) + window / 2, stride=stride, window=window)


def predict_features(model: CLIPAE, features: ViewFeatures, grid: SnippetGrid,
                     params: LocalizeParams = LocalizeParams(), refine_steps: int = 0,
                     seed: int = 0) -> tuple[Prediction, list[Segment]]:
    """Model outputs and class-wise segments for one video of precomputed features (no media, no clustering).

    Proposals from the fused actionness are scored on the CAS of every likely pseudo-class
    (:func:`~utal_core.localize.localize` with the CAS and video scores); each segment is labelled
    :func:`pseudo_class_label` of its class, as the unsupervised evaluation protocol expects.
    """
    prediction = run_model(model, features, refine_steps, seed)
    segments = localize(prediction.actionness, grid, params, prediction.cas, prediction.video_scores)
    return prediction, [dataclasses.replace(s, label=pseudo_class_label(s.cluster)) for s in segments]


class Pipeline:
    """Loaded encoders, the CLIP-AE checkpoint (if any) and a text scorer; no per-video state."""

    def __init__(self, config: PipelineConfig, extractor: FeatureExtractor, checkpoint_path: Path | None,
                 text_scorer: TextScorer | None = None) -> None:
        self.config = config
        self.extractor = extractor
        self.checkpoint_path = checkpoint_path
        #: The views the checkpoint was trained with, from its metadata (its weights load on the first model run).
        self.checkpoint_views = checkpoint_views(checkpoint_path) if checkpoint_path else None
        self._checkpoint_model: CLIPAE | None = None
        self._checkpoint_sha256: str | None = None
        self._text_scorer = text_scorer
        #: Number of times the model ran (the app shows it; re-thresholding, and outputs read from the
        #: prediction cache, leave it as it is).
        self.model_runs = 0
        #: Seconds per stage of the last ``analyze``: the extractor's stages (decoding, each encoder),
        #: "features" (all of them, cache included), "model" and "segments".
        self.last_timings: dict[str, float] = {}

    @classmethod
    def from_config(cls, config: PipelineConfig | None = None, limits: Limits | None = None) -> "Pipeline":
        """Load encoders and resolve the checkpoint: explicit path, else the shipped default, else none.

        ``limits`` bounds every analysis (default: :meth:`Limits.from_env`)."""
        config = config or PipelineConfig()
        cache = Path(config.cache_dir) if config.cache_dir else default_cache_dir() / "features"
        extractor = FeatureExtractor(config.views, device=config.device, cache_dir=cache,
                                     encoder_configs=config.encoder_configs, limits=limits)
        return cls(config, extractor, resolve_checkpoint(config))

    @property
    def checkpoint_model(self) -> CLIPAE | None:
        """The checkpoint's model, loaded on first use and then kept (refinement works on a copy of it)."""
        if self._checkpoint_model is None and self.checkpoint_path is not None:
            from .model import load_checkpoint

            self._checkpoint_sha256 = file_sha256(self.checkpoint_path)
            self._checkpoint_model = load_checkpoint(self.checkpoint_path)[0]
        return self._checkpoint_model

    def checkpoint_sha256(self) -> str | None:
        """sha256 of the checkpoint's bytes: those of the loaded model, else of the file as it is now."""
        if self.checkpoint_path is None:
            return None
        return self._checkpoint_sha256 or file_sha256(self.checkpoint_path)

    @property
    def clip_encoder(self):
        """The loaded CLIP encoder when its weights are available, else None."""
        return next((e for e in self.extractor.encoders if e.view == "clip" and e.available), None)

    @property
    def text_scorer(self) -> TextScorer:
        """CLIP's text tower when the CLIP view is available, else the offline label bridge."""
        if self._text_scorer is None:
            clip = self.clip_encoder
            self._text_scorer = (build_text_scorer("clip", **clip.text_tower()) if clip is not None
                                 else build_text_scorer("label_bridge"))
        return self._text_scorer

    def doctor(self) -> dict:
        """Encoders with their weights or the reason they are missing, the device and the checkpoint."""
        return {
            "device": self.extractor.device,
            "encoders": [encoder.describe() for encoder in self.extractor.encoders],
            "checkpoint": str(self.checkpoint_path) if self.checkpoint_path else None,
            "versions": library_versions(),
        }

    def clip_weights_report(self, features: ViewFeatures) -> dict:
        """``{"clip_weights": {label, verified, warning, ...}}`` when the CLIP view was computed, else empty:
        an analysis says whether its CLIP view came from weights that passed the text sanity check."""
        clip = self.clip_encoder
        if clip is None or "clip" not in features.views:
            return {}
        return {"clip_weights": clip.text_check.to_dict() | {"weights_sha256": clip.fingerprint.weights_sha256}}

    def encode_video(self, path: str | os.PathLike, progress: ProgressCallback | None = None,
                     info: media.MediaInfo | None = None) -> tuple[ViewFeatures, SnippetGrid]:
        """Per-snippet features of every view (from the cache when the same file was seen before),
        with the label bridge's action prior when there is no CLIP prior."""
        info = info or media.probe(path, self.extractor.limits)
        grid = self.config.grid(info.duration)
        return add_bridge_prior(self.extractor.extract(path, grid, progress=progress, info=info)), grid

    def model_source(self, features: ViewFeatures) -> str:
        """Which model analyses these features: the checkpoint, or one fitted from scratch on this video
        when there is no checkpoint or the video has a view the checkpoint was not trained with."""
        if self.checkpoint_path is None or self.checkpoint_views is None:
            return "scratch: no checkpoint"
        unknown = sorted(set(features.views) - self.checkpoint_views)
        if unknown:
            return f"scratch: the checkpoint has no {', '.join(unknown)} view"
        return f"checkpoint: {self.checkpoint_path.name}"

    def _model_threads(self) -> int:
        return self.config.model_threads if str(self.extractor.device) == "cpu" else 0

    def prediction_settings(self) -> dict:
        """Every setting besides the features and the checkpoint that changes the model's outputs."""
        return {"refine_steps": self.config.refine_steps, "seed": self.config.seed,
                "pseudo_labels": dataclasses.asdict(self.config.pseudo_labels),
                "device": str(self.extractor.device).split(":")[0], "model_threads": self._model_threads(),
                "attention_window": self.config.attention_window}

    def predict(self, features: ViewFeatures) -> Prediction:
        """The model's outputs on one video: from the prediction cache when these features were analysed with the
        same checkpoint and settings, else :meth:`run_model` (then cached)."""
        path = None
        if self.extractor.cache_dir is not None:
            from_checkpoint = self.model_source(features).startswith("checkpoint")
            key = prediction_key(features, self.checkpoint_sha256() if from_checkpoint else None,
                                 self.prediction_settings())
            path = prediction_path(self.extractor.cache_dir, key)
        return cached_prediction(path, features.times, lambda: self.run_model(features))

    def run_model(self, features: ViewFeatures) -> Prediction:
        """Run the model once: per-video refinement from the checkpoint (or from scratch), then inference."""
        from .model import torch_threads

        from_checkpoint = self.model_source(features).startswith("checkpoint")
        model = self.checkpoint_model if from_checkpoint else None
        self.model_runs += 1
        with torch_threads(self._model_threads()):
            return run_model(model, features, self.config.refine_steps, self.config.seed, self.extractor.device,
                             self.config.pseudo_labels, self.config.attention_window)

    def analyze(self, path: str | os.PathLike, progress: ProgressCallback | None = None) -> Analysis:
        """The whole path for one video: features -> model -> segments -> clusters."""
        report = progress or (lambda stage, fraction: None)
        started = time.perf_counter()
        info = media.probe(path, self.extractor.limits)
        features, grid = self.encode_video(path, progress=report, info=info)
        self.last_timings = dict(self.extractor.last_timings) | {"features": time.perf_counter() - started}
        return self.analyze_features(path, info, features, grid, report)

    def analyze_features(self, path: str | os.PathLike, info: media.MediaInfo, features: ViewFeatures, grid: SnippetGrid,
                         progress: ProgressCallback | None = None) -> Analysis:
        """The path after the encoders, for the features of the video at ``path``: each view's evidence curve
        (from that view's input alone), the model's fused curve, then segments and clusters."""
        report = progress or (lambda stage, fraction: None)
        if not features.views:
            reasons = "; ".join(f"{k}: {v}" for k, v in features.absent.items())
            raise UTALError(f"No view could be computed for {Path(path).name} ({reasons}).")
        report("model", 0.0)
        started = time.perf_counter()
        prediction = self.predict(features)
        self.last_timings["model"] = time.perf_counter() - started
        report("model", 1.0)
        evidence = view_curves(features, list(VIEW_NAMES))
        analysis = Analysis(
            video_path=str(path), video_id=Path(path).stem, content_hash=content_hash(path),
            duration=info.duration, grid=grid, media=info.to_dict(),
            curves={name: evidence.get(name) for name in CURVE_NAMES} | {"fused": prediction.actionness},
            clip_prior=features.extras.get("clip_prior"), absent=dict(features.absent),
            cas=prediction.cas, video_scores=prediction.video_scores, params=self.config.localize,
            segments=[], clusters=[], segment_embeddings={},
            config=self.config.to_dict() | {"model": self.model_source(features)} | self.clip_weights_report(features),
            versions=library_versions(), warnings=list(features.warnings), features=features,
        )
        report("segments", 0.0)
        started = time.perf_counter()
        result = self.resegment(analysis, self.config.localize, self.config.num_clusters)
        self.last_timings["segments"] = time.perf_counter() - started
        report("segments", 1.0)
        return result

    def resegment(self, analysis: Analysis, params: LocalizeParams, num_clusters: NumClusters = "auto") -> Analysis:
        """Segments and pseudo-action clusters from the cached curves; never reruns an encoder or the model.

        The clusters are fitted and named once (the first segmentation, or when ``num_clusters`` changes) and
        kept in ``Analysis.cluster_model``; any other segmentation assigns its segments to their nearest
        centroid, so a cluster that survives a new threshold keeps its id and name. Likewise a segment that
        survives keeps its number (:func:`~utal_core.edits.numbered_segments`); new ones get new numbers."""
        _check_features(analysis)
        return self._resegment(analysis, params, num_clusters, None)

    def resegment_thresholds(self, analysis: Analysis, thresholds: Iterable[float],
                             num_clusters: NumClusters = "auto") -> Iterator[Analysis]:
        """:meth:`resegment` of ``analysis`` at each of ``thresholds`` with its other settings, the same analyses,
        made together: the runs of snippets that several of these segmentations share are pooled once."""
        _check_features(analysis)
        kept = PooledRuns()
        for threshold in thresholds:
            yield self._resegment(analysis, analysis.params.with_threshold(threshold), num_clusters, kept)

    def _resegment(self, analysis: Analysis, params: LocalizeParams, num_clusters: NumClusters,
                   kept: PooledRuns | None) -> Analysis:
        assert analysis.features is not None
        fused = analysis.curves["fused"]
        reusable = analysis.reusable
        segments = analysis_segments(analysis.features, fused, analysis.grid, params, reusable)
        if "pooler" not in reusable:
            reusable["pooler"] = SegmentPooler(analysis.features, fused)
        embeddings = reusable["pooler"].embeddings(segments, analysis.grid, kept) if segments else {}
        model, clusters = analysis.cluster_model, []
        if segments:
            if model is not None and model.fits(embeddings, num_clusters):
                result = model.assign(embeddings)
            else:
                model, result = fit_cluster_model(embeddings, num_clusters, self.text_scorer, self.config.seed)
            segments = label_segments(segments, result, model.names)
            sizes = np.bincount(result.labels, minlength=result.k)
            clusters = [ClusterInfo(c, n.name, n.score, n.encoder, int(sizes[c]), list(n.alternatives))
                        for c, n in enumerate(model.names) if sizes[c]]
        corrected = analysis.edits.segments() if analysis.edits is not None else []
        segments = numbered_segments(segments, analysis.segments,
                                     [item.segment.number for item in corrected if item.segment.number is not None])
        corrected = analysis.edits.segments() if analysis.edits is not None else []
        segments = numbered_segments(segments, analysis.segments,
                                     [item.segment.number for item in corrected if item.segment.number is not None])
        edits = analysis.edits.rebased(segments) if analysis.edits is not None else None
        return dataclasses.replace(analysis, params=params, segments=segments, clusters=clusters,
                                   segment_embeddings=embeddings, num_clusters=num_clusters, edits=edits,
                                   cluster_model=model)
