"""Analyses kept on disk, so that a page load or a search hit never reruns the model for a video analysed before.

An entry is the analysis JSON (``Analysis.to_dict``), keyed by the video's content hash and the
pipeline's settings (config, the checkpoint's sha256, the encoders' fingerprints, the decode settings,
library versions): another model, weights file or setting is another key, so a stale copy is never
loaded. Its per-snippet features come back from the feature cache (``Pipeline.encode_video``, no model
run), so the loaded analysis can be re-segmented like a fresh one.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import logging
import os
import threading
import time
from pathlib import Path

from utal_core.encoders.base import file_sha256
from utal_core.errors import UTALError
from utal_core.examples import example_path
from utal_core.features import content_hash, library_versions
from utal_core.media import MediaInfo
from utal_core.pipeline import Analysis, Pipeline, read_analysis
from utal_core.viz import timeline_figure

from .controls import PAGE_CONTROLS
from .services import AppServices
from .sessions import AnalysisRun, Session, is_bundled_example

LOG = logging.getLogger("utal_app")


def settings_key(content_hash: str, pipeline: Pipeline) -> str:
    """The key of an analysis of the content ``content_hash`` made by ``pipeline`` as configured now."""
    extractor = pipeline.extractor
    settings = {"content": content_hash, "config": pipeline.config.to_dict(),
                "checkpoint": file_sha256(pipeline.checkpoint_path) if pipeline.checkpoint_path else None,
                "encoders": sorted((e.view, e.fingerprint.to_dict()) for e in extractor.encoders),
                "decode": extractor.decode_settings(), "versions": library_versions()}
    return hashlib.sha256(json.dumps(settings, sort_keys=True, default=str).encode()).hexdigest()


class SavedAnalyses:
    """A folder of ``<key>.analysis.json`` files (written atomically)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def path(self, content_hash: str, pipeline: Pipeline) -> Path:
        """The file of the analysis of the content ``content_hash`` made by ``pipeline`` as configured now."""
        return self.folder / f"{settings_key(content_hash, pipeline)[:40]}.analysis.json"

    def save(self, analysis: Analysis, pipeline: Pipeline) -> None:
        """Keep ``analysis`` (a failed write is logged: it only costs a model run later)."""
        try:
            analysis.write_json(self.path(analysis.content_hash, pipeline))
        except UTALError as error:
            LOG.warning("analysis of %s not saved: %s", analysis.video_id, error)

    def load(self, video: str | os.PathLike, content_hash: str, pipeline: Pipeline) -> Analysis | None:
        """The saved analysis of ``video`` (content ``content_hash``) with its features, or None. The video is not
        probed again: the analysis keeps what the probe said (the same bytes, :func:`media_info`)."""
        path = self.path(content_hash, pipeline)
        if not path.is_file():
            return None
        try:
            analysis = read_analysis(path)
            features, _ = pipeline.encode_video(video, info=media_info(analysis, video))
        except UTALError as error:
            LOG.warning("saved analysis %s not used: %s", path.name, error)
            return None
        return dataclasses.replace(analysis, video_path=str(video), video_id=Path(video).stem, features=features)


def media_info(analysis: Analysis, video: str | os.PathLike) -> MediaInfo | None:
    """What the probe of ``analysis``'s video said, for the copy at ``video`` (None for a file that kept less)."""
    try:
        return MediaInfo(**{f.name: analysis.media[f.name] for f in dataclasses.fields(MediaInfo)} | {"path": str(video)})
    except (KeyError, TypeError):
        return None


def shared_analyses(work_dir: str | os.PathLike) -> SavedAnalyses:
    """The analyses every visitor may load: the bundled examples' and a shared library's."""
    return SavedAnalyses(Path(work_dir) / "analyses")


def saved_analyses_for(work_dir: Path, session: Session, video: Path, shared_library: bool) -> SavedAnalyses:
    """Where the analyses of ``video`` are kept: the bundled examples' and a shared library's in the app's
    work folder (every visitor may see them), anything else in the session's private folder."""
    if shared_library or is_bundled_example(video):
        return shared_analyses(work_dir)
    return SavedAnalyses(session.private / "analyses")


def prepare_example(services: AppServices, name: str) -> Analysis:
    """Analyse the bundled example ``name`` as a visitor's page does (the same pipeline and settings) and save it
    where every page loads it from, unless it is saved already; its proxy for the inspector is requested too. A
    visitor's analysis waits for this one's slot, then finds it saved, segmented with the page's opening controls
    (``PAGE_CONTROLS``), so the page shows it as it is. What a page then does with it once per process (load the
    pipeline, embed the cluster-name vocabulary, build the timeline's Plotly classes, describe the encoders) is
    done here too, so the first visitor does not wait for it either. Returns the analysis as the page cuts it."""
    video = example_path(name)
    key = content_hash(video)
    services.request_proxy(video, key)
    saved = shared_analyses(services.config.work_dir)
    with services.analysis_slot(AnalysisRun(services.config.analysis_time_limit_s)):
        analysis = saved.load(video, key, services.pipeline) or services.pipeline.analyze(video)
        params, num_clusters = PAGE_CONTROLS.params(), PAGE_CONTROLS.num_clusters()
        if analysis.params != params or analysis.num_clusters != num_clusters:
            analysis = services.pipeline.resegment(analysis, params, num_clusters)
            saved.save(analysis, services.pipeline)
    timeline_figure(services.pipeline.resegment(analysis, analysis.params, analysis.num_clusters))
    services.pipeline.doctor()  # the Settings tab's report, which each page load asks for beside the example
    return analysis


def start_preparing_example(services: AppServices, name: str) -> threading.Thread:
    """:func:`prepare_example` in a background thread (at server start: the page is served meanwhile), then
    ``services.example_ready`` told; a failure is logged and only costs the first visitor a model run."""
    def prepare() -> None:
        started = time.monotonic()
        try:
            analysis = prepare_example(services, name)
            for ready in services.example_ready:
                ready(name, analysis)
        except UTALError as error:
            LOG.warning("the example %s was not prepared: %s", name, error)
            return
        except Exception:  # noqa: BLE001 - the server goes on; the page analyses the example itself
            LOG.exception("the example %s was not prepared", name)
            return
        LOG.info("the example %s is ready (%.1f s)", name, time.monotonic() - started)

    thread = threading.Thread(target=prepare, name=f"prepare-{name}", daemon=True)
    thread.start()
    return thread
