"""The edits layer on disk: one writer at a time, kept across reruns, and a visitor's own saved corrections.

- :func:`locked`: an exclusive lock (``fcntl.flock`` on the analysis file itself) held around every
  read-change-write of it, so that two ``import`` runs, or an ``import`` and an ``analyze``, never lose each
  other's work: the second writer waits (up to ``timeout_s``, then a plain message) and then reads what the
  first wrote. The app's store of a visitor's corrections has a lock of its own.
- :func:`load_edits`, :func:`save_edits`, :func:`update_edits`: the ``edits`` entry of an analysis JSON.
- :func:`write_analysis_keeping_edits`: ``analyze`` into a folder that already holds an analysis of the same
  video keeps its edits layer: as it was when the new segments are the same, else carried onto them
  (:meth:`EditLayer.rebased`) with a warning that says what no longer matched. Never dropped silently.
- :class:`EditStore`: the app's per-visitor store, one file per video (by content hash) in a folder that
  only that visitor's token names. Each file carries a revision number; a save from a page that has not
  seen the latest revision (another tab of the same browser) is refused with a plain message instead of
  overwriting the other tab's corrections.
"""

from __future__ import annotations

import dataclasses
import errno
import fcntl
import json
import os
import time
from contextlib import contextmanager
from pathlib import Path
from typing import Callable, Iterator, Sequence, TypeVar

from .edits import EditLayer, segments_fingerprint
from .errors import UTALError
from .export import atomic_write_text
from .types import Segment

T = TypeVar("T")
STORE_FORMAT = 1
#: How long a writer waits for another one to finish with the same file.
LOCK_TIMEOUT_S = 30.0


def _acquire(handle: int, name: str, timeout_s: float) -> None:
    """Take the exclusive flock of an open file, waiting up to ``timeout_s`` (then a plain UTALError)."""
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
            return
        except OSError as error:
            if error.errno not in (errno.EWOULDBLOCK, errno.EAGAIN):
                raise UTALError(f"Cannot lock {name}: {error.strerror or error}") from None
            if time.monotonic() > deadline:
                raise UTALError(f"{name} is being changed by another program; try again in a moment.") from None
            time.sleep(0.05)


@contextmanager
def locked(path: str | os.PathLike, timeout_s: float = LOCK_TIMEOUT_S) -> Iterator[None]:
    """Hold the exclusive lock of the file at ``path`` for the block (no lock file is left beside it); waits for
    another holder for up to ``timeout_s`` seconds, then a plain UTALError naming the file. Writes replace the
    file, so the lock is taken again on the new file when it was replaced while waiting. A file that does not
    exist yet has nothing to protect: the block runs without a lock."""
    path = Path(path)
    while True:
        try:
            handle = os.open(path, os.O_RDONLY)
        except FileNotFoundError:
            yield
            return
        except OSError as error:
            raise UTALError(f"Cannot lock {path.name}: {error.strerror or error}") from None
        try:
            _acquire(handle, path.name, timeout_s)
            held, current = os.fstat(handle), path.stat()
        except (UTALError, OSError):
            os.close(handle)
            if path.exists():
                raise
            continue
        if (held.st_dev, held.st_ino) == (current.st_dev, current.st_ino):
            break
        os.close(handle)
    try:
        yield
    finally:
        os.close(handle)  # closing the descriptor releases the lock


def _read_analysis_payload(path: str | os.PathLike) -> dict:
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise UTALError(f"Analysis file not found: {path}") from None
    except (UnicodeDecodeError, json.JSONDecodeError, RecursionError) as error:
        raise UTALError(f"{Path(path).name} is not an analysis file ({error}).") from None
    if not isinstance(payload, dict) or not isinstance(payload.get("segments"), list) or "duration" not in payload:
        raise UTALError(f"{Path(path).name} is not an analysis file (no segments or duration).")
    return payload


def _raw_segments(payload: dict, path: str | os.PathLike) -> list[Segment]:
    try:
        return [Segment(**item) for item in payload["segments"]]
    except TypeError as error:
        raise UTALError(f"{Path(path).name} has damaged segments ({error}).") from None


def _payload_edits(payload: dict, path: str | os.PathLike) -> EditLayer:
    raw = _raw_segments(payload, path)
    if payload.get("edits") is not None:
        return EditLayer.from_dict(payload["edits"], raw)
    media = payload.get("media")
    fps = media.get("fps") if isinstance(media, dict) else None
    try:
        return EditLayer(tuple(raw), float(payload["duration"]), fps)
    except (TypeError, ValueError):
        raise UTALError(f"{Path(path).name} has no valid duration.") from None


def load_edits(path: str | os.PathLike) -> EditLayer:
    """The edits layer of an analysis JSON file, or an empty one over its segments when it has none."""
    return _payload_edits(_read_analysis_payload(path), path)


def save_edits(path: str | os.PathLike, layer: EditLayer) -> Path:
    """Write ``layer`` as the ``edits`` entry of the analysis JSON at ``path``, atomically and under its lock;
    every other entry (the raw segments above all) is written back as it was read."""
    with locked(path):
        return _save_payload_edits(path, _read_analysis_payload(path), layer)


def _save_payload_edits(path: str | os.PathLike, payload: dict, layer: EditLayer) -> Path:
    if segments_fingerprint(_raw_segments(payload, path)) != layer.base:
        raise UTALError(f"these edits were made on other segments than {Path(path).name} holds")
    payload["edits"] = layer.to_dict()
    return atomic_write_text(path, json.dumps(payload))


def update_edits(path: str | os.PathLike, change: Callable[[EditLayer], T], warnings: Sequence[str] = ()) -> T:
    """Read the edits of the analysis at ``path``, ``change`` them and write them back, all under its lock (a
    concurrent writer waits, then sees this change); ``warnings`` join the analysis' own. Nothing is written
    when ``change`` raises."""
    with locked(path):
        payload = _read_analysis_payload(path)
        layer = _payload_edits(payload, path)
        result = change(layer)
        if warnings:
            kept = payload.get("warnings") if isinstance(payload.get("warnings"), list) else []
            payload["warnings"] = [*kept, *warnings]
        _save_payload_edits(path, payload, layer)
        return result


def carried_edits(previous: EditLayer, segments: list[Segment]) -> tuple[EditLayer, str | None]:
    """``previous`` over new ``segments`` of the same video: the same layer when the segments did not change,
    else re-based (:meth:`EditLayer.rebased`: its accepted, edited and added segments carried over), with a message saying so and
    what did not carry over (rejections and untouched segments of the old segmentation)."""
    if segments_fingerprint(segments) == previous.base:
        return EditLayer.from_dict(previous.to_dict(), segments), None
    items = previous.segments()
    kept = sum(item.kept for item in items)
    rejected = sum(item.status == "rejected" for item in items)
    layer = previous.rebased(segments)
    note = (f"the segments changed since the corrections were made: {kept} corrected segment(s) were carried "
            f"onto the new ones" + (f"; {rejected} rejection(s) of old segments no longer apply" if rejected else ""))
    return layer, note


def write_analysis_keeping_edits(analysis, path: str | os.PathLike) -> tuple[Path, str | None, bool]:
    """Write ``analysis`` (a ``pipeline.Analysis``) to ``path`` under its lock, keeping the edits layer of the
    analysis of the same video already there (see :func:`carried_edits`). Returns the path, a message saying
    what was kept (None when there was nothing to keep) and whether it is a warning (the segments changed, or
    the old edits could not be read). An existing file that is not an analysis of this video is replaced."""
    with locked(path):
        note, warning = None, False
        if Path(path).is_file():
            try:
                payload = _read_analysis_payload(path)
                same_video = payload.get("content_hash") == analysis.content_hash
                previous = _payload_edits(payload, path) if same_video and payload.get("edits") else None
            except UTALError as error:
                previous, note, warning = None, f"the edits of the previous file could not be read ({error}); it was replaced", True
            if previous is not None and previous.operations:
                analysis.edits, carried = carried_edits(previous, list(analysis.segments))
                note = f"kept the {len(previous.operations)} edit(s) of the previous analysis" + (
                    f"; {carried}" if carried else "")
                warning = carried is not None
        return analysis.write_json(path), note, warning


class EditStore:
    """A visitor's saved corrections: ``<folder>/<content hash>.edits.json`` per video (see the module docstring)."""

    def __init__(self, folder: str | os.PathLike) -> None:
        self.folder = Path(folder)

    def _path(self, content_hash: str) -> Path:
        if not content_hash or not all(c in "0123456789abcdef" for c in content_hash):
            raise UTALError("a video's corrections are kept under its content hash")
        return self.folder / f"{content_hash}.edits.json"

    def load(self, content_hash: str) -> tuple[EditLayer | None, int]:
        """The saved layer of a video (over the segments it was made on) and its revision; (None, 0) when there
        is none. A damaged file is a plain UTALError (and is left as it is)."""
        path = self._path(content_hash)
        if not path.is_file():
            return None, 0
        try:
            payload = json.loads(path.read_text(encoding="utf-8"))
            raw = [Segment(**item) for item in payload["raw"]]
            return EditLayer.from_dict(payload["edits"], raw), int(payload["revision"])
        except (OSError, UnicodeDecodeError, json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
            raise UTALError(f"the saved corrections of this video are damaged ({error}); they were left as they are") from None

    @contextmanager
    def _locked(self) -> Iterator[None]:
        """The store's own lock (a file in its private folder, so the first save of a video is covered too)."""
        try:
            self.folder.mkdir(parents=True, exist_ok=True)
            handle = os.open(self.folder / ".lock", os.O_RDWR | os.O_CREAT, 0o600)
        except OSError as error:
            raise UTALError(f"Cannot save corrections: {error.strerror or error}") from None
        try:
            _acquire(handle, "the saved corrections", LOCK_TIMEOUT_S)
            yield
        finally:
            os.close(handle)

    def save(self, content_hash: str, layer: EditLayer, revision: int) -> int:
        """Write ``layer`` (atomically, under the store's lock) if the saved revision is still ``revision``; returns
        the new revision. A newer saved revision (another tab saved since) is a plain UTALError and nothing is written."""
        path = self._path(content_hash)
        with self._locked():
            _, current = self.load(content_hash)
            if current != revision:
                raise UTALError("These corrections were changed in another tab or window since this page loaded them; "
                                "this edit was not saved. Analyse the video again here to continue from the saved ones.")
            payload = {"format": STORE_FORMAT, "revision": revision + 1,
                       "raw": [dataclasses.asdict(segment) for segment in layer.raw], "edits": layer.to_dict()}
            atomic_write_text(path, json.dumps(payload))
        return revision + 1
