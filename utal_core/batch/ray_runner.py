"""Running a batch on Ray: a local runtime (``local``) or an existing cluster (its address).

Each worker is a Ray actor holding one :class:`~utal_core.batch.worker.VideoAnalyzer` (encoders and
checkpoint loaded once); each actor has one video in flight at a time. An actor whose process dies
is restarted by Ray and its video retried (``max_restarts`` / ``max_task_retries``); the driver,
not the actors, writes every output, so a retried video is still written (and added) once.
"""

from __future__ import annotations

import logging
import os
from collections import deque
from dataclasses import dataclass
from typing import Callable

from ..errors import UTALError
from ..limits import Limits
from ..pipeline import PipelineConfig
from .jobs import Job
from .worker import JobResult, VideoAnalyzer

LOCAL = "local"
#: Ray settings applied unless the environment sets them: no usage reporting (no network), and
#: patience for workers that register slowly on a loaded machine.
RAY_ENVIRONMENT = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_worker_register_timeout_seconds": "120"}


@dataclass(frozen=True)
class RaySettings:
    """How the batch uses Ray; the defaults keep a local runtime small."""

    #: Object store of a local runtime, in MB (results are small: features of one video at a time).
    object_store_mb: int = 200
    #: Folder for a local runtime's session files (None: Ray's default under the system temp folder).
    temp_dir: str | None = None
    #: Times Ray restarts a worker whose process died, and retries the video it held.
    max_restarts: int = 3
    #: GPUs each worker asks for; None: one when the cluster has GPUs and the device is not cpu.
    gpus_per_worker: float | None = None
    #: The driver's address on the cluster (None: Ray finds it); a local runtime always uses 127.0.0.1.
    node_ip_address: str | None = None


class RayRunner:
    """Runs jobs on ``workers`` Ray actors, in a local runtime or on the cluster at ``address``."""

    def __init__(self, address: str = LOCAL, workers: int = 1, settings: RaySettings = RaySettings()) -> None:
        if workers < 1:
            raise UTALError(f"--workers must be at least 1, got {workers}")
        self.address = address
        self.workers = workers
        self.settings = settings
        #: Worker index -> pid of the process that last reported for it (the tests kill one by it).
        self.worker_pids: dict[int, int] = {}

    def _connect(self) -> None:
        import ray

        for name, value in RAY_ENVIRONMENT.items():
            os.environ.setdefault(name, value)
        options: dict = {"include_dashboard": False, "log_to_driver": False, "logging_level": logging.WARNING}
        try:
            if self.address == LOCAL:
                ray.init(address=LOCAL, num_cpus=self.workers, object_store_memory=self.settings.object_store_mb << 20,
                         _node_ip_address="127.0.0.1", _temp_dir=self.settings.temp_dir, **options)
            else:
                ray.init(address=self.address, _node_ip_address=self.settings.node_ip_address, **options)
        except (ConnectionError, RuntimeError, ValueError) as error:
            raise UTALError(f"Cannot start or join Ray at {self.address}: {error}") from None

    def _gpus(self, config: PipelineConfig) -> float:
        import ray

        if self.settings.gpus_per_worker is not None:
            return self.settings.gpus_per_worker
        has_gpus = ray.cluster_resources().get("GPU", 0) > 0
        return 1.0 if has_gpus and config.device != "cpu" else 0.0

    def run(self, jobs: list[Job], config: PipelineConfig, limits: Limits | None,
            deliver: Callable[[JobResult], None]) -> None:
        """Hand ``jobs`` out to the actors and ``deliver`` each result as it arrives."""
        if not jobs:
            return
        import ray

        self._connect()
        try:
            self._run(ray, jobs, config, limits, deliver)
        finally:
            ray.shutdown()

    def _run(self, ray, jobs: list[Job], config: PipelineConfig, limits: Limits | None,
             deliver: Callable[[JobResult], None]) -> None:
        restarts = self.settings.max_restarts
        actor_class = ray.remote(VideoAnalyzer).options(
            num_cpus=1, num_gpus=self._gpus(config), max_restarts=restarts, max_task_retries=restarts)
        actors = [actor_class.remote(config, limits) for _ in range(min(self.workers, len(jobs)))]
        self.worker_pids = dict(enumerate(ray.get([actor.pid.remote() for actor in actors])))
        queue, in_flight = deque(jobs), {}

        def submit(index: int) -> None:
            if queue:
                job = queue.popleft()
                in_flight[actors[index].analyze.remote(job)] = (index, job)

        for index in range(len(actors)):
            submit(index)
        while in_flight:
            (ready,), _ = ray.wait(list(in_flight), num_returns=1)
            index, job = in_flight.pop(ready)
            try:
                result = ray.get(ready)
            except ray.exceptions.RayError as error:  # the actor died more often than it may restart
                reason = str(error).strip().splitlines()[0]
                deliver(JobResult(job, 0.0, 0, retryable=True,
                                  error=f"the Ray worker analysing it died {restarts + 1} times ({reason})"))
                continue  # that actor is gone: no more jobs for it
            self.worker_pids[index] = result.worker_pid
            deliver(result)
            submit(index)
        if queue:
            raise UTALError(f"every Ray worker died; {len(queue)} videos were not analysed (a rerun continues)")

