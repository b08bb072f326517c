"""`batch` on a real two-node Ray cluster on 127.0.0.1, with a worker killed in the middle (slow)."""

from __future__ import annotations

import json
import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

import pytest

from .batch_helpers import OBJECT_STORE_BYTES, light_config, make_videos, ray_environment, ray_knobs, read_jsonl, truncate_copy
from utal_core.batch import FAILURES_FILE, RESULTS_FILE, JobRecords, RayRunner, RaySettings, run_batch
from utal_core.library import SegmentLibrary

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
RAY = str(Path(sys.executable).with_name("ray"))
#: Every port a node opens, so two nodes on one machine (and anyone else's Ray) never collide.
NODE_PORT_OPTIONS = ("--node-manager-port", "--object-manager-port", "--dashboard-agent-listen-port",
                     "--dashboard-agent-grpc-port", "--runtime-env-agent-port", "--metrics-export-port")


def free_ports(count: int) -> list[int]:
    """``count`` distinct free ports (each held open until all are chosen, so none is handed out twice)."""
    probes = [socket.socket() for _ in range(count)]
    try:
        for probe in probes:
            probe.bind(("127.0.0.1", 0))
        return [probe.getsockname()[1] for probe in probes]
    finally:
        for probe in probes:
            probe.close()


def start_node(temp_dir: Path, head_port: int, head: bool, ports: list[int]) -> subprocess.Popen:
    """``ray start --block`` for one node, in its own process group (stopped by that group, not by name)."""
    role = ["--head", "--port", str(head_port), "--include-dashboard", "false"] if head else [
        "--address", f"127.0.0.1:{head_port}"]
    options = [item for option, port in zip(NODE_PORT_OPTIONS, ports) for item in (option, str(port))]
    command = [RAY, "start", *role, *options, "--node-ip-address", "127.0.0.1", "--num-cpus", "1",
               "--object-store-memory", str(OBJECT_STORE_BYTES),
               "--disable-usage-stats", "--temp-dir", str(temp_dir), "--block"]
    log = open(temp_dir / f"{'head' if head else 'node'}.log", "w")
    return subprocess.Popen(command, env=ray_environment(temp_dir), stdout=log, stderr=subprocess.STDOUT,
                            start_new_session=True)


def stop_nodes(nodes: list[subprocess.Popen], temp_dir: Path) -> None:
    """What ``ray stop`` does, limited to this cluster: its process groups, then any process of its session."""
    for node in reversed(nodes):
        if node.poll() is None:
            os.killpg(node.pid, signal.SIGTERM)
    deadline = time.monotonic() + 30
    for node in nodes:
        try:
            node.wait(timeout=max(1.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            pass
        try:
            os.killpg(node.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass
    for pid in session_pids(temp_dir):
        try:
            os.kill(pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def session_pids(temp_dir: Path) -> list[int]:
    """Processes whose command line names this cluster's temp folder (workers started by a raylet)."""
    pids = []
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and int(entry.name) != os.getpid():
            try:
                if str(temp_dir).encode() in (entry / "cmdline").read_bytes():
                    pids.append(int(entry.name))
            except OSError:
                continue
    return pids


def wait_for_nodes(address: str, count: int, nodes: list[subprocess.Popen], timeout_s: float = 300) -> None:
    import ray

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        stopped = [node for node in nodes if node.poll() is not None]
        assert not stopped, f"`ray start` exited: {stopped[0].args}"
        try:
            ray.init(address=address, _node_ip_address="127.0.0.1", include_dashboard=False, log_to_driver=False)
            alive = sum(node["Alive"] for node in ray.nodes())
            ray.shutdown()
            if alive >= count:
                return
        except (ConnectionError, RuntimeError):
            pass
        time.sleep(2)
    raise AssertionError(f"the Ray cluster at {address} did not reach {count} nodes in {timeout_s} s")


def test_two_node_cluster_survives_a_killed_worker_and_resumes(tmp_path, monkeypatch):
    folder = tmp_path / "videos"
    good = make_videos(folder, 4)
    broken = truncate_copy(good[0], folder / "broken.mp4")
    out, library = tmp_path / "out", tmp_path / "library"
    temp_dir = Path(tempfile.mkdtemp(prefix="ray", dir="/tmp"))
    port, *node_ports = free_ports(1 + 2 * len(NODE_PORT_OPTIONS))
    address = f"127.0.0.1:{port}"
    for name, value in ray_knobs(temp_dir).items():
        monkeypatch.setenv(name, value)
    nodes: list[subprocess.Popen] = []
    try:
        nodes.append(start_node(temp_dir, port, True, node_ports[:len(NODE_PORT_OPTIONS)]))
        wait_for_nodes(address, 1, nodes)
        nodes.append(start_node(temp_dir, port, False, node_ports[len(NODE_PORT_OPTIONS):]))
        wait_for_nodes(address, 2, nodes)
        runner = RayRunner(address, workers=2, settings=RaySettings(node_ip_address="127.0.0.1", max_restarts=2))
        outcome: dict = {}

        def batch() -> None:
            try:
                outcome["report"] = run_batch([str(folder)], out, light_config(), runner, library=library,
                                              progress=False)
            except BaseException as error:  # surfaced by the main thread
                outcome["error"] = error

        thread = threading.Thread(target=batch)
        thread.start()
        deadline = time.monotonic() + 600
        while not any(r["status"] == "done" for r in JobRecords(out).all()) and thread.is_alive():
            assert time.monotonic() < deadline, "no video finished in 600 s"
            time.sleep(0.2)
        first_pids = dict(runner.worker_pids)
        assert len(first_pids) == 2 and len(JobRecords(out).all()) < 5
        os.kill(first_pids[1], signal.SIGKILL)  # both workers hold a video: videos are still waiting
        thread.join(timeout=900)
        assert not thread.is_alive() and "error" not in outcome, outcome.get("error")
        report = outcome["report"]

        analysed = [row["video"] for row in report.rows if row["status"] == "analysed"]
        assert sorted(analysed) == ["clip0", "clip1", "clip2", "clip3"]  # each good video exactly once
        records = JobRecords(out).all()
        done = [r for r in records if r["status"] == "done"]
        assert sorted(r["video_id"] for r in done) == sorted(analysed)
        # The killed worker was restarted by Ray and its video retried there: a pid neither first worker had.
        assert any(r["worker_pid"] not in first_pids.values() for r in done)
        failures = read_jsonl(out / FAILURES_FILE)
        assert [f["video"] for f in failures] == [str(broken)]
        assert failures[0]["error"].startswith("broken.mp4") and "Traceback" not in failures[0]["error"]
        assert sorted(json.loads((out / RESULTS_FILE).read_text())["results"]) == sorted(analysed)
        with SegmentLibrary.open(library) as store:
            videos = store.list_videos()
        assert sorted(Path(v.path).name for v in videos) == [f"clip{i}.mp4" for i in range(4)]

        stamps = {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()}
        library_stamps = {p: p.stat().st_mtime_ns for p in (library / "indexes").rglob("*")}
        rerun = subprocess.run([sys.executable, "-m", "utal_core", "batch", str(folder), "--out", str(out),
                                "--library", str(library), "--views", "motion", "--refine-steps", "0",
                                "--device", "cpu", "--ray", address, "--workers", "2", "--no-progress"],
                               capture_output=True, text=True, cwd=ROOT, env=ray_environment(temp_dir), timeout=600)
        assert "4 done before, 1 failed before" in rerun.stdout, rerun.stdout + rerun.stderr
        assert {p: p.stat().st_mtime_ns for p in out.rglob("*") if p.is_file()} == stamps
        assert {p: p.stat().st_mtime_ns for p in (library / "indexes").rglob("*")} == library_stamps
    finally:
        stop_nodes(nodes, temp_dir)
        shutil.rmtree(temp_dir, ignore_errors=True)
