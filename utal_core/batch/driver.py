"""The driver of a batch: plans the jobs, hands them to a runner (in-process or Ray), and alone
writes every output as results arrive: features, analysis JSON, job records, failures, the library."""

from __future__ import annotations

import dataclasses
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Protocol

from ..export import atomic_write_text, write_activitynet
from ..features import feature_cache_path, write_features
from ..library import SegmentLibrary, add_analysis_to_library
from ..limits import Limits
from ..model.data import FEATURE_MANIFEST
from ..pipeline import Analysis, PipelineConfig, pseudo_class_segments, read_analysis
from ..text import LabelBridgeScorer
from ..types import Segment
from .jobs import DONE, FAILED, BatchPlan, Job, JobRecords, expand_inputs, plan_jobs
from .worker import JobResult, VideoAnalyzer

FEATURES_DIR = "features"
ANALYSES_DIR = "analyses"
FAILURES_FILE = "failures.jsonl"
RESULTS_FILE = "results.anet.json"

Deliver = Callable[[JobResult], None]


class Runner(Protocol):
    """Runs jobs somewhere and calls ``deliver`` on the driver with each result, as it arrives."""

    def run(self, jobs: list[Job], config: PipelineConfig, limits: Limits | None, deliver: Deliver) -> None: ...


class InProcessRunner:
    """One analyzer in this process, one video after another (no Ray needed)."""

    def __init__(self, torch_threads: int | None = None) -> None:
        self.torch_threads = torch_threads

    def run(self, jobs: list[Job], config: PipelineConfig, limits: Limits | None, deliver: Deliver) -> None:
        if not jobs:
            return
        analyzer = VideoAnalyzer(config, limits, self.torch_threads)
        for job in jobs:
            deliver(analyzer.analyze(job))


@dataclass
class BatchReport:
    """One row per input video of this run, and where the outputs are."""

    out: Path
    rows: list[dict] = field(default_factory=list)
    seconds: float = 0.0

    def count(self, status: str) -> int:
        return sum(row["status"] == status for row in self.rows)

    @property
    def failed(self) -> list[dict]:
        return [row for row in self.rows if row["status"] in ("failed", "failed before")]

    def table(self) -> str:
        """The summary table: every video this run touched (those done before are only counted)."""
        shown = [row for row in self.rows if row["status"] != "done before"]
        width = max([len(row["video"]) for row in shown] + [5])
        lines = [f"{'video':<{width}}  {'status':<13}  {'segments':>8}  {'seconds':>8}  message"]
        for row in shown:
            segments = "" if row.get("segments") is None else str(row["segments"])
            seconds = "" if row.get("seconds") is None else f"{row['seconds']:.1f}"
            lines.append(f"{row['video']:<{width}}  {row['status']:<13}  {segments:>8}  {seconds:>8}  "
                         f"{row.get('message', '')}")
        totals = ", ".join(f"{self.count(s)} {s}" for s in ("analysed", "done before", "failed", "failed before",
                                                             "duplicate") if self.count(s))
        lines.append(f"{len(self.rows)} videos: {totals or 'nothing to do'} in {self.seconds:.1f} s -> {self.out}")
        return "\n".join(lines)


class BatchWriter:
    """Writes one result's outputs (atomically, the job record last) and keeps the library in step."""

    def __init__(self, out: Path, plan: BatchPlan, library: SegmentLibrary | None) -> None:
        self.out = out
        self.records = JobRecords(out)
        self.library = library
        self._bridge: LabelBridgeScorer | None = None
        self._in_library = {v.content_hash for v in library.list_videos()} if library else set()
        self.done = list(plan.done)
        self.failures = ([_failure_line(r["video"], r["error"]) for r in plan.failed_before]
                         + [_failure_line(job.video, error) for job, error in plan.unreadable])
        self.changed = False

    def add_to_library(self, analysis: Analysis) -> None:
        """Add once: the library is keyed by content hash, and videos already in it are not read again."""
        if self.library is None or analysis.content_hash in self._in_library:
            return
        self._bridge = self._bridge or LabelBridgeScorer()
        add_analysis_to_library(self.library, analysis, self._bridge)
        self._in_library.add(analysis.content_hash)

    def catch_up_library(self) -> None:
        """Videos done by an earlier run without this library go into it now (from their analysis files)."""
        for record in self.done:
            if self.library is not None and record["content_hash"] not in self._in_library:
                self.add_to_library(read_analysis(self.out / record["analysis"]))

    def deliver(self, result: JobResult) -> dict:
        """Write ``result``'s outputs; the summary row of its video."""
        job = result.job
        row = {"video": job.video_id, "seconds": round(result.seconds, 2)}
        if result.error is not None:
            if not result.retryable:
                self.records.write({"key": job.key, "status": FAILED, "video": job.video, "video_id": job.video_id,
                                    "content_hash": job.content_hash, "error": result.error,
                                    "finished_at": time.time()})
            self.failures.append(_failure_line(job.video, result.error))
            self.write_failures()
            return row | {"status": "failed", "message": result.error}
        analysis = Analysis.from_dict(result.analysis) if result.analysis else None
        assert analysis is not None and result.features is not None and result.features_key is not None
        analysis.video_id = job.video_id
        features = feature_cache_path(self.out / FEATURES_DIR, result.features_key)
        if not features.is_file():
            write_features(features, result.features, result.features_metadata)
        analysis_path = analysis.write_json(self.out / ANALYSES_DIR / f"{job.video_id}.analysis.json")
        self.add_to_library(analysis)
        record = {"key": job.key, "status": DONE, "video": job.video, "video_id": job.video_id,
                  "content_hash": job.content_hash, "analysis": str(analysis_path.relative_to(self.out)),
                  "features": str(features.relative_to(self.out)), "segments": len(analysis.segments),
                  "anet_segments": [dataclasses.asdict(s) for s in pseudo_class_segments(analysis)],
                  "warnings": analysis.warnings, "seconds": round(result.seconds, 3),
                  "worker_pid": result.worker_pid, "finished_at": time.time()}
        self.records.write(record)
        self.done.append(record)
        self.changed = True
        return row | {"status": "analysed", "segments": len(analysis.segments),
                      "message": "; ".join(analysis.warnings)}

    def write_failures(self) -> None:
        """``failures.jsonl`` as it stands (left untouched when it already says the same)."""
        path, text = self.out / FAILURES_FILE, "".join(json.dumps(line) + "\n" for line in self.failures)
        if not path.is_file() or path.read_text() != text:
            atomic_write_text(path, text)

    def write_batch_files(self) -> None:
        """ActivityNet results and the feature manifest of every done video (rewritten only when they change)."""
        results, manifest = self.out / RESULTS_FILE, self.out / FEATURE_MANIFEST
        if self.done and (self.changed or not results.is_file() or not manifest.is_file()):
            write_activitynet(results, {r["video_id"]: [Segment(**s) for s in r["anet_segments"]] for r in self.done})
            atomic_write_text(manifest, json.dumps({r["video_id"]: r["features"] for r in self.done}, indent=1))
        if self.failures or (self.out / FAILURES_FILE).exists():
            self.write_failures()


def _failure_line(video: str, error: str) -> dict:
    return {"video": video, "error": error}


def run_batch(inputs: list[str], out: str | Path, config: PipelineConfig, runner: Runner | None = None,
              library: str | Path | None = None, limits: Limits | None = None, retry_failed: bool = False,
              progress: bool = True) -> BatchReport:
    """Analyse every video of ``inputs`` into ``out`` (see the package docstring), skipping those done
    before with the same content and configuration; failures are reported, never raised."""
    from tqdm import tqdm

    started = time.perf_counter()
    out = Path(out)
    config = dataclasses.replace(config, cache_dir=str((out / FEATURES_DIR).absolute()))
    plan = plan_jobs(expand_inputs(inputs), config, out, retry_failed)
    report = BatchReport(out)
    report.rows += [{"video": r["video_id"], "status": "done before", "segments": r["segments"]} for r in plan.done]
    report.rows += [{"video": r["video_id"], "status": "failed before", "message": r["error"]}
                    for r in plan.failed_before]
    report.rows += [{"video": job.video_id, "status": "failed", "message": error} for job, error in plan.unreadable]
    report.rows += [{"video": Path(video).name, "status": "duplicate", "message": f"same content as {first}"}
                    for video, first in plan.duplicates]
    store = SegmentLibrary.open(library) if library else None
    try:
        writer = BatchWriter(out, plan, store)
        writer.catch_up_library()
        bar = tqdm(total=len(plan.todo), unit="video", disable=not progress or not plan.todo, file=sys.stderr)
        run_started = time.perf_counter()

        def deliver(result: JobResult) -> None:
            report.rows.append(writer.deliver(result))
            bar.update(1)
            bar.set_postfix_str(f"{bar.n * 60 / max(time.perf_counter() - run_started, 1e-9):.2f} videos/min")

        try:
            (runner or InProcessRunner()).run(plan.todo, config, limits, deliver)
        finally:
            bar.close()
            writer.write_batch_files()
    finally:
        if store is not None:
            store.close()
    report.seconds = time.perf_counter() - started
    return report
