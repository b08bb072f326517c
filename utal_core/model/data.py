"""Reading training features from disk: THUMOS14-style .npy folders and cached-feature .npz files.

Layouts accepted by :func:`load_feature_folder` (``features_dir`` is the CBP view):

- ``<id>.npy``, each [T, D] (the usual I3D release: D = 2048, RGB and flow concatenated);
- ``rgb/<id>.npy`` + ``flow/<id>.npy`` subfolders, or ``<id>_rgb.npy`` + ``<id>_flow.npy`` pairs,
  each [T, 1024], concatenated RGB first;
- ``<id>.npz`` cached features written by ``python -m utal_core features``: one array per view
  (``"cbp"``, ``"clip"``, ``"audio"``), ``"times"`` and extras prefixed ``"extra_"``; the label
  bridge's action prior is added from their class probabilities when they have no CLIP prior;
- a ``features.json`` manifest (``{"<id>": "<path of a cached .npz, relative to the folder>"}``),
  as ``python -m utal_core batch`` writes into its output folder over its content-addressed cache.

Optional ``audio_dir`` / ``clip_dir`` hold ``<id>.npy`` files with the same names. Their length
may differ a little from the CBP length (other extractors use other windows); they are resampled
onto the CBP grid by nearest relative position. A video missing from a side folder gets that view
marked absent.
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np

from ..errors import UTALError
from ..grid import SnippetGrid
from ..text import add_bridge_prior
from ..types import VIEW_NAMES, ViewFeatures

_EXTRA_PREFIX = "extra_"
_STREAM_SUFFIXES = ("_rgb", "_flow")
#: The manifest of a folder whose cached features are named by content, not by video id.
FEATURE_MANIFEST = "features.json"


def _load_array(path: Path) -> np.ndarray:
    try:
        array = np.load(path, allow_pickle=False)
    except (OSError, ValueError) as error:
        raise UTALError(f"cannot read {path}: {error}") from error
    if array.ndim != 2 or array.shape[0] == 0:
        raise UTALError(f"{path} must hold a [T, D] array, got shape {array.shape}")
    if not np.isfinite(array).all():
        raise UTALError(f"{path} holds NaN or infinite values")
    return array.astype(np.float32)


def load_cached_features(path: str | os.PathLike) -> ViewFeatures:
    """One video's cached multi-view features (.npz; see the module docstring)."""
    path = Path(path)
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
    except (OSError, ValueError) as error:
        raise UTALError(f"cannot read cached features {path}: {error}") from error
    if "times" not in arrays:
        raise UTALError(f"{path} has no 'times' array; it is not a feature cache file")
    views = {name: arrays[name].astype(np.float32) for name in VIEW_NAMES if name in arrays}
    extras = {name[len(_EXTRA_PREFIX):]: value for name, value in arrays.items() if name.startswith(_EXTRA_PREFIX)}
    absent = {name: "not in the cache file" for name in VIEW_NAMES if name not in views}
    features = ViewFeatures(times=arrays["times"].astype(np.float64), views=views, absent=absent, extras=extras)
    if features.non_finite():
        raise UTALError(f"{path} holds NaN or infinite values ({', '.join(features.non_finite())})")
    return add_bridge_prior(features)


def _resample(values: np.ndarray, length: int) -> np.ndarray:
    """Nearest-relative-position resampling of [T', D] onto ``length`` steps."""
    if len(values) == length:
        return values
    index = np.minimum((np.arange(length) + 0.5) * len(values) / length, len(values) - 1).astype(np.int64)
    return values[index]


def _cbp_files(features_dir: Path) -> dict[str, list[Path]]:
    """Video id -> the .npy file(s) whose concatenation is its CBP feature."""
    if (features_dir / "rgb").is_dir() and (features_dir / "flow").is_dir():
        return {p.stem: [p, features_dir / "flow" / p.name] for p in sorted((features_dir / "rgb").glob("*.npy"))}
    files: dict[str, list[Path]] = {}
    for path in sorted(features_dir.glob("*.npy")):
        stem = path.stem
        suffix = next((s for s in _STREAM_SUFFIXES if stem.endswith(s)), None)
        if suffix is None:
            files[stem] = [path]
        elif suffix == "_rgb":
            files[stem[: -len(suffix)]] = [path, path.with_name(stem[: -len(suffix)] + "_flow.npy")]
    return files


def _load_cbp(paths: list[Path]) -> np.ndarray:
    missing = [p for p in paths if not p.is_file()]
    if missing:
        raise UTALError(f"missing feature file {missing[0]}")
    streams = [_load_array(p) for p in paths]
    length = min(len(s) for s in streams)
    return np.concatenate([s[:length] for s in streams], axis=1)


def feature_manifest(features_dir: str | os.PathLike) -> dict[str, Path] | None:
    """Video id -> .npz path from the folder's feature manifest, None when it has none;
    a plain UTALError when the manifest is not one."""
    root = Path(features_dir)
    path = root / FEATURE_MANIFEST
    if not path.is_file():
        return None
    try:
        entries = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError, RecursionError) as error:
        raise UTALError(f"cannot read {path}: {error}") from None
    if not isinstance(entries, dict) or not all(isinstance(v, str) for v in entries.values()):
        raise UTALError(f"{path} is not a feature manifest (a JSON object of video id -> .npz path)")
    if not entries:
        raise UTALError(f"{path} lists no videos")
    return {video_id: root / relative for video_id, relative in entries.items()}


def load_feature_folder(features_dir: str | os.PathLike, audio_dir: str | os.PathLike | None = None,
                        clip_dir: str | os.PathLike | None = None, stride_s: float = 0.64,
                        window_s: float | None = None) -> dict[str, ViewFeatures]:
    """Video id -> features, from a THUMOS-layout .npy folder or a folder of cached .npz files.

    ``stride_s``/``window_s`` give the snippet grid of .npy features (THUMOS I3D: 0.64 s both);
    cached .npz files carry their own times.
    """
    root = Path(features_dir)
    if not root.is_dir():
        raise UTALError(f"feature folder not found: {root}")
    manifest = feature_manifest(root)
    if manifest is not None:
        return {video_id: load_cached_features(path) for video_id, path in manifest.items()}
    cached = sorted(root.glob("*.npz"))
    if cached:
        return {path.stem: load_cached_features(path) for path in cached}
    files = _cbp_files(root)
    if not files:
        raise UTALError(f"no .npy or .npz feature files in {root}")
    side_dirs = {name: Path(d) for name, d in (("clip", clip_dir), ("audio", audio_dir)) if d is not None}
    for name, directory in side_dirs.items():
        if not directory.is_dir():
            raise UTALError(f"{name} feature folder not found: {directory}")
    window = window_s or stride_s
    dataset = {}
    for video_id, paths in files.items():
        cbp = _load_cbp(paths)
        grid = SnippetGrid(duration=(len(cbp) - 1) * stride_s + window, stride=stride_s, window=window)
        views, absent = {"cbp": cbp}, {}
        for name, directory in side_dirs.items():
            side = directory / f"{video_id}.npy"
            if side.is_file():
                views[name] = _resample(_load_array(side), len(cbp))
            else:
                absent[name] = f"no {side.name} in {directory}"
        dataset[video_id] = ViewFeatures(times=grid.times, views=views, absent=absent)
    return dataset
