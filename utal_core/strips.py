"""Frame strips around a boundary: small JPEG frames at a fixed rate in a window around a time, plus the
frame at the boundary itself, decoded frame-accurately through the media layer and cached on disk.

A strip's times are the multiples of ``1 / rate`` within ``half_window`` of the boundary, and the boundary;
so a boundary nudged by a frame keeps the same neighbours and only its own frame is decoded anew. Each
frame is cached by (video content hash, time to the millisecond, width) in :class:`StripCache`'s folder;
the presentation time of the frame picked for each time (:func:`utal_core.media.frames_at`) is kept in a
small index beside the JPEGs, so a cached strip is labelled with the same frame times as a fresh one.
"""

from __future__ import annotations

import json
import math
import os
import threading
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Sequence

import cv2
import numpy as np

from .export import atomic_write_bytes, atomic_write_text
from .media import MediaInfo, frames_at

#: Seconds shown on each side of a boundary.
STRIP_HALF_WINDOW_S = 2.0
#: Frames per second of a strip.
STRIP_RATE = 5.0
#: Short side of a strip frame in pixels (low-resolution thumbnails).
STRIP_SHORT_SIDE = 90
STRIP_JPEG_QUALITY = 80
#: Two windows closer than this (s) are decoded in one pass instead of two seeks.
MERGE_WINDOWS_S = 1.0


@dataclass(frozen=True)
class StripFrame:
    """One frame of a strip: the time asked for, the presentation time of the frame shown, its JPEG file,
    and whether it is the boundary's own frame."""

    time: float
    shown: float
    path: Path
    at_boundary: bool


def strip_times(boundary: float, duration: float, half_window: float = STRIP_HALF_WINDOW_S,
                rate: float = STRIP_RATE) -> list[float]:
    """The multiples of ``1 / rate`` within ``half_window`` of ``boundary`` inside ``[0, duration)``, and
    ``boundary`` itself, ascending, to the millisecond."""
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

    def _video_folder(self, video_hash: str) -> Path:
        return self.folder / video_hash[:24]

    def _frame_path(self, video_hash: str, time: float) -> Path:
        return self._video_folder(video_hash) / f"{int(round(time * 1000)):09d}_{self.short_side}.jpg"

    def _index(self, video_hash: str) -> dict[str, float]:
        try:
            return json.loads((self._video_folder(video_hash) / f"index_{self.short_side}.json").read_text())
        except (OSError, ValueError):
            return {}

    def strips(self, video: str | os.PathLike, video_hash: str, boundaries: Sequence[float], duration: float,
               info: MediaInfo | None = None) -> list[list[StripFrame]]:
        """One strip per boundary (see :func:`strip_times`); frames not cached yet are decoded, one seek per
        window (windows closer than ``MERGE_WINDOWS_S`` share one), the windows in parallel."""
        wanted = [strip_times(b, duration) for b in boundaries]
        with self._lock:
            index = self._index(video_hash)
        missing = sorted({t for times in wanted for t in times if f"{t:.3f}" not in index
                          or not self._frame_path(video_hash, t).exists()})
        if missing:
            index = self._decode(video, video_hash, missing, info)
        return [[StripFrame(t, index[f"{t:.3f}"], self._frame_path(video_hash, t), t == round(b, 3))
                 for t in times] for b, times in zip(boundaries, wanted)]

    def _decode(self, video: str | os.PathLike, video_hash: str, times: list[float],
                info: MediaInfo | None) -> dict[str, float]:
        windows: list[list[float]] = []
        for time in times:
            if windows and time - windows[-1][-1] <= MERGE_WINDOWS_S:
                windows[-1].append(time)
            else:
                windows.append([time])
        with ThreadPoolExecutor(max_workers=min(2, len(windows))) as pool:
            picked = list(pool.map(lambda window: frames_at(video, window, self.short_side, info), windows))
        shown: dict[str, float] = {}
        for result in picked:
            for time, presented, rgb in zip(result.times, result.shown, result.frames):
                atomic_write_bytes(self._frame_path(video_hash, float(time)), _jpeg(rgb))
                shown[f"{float(time):.3f}"] = round(float(presented), 6)
        with self._lock:
            index = self._index(video_hash) | shown
            atomic_write_text(self._video_folder(video_hash) / f"index_{self.short_side}.json", json.dumps(index))
        return index


def _jpeg(rgb: np.ndarray) -> bytes:
    ok, encoded = cv2.imencode(".jpg", cv2.cvtColor(rgb, cv2.COLOR_RGB2BGR),
                               [cv2.IMWRITE_JPEG_QUALITY, STRIP_JPEG_QUALITY])
    if not ok:
        raise ValueError("JPEG encoding failed")
    return encoded.tobytes()
