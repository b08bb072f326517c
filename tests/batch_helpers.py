"""Shared pieces of the batch tests: tiny synthetic videos, a truncated one, and light Ray settings."""

from __future__ import annotations

import json
import os
import secrets
from pathlib import Path

from utal_core.pipeline import PipelineConfig
from utal_core.synth.video import SyntheticVideoSpec, make_video

#: Ray on two shared cores: no usage reporting, patient worker registration, small object stores.
RAY_TEST_ENV = {"RAY_USAGE_STATS_ENABLED": "0", "RAY_worker_register_timeout_seconds": "180",
                "RAY_DISABLE_DOCKER_CPU_WARNING": "1", "RAY_num_heartbeats_timeout": "120"}
OBJECT_STORE_BYTES = 100 * 1024 * 1024


def make_videos(folder: Path, count: int, duration: float = 8.0) -> list[Path]:
    """``count`` small silent synthetic videos (160x96, 12 fps), each with its own content."""
    folder.mkdir(parents=True, exist_ok=True)
    spec = dict(duration=duration, num_actions=1, min_action_s=1.5, max_action_s=2.5, width=160, height=96,
                fps=12.0, min_gap_s=1.0, audio=False)
    return [make_video(folder / f"clip{i}.mp4", SyntheticVideoSpec(**spec, seed=10 + i)).path for i in range(count)]


def truncate_copy(video: Path, target: Path) -> Path:
    """A copy of ``video`` cut to its first third: the header survives, the frames end early."""
    data = video.read_bytes()
    target.write_bytes(data[: len(data) // 3])
    return target


def light_config() -> PipelineConfig:
    """The cheapest real analysis: the motion view (no weights to load), the checkpoint as is."""
    return PipelineConfig(views=("motion",), refine_steps=0, device="cpu")


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def ray_knobs(temp_dir: Path) -> dict[str, str]:
    """The light Ray settings, a private temp folder, and the cluster's token (Ray's token authentication,
    which `ray start` turns on, with the token kept in that folder rather than in ~/.ray)."""
    token = temp_dir / "auth_token"
    if not token.exists():
        token.write_text(secrets.token_hex(32))
        token.chmod(0o600)
    return RAY_TEST_ENV | {"RAY_TMPDIR": str(temp_dir), "RAY_AUTH_MODE": "token", "RAY_AUTH_TOKEN_PATH": str(token)}


def ray_environment(temp_dir: Path) -> dict[str, str]:
    """The test process's environment plus :func:`ray_knobs`."""
    return dict(os.environ) | ray_knobs(temp_dir)
