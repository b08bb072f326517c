"""Analyses kept on disk, so that a page load or a search hit never reruns the model for a video analysed before.

An entry is the analysis JSON (``Analysis.to_dict``), keyed by the video's content hash and the
pipeline's settings (config, checkpoint, library versions): another model or setting is another
key. Its per-snippet features come back from the feature cache (``Pipeline.encode_video``, no
model run), so the loaded analysis can be re-segmented like a fresh one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
from pathlib import Path

from utal_core.errors import UTALError
from utal_core.features import library_versions
from utal_core.pipeline import Analysis, Pipeline, read_analysis

from .sessions import Session, is_bundled_example

LOG = logging.getLogger("utal_app")


def settings_key(content_hash: str, pipeline: Pipeline) -> str:
    """The key of an analysis of the content ``content_hash`` made by ``pipeline`` as configured now."""
    settings = {"content": content_hash, "config": pipeline.config.to_dict(),
                "checkpoint": pipeline.checkpoint_path.name if pipeline.checkpoint_path else None,
                "versions": library_versions()}
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


class SavedAnalyses:
    """A folder of ``<key>.analysis.json`` files (written atomically)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def _path(self, content_hash: str, pipeline: Pipeline) -> Path:
        return self.folder / f"{settings_key(content_hash, pipeline)[:40]}.analysis.json"

    def save(self, analysis: Analysis, pipeline: Pipeline) -> None:
        """Keep ``analysis`` (a failed write is logged: it only costs a model run later)."""
        try:
            analysis.write_json(self._path(analysis.content_hash, pipeline))
        except UTALError as error:
            LOG.warning("analysis of %s not saved: %s", analysis.video_id, error)

    def load(self, video: str | os.PathLike, content_hash: str, pipeline: Pipeline) -> Analysis | None:
        """The saved analysis of ``video`` (content ``content_hash``) with its features, or None."""
        path = self._path(content_hash, pipeline)
        if not path.is_file():
            return None
        try:
            analysis = read_analysis(path)
            features, _ = pipeline.encode_video(video)
        except UTALError as error:
            LOG.warning("saved analysis %s not used: %s", path.name, error)
            return None
        return dataclasses.replace(analysis, video_path=str(video), video_id=Path(video).stem, features=features)


def saved_analyses_for(work_dir: Path, session: Session, video: Path, shared_library: bool) -> SavedAnalyses:
    """Where the analyses of ``video`` are kept: the bundled examples' and a shared library's in the app's
    work folder (every visitor may see them), anything else in the session's private folder."""
    if shared_library or is_bundled_example(video):
        return SavedAnalyses(Path(work_dir) / "analyses")
    return SavedAnalyses(session.private / "analyses")
