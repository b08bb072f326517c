"""CLI start-up: the lazy command table, and which libraries each light command imports (never torch).

Each command runs in a fresh interpreter, as a user starts it, and reports the modules loaded at its
exit; timings are in benchmarks/cli_startup.py, not here.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.batch_helpers import make_videos
from utal_core.cli import COMMANDS, discover_commands
from utal_core.synth.library import write_synthetic_library
from utal_core.text import LabelBridgeConfig, LabelBridgeScorer

REPO = Path(__file__).resolve().parents[1]
#: Libraries that only analysis, training or the CLIP text tower need.
NEURAL = ("torch", "torchvision", "transformers", "sentence_transformers", "open_clip", "sklearn")
#: Runs the CLI as `python -m utal_core` does, then prints the exit status and the neural libraries loaded.
RUNNER = ("import json, sys\nfrom utal_core.cli import main\nrc = main(sys.argv[1:], prog='python -m utal_core')\n"
          f"print(json.dumps({{'rc': rc, 'loaded': [m for m in {NEURAL!r} if m in sys.modules]}}))")


def run_cli(*args: str) -> tuple[dict, str]:
    """(the runner's report, the command's own output) of one command in a fresh interpreter."""
    done = subprocess.run([sys.executable, "-c", RUNNER, *args], cwd=REPO, capture_output=True, text=True, timeout=300)
    assert done.returncode == 0, done.stderr
    *output, report = done.stdout.strip().splitlines()
    return json.loads(report), "\n".join(output)


def test_command_table_matches_the_registrations() -> None:
    """Every registered command is in COMMANDS with its module and help, and nothing else is."""
    assert discover_commands() == COMMANDS


def test_top_level_help_imports_no_command_module() -> None:
    code = ("import sys\nfrom utal_core.cli import main\ntry:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
            "print(sorted(m for m in sys.modules if m.startswith('utal_core.cli.')))")
    done = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    *help_lines, imported = done.stdout.strip().splitlines()
    assert imported == "[]"
    assert help_lines[0].startswith("usage: utal ") and all(f"    {name}" in done.stdout for name in COMMANDS)


def test_prog_name_reads_right_for_the_module_and_the_script() -> None:
    module = subprocess.run([sys.executable, "-m", "utal_core", "probe", "--help"], cwd=REPO, capture_output=True,
                            text=True, timeout=120)
    assert module.returncode == 0 and module.stdout.startswith("usage: python -m utal_core probe ")
    code = "from utal_core.cli import main\ntry:\n    main(['eval', '--help'])\nexcept SystemExit:\n    pass"
    script = subprocess.run([sys.executable, "-c", code], cwd=REPO, capture_output=True, text=True, timeout=120)
    assert script.stdout.startswith("usage: utal eval ")


def test_a_closed_pipe_ends_the_cli_quietly(tmp_path: Path) -> None:
    """`utal ... | head` must not end in a traceback when head stops reading."""
    analysis = {"video": "/videos/clip.mp4", "duration": 10.0,
                "segments": [{"start": 1.0, "end": 3.0, "score": 0.8, "cluster": 0, "label": "jump"}]}
    (tmp_path / "clip.analysis.json").write_text(json.dumps(analysis))
    read_end, write_end = os.pipe()
    os.close(read_end)  # nobody will ever read: the child's first write fails with EPIPE
    try:
        done = subprocess.run([sys.executable, "-m", "utal_core", "export", str(tmp_path / "clip.analysis.json"),
                               "--format", "csv"], cwd=REPO, stdout=write_end, stderr=subprocess.PIPE, text=True,
                              timeout=120)
    finally:
        os.close(write_end)
    assert (done.returncode, done.stderr) == (1, "")


def test_probe_runs_without_torch(synthetic_video) -> None:
    report, output = run_cli("probe", str(synthetic_video.path), "--json")
    assert report == {"rc": 0, "loaded": []}
    assert json.loads(output)["media"]["duration"] == pytest.approx(30.0, abs=0.1)


def test_eval_runs_without_torch(tmp_path: Path) -> None:
    truth = {"database": {"v1": {"subset": "test", "duration": 30.0,
                                 "annotations": [{"segment": [2.0, 6.0], "label": "jump"}]}}}
    predictions = {"results": {"v1": [{"segment": [2.0, 6.0], "score": 0.9, "label": "pseudo_0"}]}}
    (tmp_path / "gt.json").write_text(json.dumps(truth))
    (tmp_path / "pred.json").write_text(json.dumps(predictions))
    report, output = run_cli("eval", str(tmp_path / "gt.json"), str(tmp_path / "pred.json"), "--hungarian", "--json")
    assert report == {"rc": 0, "loaded": []}
    assert json.loads(output)["mean_map"] == pytest.approx(1.0)


def test_export_runs_without_torch(tmp_path: Path) -> None:
    analysis = {"video": "/videos/clip.mp4", "duration": 10.0,
                "segments": [{"start": 1.0, "end": 3.0, "score": 0.8, "cluster": 0, "label": "jump"}]}
    (tmp_path / "clip.analysis.json").write_text(json.dumps(analysis))
    report, output = run_cli("export", str(tmp_path / "clip.analysis.json"), "--format", "csv",
                             "--out", str(tmp_path / "clip.csv"))
    assert report == {"rc": 0, "loaded": []}
    assert "jump" in (tmp_path / "clip.csv").read_text()


def test_a_cached_analyze_runs_without_torch(tmp_path: Path) -> None:
    """Issue 24: with the video's features and model outputs cached, `analyze` needs no neural library."""
    video = make_videos(tmp_path / "videos", 1, duration=9.0)[0]  # its own content: no other test cached it
    command = ("analyze", str(video), "--views", "motion", "--refine-steps", "2", "--json", "--out")
    first, _ = run_cli(*command, str(tmp_path / "first"))
    assert first["rc"] == 0 and "torch" in first["loaded"]  # the model ran
    report, output = run_cli(*command, str(tmp_path / "again"))
    assert report == {"rc": 0, "loaded": []}
    assert (tmp_path / "again" / video.with_suffix(".analysis.json").name).read_bytes() == \
        (tmp_path / "first" / video.with_suffix(".analysis.json").name).read_bytes()


@pytest.fixture(scope="module")
def synthetic_library(tmp_path_factory) -> Path:
    bridge = LabelBridgeScorer(LabelBridgeConfig(cache_dir=tmp_path_factory.mktemp("text-cache")))
    return write_synthetic_library(tmp_path_factory.mktemp("library"), videos=2, scorer=bridge)


def test_library_list_runs_without_torch(synthetic_library: Path) -> None:
    report, output = run_cli("library", "list", "--library", str(synthetic_library), "--json")
    assert report == {"rc": 0, "loaded": []}
    assert [video["num_segments"] for video in json.loads(output)] == [6, 6]


def test_library_search_answers_with_the_label_bridge_without_torch(synthetic_library: Path) -> None:
    report, output = run_cli("library", "search", "a puppy", "-k", "2", "--library", str(synthetic_library), "--json")
    assert report == {"rc": 0, "loaded": []}
    hits = json.loads(output)
    assert [hit["label"] for hit in hits] == ["a dog barking"] * 2
    assert hits[0]["encoder"] == "label_bridge/all-MiniLM-L6-v2"
