"""Frame strips around a boundary: small JPEG frames at a fixed rate in a window around a time, plus the
frame at the boundary itself, decoded frame-accurately through the media layer and cached on disk.

A strip's times are the multiples of ``1 / rate`` within ``half_window`` of the boundary, and the boundary;
so a boundary nudged by a frame keeps the same neighbours and only its own frame is decoded anew. Each
frame is cached by (video content hash, time to the millisecond, width) in :class:`StripCache`'s folder;
the presentation time of the frame picked for each time (:func:`utal_core.media.frames_at`) is kept in a
small index beside the JPEGs, so a cached strip is labelled with the same frame times as a fresh one.

Frames come from the video's proxy (:class:`utal_core.media.ProxyVideo`, every frame at strip size, written
in the background by :class:`ProxyBuilder` from when the video is given to Analyze) when there is one: tens of
milliseconds a strip, where seeks in a long HD video cost hundreds. Without one, a strip asked for decodes only
its own frames from the video itself. Then :meth:`StripCache.prefetch_in_background`, while nobody waits,
keeps every frame around the inspected boundaries in memory (:class:`DecodedWindow`, a little wider than the
strips), so the strip of a nudged boundary needs no new seek, and decodes the strips a user is likely to open
next (the neighbouring segments).
"""

from __future__ import annotations

import json
import math
import os
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable, Sequence

import cv2
import numpy as np

from .checks import finite_number
from .export import atomic_write_bytes, atomic_write_text
from .identity import content_hash
from .errors import UTALError
from .media import MediaInfo, ProxyVideo, frames_at, frames_between, probe, write_proxy
from .media.types import ON_SCREEN_EPSILON

#: Seconds shown on each side of a boundary.
STRIP_HALF_WINDOW_S = 2.0
#: Frames per second of a strip.
STRIP_RATE = 5.0
#: Frames on each side of the boundary's own frame in an every-frame strip (:meth:`StripCache.every_frame_strips`).
EVERY_FRAME_SIDE = 5
#: Short side of a strip frame in pixels (low-resolution thumbnails).
STRIP_SHORT_SIDE = 90
STRIP_JPEG_QUALITY = 80
#: Two windows closer than this (s) are decoded in one pass instead of two seeks.
MERGE_WINDOWS_S = 1.0
#: Decoded windows kept in memory per cache (two per segment: its start and its end), ~6 MB each at 720p.
MEMORY_WINDOWS = 4
#: A decoded window reaches this far (s) beyond the strip times it was decoded for, so nudges stay inside it.
MEMORY_MARGIN_S = 1.0


@dataclass(frozen=True)
class StripFrame:
    """One frame of a strip: the time asked for, the presentation time of the frame shown, its JPEG file,
    and whether it is the boundary's own frame."""

    time: float
    shown: float
    path: Path
    at_boundary: bool


@dataclass(frozen=True)
class DecodedWindow:
    """Every frame of one video presented from ``start`` to ``end`` (s): their presentation times ``shown``
    (ascending, the first on screen at ``start``) and the small RGB ``frames``."""

    video_hash: str
    start: float
    end: float
    shown: np.ndarray
    frames: np.ndarray

    def covers(self, video_hash: str, time: float) -> bool:
        return video_hash == self.video_hash and self.start <= time <= self.end

    def pick(self, time: float) -> tuple[float, np.ndarray]:
        """The frame on screen at ``time`` (the last presented at or before it) and its presentation time."""
        index = max(0, int(np.searchsorted(self.shown, time + ON_SCREEN_EPSILON, side="right")) - 1)
        return float(self.shown[index]), self.frames[index]


def strip_times(boundary: float, duration: float, half_window: float = STRIP_HALF_WINDOW_S,
                rate: float = STRIP_RATE) -> list[float]:
    """The multiples of ``1 / rate`` within ``half_window`` of ``boundary`` inside ``[0, duration)``, and
    ``boundary`` itself, ascending, to the millisecond; a boundary or duration that is not a finite number
    (or a boundary outside the video) is a plain UTALError."""
    duration = finite_number(duration, "the video's duration", minimum=0.0)
    boundary = finite_number(boundary, "a boundary", minimum=0.0, maximum=duration)
    low, high = max(0.0, boundary - half_window), min(duration, boundary + half_window)
    first, last = math.ceil(low * rate - 1e-9), math.floor(high * rate + 1e-9)
    times = {round(k / rate, 3) for k in range(first, last + 1) if k / rate < duration}
    times.add(round(min(max(boundary, 0.0), duration), 3))
    return sorted(times)


class StripCache:
    """Strip frames of videos, cached as JPEGs under ``folder / <video hash>``; safe to share between threads."""

    def __init__(self, folder: Path, short_side: int = STRIP_SHORT_SIDE) -> None:
        self.folder = Path(folder)
        self.short_side = short_side
        self._lock = threading.Lock()
        self._windows: deque[DecodedWindow] = deque(maxlen=MEMORY_WINDOWS)
        self._prefetch_stop = threading.Event()
        self._prefetch_thread: threading.Thread | None = None
        self._proxy_infos: dict[Path, MediaInfo] = {}

    def _video_folder(self, video_hash: str) -> Path:
        return self.folder / video_hash[:24]

    def _frame_path(self, video_hash: str, time: float) -> Path:
        return self._video_folder(video_hash) / f"{int(round(time * 1000)):09d}_{self.short_side}.jpg"

    def _index(self, video_hash: str) -> dict[str, float]:
        try:
            return json.loads((self._video_folder(video_hash) / f"index_{self.short_side}.json").read_text())
        except (OSError, ValueError):
            return {}

    def source(self, video: str | os.PathLike, info: MediaInfo | None,
               proxy: ProxyVideo | None) -> tuple[str | os.PathLike, MediaInfo | None]:
        """What strip frames are decoded from, with its probe: ``proxy`` when it is written at this cache's
        frame size, else ``video``."""
        if not self.has_proxy(proxy):
            return video, info
        with self._lock:
            proxy_info = self._proxy_infos.get(proxy.path)
        if proxy_info is None:
            proxy_info = probe(proxy.path)
            with self._lock:
                self._proxy_infos[proxy.path] = proxy_info
        return proxy.path, proxy_info

    def has_proxy(self, proxy: ProxyVideo | None) -> bool:
        """Whether ``proxy`` is written, at this cache's frame size."""
        return proxy is not None and proxy.short_side == self.short_side and proxy.path.is_file()

    def strips(self, video: str | os.PathLike, video_hash: str, boundaries: Sequence[float], duration: float,
               info: MediaInfo | None = None, proxy: ProxyVideo | None = None) -> list[list[StripFrame]]:
        """One strip per boundary (see :func:`strip_times`). Frames not cached yet are picked from a decoded
        window in memory, else decoded from :meth:`source`: one seek per window (windows closer than
        ``MERGE_WINDOWS_S`` share one), the windows in parallel, only the strip's own frames converted."""
        wanted = [strip_times(b, duration) for b in boundaries]
        with self._lock:
            index = self._index(video_hash)
        missing = sorted({t for times in wanted for t in times if not self._on_disk(index, video_hash, t)})
        if missing:
            index = self._fill(*self.source(video, info, proxy), video_hash, missing)
        return [[StripFrame(t, index[f"{t:.3f}"], self._frame_path(video_hash, t), t == round(b, 3))
                 for t in times] for b, times in zip(boundaries, wanted)]

    def every_frame_strips(self, video: str | os.PathLike, video_hash: str, boundaries: Sequence[float],
                           duration: float, frame_s: float, info: MediaInfo | None = None,
                           proxy: ProxyVideo | None = None, side: int = EVERY_FRAME_SIDE) -> list[list[StripFrame]]:
        """One strip per boundary of consecutive frames: the frame on screen at the boundary and the ``side``
        frames presented before and after it (fewer at the video's ends), by presentation time. They come from
        a decoded window in memory when one covers them, else from one short decode of :meth:`source` of only
        those frames (``frame_s``: the video's frame length, to size that decode); each JPEG is cached by its
        presentation time."""
        duration = finite_number(duration, "the video's duration", minimum=0.0)
        frame_s = finite_number(frame_s, "the frame length", minimum=1e-4, maximum=10.0)
        strips = []
        for boundary in boundaries:
            boundary = finite_number(boundary, "a boundary", minimum=0.0, maximum=duration)
            low = max(0.0, boundary - (side + 1.5) * frame_s)
            high = min(duration, boundary + (side + 1.5) * frame_s)
            shown, frames = self._window_frames(video, video_hash, low, high, info, proxy)
            at = max(0, int(np.searchsorted(shown, boundary + ON_SCREEN_EPSILON, side="right")) - 1)
            strip = []
            for index in range(max(0, at - side), min(len(shown), at + side + 1)):
                presented = round(float(shown[index]), 6)
                path = self._video_folder(video_hash) / f"pts{int(round(presented * 1e6)):012d}_{self.short_side}.jpg"
                if not path.exists():
                    atomic_write_bytes(path, _jpeg(frames[index]))
                strip.append(StripFrame(presented, presented, path, index == at))
            strips.append(strip)
        return strips

    def _window_frames(self, video: str | os.PathLike, video_hash: str, low: float, high: float,
                       info: MediaInfo | None, proxy: ProxyVideo | None) -> tuple[np.ndarray, np.ndarray]:
        """Every frame presented from ``low`` to ``high`` (presentation times, RGB frames): from a decoded
        window in memory that covers the span, else decoded from :meth:`source`."""
        with self._lock:
            window = next((w for w in reversed(self._windows) if w.covers(video_hash, low) and w.covers(video_hash, high)),
                          None)
        if window is not None:
            first = max(0, int(np.searchsorted(window.shown, low + ON_SCREEN_EPSILON, side="right")) - 1)
            last = int(np.searchsorted(window.shown, high + ON_SCREEN_EPSILON, side="right"))
            return window.shown[first:last], window.frames[first:last]
        source, source_info = self.source(video, info, proxy)
        decoded = frames_between(source, low, high, self.short_side, source_info)
        return np.asarray(decoded.shown), decoded.frames

    def cached(self, video_hash: str, boundaries: Sequence[float], duration: float,
               proxy: ProxyVideo | None = None) -> bool:
        """Whether the strips of ``boundaries`` come without a seek in the video itself: from ``proxy`` (see
        :meth:`source`), else with every frame on disk or in a decoded window."""
        if self.has_proxy(proxy):
            return True
        with self._lock:
            index, windows = self._index(video_hash), list(self._windows)
        return all(self._on_disk(index, video_hash, t) or any(w.covers(video_hash, t) for w in windows)
                   for b in boundaries for t in strip_times(b, duration))

    def _on_disk(self, index: dict[str, float], video_hash: str, time: float) -> bool:
        return f"{time:.3f}" in index and self._frame_path(video_hash, time).exists()

    def _fill(self, video: str | os.PathLike, info: MediaInfo | None, video_hash: str,
              times: list[float]) -> dict[str, float]:
        with self._lock:
            windows = list(self._windows)
        picked: dict[float, tuple[float, np.ndarray]] = {}
        for time in times:
            window = next((w for w in reversed(windows) if w.covers(video_hash, time)), None)
            if window is not None:
                picked[time] = window.pick(time)
        spans = _spans([t for t in times if t not in picked])
        if spans:
            with ThreadPoolExecutor(max_workers=min(2, len(spans))) as pool:
                for result in pool.map(lambda span: frames_at(video, span, self.short_side, info), spans):
                    for time, presented, rgb in zip(result.times, result.shown, result.frames):
                        picked[float(time)] = (float(presented), rgb)
        shown: dict[str, float] = {}
        for time, (presented, rgb) in picked.items():
            atomic_write_bytes(self._frame_path(video_hash, time), _jpeg(rgb))
            shown[f"{time:.3f}"] = round(presented, 6)
        with self._lock:
            index = self._index(video_hash) | shown
            atomic_write_text(self._video_folder(video_hash) / f"index_{self.short_side}.json", json.dumps(index))
        return index

    def remember_windows(self, video: str | os.PathLike, video_hash: str, boundaries: Sequence[float],
                         duration: float, info: MediaInfo | None = None, stop: threading.Event | None = None,
                         proxy: ProxyVideo | None = None) -> int:
        """Keep in memory every frame around each boundary (its strip's span, ``MEMORY_MARGIN_S`` wider; from
        :meth:`source`), so that the strips of the boundary nudged need no decode, until ``stop`` is set;
        returns how many windows were decoded."""
        video, info = self.source(video, info, proxy)
        with self._lock:
            windows = list(self._windows)
        spans: list[list[float]] = []
        for boundary in sorted(boundaries):
            low, high = max(0.0, boundary - STRIP_HALF_WINDOW_S), min(duration, boundary + STRIP_HALF_WINDOW_S)
            if any(w.covers(video_hash, low) and w.covers(video_hash, high) for w in windows):
                continue
            if spans and low - spans[-1][1] <= MERGE_WINDOWS_S:
                spans[-1][1] = max(spans[-1][1], high)
            else:
                spans.append([low, high])
        decoded = 0
        for low, high in spans:
            if stop is not None and stop.is_set():
                break
            start, end = max(0.0, low - MEMORY_MARGIN_S), min(duration, high + MEMORY_MARGIN_S)
            frames = frames_between(video, start, max(start, end), self.short_side, info)
            with self._lock:
                self._windows.append(DecodedWindow(video_hash, start, end, frames.shown, frames.frames))
            decoded += 1
        return decoded

    # --- prefetch -----------------------------------------------------------------------------------

    def prefetch(self, video: str | os.PathLike, video_hash: str, duration: float, info: MediaInfo | None = None,
                 around: Sequence[float] = (), segments: Iterable[tuple[float, float]] = (),
                 stop: threading.Event | None = None, proxy: ProxyVideo | None = None) -> int:
        """:meth:`remember_windows` around the boundaries ``around`` (the inspected segment's), then cache the
        strips of each ``(start, end)`` of ``segments`` in order, until ``stop`` is set; returns how many
        segments were done."""
        if around:
            self.remember_windows(video, video_hash, around, duration, info, stop, proxy)
        done = 0
        for start, end in segments:
            if stop is not None and stop.is_set():
                break
            self.strips(video, video_hash, [start, end], duration, info, proxy)
            done += 1
        return done

    def prefetch_in_background(self, video: str | os.PathLike, video_hash: str, duration: float,
                               info: MediaInfo | None = None, around: Sequence[float] = (),
                               segments: Sequence[tuple[float, float]] = (), proxy: ProxyVideo | None = None) -> None:
        """:meth:`prefetch` in a daemon thread at the lowest CPU priority; it replaces the one running, which is
        told to stop and is waited for first, so that one prefetch decodes at a time."""
        self.stop_prefetch()
        stop = self._prefetch_stop = threading.Event()
        previous = self._prefetch_thread

        def run() -> None:
            _lowest_priority()
            if previous is not None:
                previous.join()
            try:
                self.prefetch(video, video_hash, duration, info, list(around), list(segments), stop, proxy)
            except Exception:  # noqa: BLE001 - a prefetch is only a guess; the strip is decoded again when asked
                pass

        thread = threading.Thread(target=run, name="strip-prefetch", daemon=True)
        thread.start()
        self._prefetch_thread = thread

    def wait_prefetch(self, timeout: float | None = None) -> bool:
        """Wait for the background prefetch to end; False if it still runs after ``timeout`` s."""
        thread = self._prefetch_thread
        if thread is not None:
            thread.join(timeout)
        return thread is None or not thread.is_alive()

    def stop_prefetch(self) -> None:
        """Ask the background prefetch to stop after its current segment."""
        self._prefetch_stop.set()


class ProxyBuilder:
    """Writes proxy videos (:func:`utal_core.media.write_proxy`) in one background thread at the lowest CPU
    priority, one video at a time in the order asked; shared by every session (a proxy is per video content).

    A proxy is published under a content hash only when the bytes it was made from are those bytes: the
    source is hashed before the decode and again before the proxy is published, so a file replaced or
    truncated meanwhile leaves no proxy (and a wrong one is never stored under the hash). A failure is
    remembered for the source it came from; a request from another source (a live copy of a video whose
    first session closed, or the same path with new bytes) tries again.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._queue: deque[tuple[str | os.PathLike, ProxyVideo, MediaInfo | None, str | None]] = deque()
        self._wanted: set[Path] = set()
        self._failed: dict[Path, tuple[str, tuple | None]] = {}
        self._idle = threading.Event()
        self._idle.set()
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def request(self, video: str | os.PathLike, proxy: ProxyVideo | None, info: MediaInfo | None = None,
                video_hash: str | None = None) -> None:
        """Have ``proxy`` written from ``video`` (whose content hash is ``video_hash``: checked before the proxy is
        published) unless it is written, asked for already, or failed before on this same source."""
        if proxy is None or proxy.path.is_file():
            return
        with self._lock:
            if self._stop.is_set() or proxy.path in self._wanted:
                return
            failed = self._failed.get(proxy.path)
            if failed is not None:
                if failed[1] == _source_identity(video):
                    return
                del self._failed[proxy.path]  # another source, or new bytes at the same path: try again
            self._wanted.add(proxy.path)
            self._queue.append((video, proxy, info, video_hash))
            self._idle.clear()
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(target=self._run, name="proxy-builder", daemon=True)
                self._thread.start()

    def failure(self, proxy: ProxyVideo) -> str | None:
        """Why ``proxy`` could not be written, None when it was not tried or worked."""
        with self._lock:
            failed = self._failed.get(proxy.path)
            return None if failed is None else failed[0]

    def wait(self, timeout: float | None = None) -> bool:
        """Wait until every proxy asked for is written or failed; False if some are still going after ``timeout`` s."""
        return self._idle.wait(timeout)

    def close(self) -> None:
        """Stop: the proxy being written is abandoned (nothing of it kept), the rest are not started."""
        with self._lock:
            self._stop.set()
            self._queue.clear()
            thread = self._thread
        if thread is not None:
            thread.join()

    def _run(self) -> None:
        _lowest_priority()
        while True:
            with self._lock:
                if not self._queue or self._stop.is_set():
                    self._thread = None
                    self._idle.set()
                    return
                video, proxy, info, video_hash = self._queue.popleft()
            identity = _source_identity(video)
            try:
                if not proxy.path.is_file():
                    verify = None if video_hash is None else lambda: _check_unchanged(video, video_hash)
                    if verify is not None:
                        verify()
                    write_proxy(video, proxy, info, self._stop, verify)
            except Exception as error:  # noqa: BLE001 - a proxy is only a speed-up: strips then come from the video
                with self._lock:
                    self._failed[proxy.path] = (str(error) if isinstance(error, UTALError) else repr(error), identity)
            finally:
                with self._lock:
                    self._wanted.discard(proxy.path)


def _source_identity(video: str | os.PathLike) -> tuple | None:
    """A source as a failure is remembered for: its path, size and modification time (None when it is gone)."""
    try:
        status = os.stat(video)
    except OSError:
        return None
    return str(video), status.st_size, status.st_mtime_ns


def _check_unchanged(video: str | os.PathLike, video_hash: str) -> None:
    """A plain UTALError unless the file at ``video`` still holds the bytes of ``video_hash``."""
    try:
        current = content_hash(video)
    except OSError as error:
        raise UTALError(f"{Path(video).name} went away while its proxy was written ({error.strerror or error})") from None
    if current != video_hash:
        raise UTALError(f"{Path(video).name} is not the video it was ({video_hash[:12]}): it was replaced or cut "
                        "short, so no proxy is kept for it")


def _spans(times: Sequence[float]) -> list[list[float]]:
    """Ascending ``times`` in runs whose neighbours are at most ``MERGE_WINDOWS_S`` apart (one seek each)."""
    spans: list[list[float]] = []
    for time in times:
        if spans and time - spans[-1][-1] <= MERGE_WINDOWS_S:
            spans[-1].append(time)
        else:
            spans.append([time])
    return spans


def _lowest_priority() -> None:
    """This thread at SCHED_IDLE (Linux), else at nice 19 where the platform allows it."""
    try:
        os.sched_setscheduler(0, os.SCHED_IDLE, os.sched_param(0))  # type: ignore[attr-defined]
    except (AttributeError, OSError):
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), 19)
        except (AttributeError, OSError):
            pass


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, STRIP_JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return encoded.tobytes()
