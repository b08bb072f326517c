"""Hostile inputs shared by the tests/test_hostile_*.py files, made with ffmpeg and numpy."""

from __future__ import annotations

import contextlib
import resource
import subprocess
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np
import pytest


def two_frame_hour(path: Path) -> Path:
    """An mkv of two frames 3600 s apart (a few KB whose header announces an hour)."""
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc=size=64x48:rate=1", "-frames:v", "2",
                    "-vf", "setpts=N*3600/TB", "-fps_mode", "passthrough", "-c:v", "libx264", "-g", "1", str(path)],
                   check=True)
    return path


def damage_middle(source: Path, target: Path, size: int = 4096, seed: int = 0) -> Path:
    """A copy of ``source`` with ``size`` random bytes written over its middle."""
    data = bytearray(source.read_bytes())
    middle = len(data) // 2
    data[middle:middle + size] = np.random.default_rng(seed).integers(0, 256, size, dtype=np.uint8).tobytes()
    target.write_bytes(bytes(data))
    return target


@dataclass
class Usage:
    """Wall seconds and growth of the peak resident set (MiB) over a ``measure()`` block."""

    seconds: float = 0.0
    peak_growth_mib: float = 0.0


@contextlib.contextmanager
def measure() -> Iterator[Usage]:
    """Time a block and how far it pushed this process's peak RSS (ru_maxrss) above its earlier peak."""
    usage = Usage()
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    start = time.perf_counter()
    try:
        yield usage
    finally:
        usage.seconds = time.perf_counter() - start
        usage.peak_growth_mib = (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024


@contextlib.contextmanager
def tiny_filesystem(size: str = "64k") -> Iterator[Path]:
    """A real tmpfs of ``size`` (full after a few writes; see :func:`make_read_only`); skips where mounting
    is not allowed."""
    folder = Path(tempfile.mkdtemp(prefix="utal_tinyfs_"))
    mounted = subprocess.run(["mount", "-t", "tmpfs", "-o", f"size={size}", "tmpfs", str(folder)],
                             capture_output=True).returncode == 0
    if not mounted:
        folder.rmdir()
        pytest.skip("cannot mount a tmpfs here (needs root with CAP_SYS_ADMIN)")
    try:
        yield folder
    finally:
        subprocess.run(["umount", "-l", str(folder)], check=False)
        folder.rmdir()


def make_read_only(folder: Path) -> None:
    """Remount a :func:`tiny_filesystem` read-only (root ignores file modes, not a read-only mount)."""
    subprocess.run(["mount", "-o", "remount,ro", str(folder)], check=True)
