"""The PyAV backend: the FFmpeg libraries inside the ``av`` wheel, in this process, no system binaries.

The contract is the ffmpeg backend's: probing reads the container (and, below the size limit, counts
the video packets without decoding them); one decode pass, in a thread running ahead of the consumer,
feeds every sampled stream, a frame being converted only when a grid time shows it; audio is resampled
to mono float32. Decode errors are counted from what the libraries report (packets refused, frames
flagged corrupt) and told in the same plain words as the ffmpeg backend, never in FFmpeg's own.
"""

from __future__ import annotations

import itertools
import os
import threading
from dataclasses import dataclass, field
from fractions import Fraction
from pathlib import Path
from queue import Queue
from typing import Any, Iterable, Iterator

import av
import numpy as np

from ..errors import UTALError
from ..grid import SnippetGrid
from ..limits import Limits
from .types import (Collector, DEFAULT_PREFETCH, ON_SCREEN_EPSILON, SEEK_MARGIN_S, ConversionProgress,
                    EncodeSettings, FineStream, FrameBatch, conversion_failed, MediaInfo, PickedFrames, PROXY_CRF, ProxyVideo,
                    SampledStream,
                    append_warning, check_readable,
                    decode_errors_warning, delivered_batches, is_variable_rate, pad_short_stream,
                    output_size, pick_on_screen, release_producers, sampled_streams)

NAME = "pyav"
#: FFmpeg's FF_QP2LAMBDA: ``-q:v N`` is a global quality of N times this.
_QP2LAMBDA = 118
_THUMBNAIL_QUALITY = 5


def _open(path: str | os.PathLike) -> av.container.InputContainer:
    try:
        return av.open(str(path), metadata_errors="ignore")
    except (av.FFmpegError, OSError):
        raise UTALError(f"{Path(path).name} is not a readable video (truncated, corrupt or not a media file).") from None


def _video_stream(container: av.container.InputContainer) -> av.VideoStream | None:
    return next((s for s in container.streams.video if not s.disposition & av.stream.Disposition.attached_pic), None)


def _seconds(value: int | None, time_base: Fraction | None) -> float:
    return float(value * time_base) if value is not None and time_base is not None else 0.0


def _codec_name(stream: av.stream.Stream) -> str:
    context = stream.codec_context
    return context.codec.canonical_name if context is not None else "unknown"


def _rotation(frame: av.VideoFrame) -> int:
    return int(round(frame.rotation)) % 360


@dataclass
class _ErrorCount:
    """Decode errors the libraries reported in one pass; an unexpected exception of the decoding thread."""

    count: int = 0
    failure: BaseException | None = field(default=None, repr=False)


def _decoded_frames(container: av.container.InputContainer, stream: av.stream.Stream,
                    errors: _ErrorCount) -> Iterator[Any]:
    """Every frame of ``stream`` in presentation order (video or audio frames, as the stream); refused
    packets and corrupt frames are counted, not raised."""
    decoder: Any = stream.codec_context  # a video or an audio codec context, both with decode()
    packets = container.demux(stream)
    while True:
        try:
            packet = next(packets)
        except StopIteration:
            return
        except av.FFmpegError:  # a damaged container: decode what was read, lose the rest
            errors.count += 1
            packet = None
        try:
            frames = decoder.decode(packet)
        except av.FFmpegError:
            errors.count += 1
            continue
        for frame in frames:
            errors.count += bool(frame.is_corrupt)
            yield frame
        if packet is None:
            return


def _scan(container: av.container.InputContainer, video: av.VideoStream, count: bool) -> tuple[int, int]:
    """(video packets in the file when ``count``, else 0; the rotation of the first decodable frame, else 0)."""
    packets, rotation = 0, None
    try:
        for packet in container.demux(video):
            packets += packet.size > 0  # the flush packet at the end is empty
            if rotation is None:
                try:
                    frames = packet.decode()
                except av.FFmpegError:
                    frames = []
                rotation = _rotation(frames[0]) if frames else None
            if rotation is not None and not count:
                break
    except av.FFmpegError:
        pass  # a damaged tail: keep what was counted; decoding will report the damage
    return (packets if count else 0), rotation or 0


def probe(path: str | os.PathLike, limits: Limits | None = None) -> MediaInfo:
    """:func:`utal_core.media.probe` through PyAV (demuxing only, plus the first frame for its rotation)."""
    path = Path(path)
    check_readable(path)
    limits = limits or Limits.from_env()
    with _open(path) as container:
        video = _video_stream(container)
        if video is None:
            if not container.streams and container.format.name and not container.duration:
                raise UTALError(f"{path.name} has zero duration (no frames).")
            if not container.streams:
                raise UTALError(f"{path.name} is not a media file.")
            raise UTALError(f"{path.name} has no video stream.")
        audio = next(iter(container.streams.audio), None)
        duration = _seconds(video.duration, video.time_base) or (container.duration or 0) / av.time_base
        if duration <= 0:
            raise UTALError(f"{path.name} has zero duration.")
        avg_fps, nominal_fps = float(video.average_rate or 0), float(video.base_rate or 0)
        if avg_fps <= 0:
            avg_fps = nominal_fps
        counted, rotation = _scan(container, video, count=path.stat().st_size <= limits.count_frames_below_bytes)
        video_start = _seconds(video.start_time, video.time_base)
        return MediaInfo(
            path=str(path),
            duration=duration,
            avg_fps=avg_fps,
            nominal_fps=nominal_fps,
            is_vfr=is_variable_rate(avg_fps, nominal_fps),
            frame_count=counted or video.frames or int(round(duration * avg_fps)),
            width=video.codec_context.width,
            height=video.codec_context.height,
            rotation=rotation,
            video_codec=_codec_name(video),
            video_start=video_start,
            has_audio=audio is not None,
            audio_codec=_codec_name(audio) if audio else None,
            audio_sample_rate=audio.codec_context.sample_rate if audio else None,
            audio_channels=audio.codec_context.channels if audio else None,
            audio_start=(_seconds(audio.start_time, audio.time_base) if audio.start_time is not None else video_start)
            if audio else None,
            container=container.format.name,
            size_bytes=path.stat().st_size,
        )


def _rgb(frame: av.VideoFrame, width: int, height: int, rotation: int, interpolation: str = "BILINEAR") -> np.ndarray:
    """``frame`` as displayed (rotated as the ffmpeg binary auto-rotates) at width x height, RGB uint8."""
    turned = rotation % 180 != 0
    rgb = frame.to_ndarray(width=height if turned else width, height=width if turned else height,
                           format="rgb24", interpolation=interpolation)
    return np.ascontiguousarray(np.rot90(rgb, k=rotation // 90)) if rotation else rgb


class _Sampler:
    """Turns one decoded frame sequence into one stream's batches: each grid time gets the frame on screen then."""

    def __init__(self, stream: SampledStream, rotation: int, queue: Queue):
        self.stream, self.rotation, self.queue = stream, rotation, queue
        self.times = stream.grid.times
        self.next = 0
        self.first = 0
        self.pending: list[np.ndarray] = []
        self.held: av.VideoFrame | None = None
        self.held_rgb: np.ndarray | None = None

    @property
    def done(self) -> bool:
        return self.next >= len(self.times)

    def show(self, frame: av.VideoFrame, time: float) -> None:
        """A frame presented at ``time``: the one held until now is on screen at every grid time before it."""
        self._serve_until(time)
        self.held, self.held_rgb = frame, None

    def finish(self, end: float) -> None:
        """The stream ended at ``end`` (the last frame's end): serve the grid times before it, send the rest."""
        self._serve_until(end)
        self._send()

    def _serve_until(self, time: float) -> None:
        while self.held is not None and not self.done and self.times[self.next] + ON_SCREEN_EPSILON < time:
            if self.held_rgb is None:
                self.held_rgb = _rgb(self.held, self.stream.width, self.stream.height, self.rotation)
            self.pending.append(self.held_rgb)
            self.next += 1
            if len(self.pending) == self.stream.batch_size:
                self._send()

    def _send(self) -> None:
        if self.pending:
            self.queue.put((self.stream, self.first, np.stack(self.pending)))
            self.first += len(self.pending)
            self.pending = []


class _Presented:
    """The frames of one decode in presentation order, each with its time from the first frame (a frame without a
    timestamp is one frame duration after the last); ``end`` is the last frame's end once they are all read."""

    def __init__(self, frames: Iterator[av.VideoFrame], fps: float) -> None:
        self.frames, self.end, self.duration = frames, 0.0, 1.0 / (fps or 25.0)

    def __iter__(self) -> Iterator[tuple[av.VideoFrame, float]]:
        origin, time = None, 0.0
        for frame in self.frames:
            if frame.pts is None:
                time += self.duration
            else:
                origin = frame.pts if origin is None else origin
                time = float((frame.pts - origin) * frame.time_base)
            if frame.duration:
                self.duration = float(frame.duration * frame.time_base)
            self.end = time + self.duration
            yield frame, time


def _decode_video(path: str | os.PathLike, info: MediaInfo, streams: list[SampledStream], queue: Queue,
                  stop: threading.Event, errors: _ErrorCount, skip_loop_filter: bool) -> None:
    """Decoding thread: one pass over the video feeding every stream's sampler; an end marker when done."""
    try:
        samplers = [_Sampler(stream, info.rotation, queue) for stream in streams]
        with _open(path) as container:
            video = _video_stream(container)
            video.thread_type = "AUTO"
            if skip_loop_filter:
                video.codec_context.options = {"skip_loop_filter": "all"}
            presented = _Presented(_decoded_frames(container, video, errors), info.avg_fps)
            for frame, time in presented:
                if stop.is_set():
                    return
                if all(sampler.done for sampler in samplers):
                    break
                for sampler in samplers:
                    sampler.show(frame, time)
            for sampler in samplers:
                sampler.finish(presented.end)
    except UTALError:
        pass  # the file became unreadable since it was probed: no frames, which the consumer reports
    except BaseException as error:  # noqa: BLE001 - handed to the consumer's thread, raised there
        errors.failure = error
    finally:
        queue.put((streams[0], -1, None))


def iter_frames(path: str | os.PathLike, grid: SnippetGrid, short_side: int = 256, batch_size: int = 32,
                info: MediaInfo | None = None, fine: FineStream | None = None,
                prefetch: int = DEFAULT_PREFETCH, warnings: list[str] | None = None,
                skip_loop_filter: bool = False) -> Iterator[FrameBatch]:
    """:func:`utal_core.media.iter_frames` through PyAV: one decoding thread, frames picked by timestamp."""
    info = info or probe(path)
    streams = sampled_streams(info, grid, short_side, batch_size, fine)
    queue: Queue = Queue(maxsize=max(1, prefetch) * len(streams))
    stop = threading.Event()
    errors = _ErrorCount()
    decoder = threading.Thread(target=_decode_video, args=(path, info, streams, queue, stop, errors, skip_loop_filter),
                               daemon=True)
    decoder.start()
    try:
        yield from delivered_batches(queue, 1)
    finally:
        stop.set()
        release_producers(queue, [decoder])
    if errors.failure is not None:
        raise errors.failure
    for stream in streams:
        yield from pad_short_stream(path, stream)
    append_warning(warnings, decode_errors_warning(path, errors.count, "video frames"))


def audio_pieces(path: str | os.PathLike, sample_rate: int, warnings: list[str] | None = None) -> Iterator[np.ndarray]:
    """The first audio stream as mono float32 pieces, one per resampled frame (not yet aligned to the video),
    through PyAV's decoder and resampler; see :func:`utal_core.media.iter_audio`."""
    errors = _ErrorCount()
    received = 0
    try:
        with _open(path) as container:
            resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
            for frame in itertools.chain(_decoded_frames(container, container.streams.audio[0], errors), [None]):
                for out in resampler.resample(frame):
                    samples = out.to_ndarray().reshape(-1).astype(np.float32, copy=False)
                    received += samples.size
                    yield samples
    except (av.FFmpegError, UTALError, ValueError):
        if not received:
            raise UTALError(f"{Path(path).name}: the audio track could not be decoded "
                            f"(damaged, or a codec this build cannot read).") from None
        errors.count += 1
    if received == 0 and errors.count:
        raise UTALError(f"{Path(path).name}: the audio track could not be decoded (damaged).")
    append_warning(warnings, decode_errors_warning(path, errors.count, "audio track"))


def _jpeg(rgb: np.ndarray) -> bytes:
    """One RGB image as JPEG bytes (FFmpeg's mjpeg encoder at ``-q:v`` _THUMBNAIL_QUALITY)."""
    encoder = av.CodecContext.create("mjpeg", "w")
    encoder.width, encoder.height = rgb.shape[1], rgb.shape[0]
    encoder.pix_fmt = "yuvj420p"
    encoder.time_base = Fraction(1, 25)
    encoder.qscale = True
    encoder.global_quality = _THUMBNAIL_QUALITY * _QP2LAMBDA
    frame = av.VideoFrame.from_ndarray(rgb, format="rgb24").reformat(format="yuvj420p")
    return b"".join(bytes(packet) for packet in [*encoder.encode(frame), *encoder.encode(None)])


def thumbnail_jpeg(path: str | os.PathLike, seconds: float, width: int) -> bytes:
    """:func:`utal_core.media.thumbnail_jpeg` through PyAV: seek, decode to the first frame at or after ``seconds``."""
    failed = UTALError(f"Could not read a frame of {Path(path).name} at {seconds:.1f} s.")
    with _open(path) as container:
        video = _video_stream(container)
        if video is None:
            raise failed
        origin = video.start_time or 0
        target = origin + int(max(0.0, seconds) / video.time_base)
        try:
            container.seek(target, stream=video)
        except av.FFmpegError:
            container.seek(0)
        chosen = next((frame for frame in _decoded_frames(container, video, _ErrorCount())
                       if frame.pts is None or frame.pts >= target), None)
        if chosen is None:
            raise failed
        rotation = _rotation(chosen)
        shown_width, shown_height = (chosen.height, chosen.width) if rotation % 180 else (chosen.width, chosen.height)
        height = max(2, int(round(shown_height * width / shown_width / 2)) * 2)
        return _jpeg(_rgb(chosen, width, height, rotation))


def frames_at(path: str | os.PathLike, times: np.ndarray, short_side: int, info: MediaInfo | None = None,
              collect: Collector = pick_on_screen) -> PickedFrames:
    """:func:`utal_core.media.frames_at` through PyAV: one seek before the first time, decoding forward;
    ``collect`` picks from the decoded frames (:func:`every_frame_between` keeps them all)."""
    info = info or probe(path)
    width, height = output_size(info, short_side)
    with _open(path) as container:
        video = _video_stream(container)
        if video is None:
            raise UTALError(f"{Path(path).name} has no video stream.")
        video.thread_type = "AUTO"
        origin = video.start_time or 0
        try:
            container.seek(origin + int(max(0.0, float(times[0]) - SEEK_MARGIN_S) / video.time_base), stream=video)
        except av.FFmpegError:
            container.seek(0)

        # From the keyframe up to the first time no frame is shown: frames no other frame refers to are
        # not decoded at all (about half of them with B-frames), so the seek costs less.
        video.codec_context.skip_frame = "NONREF"
        preroll_end = float(times[0]) - SEEK_MARGIN_S

        def decoded() -> Iterator[tuple[float, Any]]:
            for frame in _decoded_frames(container, video, _ErrorCount()):
                if frame.pts is None:
                    continue
                time = float((frame.pts - origin) * video.time_base)
                if time >= preroll_end:
                    video.codec_context.skip_frame = "DEFAULT"
                yield time, lambda frame=frame: _rgb(frame, width, height, info.rotation)

        return collect(times, decoded(), path)


def write_proxy(info: MediaInfo, proxy: ProxyVideo, stop: threading.Event) -> None:
    """:func:`utal_core.media.write_proxy` through PyAV: every frame, scaled (area), into libx264 at ``proxy.partial``,
    in the source's time base; returns early when ``stop`` is set."""
    width, height = output_size(info, proxy.short_side)
    with _open(info.path) as source:
        video = _video_stream(source)
        if video is None:
            raise UTALError(f"{Path(info.path).name} has no video stream.")
        video.thread_type = "AUTO"
        time_base = video.time_base or Fraction(1, 90_000)
        try:
            with av.open(str(proxy.partial), "w", format="mp4", options={"movflags": "+faststart"}) as target:
                stream = target.add_stream("libx264", options={
                    "preset": "veryfast", "crf": str(PROXY_CRF), "g": str(proxy.keyframe_interval(info)), "bf": "0"})
                stream.width, stream.height, stream.pix_fmt = width, height, "yuv420p"
                stream.codec_context.time_base = time_base
                last = -1
                for frame, time in _Presented(_decoded_frames(source, video, _ErrorCount()), info.avg_fps):
                    if stop.is_set():
                        return
                    pts = int(round(time / time_base))
                    if pts <= last:  # a frame at the time of the one before: the first stays on screen
                        continue
                    small = (av.VideoFrame.from_ndarray(_rgb(frame, width, height, info.rotation, "AREA"), format="rgb24")
                             if info.rotation else frame.reformat(width=width, height=height, format="yuv420p",
                                                                  interpolation="AREA"))
                    small.pts, small.time_base, last = pts, time_base, pts
                    target.mux(stream.encode(small))
                target.mux(stream.encode(None))
        except av.FFmpegError as error:
            raise UTALError(f"The frame-strip proxy of {Path(info.path).name} could not be written: "
                            f"{error.strerror or 'encoder error'}.") from None


def write_mp4(path: str | os.PathLike, frames: Iterable[np.ndarray], settings: EncodeSettings) -> None:
    """:func:`utal_core.media.write_mp4` through PyAV's libx264 and AAC encoders, audio interleaved per frame."""
    rate = Fraction(settings.fps).limit_denominator(10_000)
    total = int(round(settings.duration * settings.fps))
    audio_samples = None if settings.audio is None else np.asarray(settings.audio, np.float32)
    try:
        with av.open(str(path), "w", format="mp4", options={"movflags": "+faststart"}) as container:
            video = container.add_stream("libx264", rate=rate,
                                         options={"preset": "ultrafast", "crf": str(settings.crf)})
            video.width, video.height, video.pix_fmt = settings.width, settings.height, "yuv420p"
            video.codec_context.time_base = 1 / rate
            audio = None
            if audio_samples is not None:
                audio = container.add_stream("aac", rate=settings.audio_rate, layout="mono")
                audio.bit_rate = 96_000
            written = 0
            for index, rgb in enumerate(frames):
                if index >= total:
                    break
                if settings.keeps(index):
                    frame = av.VideoFrame.from_ndarray(np.ascontiguousarray(rgb, dtype=np.uint8), format="rgb24")
                    frame.pts, frame.time_base = index, 1 / rate
                    container.mux(video.encode(frame))
                if audio is not None:
                    until = min(len(audio_samples), int(round((index + 1) / settings.fps * settings.audio_rate)))
                    written = _mux_audio(container, audio, audio_samples, written, until, settings.audio_rate)
            container.mux(video.encode(None))
            if audio is not None:
                end = min(len(audio_samples), int(round(settings.duration * settings.audio_rate)))
                _mux_audio(container, audio, audio_samples, written, end, settings.audio_rate)
                container.mux(audio.encode(None))
    except av.FFmpegError as error:
        raise UTALError(f"Could not write {Path(path).name}: {error.strerror or 'encoder error'}.") from None


def _mux_audio(container: av.container.OutputContainer, stream: av.AudioStream, samples: np.ndarray,
               start: int, end: int, rate: int) -> int:
    """Encode and mux ``samples[start:end]``; returns ``end`` (the next sample to write)."""
    if end > start:
        frame = av.AudioFrame.from_ndarray(samples[None, start:end], format="flt", layout="mono")
        frame.sample_rate, frame.pts, frame.time_base = rate, start, Fraction(1, rate)
        container.mux(stream.encode(frame))
    return max(start, end)


def browser_mp4(info: MediaInfo, target: str | os.PathLike, progress: ConversionProgress) -> None:
    """:func:`utal_core.media.browser_mp4` with PyAV: the first video stream to H.264 (timestamps kept, in
    milliseconds), the first audio stream to AAC."""
    millisecond = Fraction(1, 1000)
    try:
        with _open(info.path) as source, av.open(str(target), "w", format="mp4",
                                                 options={"movflags": "+faststart"}) as output:
            video_in = _video_stream(source)
            audio_in = next(iter(source.streams.audio), None)
            video_out = output.add_stream("libx264", rate=video_in.average_rate or Fraction(25),
                                          options={"preset": "ultrafast", "crf": "23"})
            video_out.width, video_out.height = info.width // 2 * 2, info.height // 2 * 2
            video_out.pix_fmt, video_out.codec_context.time_base = "yuv420p", millisecond
            audio_out = resampler = None
            if audio_in is not None:
                layout = "mono" if audio_in.codec_context.channels == 1 else "stereo"
                audio_out = output.add_stream("aac", rate=audio_in.codec_context.sample_rate, layout=layout)
                resampler = av.AudioResampler(format="fltp", layout=layout, rate=audio_in.codec_context.sample_rate)
            last_pts, count, start = -1, 0, None
            rate = float(video_in.average_rate or 25)
            for packet in source.demux(*[s for s in (video_in, audio_in) if s is not None]):
                for frame in packet.decode():
                    if isinstance(frame, av.VideoFrame):
                        # Constant rate: frames numbered in decoding order (AVI's packed B-frames come with
                        # timestamps out of order); variable rate: the frame's own time, from the first one's.
                        if info.is_vfr:
                            start = frame.time if start is None else start
                            pts = int(round(((frame.time or 0.0) - start) * 1000))
                        else:
                            pts = int(round(count * 1000 / rate))
                        count += 1
                        if pts <= last_pts:
                            continue
                        last_pts = pts
                        converted = frame.reformat(video_out.width, video_out.height, "yuv420p")
                        converted.pts, converted.time_base = pts, millisecond
                        output.mux(video_out.encode(converted))
                        if info.duration > 0:
                            progress(min(pts / 1000 / info.duration, 1.0))
                    elif isinstance(frame, av.AudioFrame) and audio_out is not None:
                        for resampled in resampler.resample(frame):
                            resampled.pts = None
                            output.mux(audio_out.encode(resampled))
            output.mux(video_out.encode(None))
            if audio_out is not None:
                output.mux(audio_out.encode(None))
    except (av.FFmpegError, UTALError) as error:  # the same message as the ffmpeg backend's
        raise conversion_failed(info.path) from error
