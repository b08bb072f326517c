"""What the media backends share: the probe result, frame batches, the audio track, and the rules
both apply the same way (readable file checks, output sizes, short-stream padding, decode warnings,
audio alignment), so that the two backends cannot drift apart in behaviour or wording."""

from __future__ import annotations

import math
import os
import threading
from dataclasses import asdict, dataclass
from pathlib import Path
from queue import Empty, Queue
from typing import Callable, Iterable, Iterator

import numpy as np

from ..errors import UTALError
from ..grid import SnippetGrid

AUDIO_SAMPLE_RATE = 16_000
#: Relative difference between the nominal and the average frame rate above which a video is VFR.
VFR_TOLERANCE = 0.01
#: ``FrameBatch.kind`` of the snippet-centre frames (appearance encoders) ...
CENTRE_FRAMES = "centre"
#: ... and of the low-resolution fine stream (several frames per snippet: motion, shot cuts).
FINE_FRAMES = "fine"
#: Batches the decoding threads may hold ahead of the consumer (decoding runs ahead of encoding).
DEFAULT_PREFETCH = 4
NO_AUDIO_REASON = "the video has no audio track"
EMPTY_AUDIO_REASON = "the audio track is empty"
#: Audio is decoded and encoded in chunks of this many seconds, so memory does not grow with the track.
AUDIO_CHUNK_S = 10.0


def finite_float(value, default: float = 0.0) -> float:
    """``value`` as a finite float, ``default`` when it is missing, not a number or infinite."""
    try:
        result = float(value)
    except (TypeError, ValueError):
        return default
    return result if math.isfinite(result) else default


@dataclass(frozen=True)
class MediaInfo:
    """What the container says about a media file, without decoding it."""

    path: str
    duration: float
    avg_fps: float
    nominal_fps: float
    is_vfr: bool
    frame_count: int
    width: int
    height: int
    rotation: int
    video_codec: str
    video_start: float
    has_audio: bool
    audio_codec: str | None
    audio_sample_rate: int | None
    audio_channels: int | None
    audio_start: float | None
    container: str
    size_bytes: int

    @property
    def fps(self) -> float:
        """The average frame rate (frames per second of presentation time)."""
        return self.avg_fps

    @property
    def display_size(self) -> tuple[int, int]:
        """Width and height as displayed, after the rotation the decoders apply."""
        if self.rotation % 180:
            return self.height, self.width
        return self.width, self.height

    def to_dict(self) -> dict:
        return asdict(self) | {"fps": self.fps}


def is_variable_rate(avg_fps: float, nominal_fps: float) -> bool:
    """Whether the average frame rate departs from the nominal one by more than VFR_TOLERANCE."""
    return bool(avg_fps and nominal_fps and abs(nominal_fps - avg_fps) / avg_fps > VFR_TOLERANCE)


def check_readable(path: Path) -> None:
    """Plain errors for a path that is missing, not a file, or empty."""
    if not path.exists():
        raise UTALError(f"File not found: {path}")
    if not path.is_file():
        raise UTALError(f"Not a file: {path}")
    if path.stat().st_size == 0:
        raise UTALError(f"The file is empty (0 bytes): {path.name}")


def output_size(info: MediaInfo, short_side: int) -> tuple[int, int]:
    """Decoded frame size (width, height): the short side scaled to ``short_side``, aspect kept, even numbers."""
    width, height = info.display_size
    scale = short_side / min(width, height)
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


@dataclass
class FrameBatch:
    """Consecutive sampled frames of one stream: indices on that stream's grid, their centre times (s)
    and RGB frames [B, H, W, 3]; ``kind`` is CENTRE_FRAMES or FINE_FRAMES."""

    indices: np.ndarray
    times: np.ndarray
    frames: np.ndarray
    kind: str = CENTRE_FRAMES


@dataclass(frozen=True)
class FineStream:
    """A second frame stream decoded in the same pass: frames at ``grid``'s centre times (a finer
    grid than the snippets'), short side ``short_side``, delivered ``batch_size`` at a time."""

    grid: SnippetGrid
    short_side: int = 96
    batch_size: int = 64


@dataclass(frozen=True)
class ProxyVideo:
    """A low-resolution copy of every frame of a video (H.264, short side ``short_side``, a keyframe about
    every second, no B-frames, the first frame at 0 s and every frame at its own presentation time), written
    by :func:`utal_core.media.write_proxy` to ``path``. A few seconds of it decode in milliseconds, where a
    seek in a long HD video costs hundreds: the inspector's frame strips read it."""

    path: Path
    short_side: int

    @property
    def partial(self) -> Path:
        """Where the copy is written until it is complete (then renamed to ``path``)."""
        return self.path.with_name(f".{self.path.stem}.partial{self.path.suffix}")

    def keyframe_interval(self, info: MediaInfo) -> int:
        """Frames between keyframes: about one second of ``info``'s video."""
        return max(1, int(round(info.fps or 25.0)))

    def settle(self, complete: bool) -> None:
        """Publish the copy written to :attr:`partial` when ``complete``, else drop it."""
        if complete and self.partial.is_file():
            os.replace(self.partial, self.path)
        else:
            self.partial.unlink(missing_ok=True)


#: Quality of a proxy video (x264 CRF): on Big Buck Bunny a median PSNR of 43.3 dB (worst frame 33.8 dB)
#: against a full decode at the same size (benchmarks/proxy_quality.py).
PROXY_CRF = 18


@dataclass
class SampledStream:
    """One stream a decode pass produces (its grid, frame size, batch size) and what it produced so far."""

    kind: str
    grid: SnippetGrid
    width: int
    height: int
    batch_size: int
    produced: int = 0
    last_frame: np.ndarray | None = None

    def batch(self, first: int, frames: np.ndarray) -> FrameBatch:
        indices = np.arange(first, first + len(frames))
        return FrameBatch(indices=indices, times=self.grid.index_to_seconds(indices), frames=frames, kind=self.kind)

    def delivered(self, first: int, frames: np.ndarray) -> FrameBatch:
        """Record a batch the consumer is about to get (for :func:`pad_short_stream`) and return it."""
        self.last_frame = frames[-1]
        self.produced = first + len(frames)
        return self.batch(first, frames)


def sampled_streams(info: MediaInfo, grid: SnippetGrid, short_side: int, batch_size: int,
                    fine: FineStream | None) -> list[SampledStream]:
    """The centre stream, plus the fine stream when asked for: what one ``iter_frames`` pass produces."""
    streams = [SampledStream(CENTRE_FRAMES, grid, *output_size(info, short_side), batch_size)]
    if fine is not None:
        streams.append(SampledStream(FINE_FRAMES, fine.grid, *output_size(info, fine.short_side), fine.batch_size))
    return streams


def pad_short_stream(path: str | os.PathLike, stream: SampledStream, detail: str = "") -> Iterator[FrameBatch]:
    """Repeat the last frame of a stream that ended less than a few frames early; raise when it ended much earlier."""
    total = stream.grid.num_snippets
    missing = total - stream.produced
    if stream.last_frame is None:
        raise UTALError(f"{Path(path).name}: no frame could be decoded (truncated or corrupt file). {detail[:200]}")
    if missing > max(2, 0.02 * total):
        raise UTALError(f"{Path(path).name} ends early: decoded {stream.produced} of {total} snippets "
                        f"(truncated or corrupt file).")
    if missing > 0:
        yield stream.batch(stream.produced, np.repeat(stream.last_frame[None], missing, axis=0))


def decode_errors_warning(path: str | os.PathLike, count: int, stream: str) -> str | None:
    """A plain warning for ``count`` decode errors in ``stream`` (None when there were none)."""
    if count <= 0:
        return None
    return (f"{Path(path).name}: {count} decode error(s) in the {stream} (the file is damaged in places); "
            f"results near the damage may be missing or wrong")


def append_warning(warnings: list[str] | None, warning: str | None) -> None:
    """Add ``warning`` to the caller's ``warnings`` list, when there is a warning and a list."""
    if warning and warnings is not None:
        warnings.append(warning)


def decode_warning(path: str | os.PathLike, stderr: str, stream: str) -> str | None:
    """A plain warning when ffmpeg reported errors while decoding ``stream`` (None when it reported none)."""
    return decode_errors_warning(path, sum(1 for line in stderr.splitlines() if line.strip()), stream)


@dataclass
class AudioTrack:
    """Mono float32 audio whose sample 0 is at video time 0, or an explicit absence with its reason."""

    samples: np.ndarray | None
    sample_rate: int = AUDIO_SAMPLE_RATE
    absent_reason: str | None = None

    @property
    def available(self) -> bool:
        return self.samples is not None

    @property
    def duration(self) -> float:
        return 0.0 if self.samples is None else len(self.samples) / self.sample_rate

    def window(self, start_s: float, end_s: float) -> np.ndarray:
        """Samples between two video times, zero-padded where the track does not reach."""
        if self.samples is None:
            raise UTALError(self.absent_reason or "no audio")
        first, last = int(round(start_s * self.sample_rate)), int(round(end_s * self.sample_rate))
        out = np.zeros(max(0, last - first), dtype=np.float32)
        lo, hi = max(first, 0), min(last, len(self.samples))
        if hi > lo:
            out[lo - first: hi - first] = self.samples[lo:hi]
        return out


def aligned_chunks(pieces: Iterable[np.ndarray], info: MediaInfo, sample_rate: int,
                   chunk_samples: int) -> Iterator[np.ndarray]:
    """Decoded mono pieces regrouped into float32 chunks of ``chunk_samples`` (the last one shorter), shifted
    so that sample 0 is the video's first presented frame. Nothing comes out for a track with no samples."""
    skip = int(round(((info.audio_start or 0.0) - info.video_start) * sample_rate))
    pending: list[np.ndarray] = []
    size = 0
    for piece in pieces:
        if skip < 0:  # the track starts before the video: drop its first samples
            piece, skip = piece[-skip:], min(0, skip + len(piece))
        if not len(piece):
            continue
        if skip > 0:  # the track starts after the video: silence first
            pending, size, skip = [np.zeros(skip, np.float32)], skip, 0
        pending.append(piece)
        size += len(piece)
        while size >= chunk_samples:
            joined = np.concatenate(pending).astype(np.float32, copy=False)
            yield joined[:chunk_samples]
            pending, size = [joined[chunk_samples:]], size - chunk_samples
    if size:
        yield np.concatenate(pending).astype(np.float32, copy=False)


def empty_track(sample_rate: int, reason: str) -> AudioTrack:
    """An explicit absence of audio, with its reason."""
    return AudioTrack(samples=None, sample_rate=sample_rate, absent_reason=reason)


def delivered_batches(queue: Queue, producers: int) -> Iterator[FrameBatch]:
    """Batches queued as ``(stream, first index, frames)`` by ``producers`` threads, each of which ends
    with a ``(stream, -1, None)`` marker; every batch is recorded on its stream as it is handed out."""
    running = producers
    while running:
        stream, first, frames = queue.get()
        if frames is None:
            running -= 1
            continue
        yield stream.delivered(first, frames)


def release_producers(queue: Queue, threads: list[threading.Thread]) -> None:
    """Empty ``queue`` until every producer thread has ended (they may be blocked on a full queue)."""
    while any(thread.is_alive() for thread in threads):
        try:
            queue.get(timeout=0.05)
        except Empty:
            pass
    for thread in threads:
        thread.join()


@dataclass(frozen=True)
class EncodeSettings:
    """How to write an MP4 (H.264 + AAC): frame size and rate, quality, an optional mono soundtrack, and an
    optional switch to variable frame rate (every other frame dropped from ``halve_rate_after_s`` on, the
    kept frames keeping their timestamps)."""

    width: int
    height: int
    fps: float
    duration: float
    crf: int = 23
    audio: np.ndarray | None = None
    audio_rate: int = 48_000
    halve_rate_after_s: float | None = None

    def keeps(self, index: int) -> bool:
        """Whether frame ``index`` is written (always, unless the variable-rate switch drops it)."""
        return self.halve_rate_after_s is None or index / self.fps < self.halve_rate_after_s or index % 2 == 0


#: (file suffix, video codec) pairs every current browser plays, with the audio codecs it plays beside them
#: (None: no audio track). Gradio's player converts anything else, silently, after the handler returns.
BROWSER_FORMATS: dict[tuple[str, str], frozenset[str | None]] = {
    (".mp4", "h264"): frozenset({None, "aac", "mp3"}),
    (".mp4", "av1"): frozenset({None, "aac", "mp3", "opus"}),
    (".webm", "vp8"): frozenset({None, "vorbis", "opus"}),
    (".webm", "vp9"): frozenset({None, "vorbis", "opus"}),
    (".webm", "av1"): frozenset({None, "opus"}),
}
#: ``progress(fraction)`` of a conversion, 0..1.
ConversionProgress = Callable[[float], None]


def browser_playable(info: MediaInfo) -> bool:
    """Whether a browser plays the file as it is (container by file suffix, video and audio codecs)."""
    audio = info.audio_codec if info.has_audio else None
    return audio in BROWSER_FORMATS.get((Path(info.path).suffix.lower(), info.video_codec), frozenset())


def conversion_failed(path: str | os.PathLike) -> UTALError:
    """The one plain message of a conversion for the browser that did not work."""
    return UTALError(f"{Path(path).name} could not be converted into a video the browser can play.")


#: A frame presented at p is on screen at time t when p <= t + this (the rule of both backends' sampling).
ON_SCREEN_EPSILON = 1e-6
#: Seeks for :func:`utal_core.media.frames_at` land this far before the first asked time, so that the frame
#: on screen then (presented up to one frame earlier) is decoded too.
SEEK_MARGIN_S = 0.5


@dataclass
class PickedFrames:
    """Frames on screen at asked times: ``times`` as asked (s, from the first frame), ``shown`` the
    presentation time of the frame picked for each, and the RGB ``frames`` [N, H, W, 3]."""

    times: np.ndarray
    shown: np.ndarray
    frames: np.ndarray


#: Presentation-ordered ``(time, convert)`` pairs of decoded frames; ``convert()`` gives the small RGB frame.
DecodedFrames = Iterator[tuple[float, Callable[[], np.ndarray]]]
#: Turns asked ``times`` and the decoded frames after a seek into :class:`PickedFrames`.
Collector = Callable[[np.ndarray, DecodedFrames, "str | os.PathLike"], PickedFrames]


def every_frame_between(times: np.ndarray, decoded: DecodedFrames, path: str | os.PathLike) -> PickedFrames:
    """A :data:`Collector` for the span ``times[0]..times[-1]``: the frame on screen at its start and every frame
    presented after it up to its end (``times`` and ``shown`` both hold their presentation times)."""
    start, end = float(times[0]), float(times[-1])
    kept: list[tuple[float, Callable[[], np.ndarray]]] = []
    for time, convert in decoded:
        if time > end + ON_SCREEN_EPSILON:
            break
        if time <= start + ON_SCREEN_EPSILON:
            kept = []  # a later frame is the one on screen at the start
        kept.append((time, convert))
    if not kept:
        raise UTALError(f"Could not read the frames of {Path(path).name} at {start:.2f} s.")
    shown = np.asarray([time for time, _ in kept], dtype=np.float64)
    return PickedFrames(times=shown, shown=shown, frames=np.stack([convert() for _, convert in kept]))


def pick_on_screen(times: np.ndarray, decoded: DecodedFrames, path: str | os.PathLike) -> PickedFrames:
    """From ``(presentation time, convert)`` pairs in presentation order, the frame on screen at each of the
    ascending ``times`` (the last presented at or before it; the first decoded one for a time before it).
    Only picked frames are converted; the pairs are read until one comes after the last time."""
    shown: list[float] = []
    frames: list[np.ndarray] = []
    held: tuple[float, Callable[[], np.ndarray]] | None = None
    held_rgb: np.ndarray | None = None

    def serve_until(time: float) -> None:
        nonlocal held_rgb
        while held is not None and len(shown) < len(times) and times[len(shown)] + ON_SCREEN_EPSILON < time:
            if held_rgb is None:
                held_rgb = held[1]()
            shown.append(held[0])
            frames.append(held_rgb)

    for time, convert in decoded:
        serve_until(time)
        if len(shown) == len(times):
            break
        held, held_rgb = (time, convert), None
    serve_until(math.inf)
    if not frames:
        raise UTALError(f"Could not read the frames of {Path(path).name} at {times[0]:.2f} s.")
    return PickedFrames(times=np.asarray(times, dtype=np.float64), shown=np.asarray(shown), frames=np.stack(frames))
