"""Media access: probing, streaming frame sampling on the snippet grid, audio decoding, thumbnails and
MP4 writing (and copies that a browser plays), through one of two backends with the same contract and the same plain messages:

- ``ffmpeg`` (media/ffmpeg.py): the system ``ffprobe``/``ffmpeg`` binaries in subprocesses;
- ``pyav`` (media/pyav.py): the FFmpeg libraries inside the ``av`` wheel, no binaries needed.

media/backend.py chooses: ffmpeg when both binaries are on PATH, PyAV otherwise, or what the setting
``UTAL_MEDIA_BACKEND`` (auto, ffmpeg, pyav) says. Each call below asks it, so the setting applies at once.
"""

from __future__ import annotations

import os
import threading
from pathlib import Path
from typing import Callable, Iterable, Iterator, Sequence

import numpy as np

from ..errors import UTALError
from ..grid import SnippetGrid
from ..limits import Limits
from .backend import ENV_VARIABLE, BackendChoice, backend_module, choose_backend, media_report
from .types import (AUDIO_CHUNK_S, AUDIO_SAMPLE_RATE, CENTRE_FRAMES, DEFAULT_PREFETCH, EMPTY_AUDIO_REASON, FINE_FRAMES,
                    NO_AUDIO_REASON, AudioTrack, aligned_chunks, empty_track,
                    ConversionProgress, EncodeSettings, FineStream, FrameBatch, MediaInfo, PickedFrames, ProxyVideo, browser_playable,
                    decode_warning, every_frame_between, output_size)

__all__ = ["AUDIO_CHUNK_S", "AUDIO_SAMPLE_RATE", "CENTRE_FRAMES", "DEFAULT_PREFETCH", "EMPTY_AUDIO_REASON", "ENV_VARIABLE",
           "FINE_FRAMES", "NO_AUDIO_REASON",
           "AudioTrack", "BackendChoice", "EncodeSettings", "FineStream", "FrameBatch", "MediaInfo", "PickedFrames", "ProxyVideo", "browser_mp4",
           "browser_playable", "choose_backend", "decode_audio", "decode_warning", "frames_at", "frames_between", "iter_audio", "iter_frames", "media_report",
           "output_size", "probe", "write_proxy",
           "thumbnail_jpeg", "write_mp4"]


def probe(path: str | os.PathLike, limits: Limits | None = None) -> MediaInfo:
    """Read duration, frame rate, size, rotation and audio facts of a video file (no decoding).

    Files below ``limits.count_frames_below_bytes`` have their video packets counted (demuxing
    only), so ``frame_count`` is what the file holds, not what its header claims.
    Raises UTALError with a plain message for a missing file, a file that is not media, a
    truncated or corrupt container, a file without a video stream, or zero duration.
    """
    return backend_module().probe(path, limits)


def iter_frames(path: str | os.PathLike, grid: SnippetGrid, short_side: int = 256, batch_size: int = 32,
                info: MediaInfo | None = None, fine: FineStream | None = None,
                prefetch: int = DEFAULT_PREFETCH, warnings: list[str] | None = None,
                skip_loop_filter: bool = False) -> Iterator[FrameBatch]:
    """Yield RGB frames at the grid's centre times in batches, from one decode of the video.

    With ``fine``, the same pass also yields a second, low-resolution stream at ``fine.grid``'s
    centre times (``kind=FINE_FRAMES``); the two streams are interleaved in decoding order. Decoding
    threads keep up to ``prefetch`` batches ahead of the consumer, so decoding overlaps with whatever
    the consumer does with a batch; a consumer that stops early ends the decoding.

    Frames are selected by presentation timestamp (works for variable frame rate): each grid time
    gets the last frame presented at or before it. Exactly ``grid.num_snippets`` frames are produced
    per stream: if the stream ends early by less than a snippet the last frame is repeated; a file
    that ends much earlier than its header says raises UTALError. Decode errors in the middle of the
    file are appended to ``warnings`` as one plain message.

    ``skip_loop_filter`` decodes without the in-loop deblocking filter (H.264/HEVC): about a fifth less
    decoding work, at the cost of slight blockiness that resizing to analysis sizes hides.
    """
    return backend_module().iter_frames(path, grid, short_side, batch_size, info, fine, prefetch, warnings,
                                        skip_loop_filter)


def iter_audio(path: str | os.PathLike, sample_rate: int = AUDIO_SAMPLE_RATE, info: MediaInfo | None = None,
               warnings: list[str] | None = None, chunk_s: float = AUDIO_CHUNK_S) -> Iterator[np.ndarray]:
    """The first audio stream as mono float32 chunks of ``chunk_s`` seconds (the last one shorter), in order,
    from one decode: memory holds a chunk, not the track.

    The track is shifted so that sample 0 is the video's first presented frame. A video without audio,
    or with an empty track, yields nothing; a track that cannot be decoded at all raises UTALError.
    Decode errors in a track that still decodes are appended to ``warnings`` as one plain message.
    """
    info = info or probe(path)
    if not info.has_audio:
        return iter(())
    pieces = backend_module().audio_pieces(path, sample_rate, warnings)
    return aligned_chunks(pieces, info, sample_rate, max(1, int(round(chunk_s * sample_rate))))


def decode_audio(path: str | os.PathLike, sample_rate: int = AUDIO_SAMPLE_RATE,
                 info: MediaInfo | None = None, warnings: list[str] | None = None) -> AudioTrack:
    """The whole first audio stream in memory (:func:`iter_audio`, joined; for short clips and tests).

    A video without audio gives ``AudioTrack(samples=None, absent_reason=...)``, not an exception or fake silence.
    """
    info = info or probe(path)
    if not info.has_audio:
        return empty_track(sample_rate, NO_AUDIO_REASON)
    chunks = list(iter_audio(path, sample_rate, info, warnings))
    if not chunks:
        return empty_track(sample_rate, EMPTY_AUDIO_REASON)
    return AudioTrack(samples=np.concatenate(chunks), sample_rate=sample_rate)


def frames_at(path: str | os.PathLike, times: Sequence[float], short_side: int = 96,
              info: MediaInfo | None = None) -> PickedFrames:
    """The frames on screen at ``times`` (seconds from the first frame; each gets the last frame presented at
    or before it, as :func:`iter_frames` picks them), short side ``short_side``, with the presentation time of
    each picked frame. One seek before the earliest time and a decode forward to the latest: a few seconds
    of video, not the whole file, so ask for times close together (a boundary's neighbourhood)."""
    ordered = np.sort(np.asarray(times, dtype=np.float64))
    if not len(ordered):
        raise UTALError("frames_at needs at least one time")
    return _window_backend().frames_at(path, ordered, short_side, info)


def frames_between(path: str | os.PathLike, start: float, end: float, short_side: int = 96,
                   info: MediaInfo | None = None) -> PickedFrames:
    """Every frame presented from ``start`` to ``end`` (s, from the first frame), beginning with the one on
    screen at ``start``, short side ``short_side``; ``shown`` holds their presentation times. One seek, as
    :func:`frames_at`: for a few seconds of video (a boundary's neighbourhood kept in memory)."""
    if not end >= start:
        raise UTALError("frames_between needs start <= end")
    return _window_backend().frames_at(path, np.asarray([start, end], dtype=np.float64), short_side, info,
                                       collect=every_frame_between)


def _window_backend():
    """The backend for short seeks: PyAV in-process when the setting is ``auto`` (a subprocess costs more
    than the few seconds of decoding), else the backend the setting forces."""
    choice = choose_backend()
    return backend_module(BackendChoice("pyav", "short seeks in-process", choice.setting)
                          if choice.setting == "auto" else choice)


def thumbnail_jpeg(path: str | os.PathLike, seconds: float, width: int) -> bytes:
    """A JPEG of the first frame at or after ``seconds``, ``width`` wide (aspect kept, even height)."""
    return backend_module().thumbnail_jpeg(path, seconds, width)


def write_mp4(path: str | os.PathLike, frames: Iterable[np.ndarray], settings: EncodeSettings) -> None:
    """Encode RGB ``frames`` (H.264, plus AAC when ``settings.audio``) into an MP4 whose index is at the front."""
    backend_module().write_mp4(path, frames, settings)


def write_proxy(path: str | os.PathLike, proxy: ProxyVideo, info: MediaInfo | None = None,
                stop: threading.Event | None = None, verify: Callable[[], None] | None = None) -> bool:
    """Write the proxy video of ``path`` (:class:`ProxyVideo`: every frame, short side ``proxy.short_side``) in
    one decode of the whole video, published atomically at ``proxy.path`` once ``verify`` (when given) has not
    raised; False when ``stop`` was set before it was done (nothing is left then). A failure is one plain
    UTALError, and leaves nothing either."""
    info = info or probe(path)
    stop = stop or threading.Event()
    proxy.partial.parent.mkdir(parents=True, exist_ok=True)
    complete = False
    try:
        backend_module().write_proxy(info, proxy, stop)
        if verify is not None and not stop.is_set():
            verify()
        complete = not stop.is_set()
    finally:
        proxy.settle(complete)
    return complete


def browser_mp4(info: MediaInfo, target: str | os.PathLike, progress: ConversionProgress | None = None) -> Path:
    """An MP4 (H.264, AAC or MP3 audio, index at the front) of the probed video ``info`` that browsers play,
    written atomically to ``target``; an H.264 stream is copied as it is (ffmpeg backend), anything
    else transcoded. ``progress(fraction)`` is called as it goes; a failure is one plain UTALError."""
    target = Path(target)
    target.parent.mkdir(parents=True, exist_ok=True)
    partial = target.with_name(f".{target.name}.partial")
    try:
        backend_module().browser_mp4(info, partial, progress or (lambda fraction: None))
        os.replace(partial, target)
    finally:
        partial.unlink(missing_ok=True)
    return target
