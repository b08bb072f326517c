"""Loading a dataset: a ground-truth file, one or more results files and optionally a folder of videos.

The files go through the strict readers of :mod:`utal_core.evaluate` (one plain error for bad input). The
evaluation thresholds follow the ground truth's layout unless given: THUMOS14 (``{video: ...}``) 0.1:0.1:0.7,
ActivityNet (``{"database": ...}``) 0.5:0.05:0.95. A loaded set can be kept on disk (``cache_dir``), keyed by the
sha256 of every input file's bytes and the settings, so a second load of the same files reads the summary back
instead of matching again; the video folder is matched afresh each time.
"""

from __future__ import annotations

import hashlib
import json
import pickle
from pathlib import Path
from typing import Sequence

from ..diagnose import DETAD_MIN_TIOU, check_diagnose_thresholds
from ..errors import UTALError
from ..evaluate import (ANET_TIOUS, THUMOS_TIOUS, check_tiou_thresholds, ground_truth_durations, load_ground_truth,
                        load_predictions)
from ..export import atomic_write_bytes
from .metrics import LENGTH_EDGES, summarize_detector
from .view import DatasetView

#: File name endings taken as videos in a ``--videos`` folder.
VIDEO_EXTENSIONS = frozenset({".mp4", ".mkv", ".webm", ".avi", ".mov", ".m4v", ".mpg", ".mpeg", ".wmv", ".flv",
                              ".ts", ".3gp", ".ogv"})
#: Bumped whenever what a cached view holds changes, so older cache files are not read.
CACHE_VERSION = 1
_ANET_PREFIX = "v_"


def ground_truth_layout(path: str | Path) -> str:
    """``"activitynet"`` for a ``{"database": ...}`` file, else ``"thumos14"`` (read after :func:`load_ground_truth`
    accepted the file)."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))
    return "activitynet" if isinstance(data, dict) and isinstance(data.get("database"), dict) else "thumos14"


def match_video_files(folder: str | Path, video_ids: Sequence[str]) -> dict[str, Path]:
    """The file of ``folder`` (not its subfolders) of each video id, matched by file stem with or without the
    ActivityNet ``v_`` prefix, any of :data:`VIDEO_EXTENSIONS` (any case); ids without a file are left out."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UTALError(f"video folder not found: {folder}")
    by_stem: dict[str, Path] = {}
    for path in sorted(folder.iterdir()):
        if path.suffix.lower() in VIDEO_EXTENSIONS and path.is_file():
            by_stem.setdefault(path.stem.removeprefix(_ANET_PREFIX), path)
    return {video: by_stem[video.removeprefix(_ANET_PREFIX)] for video in video_ids
            if video.removeprefix(_ANET_PREFIX) in by_stem}


def file_digest(path: Path) -> str:
    """sha256 of a file's bytes, read in 1 MiB blocks."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _detector_names(paths: Sequence[Path]) -> list[str]:
    """The results files' stems, made unique with a counter."""
    names: list[str] = []
    for path in paths:
        name, number = path.stem, 2
        while name in names:
            name, number = f"{path.stem} ({number})", number + 1
        names.append(name)
    return names


def _read_cache(path: Path) -> DatasetView | None:
    try:
        with path.open("rb") as handle:
            version, view = pickle.load(handle)
    except Exception:  # a damaged or foreign cache file is recomputed, whatever unpickling raised
        return None
    return view if version == CACHE_VERSION and isinstance(view, DatasetView) else None


def load_dataset(
    ground_truth: str | Path,
    results: Sequence[str | Path],
    subset: str | None = None,
    videos: str | Path | None = None,
    tiou_thresholds: Sequence[float] | None = None,
    diagnose_tiou: float = 0.5,
    min_tiou: float = DETAD_MIN_TIOU,
    cache_dir: str | Path | None = None,
) -> DatasetView:
    """Read, match and summarize a dataset once (see the module docstring); the returned view answers every later
    question (pages of the table, one video's rows) without matching again."""
    if not results:
        raise UTALError("give at least one results file")
    check_diagnose_thresholds(diagnose_tiou, min_tiou)
    ground_truth_path, result_paths = Path(ground_truth), [Path(path) for path in results]
    gt = load_ground_truth(ground_truth_path, subset=subset)
    layout = ground_truth_layout(ground_truth_path)
    thresholds = check_tiou_thresholds(tiou_thresholds if tiou_thresholds is not None else
                                       (ANET_TIOUS if layout == "activitynet" else THUMOS_TIOUS))
    cache_file = None
    if cache_dir is not None:
        for path in result_paths:
            if not path.is_file():
                raise UTALError(f"predictions file not found: {path}")
        key = json.dumps([CACHE_VERSION, file_digest(ground_truth_path), [file_digest(p) for p in result_paths],
                          [p.stem for p in result_paths], subset, thresholds.tolist(), diagnose_tiou, min_tiou])
        cache_file = Path(cache_dir) / f"dataset-{hashlib.sha256(key.encode()).hexdigest()[:32]}.pickle"
        cached = _read_cache(cache_file) if cache_file.is_file() else None
        if cached is not None:
            cached.ground_truth_path = str(ground_truth_path)
            cached.attach_videos(match_video_files(videos, cached.videos) if videos is not None else {})
            return cached
    durations = {video: duration for video, duration in ground_truth_durations(ground_truth_path).items() if video in gt}
    detectors = [summarize_detector(name, gt, load_predictions(path), thresholds, diagnose_tiou, min_tiou,
                                    LENGTH_EDGES[layout])
                 for name, path in zip(_detector_names(result_paths), result_paths)]
    view = DatasetView(str(ground_truth_path), subset, layout, gt, durations, detectors,
                       match_video_files(videos, list(gt)) if videos is not None else {})
    if cache_file is not None:
        atomic_write_bytes(cache_file, pickle.dumps((CACHE_VERSION, view), protocol=pickle.HIGHEST_PROTOCOL))
    return view

