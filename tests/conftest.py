"""Shared fixtures: synthetic media written once per session, and the shared real data."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_OFFLINE", "1")
# Caches (features, text embeddings) live in one folder per test session, never in the user's home.
os.environ["UTAL_CACHE_DIR"] = tempfile.mkdtemp(prefix="utal_test_cache_")

from utal_core.synth.video import SyntheticVideo, SyntheticVideoSpec, make_video  # noqa: E402

#: ../shared/data beside the checkout; UTAL_SHARED_DATA points elsewhere (CI sets a missing folder to run the
#: suite as a newcomer's clone, which has none, sees it: every test that needs it skips with its reason).
SHARED_DATA = Path(os.environ.get("UTAL_SHARED_DATA") or Path(__file__).resolve().parents[2] / "shared" / "data")


def shared_file(relative: str) -> Path:
    """A file of ../shared/data, or a clean skip when it is absent."""
    path = SHARED_DATA / relative
    if not path.exists():
        pytest.skip(f"shared data file {relative} is absent")
    return path


@pytest.fixture(params=["ffmpeg", "pyav"])
def media_backend(request, monkeypatch) -> str:
    """Runs a test once per media backend (through the UTAL_MEDIA_BACKEND setting); the ffmpeg one is
    skipped where its binaries are not on PATH."""
    if request.param == "ffmpeg" and (shutil.which("ffmpeg") is None or shutil.which("ffprobe") is None):
        pytest.skip("ffmpeg or ffprobe is not on PATH")
    monkeypatch.setenv("UTAL_MEDIA_BACKEND", request.param)
    return request.param


@pytest.fixture(scope="session")
def media_dir(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="session")
def synthetic_video(media_dir) -> SyntheticVideo:
    """30 s, 25 fps, three actions with sounds, frame counter drawn in."""
    return make_video(media_dir / "synthetic.mp4", SyntheticVideoSpec(duration=30.0, frame_code=True, seed=3))


@pytest.fixture(scope="session")
def vfr_silent_video(media_dir) -> SyntheticVideo:
    """Variable frame rate (every frame in the first half, every other one after), no audio track."""
    spec = SyntheticVideoSpec(duration=20.0, num_actions=2, variable_frame_rate=True, audio=False, frame_code=True, seed=4)
    return make_video(media_dir / "vfr_silent.mp4", spec)


@pytest.fixture(scope="session")
def bad_files(media_dir, synthetic_video) -> dict[str, Path]:
    """One file for each kind of bad input the media layer must name plainly."""
    folder = media_dir / "bad"
    folder.mkdir()
    files = {"text": folder / "notes.mp4", "empty": folder / "empty.mp4", "truncated": folder / "truncated.mp4",
             "headless": folder / "headless.mp4", "audio_only": folder / "tone.m4a", "zero": folder / "zero.mp4"}
    files["text"].write_text("this is not a video\n" * 20)
    files["empty"].write_bytes(b"")
    data = synthetic_video.path.read_bytes()
    files["truncated"].write_bytes(data[: len(data) // 3])
    files["headless"].write_bytes(data[len(data) // 2:])
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "sine=d=1", str(files["audio_only"])], check=True)
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=10", "-frames:v", "0",
                    str(files["zero"])], check=True)
    return files


@pytest.fixture(scope="module")
def single_torch_thread():
    """Small models run far faster on one torch thread than on oversubscribed shared cores."""
    import torch

    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
