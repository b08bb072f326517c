"""`batch`: inputs, job keys, resume, failures, the library, in-process and on a local Ray runtime."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import pytest

from .batch_helpers import OBJECT_STORE_BYTES, light_config, make_videos, read_jsonl, truncate_copy
from utal_core.batch import (FAILURES_FILE, RESULTS_FILE, InProcessRunner, JobRecords, RayRunner, RaySettings,
                             config_identity, expand_inputs, plan_jobs, run_batch)
from utal_core.errors import UTALError
from utal_core.library import SegmentLibrary
from utal_core.model import load_feature_folder
from utal_core.model.data import FEATURE_MANIFEST
from utal_core.pipeline import PipelineConfig

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> list[Path]:
    folder = tmp_path_factory.mktemp("batch_clips")
    videos = make_videos(folder, 2)
    return [*videos, truncate_copy(videos[0], folder / "broken.mp4")]


def test_inputs_from_folders_globs_and_lists(tmp_path):
    (tmp_path / "a" / "deep").mkdir(parents=True)
    for name in ("a/x.mp4", "a/deep/y.MKV", "a/notes.txt", "b.avi"):
        (tmp_path / name).write_bytes(b"not decoded here")
    listing = tmp_path / "list.txt"
    listing.write_text("# videos\nb.avi\n\na/x.mp4\nmissing.mp4\n")
    assert expand_inputs([str(tmp_path / "a")]) == [tmp_path / "a" / "deep" / "y.MKV", tmp_path / "a" / "x.mp4"]
    assert expand_inputs([str(tmp_path / "*.avi"), str(listing)]) == [
        tmp_path / "b.avi", tmp_path / "a" / "x.mp4", tmp_path / "missing.mp4"]
    with pytest.raises(UTALError, match="No such file or folder"):
        expand_inputs([str(tmp_path / "nothing")])
    with pytest.raises(UTALError, match="No videos in"):
        expand_inputs([str(tmp_path / "*.mov")])


def test_job_keys_follow_content_and_configuration(tmp_path):
    first, second = tmp_path / "one.mp4", tmp_path / "two.mp4"
    first.write_bytes(b"same bytes")
    second.write_bytes(b"same bytes")
    config = light_config()
    plan = plan_jobs([first, second, tmp_path / "gone.mp4"], config, tmp_path / "out")
    assert [job.video for job in plan.todo] == [str(first)]
    assert plan.duplicates == [(str(second), str(first))]
    assert [error for _, error in plan.unreadable] == ["Cannot read gone.mp4: No such file or directory"]
    other = plan_jobs([first], PipelineConfig(views=("motion",), refine_steps=5), tmp_path / "out")
    assert other.todo[0].key != plan.todo[0].key
    # Where and on what it runs does not change a result, so it does not change the key.
    assert config_identity(light_config()) == config_identity(PipelineConfig(views=("motion",), refine_steps=0,
                                                                             device="cuda", cache_dir="/elsewhere"))


def test_batch_on_local_ray_then_resumed_in_process(clips, tmp_path):
    """A local Ray runtime analyses part of the folder; the in-process rerun does only what is left."""
    good, other, broken = clips
    out, library = tmp_path / "out", tmp_path / "library"
    ray_temp = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    try:
        runner = RayRunner("local", workers=1, settings=RaySettings(object_store_mb=OBJECT_STORE_BYTES >> 20,
                                                                    temp_dir=str(ray_temp), max_restarts=0))
        first = run_batch([str(good), str(broken)], out, light_config(), runner, library=library, progress=False)
    finally:
        shutil.rmtree(ray_temp, ignore_errors=True)
    ray_pid = JobRecords(out).all()[0]["worker_pid"]
    assert ray_pid in runner.worker_pids.values() and ray_pid != os.getpid()  # analysed in a Ray worker
    assert [row["status"] for row in first.rows] == ["analysed", "failed"]
    failures = read_jsonl(out / FAILURES_FILE)
    assert failures == [{"video": str(broken), "error": first.rows[1]["message"]}]
    assert "broken.mp4" in failures[0]["error"] and "Traceback" not in failures[0]["error"]

    second = run_batch([str(good), str(other), str(broken)], out, light_config(), InProcessRunner(),
                       library=library, progress=False)
    statuses = {row["video"]: row["status"] for row in second.rows}
    assert statuses == {"clip0": "done before", "broken": "failed before", "clip1": "analysed"}
    records = JobRecords(out).all()
    assert sorted(r["video_id"] for r in records if r["status"] == "done") == ["clip0", "clip1"]
    assert len(read_jsonl(out / FAILURES_FILE)) == 1
    results = json.loads((out / RESULTS_FILE).read_text())["results"]
    assert set(results) == {"clip0", "clip1"}
    with SegmentLibrary.open(library) as store:
        assert sorted(Path(v.path).name for v in store.list_videos()) == ["clip0.mp4", "clip1.mp4"]
    features = load_feature_folder(out)
    assert set(features) == {"clip0", "clip1"} and all("motion" in f.views for f in features.values())
    assert json.loads((out / FEATURE_MANIFEST).read_text()).keys() == {"clip0", "clip1"}


def test_cli_batch_rerun_does_nothing_and_train_reads_the_folder(clips, tmp_path):
    good, other, broken = clips
    out = tmp_path / "out"
    command = [sys.executable, "-m", "utal_core", "batch", str(good.parent), "--out", str(out), "--views", "motion",
               "--refine-steps", "0", "--device", "cpu", "--no-progress"]
    reports_ray = ("import sys; from utal_core.cli import main; code = main(sys.argv[1:]); "
                   "print('ray imported:', 'ray' in sys.modules); sys.exit(code)")
    first = subprocess.run([sys.executable, "-c", reports_ray, *command[3:]], capture_output=True, text=True,
                           cwd=ROOT, timeout=900)
    assert first.returncode == 2, first.stderr
    assert "ray imported: False" in first.stdout  # in-process: Ray is never imported
    assert "error: broken:" in first.stderr and "Traceback" not in first.stderr
    assert "2 analysed, 1 failed" in first.stdout
    analyses = sorted(p.name for p in (out / "analyses").iterdir())
    assert analyses == ["clip0.analysis.json", "clip1.analysis.json"]
    stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
    again = subprocess.run(command, capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert "2 done before, 1 failed before" in again.stdout
    assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps
    checkpoint = tmp_path / "trained.safetensors"
    train = subprocess.run([sys.executable, "-m", "utal_core", "train", "--features", str(out), "--out",
                            str(checkpoint), "--epochs", "2", "--k", "2", "--json"],
                           capture_output=True, text=True, cwd=ROOT, timeout=900)
    assert train.returncode == 0, train.stderr
    assert json.loads(train.stdout)["videos"] == 2 and checkpoint.is_file()
    assert subprocess.run([*command, "--workers", "2"], capture_output=True, text=True, cwd=ROOT,
                          timeout=300).stderr.strip().endswith("error: --workers needs --ray (without it, one "
                                                               "process analyses one video at a time)")
