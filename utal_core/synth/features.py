"""A feature-level synthetic benchmark family: three views with planted action instances.

Each video is a sequence of per-snippet feature vectors for the three views of CLIP-AE, with
action instances of several classes planted on a :class:`~utal_core.grid.SnippetGrid`. The views
are built to show the weaknesses that the method addresses (see docs/METHOD.md):

- ``cbp`` (classification-pretrained): responds strongly, along a class direction, only on a short
  discriminative *core* of each instance; elsewhere in the instance it is barely above noise.
- ``audio``: carries the class's context sound over the whole instance and short onset/offset
  events at its boundaries, but also background sound events that are not actions.
- ``clip``: covers the whole instance with a generic "someone acting" direction plus a class
  direction, but is noisy, misses some snippets, and sometimes fires on background.
- ``extras["clip_prior"]``: the zero-shot prior a CLIP text prompt would give: the projection of
  the CLIP feature on the "acting" direction, squashed to [0, 1].

Every video also has its own background scene (a constant offset per view) and temporally
correlated noise, so that raw feature magnitude is not a free answer. Ground truth is returned in
ActivityNet format for the evaluator.

:func:`write_thumos_layout` uses the same signal model on the real THUMOS14 annotation file: for
each selected video it plants that video's real ground-truth instances (one class direction per
real label) on the THUMOS I3D grid and writes the usual per-video ``.npy`` layout, so the real
benchmark's protocol can be run end to end without the real features.
"""

from __future__ import annotations

import dataclasses
import io
import json
import os
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

import numpy as np

from ..errors import UTALError
from ..export import atomic_write_bytes, write_json
from ..grid import SnippetGrid
from ..types import ViewFeatures


@dataclass(frozen=True)
class SynthFeatureConfig:
    """Parameters of one member of the family; the same config always gives the same videos."""

    num_videos: int = 80
    num_classes: int = 4
    min_snippets: int = 120
    max_snippets: int = 240
    stride_s: float = 1.0
    cbp_dim: int = 128
    clip_dim: int = 64
    audio_dim: int = 32
    instances_per_video: tuple[int, int] = (1, 4)
    instance_snippets: tuple[int, int] = (8, 30)
    min_gap_snippets: int = 4
    #: Fraction of an instance covered by its discriminative core (the only part CBP sees well).
    core_fraction: float = 0.3
    # Amplitudes are in units of the view's noise norm (noise level * sqrt(dim)), so that the
    # difficulty does not change with the feature dimensions.
    cbp_core_amplitude: float = 0.8
    cbp_rest_amplitude: float = 0.1
    clip_amplitude: float = 0.5
    #: Fraction of instance snippets where the CLIP view misses the action.
    clip_miss_rate: float = 0.2
    #: Expected CLIP false fires on background per 100 snippets.
    clip_false_fire_rate: float = 1.0
    audio_context_amplitude: float = 0.5
    audio_boundary_amplitude: float = 0.7
    #: Expected background sound events per 100 snippets.
    audio_event_rate: float = 2.0
    audio_event_amplitude: float = 0.5
    noise: dict[str, float] = field(default_factory=lambda: {"cbp": 1.0, "clip": 1.0, "audio": 1.0})
    #: Lag-one correlation of the per-view noise over time.
    noise_correlation: float = 0.7
    scene_scale: float = 1.0
    seed: int = 0

    def dims(self) -> dict[str, int]:
        return {"cbp": self.cbp_dim, "clip": self.clip_dim, "audio": self.audio_dim}

    def noise_norm(self, view: str) -> float:
        """Expected norm of one snippet's noise in ``view``: the unit of the amplitudes."""
        return self.noise[view] * float(np.sqrt(self.dims()[view]))


@dataclass
class SynthVideo:
    """One generated video: its features, its grid and its ground-truth instances (seconds)."""

    video_id: str
    features: ViewFeatures
    grid: SnippetGrid
    label: str
    instances: list[tuple[float, float, str]]


@dataclass
class SynthFeatureSet:
    """A generated family member: the videos and the class names used as labels."""

    config: SynthFeatureConfig
    videos: list[SynthVideo]
    class_names: list[str]

    def split(self, test_fraction: float = 0.5) -> tuple[list[SynthVideo], list[SynthVideo]]:
        """Deterministic train/test split (the last ``test_fraction`` of the videos is the test set)."""
        num_test = int(round(len(self.videos) * test_fraction))
        cut = len(self.videos) - num_test
        return self.videos[:cut], self.videos[cut:]


def ground_truth(videos: list[SynthVideo], subset: str = "test") -> dict:
    """ActivityNet-format ground truth of ``videos``."""
    database = {
        video.video_id: {
            "subset": subset,
            "duration": video.grid.duration,
            "annotations": [{"segment": [start, end], "label": label} for start, end, label in video.instances],
        }
        for video in videos
    }
    return {"version": "synthetic-features", "database": database}


@dataclass
class _Directions:
    """Unit vectors shared by all videos of one family member."""

    cbp_class: np.ndarray
    clip_class: np.ndarray
    clip_acting: np.ndarray
    audio_class: np.ndarray
    audio_onset: np.ndarray
    audio_offset: np.ndarray
    audio_background: np.ndarray


def _unit(rng: np.random.Generator, *shape: int) -> np.ndarray:
    vectors = rng.standard_normal(shape)
    return vectors / np.linalg.norm(vectors, axis=-1, keepdims=True)


def _directions(config: SynthFeatureConfig, rng: np.random.Generator) -> _Directions:
    k = config.num_classes
    return _Directions(
        cbp_class=_unit(rng, k, config.cbp_dim),
        clip_class=_unit(rng, k, config.clip_dim),
        clip_acting=_unit(rng, config.clip_dim),
        audio_class=_unit(rng, k, config.audio_dim),
        audio_onset=_unit(rng, config.audio_dim),
        audio_offset=_unit(rng, config.audio_dim),
        audio_background=_unit(rng, 6, config.audio_dim),
    )


def _place_instances(config: SynthFeatureConfig, length: int, rng: np.random.Generator) -> list[tuple[int, int]]:
    """Non-overlapping inclusive snippet spans, at least ``min_gap_snippets`` apart and from the ends."""
    wanted = int(rng.integers(config.instances_per_video[0], config.instances_per_video[1] + 1))
    spans: list[tuple[int, int]] = []
    gap = config.min_gap_snippets
    for _ in range(50 * wanted):
        if len(spans) == wanted:
            break
        size = int(rng.integers(config.instance_snippets[0], config.instance_snippets[1] + 1))
        if size + 2 * gap >= length:
            continue
        first = int(rng.integers(gap, length - size - gap))
        last = first + size - 1
        if all(last + gap < a or first > b + gap for a, b in spans):
            spans.append((first, last))
    return sorted(spans)


def _random_runs(rate_per_100: float, length: int, run: tuple[int, int], rng: np.random.Generator) -> list[tuple[int, int]]:
    """Poisson-many runs of random length at random places (may overlap anything)."""
    runs = []
    for _ in range(int(rng.poisson(rate_per_100 * length / 100.0))):
        size = int(rng.integers(run[0], run[1] + 1))
        first = int(rng.integers(0, max(1, length - size)))
        runs.append((first, min(length - 1, first + size - 1)))
    return runs


def _noise(config: SynthFeatureConfig, view: str, length: int, dim: int, rng: np.random.Generator) -> np.ndarray:
    """AR(1) noise with unit marginal variance times the view's noise level, plus the video's scene offset."""
    rho = config.noise_correlation
    innovations = rng.standard_normal((length, dim))
    noise = np.empty_like(innovations)
    noise[0] = innovations[0]
    for t in range(1, length):
        noise[t] = rho * noise[t - 1] + np.sqrt(1 - rho**2) * innovations[t]
    scene = config.scene_scale * rng.standard_normal(dim)
    return config.noise[view] * noise + scene


def _synthesize_views(config: SynthFeatureConfig, grid: SnippetGrid, spans: Sequence[tuple[int, int, int]],
                      directions: _Directions, rng: np.random.Generator) -> ViewFeatures:
    """The three views and the CLIP prior of one video with ``(first, last, class)`` instances planted (inclusive snippets)."""
    length = grid.num_snippets
    dims = config.dims()
    views = {name: _noise(config, name, length, dims[name], rng) for name in dims}

    cbp, clip, audio = (config.noise_norm(name) for name in ("cbp", "clip", "audio"))
    for first, last, label in spans:
        size = last - first + 1
        core = max(1, int(round(config.core_fraction * size)))
        core_first = first + int(rng.integers(0, size - core + 1))
        cbp_direction = directions.cbp_class[label]
        views["cbp"][first:last + 1] += cbp * config.cbp_rest_amplitude * cbp_direction
        views["cbp"][core_first:core_first + core] += cbp * (config.cbp_core_amplitude - config.cbp_rest_amplitude) * cbp_direction

        seen = rng.random(size) >= config.clip_miss_rate
        clip_signal = (directions.clip_acting + directions.clip_class[label]) / np.sqrt(2)
        views["clip"][first:last + 1] += clip * config.clip_amplitude * seen[:, None] * clip_signal

        views["audio"][first:last + 1] += audio * config.audio_context_amplitude * directions.audio_class[label]
        views["audio"][first] += audio * config.audio_boundary_amplitude * directions.audio_onset
        views["audio"][last] += audio * config.audio_boundary_amplitude * directions.audio_offset

    for first, last in _random_runs(config.clip_false_fire_rate, length, config.instance_snippets, rng):
        views["clip"][first:last + 1] += clip * config.clip_amplitude * directions.clip_acting
    for first, last in _random_runs(config.audio_event_rate, length, (3, 15), rng):
        sound = directions.audio_background[rng.integers(len(directions.audio_background))]
        views["audio"][first:last + 1] += audio * config.audio_event_amplitude * sound

    acting = views["clip"] @ directions.clip_acting
    expected = clip * config.clip_amplitude / np.sqrt(2)
    clip_prior = 1.0 / (1.0 + np.exp(-4.0 * (acting / expected - 0.5)))
    return ViewFeatures(
        times=grid.times,
        views={name: value.astype(np.float32) for name, value in views.items()},
        extras={"clip_prior": clip_prior.astype(np.float32)},
    )


def _make_video(config: SynthFeatureConfig, index: int, directions: _Directions, class_names: list[str],
                rng: np.random.Generator) -> SynthVideo:
    length = int(rng.integers(config.min_snippets, config.max_snippets + 1))
    grid = SnippetGrid(duration=length * config.stride_s, stride=config.stride_s, window=config.stride_s)
    label = int(rng.integers(config.num_classes))
    spans = _place_instances(config, grid.num_snippets, rng)
    features = _synthesize_views(config, grid, [(first, last, label) for first, last in spans], directions, rng)
    instances = [(*grid.span_seconds(first, last), class_names[label]) for first, last in spans]
    return SynthVideo(video_id=f"synth_{config.seed}_{index:04d}", features=features, grid=grid,
                      label=class_names[label], instances=instances)


def make_feature_set(config: SynthFeatureConfig = SynthFeatureConfig()) -> SynthFeatureSet:
    """Generate the videos of ``config`` (deterministic in ``config.seed``)."""
    rng = np.random.default_rng(config.seed)
    directions = _directions(config, rng)
    class_names = [f"action_{k}" for k in range(config.num_classes)]
    videos = [_make_video(config, i, directions, class_names, rng) for i in range(config.num_videos)]
    return SynthFeatureSet(config=config, videos=videos, class_names=class_names)


def restrict_views(features: ViewFeatures, keep: tuple[str, ...]) -> ViewFeatures:
    """A copy of ``features`` with only the views in ``keep``; the CLIP prior goes with the CLIP view."""
    views = {name: value for name, value in features.views.items() if name in keep}
    absent = dict(features.absent) | {name: "left out" for name in features.views if name not in keep}
    extras = {name: value for name, value in features.extras.items() if name != "clip_prior" or "clip" in keep}
    return ViewFeatures(times=features.times, views=views, absent=absent, extras=extras)


# ---------------------------------------------------------------------------------------------
# THUMOS14 layout

#: Feature widths of the THUMOS14 layout: I3D RGB+flow (CBP), a CLIP ViT-B image embedding, a VGGish-sized audio embedding.
THUMOS_LAYOUT_DIMS = {"cbp": 2048, "clip": 512, "audio": 128}
#: Views written to side folders ``<subset>/<view>/<id>.npy`` beside the CBP ``<subset>/<id>.npy`` files.
SIDE_VIEWS: tuple[str, ...] = ("audio", "clip")
#: The annotation file restricted to the written videos, at the layout's root.
LAYOUT_ANNOTATIONS = "annotations.json"


@dataclass
class ThumosLayout:
    """What :func:`write_thumos_layout` wrote: the root, the video ids of each subset and the matching annotations."""

    root: Path
    videos: dict[str, list[str]]
    annotations: Path
    side_views: tuple[str, ...]

    def folder(self, subset: str) -> Path:
        """The CBP feature folder of ``subset`` (side views are its ``audio/`` and ``clip/`` subfolders)."""
        return self.root / subset


def read_thumos_annotations(path: str | os.PathLike) -> dict[str, dict]:
    """The THUMOS14 annotation file ``{video_id: {duration, subset, annotations: [{segment, label}]}}``."""
    path = Path(path)
    try:
        database = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UTALError(f"annotation file not found: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as error:
        raise UTALError(f"annotation file {path} is not valid JSON ({error})") from None
    if not isinstance(database, dict) or not all(
            isinstance(v, dict) and {"duration", "subset", "annotations"} <= set(v) for v in database.values()):
        raise UTALError(f"{path}: expected {{video_id: {{'duration', 'subset', 'annotations'}}}} (THUMOS14 format)")
    return database


def select_thumos_videos(database: dict[str, dict], subset: str | None = None, max_videos: int | None = None,
                         max_duration_s: float | None = None) -> dict[str, list[str]]:
    """Subset -> video ids: of ``subset`` (all subsets when None), at most ``max_duration_s`` long, and at most
    ``max_videos`` per subset spread evenly over the sorted ids (THUMOS ids are grouped by class)."""
    chosen: dict[str, list[str]] = {}
    for name in sorted({str(v["subset"]) for v in database.values()}):
        if subset is not None and name != subset:
            continue
        ids = sorted(video_id for video_id, video in database.items() if video["subset"] == name
                     and (max_duration_s is None or float(video["duration"]) <= max_duration_s))
        if max_videos is not None and len(ids) > max_videos:
            ids = [ids[i] for i in np.unique(np.linspace(0, len(ids) - 1, max_videos).round().astype(int))]
        if ids:
            chosen[name] = ids
    if not chosen:
        raise UTALError(f"no video matches subset={subset!r}, max duration {max_duration_s}")
    return chosen


def _instance_span(grid: SnippetGrid, start: float, end: float) -> tuple[int, int]:
    """Snippets whose centre lies in ``[start, end]``; the nearest one for an instance shorter than a snippet."""
    first = max(0, int(np.ceil(grid.seconds_to_index(start) - 1e-9)))
    last = min(grid.num_snippets - 1, int(np.floor(grid.seconds_to_index(end) + 1e-9)))
    if last < first:
        first = last = int(grid.nearest_index((start + end) / 2))
    return first, last


def _thumos_video_features(video_id: str, video: dict, class_index: dict[str, int], config: SynthFeatureConfig,
                          directions: _Directions) -> ViewFeatures:
    """One video's synthetic views on the THUMOS I3D grid with its real instances planted
    (deterministic in the video id and ``config.seed``, whatever else is selected)."""
    grid = SnippetGrid.thumos(float(video["duration"]))
    spans = [(*_instance_span(grid, *map(float, item["segment"])), class_index[item["label"]])
             for item in video["annotations"]]
    rng = np.random.default_rng([config.seed, zlib.crc32(video_id.encode())])
    return _synthesize_views(config, grid, spans, directions, rng)


def _npy_bytes(array: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    np.save(buffer, array, allow_pickle=False)
    return buffer.getvalue()


def write_thumos_layout(annotations_path: str | os.PathLike, out_dir: str | os.PathLike, subset: str | None = None,
                        max_videos: int | None = None, max_duration_s: float | None = None, seed: int = 0,
                        side_views: Sequence[str] = SIDE_VIEWS, config: SynthFeatureConfig | None = None) -> ThumosLayout:
    """Write synthetic features in the THUMOS14 layout for the real videos of an annotation file.

    Per selected video (see :func:`select_thumos_videos`): ``<out>/<subset>/<id>.npy`` [T, 2048]
    CBP features with T the snippet count of ``SnippetGrid.thumos(duration)``, and
    ``<out>/<subset>/<view>/<id>.npy`` for each of ``side_views`` (audio [T, 128], clip [T, 512]).
    ``<out>/annotations.json`` is the annotation file restricted to the written videos, for
    evaluating a partial run. ``config`` sets the signal model (default: the family's defaults
    with the layout's widths); its class count and seed are replaced by one class per real label
    and ``seed``.
    """
    unknown = set(side_views) - set(SIDE_VIEWS)
    if unknown:
        raise UTALError(f"unknown side view(s) {', '.join(sorted(unknown))}; choose from {', '.join(SIDE_VIEWS)}")
    database = read_thumos_annotations(annotations_path)
    classes = sorted({item["label"] for video in database.values() for item in video["annotations"]})
    if not classes:
        raise UTALError(f"{annotations_path} has no annotated instances")
    dims = THUMOS_LAYOUT_DIMS
    config = dataclasses.replace(config or SynthFeatureConfig(cbp_dim=dims["cbp"], clip_dim=dims["clip"],
                                                              audio_dim=dims["audio"]),
                                 num_classes=len(classes), seed=seed)
    directions = _directions(config, np.random.default_rng(seed))
    class_index = {label: k for k, label in enumerate(classes)}
    chosen = select_thumos_videos(database, subset, max_videos, max_duration_s)
    root = Path(out_dir)
    for name, ids in chosen.items():
        for video_id in ids:
            features = _thumos_video_features(video_id, database[video_id], class_index, config, directions)
            atomic_write_bytes(root / name / f"{video_id}.npy", _npy_bytes(features.views["cbp"]))
            for view in side_views:
                atomic_write_bytes(root / name / view / f"{video_id}.npy", _npy_bytes(features.views[view]))
    written = {video_id: database[video_id] for ids in chosen.values() for video_id in ids}
    annotations = write_json(root / LAYOUT_ANNOTATIONS, written)
    return ThumosLayout(root=root, videos=chosen, annotations=annotations, side_views=tuple(side_views))
