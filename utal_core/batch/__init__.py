"""Many videos: batch analysis in-process or on Ray actors; the driver alone writes the outputs.

Output folder layout::

    features/<ab>/<key>.npz + .json      content-addressed feature cache (as the Pipeline keeps it)
    analyses/<video id>.analysis.json    one analysis per video
    jobs/<job key>.json                  one record per finished job (done or failed), written last
    results.anet.json                    ActivityNet results of every done video
    features.json                        video id -> cached features (``train --features`` reads it)
    failures.jsonl                       one line per failed video: {"video", "error"}

A job's key is the sha256 of the video's content hash and the configuration (the checkpoint by its
sha256), so a rerun skips what is done, with anything changed analysed again. Modules: ``jobs``
(inputs, keys, records), ``worker`` (the analyzer), ``driver`` (writing, library, progress, the
in-process runner) and ``ray_runner``.
"""

from .driver import (ANALYSES_DIR, FAILURES_FILE, FEATURES_DIR, RESULTS_FILE, BatchReport, InProcessRunner,
                     Runner, run_batch)
from .jobs import Job, JobRecords, config_identity, expand_inputs, job_key, plan_jobs
from .ray_runner import LOCAL, RaySettings, RayRunner
from .worker import JobResult, VideoAnalyzer

__all__ = [
    "ANALYSES_DIR", "FAILURES_FILE", "FEATURES_DIR", "LOCAL", "RESULTS_FILE", "BatchReport", "InProcessRunner", "Job",
    "JobRecords", "JobResult", "RayRunner", "RaySettings", "Runner", "VideoAnalyzer", "config_identity",
    "expand_inputs", "job_key", "plan_jobs", "run_batch",
]
