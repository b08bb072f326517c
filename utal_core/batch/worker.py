"""The worker side of a batch: one loaded Pipeline that analyses job after job.

The same class runs in-process and as a Ray actor; it returns results and writes nothing the
batch depends on (the driver writes the outputs and the library).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field

from ..errors import UTALError
from ..limits import Limits
from ..pipeline import Pipeline, PipelineConfig
from ..types import ViewFeatures
from .jobs import Job


@dataclass
class JobResult:
    """What a worker sends back for one job: the analysis (as JSON types) with its features and their
    cache key, or the plain error that stopped it."""

    job: Job
    seconds: float
    worker_pid: int
    analysis: dict | None = None
    features: ViewFeatures | None = field(default=None, repr=False)
    features_key: str | None = None
    features_metadata: dict = field(default_factory=dict)
    error: str | None = None
    #: True when the error is not the video's (a worker that kept dying): a rerun tries the video again.
    retryable: bool = False


class VideoAnalyzer:
    """Loads the encoders and the checkpoint once, then analyses the videos it is given."""

    def __init__(self, config: PipelineConfig, limits: Limits | None = None, torch_threads: int | None = None) -> None:
        if torch_threads:
            import torch

            torch.set_num_threads(torch_threads)
        self.pipeline = Pipeline.from_config(config, limits=limits)

    def pid(self) -> int:
        """The process this analyzer runs in (the tests kill a Ray worker by it)."""
        return os.getpid()

    def analyze(self, job: Job) -> JobResult:
        """One video's analysis; any error it raises is returned as a plain message, never raised."""
        started = time.perf_counter()
        try:
            analysis = self.pipeline.analyze(job.video)
        except UTALError as error:
            return JobResult(job, time.perf_counter() - started, os.getpid(), error=str(error))
        except Exception as error:  # a bug must not stop the batch either; it is reported by its type
            return JobResult(job, time.perf_counter() - started, os.getpid(),
                             error=f"internal error ({type(error).__name__}): {error}")
        extractor = self.pipeline.extractor
        return JobResult(job, time.perf_counter() - started, os.getpid(), analysis=analysis.to_dict(),
                         features=analysis.features, features_key=extractor.cache_key(job.video, analysis.grid),
                         features_metadata=extractor.metadata(job.video, analysis.grid))
