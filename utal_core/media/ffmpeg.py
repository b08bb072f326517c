"""The ffmpeg backend: the system ``ffprobe``/``ffmpeg`` binaries in subprocesses.

Probing reads only container metadata, frames are resized inside ffmpeg and streamed in batches
(memory bounded by the batch, not by the video length), audio is decoded to mono float32.
"""

from __future__ import annotations

import functools
import json
import math
import os
import re
import shutil
import subprocess
import threading
from fractions import Fraction
from pathlib import Path
from queue import Queue
from typing import Iterable, Iterator

import numpy as np

from ..errors import UTALError
from ..grid import SnippetGrid
from ..limits import Limits
from .types import (Collector, DEFAULT_PREFETCH, SEEK_MARGIN_S, AUDIO_CHUNK_S, ConversionProgress,
                    EncodeSettings, FineStream, FrameBatch, MediaInfo, PickedFrames, PROXY_CRF, ProxyVideo, SampledStream,
                    append_warning,
                    check_readable, conversion_failed, decode_warning, delivered_batches, finite_float,
                    is_variable_rate, output_size, pad_short_stream, pick_on_screen, release_producers, sampled_streams)

NAME = "ffmpeg"


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise UTALError(f"{name} is not installed; install ffmpeg (e.g. `apt-get install ffmpeg`), "
                        f"or use the PyAV backend (UTAL_MEDIA_BACKEND=pyav).")
    return path


def _rate(text: str | None) -> float:
    try:
        value = Fraction(text or "0/0")
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(value)


def _rotation(stream: dict) -> int:
    for side_data in stream.get("side_data_list", []):
        if "rotation" in side_data:
            return int(round(finite_float(side_data["rotation"]))) % 360
    return int(round(finite_float(stream.get("tags", {}).get("rotate")))) % 360


def probe(path: str | os.PathLike, limits: Limits | None = None) -> MediaInfo:
    """:func:`utal_core.media.probe` through ``ffprobe``."""
    path = Path(path)
    check_readable(path)
    limits = limits or Limits.from_env()
    count = ["-count_packets"] if path.stat().st_size <= limits.count_frames_below_bytes else []
    result = subprocess.run(
        [_binary("ffprobe"), "-v", "error", *count, "-print_format", "json", "-show_format", "-show_streams", str(path)],
        capture_output=True, text=True, check=False,
    )
    if result.returncode != 0:
        message = result.stderr.strip().splitlines()[-1] if result.stderr.strip() else "unknown error"
        if "moov atom not found" in message or "Invalid data" in message or "End of file" in message:
            raise UTALError(f"{path.name} is not a readable video (truncated, corrupt or not a media file: {message}).")
        raise UTALError(f"{path.name} could not be read as a video: {message}")
    data = json.loads(result.stdout or "{}")
    streams = data.get("streams", [])
    fmt = data.get("format", {})
    video = next((s for s in streams if s.get("codec_type") == "video"
                  and not s.get("disposition", {}).get("attached_pic")), None)
    if video is None:
        if not streams and fmt.get("format_name") and finite_float(fmt.get("duration")) == 0:
            raise UTALError(f"{path.name} has zero duration (no frames).")
        if not streams:
            raise UTALError(f"{path.name} is not a media file.")
        raise UTALError(f"{path.name} has no video stream.")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    duration = finite_float(video.get("duration")) or finite_float(fmt.get("duration"))
    if duration <= 0:
        raise UTALError(f"{path.name} has zero duration.")
    avg_fps = _rate(video.get("avg_frame_rate"))
    nominal_fps = _rate(video.get("r_frame_rate"))
    if avg_fps <= 0:
        avg_fps = nominal_fps
    frame_count = (int(finite_float(video.get("nb_read_packets"))) or int(finite_float(video.get("nb_frames")))
                   or int(round(duration * avg_fps)))
    return MediaInfo(
        path=str(path),
        duration=duration,
        avg_fps=avg_fps,
        nominal_fps=nominal_fps,
        is_vfr=is_variable_rate(avg_fps, nominal_fps),
        frame_count=frame_count,
        width=int(video.get("width", 0)),
        height=int(video.get("height", 0)),
        rotation=_rotation(video),
        video_codec=str(video.get("codec_name", "unknown")),
        video_start=finite_float(video.get("start_time")),
        has_audio=audio is not None,
        audio_codec=audio.get("codec_name") if audio else None,
        audio_sample_rate=int(finite_float(audio.get("sample_rate"))) if audio else None,
        audio_channels=int(audio.get("channels", 0)) if audio else None,
        audio_start=finite_float(audio.get("start_time"), finite_float(video.get("start_time"))) if audio else None,
        container=str(fmt.get("format_name", "unknown")),
        size_bytes=path.stat().st_size,
    )


def _sampling_filter(grid: SnippetGrid, width: int, height: int) -> str:
    rate = Fraction(1 / grid.stride).limit_denominator(100_000)
    first_centre = float(grid.index_to_seconds(0))
    # Shift time so that the k-th window centre falls exactly on output slot (first_slot + k) of
    # the fps filter. With round=up a frame presented at p lands in the first slot at or after p,
    # so each slot holds the last frame presented at or before its centre: what a viewer sees then.
    first_slot = max(1, math.ceil(first_centre / grid.stride))
    shift = first_slot * grid.stride - first_centre
    start = first_slot * grid.stride - 1e-6
    return (f"setpts=PTS-STARTPTS+{shift:.6f}/TB,"
            f"fps=fps={rate.numerator}/{rate.denominator}:start_time={start:.6f}:round=up,"
            f"scale={width}:{height}:flags=bilinear")


def _read_output(handle, stream: SampledStream, queue: Queue, stop: threading.Event) -> None:
    """Reader thread: cut one output pipe into frame batches and queue them; ``None`` frames mark the end.

    Frames past the grid's last snippet are read and dropped, so that ffmpeg never blocks on this
    pipe while it still has frames to write to the other one.
    """
    frame_bytes = stream.width * stream.height * 3
    try:
        total = stream.grid.num_snippets
        read = 0
        while not stop.is_set():
            buffer = handle.read(frame_bytes * stream.batch_size)
            count = min(len(buffer) // frame_bytes, total - read)
            if not buffer:
                break
            if count > 0:
                frames = np.frombuffer(buffer, dtype=np.uint8, count=count * frame_bytes)
                queue.put((stream, read, frames.reshape(count, stream.height, stream.width, 3)))
                read += count
    finally:
        queue.put((stream, -1, None))


def iter_frames(path: str | os.PathLike, grid: SnippetGrid, short_side: int = 256, batch_size: int = 32,
                info: MediaInfo | None = None, fine: FineStream | None = None,
                prefetch: int = DEFAULT_PREFETCH, warnings: list[str] | None = None,
                skip_loop_filter: bool = False) -> Iterator[FrameBatch]:
    """:func:`utal_core.media.iter_frames` through one ffmpeg process (a ``split`` filter graph and one
    rawvideo pipe per stream, each read by its own thread)."""
    info = info or probe(path)
    streams = sampled_streams(info, grid, short_side, batch_size, fine)
    branches = ";".join(f"[v{n}]{_sampling_filter(s.grid, s.width, s.height)}[out{n}]" for n, s in enumerate(streams))
    graph = f"[0:v:0]split={len(streams)}{''.join(f'[v{n}]' for n in range(len(streams)))};{branches}"
    extra_read, extra_write = os.pipe() if fine is not None else (None, None)
    targets = ["pipe:1"] + ([f"pipe:{extra_write}"] if fine is not None else [])
    decoding = ["-skip_loop_filter", "all"] if skip_loop_filter else []
    command = [_binary("ffmpeg"), "-nostdin", "-v", "error", *decoding, "-i", str(path), "-filter_complex", graph]
    for n, target in enumerate(targets):
        command += ["-map", f"[out{n}]", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", target]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               pass_fds=() if extra_write is None else (extra_write,))
    handles = [process.stdout]
    if extra_write is not None:
        os.close(extra_write)
        handles.append(os.fdopen(extra_read, "rb"))
    queue: Queue = Queue(maxsize=max(1, prefetch) * len(streams))
    stop = threading.Event()
    readers = [threading.Thread(target=_read_output, args=(handle, stream, queue, stop), daemon=True)
               for handle, stream in zip(handles, streams)]
    for reader in readers:
        reader.start()
    stderr = ""
    try:
        yield from delivered_batches(queue, len(readers))
    finally:
        stop.set()
        if process.poll() is None and any(reader.is_alive() for reader in readers):
            process.kill()
        release_producers(queue, readers)
        for handle in handles:
            handle.close()
        stderr = process.stderr.read().decode(errors="replace")
        process.stderr.close()
        process.wait()
    for stream in streams:
        yield from pad_short_stream(path, stream, stderr.strip())
    append_warning(warnings, decode_warning(path, stderr, "video frames"))


def audio_pieces(path: str | os.PathLike, sample_rate: int, warnings: list[str] | None = None) -> Iterator[np.ndarray]:
    """The first audio stream as mono float32 pieces of :data:`AUDIO_CHUNK_S` seconds (not yet aligned to the
    video), read from an ffmpeg subprocess writing raw float32; see :func:`utal_core.media.iter_audio`."""
    command = [_binary("ffmpeg"), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-vn",
               "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "pipe:1"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    stderr: list[bytes] = []
    reader = threading.Thread(target=lambda: stderr.append(process.stderr.read()), daemon=True)
    reader.start()
    piece_bytes = 4 * max(1, int(round(AUDIO_CHUNK_S * sample_rate)))
    received = 0
    try:
        while data := process.stdout.read(piece_bytes):
            samples = np.frombuffer(data, dtype="<f4", count=len(data) // 4).astype(np.float32)
            received += samples.size
            yield samples
    finally:
        if process.poll() is None:
            process.kill()
        process.stdout.close()
        reader.join()
        process.stderr.close()
        process.wait()
    message = b"".join(stderr).decode(errors="replace")
    if received == 0 and process.returncode != 0:
        raise UTALError(f"{Path(path).name}: the audio track could not be decoded ({message.strip()[:200]}).")
    append_warning(warnings, decode_warning(path, message, "audio track"))


def thumbnail_jpeg(path: str | os.PathLike, seconds: float, width: int) -> bytes:
    """:func:`utal_core.media.thumbnail_jpeg` through an ffmpeg subprocess."""
    command = [_binary("ffmpeg"), "-nostdin", "-v", "error", "-ss", f"{max(0.0, seconds):.3f}", "-i", str(path),
               "-frames:v", "1", "-vf", f"scale={width}:-2", "-q:v", "5",
               "-f", "image2pipe", "-c:v", "mjpeg", "pipe:1"]
    done = subprocess.run(command, capture_output=True, check=False)
    if done.returncode != 0 or not done.stdout:
        raise UTALError(f"Could not read a frame of {Path(path).name} at {seconds:.1f} s.")
    return done.stdout


#: A ``showinfo`` line of one frame: its presentation time in seconds.
_SHOWINFO_TIME = re.compile(r"\] n:\s*\d+ pts:\s*-?\d+\s+pts_time:(-?[0-9.e+-]+)")


def frames_at(path: str | os.PathLike, times: np.ndarray, short_side: int, info: MediaInfo | None = None,
              collect: Collector = pick_on_screen) -> PickedFrames:
    """:func:`utal_core.media.frames_at` through one ffmpeg process: an input seek before the first time,
    frames up to the last one decoded with the file's own timestamps (``-copyts``, read from ``showinfo``,
    which comes after the scaling so that its per-frame checksums are of the small frames); ``collect`` picks."""
    info = info or probe(path)
    width, height = output_size(info, short_side)
    seek = max(0.0, float(times[0]) - SEEK_MARGIN_S) + info.video_start
    end = float(times[-1]) + info.video_start + SEEK_MARGIN_S
    command = [_binary("ffmpeg"), "-nostdin", "-loglevel", "info", "-hide_banner", "-ss", f"{seek:.6f}", "-copyts",
               "-i", str(path), "-map", "0:v:0", "-vf", f"trim=end={end:.6f},scale={width}:{height}:flags=bilinear,showinfo",
               "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", "pipe:1"]
    done = subprocess.run(command, capture_output=True, check=False)
    stamps = [float(t) - info.video_start for t in _SHOWINFO_TIME.findall(done.stderr.decode(errors="replace"))]
    frame_bytes = width * height * 3
    count = min(len(stamps), len(done.stdout) // frame_bytes)
    frames = np.frombuffer(done.stdout, dtype=np.uint8, count=count * frame_bytes).reshape(count, height, width, 3)
    decoded = ((stamps[i], functools.partial(frames.__getitem__, i)) for i in range(count))
    return collect(times, decoded, path)


def write_mp4(path: str | os.PathLike, frames: Iterable[np.ndarray], settings: EncodeSettings) -> None:
    """:func:`utal_core.media.write_mp4` through an ffmpeg subprocess fed raw RGB frames on stdin."""
    command = [_binary("ffmpeg"), "-nostdin", "-y", "-v", "error", "-f", "rawvideo", "-pix_fmt", "rgb24",
               "-s", f"{settings.width}x{settings.height}", "-r", f"{settings.fps}", "-i", "pipe:0"]
    audio_read = None
    if settings.audio is not None:
        audio_read, audio_write = os.pipe()
        command += ["-f", "f32le", "-ar", str(settings.audio_rate), "-ac", "1", "-i", f"pipe:{audio_read}",
                    "-c:a", "aac", "-b:a", "96k"]
    if settings.halve_rate_after_s is not None:
        # Keep every frame before the switch, every other one after: timestamps are preserved.
        command += ["-vf", f"select='if(lt(t\\,{settings.halve_rate_after_s:.3f})\\,1\\,not(mod(n\\,2)))'",
                    "-fps_mode", "vfr"]
    command += ["-c:v", "libx264", "-preset", "ultrafast", "-crf", str(settings.crf), "-pix_fmt", "yuv420p",
                "-t", f"{settings.duration}", "-movflags", "+faststart", str(path)]
    encoder = subprocess.Popen(command, stdin=subprocess.PIPE, stderr=subprocess.PIPE,
                               pass_fds=() if audio_read is None else (audio_read,))
    feeder = None
    if audio_read is not None:
        os.close(audio_read)
        feeder = threading.Thread(target=_feed, args=(audio_write, settings.audio), daemon=True)
        feeder.start()
    try:
        for frame in frames:
            encoder.stdin.write(np.ascontiguousarray(frame, dtype=np.uint8).tobytes())
        encoder.stdin.close()
    except BrokenPipeError:
        pass
    stderr = encoder.stderr.read().decode(errors="replace")
    if feeder is not None:
        feeder.join()
    if encoder.wait() != 0:
        raise UTALError(f"ffmpeg failed to write {Path(path).name}: {stderr.strip()[:300]}")


def _feed(descriptor: int, samples: np.ndarray) -> None:
    """Writer thread: the soundtrack as float32 into a pipe ffmpeg reads while it reads the frames."""
    with os.fdopen(descriptor, "wb") as handle:
        try:
            handle.write(np.asarray(samples, dtype="<f4").tobytes())
        except BrokenPipeError:
            pass


def write_proxy(info: MediaInfo, proxy: ProxyVideo, stop: threading.Event) -> None:
    """:func:`utal_core.media.write_proxy` through one ffmpeg subprocess writing ``proxy.partial``, killed when
    ``stop`` is set."""
    width, height = output_size(info, proxy.short_side)
    command = [_binary("ffmpeg"), "-nostdin", "-y", "-v", "error", "-i", info.path, "-map", "0:v:0", "-an",
               "-vf", f"setpts=PTS-STARTPTS,scale={width}:{height}:flags=area", "-fps_mode", "passthrough",
               "-c:v", "libx264", "-preset", "veryfast", "-crf", str(PROXY_CRF), "-g", str(proxy.keyframe_interval(info)),
               "-bf", "0", "-pix_fmt", "yuv420p", "-movflags", "+faststart", "-f", "mp4", str(proxy.partial)]
    writer = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
    while True:
        try:
            _, stderr = writer.communicate(timeout=0.25)
            break
        except subprocess.TimeoutExpired:
            if stop.is_set():
                writer.kill()
    if writer.returncode != 0 and not stop.is_set():
        raise UTALError(f"The frame-strip proxy of {Path(info.path).name} could not be written: "
                        f"{stderr.strip().splitlines()[-1][:200] if stderr.strip() else 'ffmpeg failed'}")


def browser_mp4(info: MediaInfo, target: str | os.PathLike, progress: ConversionProgress) -> None:
    """:func:`utal_core.media.browser_mp4` through one ffmpeg subprocess, reporting its ``-progress`` output."""
    video = ["-c:v", "copy"] if info.video_codec == "h264" else [
        "-c:v", "libx264", "-preset", "ultrafast", "-crf", "23", "-pix_fmt", "yuv420p",
        "-vf", "scale=trunc(iw/2)*2:trunc(ih/2)*2"]
    audio = ["-c:a", "copy"] if info.audio_codec in ("aac", "mp3") else ["-c:a", "aac", "-b:a", "128k"]
    command = [_binary("ffmpeg"), "-nostdin", "-y", "-v", "error", "-i", info.path, "-map", "0:v:0", "-map", "0:a:0?",
               *video, *audio, "-movflags", "+faststart", "-f", "mp4", "-progress", "pipe:1", "-nostats", str(target)]
    converter = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    for line in converter.stdout:
        key, _, value = line.strip().partition("=")
        if key == "out_time_us" and value.isdigit() and info.duration > 0:
            progress(min(int(value) / 1e6 / info.duration, 1.0))
    stderr = converter.stderr.read()
    if converter.wait() != 0:
        raise conversion_failed(info.path) from RuntimeError(stderr.strip()[-300:])
