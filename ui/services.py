"""The app's settings and the process-wide resources every session shares."""

from __future__ import annotations

import atexit
import os
import secrets
import threading
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterator

from gradio.utils import get_upload_folder

from utal_core.cache import default_cache_dir
from utal_core.errors import UTALError
from utal_core.examples import EXAMPLES_DIR
from utal_core.export import atomic_write_text
from utal_core.library import SegmentLibrary
from utal_core.pipeline import Analysis, Pipeline, PipelineConfig
from utal_core.strips import ProxyBuilder

from .limits import parse_size
from .sessions import AnalysisRun, SessionStore, is_inside

_TRUE = {"1", "true", "yes", "on"}


@dataclass
class AppConfig:
    """Where the app keeps its files, its limits, and how the pipeline is built.

    ``shared_library``: one library for every visitor (a personal machine); otherwise each session
    has its own. ``max_file_size``: largest upload. ``analysis_time_limit_s``: an analysis still
    running after this long is stopped. ``max_concurrent_analyses``: analyses run at once.
    ``frame_batch``: snippets decoded and encoded between two progress reports; Cancel and the time
    budget act at these reports, so a smaller batch stops sooner (see tests/test_app_sessions.py).
    ``prefetch_strips``: after a segment is inspected, the frame strips of this many segments on each side of
    it are decoded in the background at the lowest CPU priority (0: none).
    """

    library_dir: Path = field(default_factory=lambda: default_cache_dir() / "library")
    work_dir: Path = field(default_factory=lambda: default_cache_dir() / "app")
    pipeline: PipelineConfig = field(default_factory=PipelineConfig)
    shared_library: bool = False
    max_file_size: str = "1gb"
    analysis_time_limit_s: float = 600.0
    max_concurrent_analyses: int = 1
    frame_batch: int = 8
    example: str | None = None
    prefetch_strips: int = 2

    @classmethod
    def from_env(cls) -> "AppConfig":
        """Defaults, overridden by ``UTAL_LIBRARY_DIR``, ``UTAL_APP_DIR``, ``UTAL_SHARED_LIBRARY``,
        ``UTAL_MAX_UPLOAD``, ``UTAL_ANALYSIS_TIME_LIMIT_S``, ``UTAL_MAX_CONCURRENT_ANALYSES`` and
        ``UTAL_PREFETCH_STRIPS``."""
        config = cls()
        env = os.environ
        if env.get("UTAL_LIBRARY_DIR"):
            config.library_dir = Path(env["UTAL_LIBRARY_DIR"])
        if env.get("UTAL_APP_DIR"):
            config.work_dir = Path(env["UTAL_APP_DIR"])
        config.shared_library = env.get("UTAL_SHARED_LIBRARY", "").strip().lower() in _TRUE
        config.max_file_size = env.get("UTAL_MAX_UPLOAD") or config.max_file_size
        try:
            config.analysis_time_limit_s = float(env.get("UTAL_ANALYSIS_TIME_LIMIT_S") or config.analysis_time_limit_s)
            config.max_concurrent_analyses = int(env.get("UTAL_MAX_CONCURRENT_ANALYSES")
                                                 or config.max_concurrent_analyses)
        except ValueError as error:
            raise UTALError(f"Bad app setting: {error}") from None
        try:
            config.prefetch_strips = int(env.get("UTAL_PREFETCH_STRIPS") or config.prefetch_strips)
        except ValueError:
            raise UTALError("UTAL_PREFETCH_STRIPS must be a number of segments from 0 to 50.") from None
        config.check_limits()
        return config

    def check_limits(self) -> None:
        """A plain error for a limit that cannot work."""
        parse_size(self.max_file_size)
        if not self.analysis_time_limit_s > 0:
            raise UTALError("UTAL_ANALYSIS_TIME_LIMIT_S must be a positive number of seconds.")
        if self.max_concurrent_analyses < 1:
            raise UTALError("UTAL_MAX_CONCURRENT_ANALYSES must be at least 1.")
        if not 0 <= self.prefetch_strips <= 50:
            raise UTALError("UTAL_PREFETCH_STRIPS must be a number of segments from 0 to 50.")

    @property
    def max_upload_bytes(self) -> int:
        return parse_size(self.max_file_size)

    @property
    def allowed_paths(self) -> list[str]:
        """Folders the server may send files from besides Gradio's upload folder (which holds the
        sessions' public folders): the bundled examples only."""
        return [str(EXAMPLES_DIR)]

    @property
    def private_folders(self) -> list[Path]:
        """Folders no visitor may fetch from: the library, the app's work files, the feature cache."""
        features = self.pipeline.cache_dir or default_cache_dir() / "features"
        return [Path(self.library_dir), Path(self.work_dir), Path(features)]

    def check_private_folders(self) -> None:
        """Refuse to start when a private folder lies inside a folder the server sends files from."""
        for folder in self.private_folders:
            for served in (get_upload_folder(), *self.allowed_paths):
                if is_inside(folder, served):
                    raise UTALError(f"{folder} is inside {served}, which the server sends files from; "
                                    "move the library, work and cache folders elsewhere.")


class AppServices:
    """Process-wide resources shared by all sessions: the pipeline (loaded on first use), the shared
    library when there is one, the sessions and the analysis slots."""

    def __init__(self, config: AppConfig, pipeline: Pipeline | None = None) -> None:
        self.config = config
        self._pipeline = self._with_frame_batch(pipeline) if pipeline is not None else None
        self._library: SegmentLibrary | None = None
        self._lock = threading.Lock()
        self._sessions: SessionStore | None = None
        self._slots = threading.BoundedSemaphore(config.max_concurrent_analyses)
        self._running_lock = threading.Lock()
        #: Analyses whose worker thread is running now (a cancelled one counts until it has stopped).
        self.running_analyses = 0
        #: Called with the bundled example's name and analysis once the start-up preparation has it.
        self.example_ready: list[Callable[[str, Analysis], None]] = []
        #: Writes each analysed video's proxy for the inspector's frame strips, in the background.
        self.proxies = ProxyBuilder()
        atexit.register(self.proxies.close)  # no ffmpeg left writing a proxy after the server

    @property
    def pipeline(self) -> Pipeline:
        with self._lock:
            if self._pipeline is None:
                self._pipeline = self._with_frame_batch(Pipeline.from_config(self.config.pipeline))
            return self._pipeline

    def _with_frame_batch(self, pipeline: Pipeline) -> Pipeline:
        pipeline.extractor.batch_size = self.config.frame_batch
        return pipeline

    def request_proxy(self, video: str | os.PathLike, content_hash: str) -> None:
        """Have the proxy of ``video`` (content ``content_hash``) written in the background, if it is not yet."""
        self.proxies.request(video, self.pipeline.extractor.proxy(content_hash), video_hash=content_hash)

    @property
    def sessions(self) -> SessionStore:
        """The live sessions (made on first use, so ``config.shared_library`` may be set until then)."""
        with self._lock:
            if self._sessions is None:
                shared = (lambda: self.library) if self.config.shared_library else None
                self._sessions = SessionStore(self.config.work_dir, shared_library=shared)
            return self._sessions

    @property
    def visitor_secret(self) -> str:
        """The key that encrypts each visitor's token in their browser (``gr.BrowserState``): random, made once and
        kept in the work folder, so the tokens still open after a restart."""
        path = Path(self.config.work_dir) / "visitor.secret"
        with self._lock:
            if not path.is_file():
                atomic_write_text(path, secrets.token_urlsafe(32))
                os.chmod(path, 0o600)
            return path.read_text(encoding="utf-8").strip()

    @property
    def library(self) -> SegmentLibrary:
        """The shared library (``shared_library`` mode only)."""
        with self._lock:
            if self._library is None:
                self._library = SegmentLibrary.open(self.config.library_dir)
            return self._library

    @contextmanager
    def analysis_slot(self, run: AnalysisRun) -> Iterator[None]:
        """Hold one of the ``max_concurrent_analyses`` slots while an analysis runs.

        Gradio frees its own concurrency slot as soon as an event is cancelled, while the worker
        thread runs on to its next progress check; this slot is held until the thread is done, so
        the next analysis never runs beside a cancelled one.
        """
        while not self._slots.acquire(timeout=0.2):
            if run.cancelled:
                run.check()
        run.start_clock()
        with self._running_lock:
            self.running_analyses += 1
        try:
            yield
        finally:
            with self._running_lock:
                self.running_analyses -= 1
            self._slots.release()
