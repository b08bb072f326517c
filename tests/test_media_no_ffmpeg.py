"""A clean copy of the project on a machine without the ffmpeg binaries (issue 12, acceptance): the
bundled example is written, probed, decoded and analysed through PyAV, and ``doctor`` says so."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
FAST = ["--views", "cbp", "motion", "audio", "--refine-steps", "0", "--device", "cpu"]


@pytest.fixture(scope="module")
def clean_copy(tmp_path_factory) -> Path:
    """The package, its assets (no generated example) and checkpoints, copied as a fresh clone has them."""
    root = tmp_path_factory.mktemp("clean_clone")
    shutil.copytree(ROOT / "utal_core", root / "utal_core", ignore=shutil.ignore_patterns("__pycache__"))
    shutil.copytree(ROOT / "assets", root / "assets", ignore=shutil.ignore_patterns("*.mp4", "*.gt.json"))
    shutil.copytree(ROOT / "checkpoints", root / "checkpoints")
    return root


@pytest.fixture(scope="module")
def no_ffmpeg_env(tmp_path_factory) -> dict[str, str]:
    """The environment with a PATH that holds only python: neither ffmpeg nor ffprobe can be found."""
    bin_dir = tmp_path_factory.mktemp("bin_without_ffmpeg")
    (bin_dir / "python").symlink_to(sys.executable)
    env = {name: value for name, value in os.environ.items() if name != "UTAL_MEDIA_BACKEND"}
    return env | {"PATH": str(bin_dir), "OMP_NUM_THREADS": "1"}


def run(command: list[str], cwd: Path, env: dict[str, str]) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, *command], cwd=cwd, env=env, capture_output=True, text=True, timeout=600)


def test_clean_clone_without_ffmpeg_probes_and_analyses_the_example_through_pyav(clean_copy, no_ffmpeg_env, tmp_path):
    setup = run(["-c", "import json, shutil; from utal_core.examples import example_path; "
                       "from utal_core.cli.features import doctor_report; "
                       "print(json.dumps({'which': [shutil.which('ffmpeg'), shutil.which('ffprobe')], "
                       "'example': str(example_path()), 'media': doctor_report()['media']}))"],
                clean_copy, no_ffmpeg_env)
    assert setup.returncode == 0, setup.stderr[-2000:]
    report = json.loads(setup.stdout)
    assert report["which"] == [None, None]
    assert report["media"]["name"] == "pyav" and report["media"]["reason"] == "ffmpeg and ffprobe not on PATH"
    example = Path(report["example"])
    assert example.parent == clean_copy / "assets" / "examples" and example.stat().st_size > 0  # written by PyAV

    probed = run(["-m", "utal_core", "probe", str(example), "--json"], clean_copy, no_ffmpeg_env)
    assert probed.returncode == 0, probed.stderr[-2000:]
    media = json.loads(probed.stdout)["media"]
    assert media["duration"] == pytest.approx(60.0, abs=0.1) and media["frame_count"] == 1500 and media["has_audio"]

    out = tmp_path / "analysis"
    analysed = run(["-m", "utal_core", "analyze", str(example), "--out", str(out), "--json", *FAST],
                   clean_copy, no_ffmpeg_env)
    assert analysed.returncode == 0, analysed.stderr[-2000:]
    assert "ffmpeg" not in analysed.stderr.lower()
    [summary] = json.loads(analysed.stdout)
    assert Path(summary["analysis"]).exists() and summary["warnings"] == []
    assert summary["segments"] > 0 and not {"cbp", "motion", "audio"} & set(summary["absent"])  # frames, fine stream, audio
