"""Which media backend runs: the ffmpeg binaries when both ``ffmpeg`` and ``ffprobe`` are on PATH,
PyAV (the FFmpeg libraries inside the ``av`` wheel) otherwise; the setting ``UTAL_MEDIA_BACKEND``
(``auto``, ``ffmpeg`` or ``pyav``) forces one."""

from __future__ import annotations

import importlib
import importlib.metadata
import os
import shutil
from dataclasses import asdict, dataclass
from types import ModuleType

from ..errors import UTALError

ENV_VARIABLE = "UTAL_MEDIA_BACKEND"
SETTINGS = ("auto", "ffmpeg", "pyav")
BINARIES = ("ffmpeg", "ffprobe")


@dataclass(frozen=True)
class BackendChoice:
    """The backend in use (``ffmpeg`` or ``pyav``), why, and the setting it came from."""

    name: str
    reason: str
    setting: str


def choose_backend(environ: dict[str, str] | None = None) -> BackendChoice:
    """The backend ``UTAL_MEDIA_BACKEND`` asks for, or in ``auto`` the one this machine can run."""
    raw = (os.environ if environ is None else environ).get(ENV_VARIABLE, "auto")
    setting = raw.strip().lower() or "auto"
    if setting not in SETTINGS:
        raise UTALError(f"{ENV_VARIABLE} must be one of {', '.join(SETTINGS)} (got {raw!r})")
    if setting != "auto":
        return BackendChoice(setting, f"set by {ENV_VARIABLE}={setting}", setting)
    missing = [name for name in BINARIES if shutil.which(name) is None]
    if missing:
        return BackendChoice("pyav", f"{' and '.join(missing)} not on PATH", setting)
    return BackendChoice("ffmpeg", "ffmpeg and ffprobe are on PATH", setting)


def backend_module(choice: BackendChoice | None = None) -> ModuleType:
    """The module implementing ``choice`` (default: :func:`choose_backend`): probe, iter_frames, decode_audio..."""
    choice = choice or choose_backend()
    try:
        return importlib.import_module(f"{__package__}.{choice.name}")
    except ImportError as error:
        raise UTALError(f"the {choice.name} media backend cannot load ({error}); "
                        f"install PyAV (`pip install av`) or ffmpeg") from None


def media_report(environ: dict[str, str] | None = None) -> dict:
    """For ``doctor``: the backend in use and why, where the binaries are, and the PyAV version."""
    try:
        pyav = importlib.metadata.version("av")
    except importlib.metadata.PackageNotFoundError:
        pyav = "not installed"
    return asdict(choose_backend(environ)) | {name: shutil.which(name) for name in BINARIES} | {"pyav": pyav}
