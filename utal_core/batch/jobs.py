"""Batch planning: inputs to video files, each video to a job keyed by content and configuration,
and the per-job records in the output folder that make a rerun skip what is already done."""

from __future__ import annotations

import glob
import hashlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

from ..encoders.base import file_sha256
from ..errors import UTALError
from ..export import atomic_write_text, unique_video_ids
from ..features import content_hash
from ..footage import VIDEO_SUFFIXES
from ..pipeline import ANALYSIS_FORMAT, PipelineConfig, resolve_checkpoint

#: Suffixes of a text file that lists videos, one path a line (relative paths from the list's folder).
LIST_SUFFIXES = (".txt", ".lst")
#: Settings that change where or how fast an analysis runs, not its result: left out of the job key.
_RUNTIME_SETTINGS = ("device", "cache_dir")
DONE, FAILED = "done", "failed"


def _list_file_paths(listing: Path) -> list[Path]:
    try:
        lines = listing.read_text().splitlines()
    except (OSError, UnicodeDecodeError) as error:
        raise UTALError(f"Cannot read the list of videos {listing}: {error}") from None
    entries = [line.strip() for line in lines if line.strip() and not line.lstrip().startswith("#")]
    return [path if path.is_absolute() else listing.parent / path for path in map(Path, entries)]


def _folder_videos(folder: Path) -> list[Path]:
    return sorted(p for p in folder.rglob("*") if p.is_file() and p.suffix.lower() in VIDEO_SUFFIXES)


def expand_inputs(inputs: Iterable[str]) -> list[Path]:
    """Video files from folders (searched recursively for video suffixes), globs, text files of
    paths (``.txt``/``.lst``) and plain paths, in order, each once; a plain UTALError for an
    input that names nothing. A listed path that does not exist is kept: it fails as its own job."""
    videos: list[Path] = []
    for item in inputs:
        path = Path(item)
        if path.is_dir():
            found = _folder_videos(path)
        elif path.is_file():
            found = _list_file_paths(path) if path.suffix.lower() in LIST_SUFFIXES else [path]
        elif glob.has_magic(item):
            found = [Path(match) for match in sorted(glob.glob(item, recursive=True)) if Path(match).is_file()]
        else:
            raise UTALError(f"No such file or folder: {item}")
        if not found:
            raise UTALError(f"No videos in {item} (looked for {', '.join(VIDEO_SUFFIXES)})")
        videos.extend(found)
    unique: dict[Path, None] = {}
    for video in videos:
        unique.setdefault(video.absolute(), None)
    return list(unique)


def config_identity(config: PipelineConfig) -> dict:
    """What makes two analyses of the same content equal: the settings, with the checkpoint by its
    sha256 and without the runtime-only ones (device, cache folder)."""
    checkpoint = resolve_checkpoint(config)
    settings = {k: v for k, v in config.to_dict().items() if k not in _RUNTIME_SETTINGS}
    return settings | {"checkpoint": file_sha256(checkpoint) if checkpoint else None, "format": ANALYSIS_FORMAT}


@dataclass(frozen=True)
class Job:
    """One video to analyse: where it is, its output name and its key (content hash + configuration)."""

    video: str
    video_id: str
    content_hash: str
    key: str


def job_key(content: str, identity: dict) -> str:
    """The resume key: sha256 of the content hash and the configuration identity."""
    return hashlib.sha256(json.dumps({"content": content, "config": identity}, sort_keys=True).encode()).hexdigest()


@dataclass
class BatchPlan:
    """Jobs to run, the records of jobs already finished, and inputs refused before any analysis."""

    todo: list[Job]
    done: list[dict]
    failed_before: list[dict]
    unreadable: list[tuple[Job, str]]
    duplicates: list[tuple[str, str]]


class JobRecords:
    """``<out>/jobs/<key>.json``: one record per finished job, written last and atomically, so a job
    counts as finished only once every one of its outputs is in place."""

    def __init__(self, out: Path) -> None:
        self.folder = out / "jobs"

    def path(self, key: str) -> Path:
        return self.folder / f"{key}.json"

    def read(self, key: str) -> dict | None:
        """The record of ``key``, or None when there is none (or only a damaged one, redone)."""
        try:
            record = json.loads(self.path(key).read_text())
        except (OSError, json.JSONDecodeError, RecursionError):
            return None
        return record if isinstance(record, dict) and record.get("status") in (DONE, FAILED) else None

    def write(self, record: dict) -> None:
        atomic_write_text(self.path(record["key"]), json.dumps(record, indent=1))

    def all(self) -> list[dict]:
        """Every readable record, oldest first."""
        records = (self.read(path.stem) for path in sorted(self.folder.glob("*.json")))
        return sorted((r for r in records if r is not None), key=lambda r: r.get("finished_at", 0.0))


def plan_jobs(videos: list[Path], config: PipelineConfig, out: Path, retry_failed: bool = False) -> BatchPlan:
    """Key every video and split the jobs into to-do and finished; a video whose content hash cannot be
    read (missing, unreadable) is refused here, with the same content twice analysed once."""
    identity = config_identity(config)
    records = JobRecords(out)
    plan = BatchPlan([], [], [], [], [])
    seen: dict[str, str] = {}
    for video, video_id in zip(videos, unique_video_ids([str(v) for v in videos])):
        try:
            content = content_hash(video)
        except OSError as error:
            plan.unreadable.append((Job(str(video), video_id, "", ""), f"Cannot read {video.name}: {error.strerror or error}"))
            continue
        job = Job(str(video), video_id, content, job_key(content, identity))
        if job.key in seen:
            plan.duplicates.append((job.video, seen[job.key]))
            continue
        seen[job.key] = job.video
        record = records.read(job.key)
        if record is not None and record["status"] == DONE and (out / record["analysis"]).is_file():
            plan.done.append(record)
        elif record is not None and record["status"] == FAILED and not retry_failed:
            plan.failed_before.append(record)
        else:
            plan.todo.append(job)
    return plan
