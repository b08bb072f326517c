"""The prediction cache: the model stage's per-snippet outputs of a video, kept beside its features.

The outputs (:class:`~utal_core.model.prediction.Prediction`: actionness, CAS, video scores) are a pure function
of the features fed to the model, the checkpoint's bytes, the settings that change them and the model code,
so, as for the features, a rerun never recomputes them: per-video refinement takes seconds on a CPU, and
reading the entry needs no torch. The key (:func:`prediction_key`) hashes exactly those inputs: every array
of the features, the checkpoint's sha256 (not its path), the settings, the library's source (:func:`library_code_sha256`: any edit
of the network, inference, refinement or evidence code, or of what they import, makes new entries, with no version
to remember to bump) and torch's version.

Entry: ``<feature cache>/predictions/<key[:2]>/<key>.npz`` with ``times``, ``actionness``, ``cas``,
``video_scores`` and one ``view_<name>`` per view the model used; written atomically. A missing, unreadable
or inconsistent entry is recomputed and overwritten.
"""

from __future__ import annotations

import functools
import hashlib
import io
import json
import os
from pathlib import Path
from typing import Callable

import numpy as np

from .export import atomic_write_bytes
from .features import library_versions
from .model.prediction import Prediction
from .types import VIEW_NAMES, ViewFeatures

PREDICTIONS_FOLDER = "predictions"


def features_sha256(features: ViewFeatures) -> str:
    """sha256 of every array the model stage can read: the times, each view and each extra (names, dtypes,
    shapes and bytes)."""
    arrays = {"times": features.times} | {f"view_{name}": values for name, values in features.views.items()}
    arrays |= {f"extra_{name}": values for name, values in features.extras.items()}
    digest = hashlib.sha256()
    for name in sorted(arrays):
        values = np.ascontiguousarray(arrays[name])
        digest.update(json.dumps([name, values.dtype.str, values.shape]).encode())
        digest.update(values.tobytes())
    return digest.hexdigest()


@functools.cache
def library_code_sha256(package: Path = Path(__file__).parent) -> str:
    """sha256 of the source files of ``utal_core`` (paths and bytes), read once per process (about 1 MB)."""
    digest = hashlib.sha256()
    for source in sorted(package.rglob("*.py")):
        digest.update(source.relative_to(package).as_posix().encode() + b"\0" + source.read_bytes())
    return digest.hexdigest()


def prediction_key(features: ViewFeatures, checkpoint_sha256: str | None, settings: dict) -> str:
    """The cache key of the model's outputs on ``features`` from the checkpoint of that sha256 (None: a model
    fitted from scratch) under ``settings`` (every setting that changes the outputs, JSON-able)."""
    identity = {"features": features_sha256(features), "checkpoint": checkpoint_sha256, "settings": settings,
                "library_code": library_code_sha256(), "torch": library_versions()["torch"]}
    return hashlib.sha256(json.dumps(identity, sort_keys=True).encode()).hexdigest()


def prediction_path(cache_dir: str | os.PathLike, key: str) -> Path:
    """Where the feature cache in ``cache_dir`` keeps the model outputs of ``key``."""
    return Path(cache_dir) / PREDICTIONS_FOLDER / key[:2] / f"{key}.npz"


def write_prediction(path: str | os.PathLike, prediction: Prediction) -> None:
    """Write ``prediction`` to ``path`` as npz, atomically."""
    arrays = {"times": prediction.times, "actionness": prediction.actionness, "cas": prediction.cas,
              "video_scores": prediction.video_scores}
    arrays |= {f"view_{name}": values for name, values in prediction.view_actionness.items() if values is not None}
    buffer = io.BytesIO()
    np.savez(buffer, **arrays)
    atomic_write_bytes(path, buffer.getvalue())


def read_prediction(path: str | os.PathLike, times: np.ndarray) -> Prediction:
    """What :func:`write_prediction` wrote, for the video of snippet centres ``times``; ValueError when the file is
    missing, damaged, or not the outputs of a video on those snippets."""
    try:
        with np.load(path, allow_pickle=False) as data:
            arrays = {name: data[name] for name in data.files}
        prediction = Prediction(
            times=arrays.pop("times"), actionness=arrays.pop("actionness"), cas=arrays.pop("cas"),
            video_scores=arrays.pop("video_scores"),
            view_actionness={name: arrays.pop(f"view_{name}", None) for name in VIEW_NAMES})
    except Exception as error:  # np.load raises several types (OSError, BadZipFile, ValueError, KeyError...)
        raise ValueError(f"unreadable prediction file {path}: {error}") from error
    per_snippet = [prediction.times, prediction.actionness, prediction.cas,
                   *(v for v in prediction.view_actionness.values() if v is not None)]
    if arrays or not np.array_equal(prediction.times, times) or prediction.cas.ndim != 2 \
            or any(values.shape[:1] != np.shape(times) for values in per_snippet) \
            or prediction.video_scores.shape != prediction.cas.shape[1:]:
        raise ValueError(f"{path} does not hold the outputs of a video on these snippets")
    if not all(np.isfinite(values).all() for values in [*per_snippet, prediction.video_scores]):
        raise ValueError(f"{path} holds NaN or infinite values")
    return prediction


def cached_prediction(path: Path | None, times: np.ndarray, compute: Callable[[], Prediction]) -> Prediction:
    """The prediction kept at ``path`` for the video of snippet centres ``times``, else ``compute()``, then kept
    there (``path`` None: no cache)."""
    if path is not None and path.is_file():
        try:
            return read_prediction(path, times)
        except ValueError:
            pass  # recomputed and overwritten below
    prediction = compute()
    if path is not None:
        write_prediction(path, prediction)
    return prediction
