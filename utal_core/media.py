"""Media access: probing, streaming frame sampling on the snippet grid, and audio decoding.

Everything goes through the system ``ffprobe``/``ffmpeg`` binaries in subprocesses: probing reads
only container metadata, frames are resized inside ffmpeg and streamed in batches (memory bounded
by the batch, not by the video length), and audio is decoded to 16 kHz mono float32 without moviepy.
"""

from __future__ import annotations

import json
import math
import os
import shutil
import subprocess
import threading
from dataclasses import asdict, dataclass
from fractions import Fraction
from pathlib import Path
from queue import Empty, Queue
from typing import Iterator

import numpy as np

from .errors import UTALError
from .grid import SnippetGrid

AUDIO_SAMPLE_RATE = 16_000
#: Relative difference between the nominal and the average frame rate above which a video is VFR.
_VFR_TOLERANCE = 0.01


def _binary(name: str) -> str:
    path = shutil.which(name)
    if path is None:
        raise UTALError(f"{name} is not installed; install ffmpeg (e.g. `apt-get install ffmpeg`).")
    return path


def _rate(text: str | None) -> float:
    try:
        value = Fraction(text or "0/0")
    except (ValueError, ZeroDivisionError):
        return 0.0
    return float(value)


def _float(value, default: float = 0.0) -> float:
    try:
        result = float(value)
    except (TypeError, ValueError):
        return default
    return result if math.isfinite(result) else default


@dataclass(frozen=True)
class MediaInfo:
    """What ffprobe says about a media file, without decoding it."""

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
        """Width and height as displayed, after the rotation ffmpeg applies on decode."""
        if self.rotation % 180:
            return self.height, self.width
        return self.width, self.height

    def to_dict(self) -> dict:
        return asdict(self) | {"fps": self.fps}


def _check_readable(path: Path) -> None:
    if not path.exists():
        raise UTALError(f"File not found: {path}")
    if not path.is_file():
        raise UTALError(f"Not a file: {path}")
    if path.stat().st_size == 0:
        raise UTALError(f"The file is empty (0 bytes): {path.name}")


def _rotation(stream: dict) -> int:
    for side_data in stream.get("side_data_list", []):
        if "rotation" in side_data:
            return int(round(_float(side_data["rotation"]))) % 360
    return int(round(_float(stream.get("tags", {}).get("rotate")))) % 360


def probe(path: str | os.PathLike) -> MediaInfo:
    """Read duration, frame rate, size, rotation and audio facts of a video file (no decoding).

    Raises UTALError with a plain message for a missing file, a file that is not media, a
    truncated or corrupt container, a file without a video stream, or zero duration.
    """
    path = Path(path)
    _check_readable(path)
    result = subprocess.run(
        [_binary("ffprobe"), "-v", "error", "-print_format", "json", "-show_format", "-show_streams", str(path)],
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
        if not streams and fmt.get("format_name") and _float(fmt.get("duration")) == 0:
            raise UTALError(f"{path.name} has zero duration (no frames).")
        if not streams:
            raise UTALError(f"{path.name} is not a media file.")
        raise UTALError(f"{path.name} has no video stream.")
    audio = next((s for s in streams if s.get("codec_type") == "audio"), None)
    duration = _float(video.get("duration")) or _float(fmt.get("duration"))
    if duration <= 0:
        raise UTALError(f"{path.name} has zero duration.")
    avg_fps = _rate(video.get("avg_frame_rate"))
    nominal_fps = _rate(video.get("r_frame_rate"))
    if avg_fps <= 0:
        avg_fps = nominal_fps
    frame_count = int(_float(video.get("nb_frames"))) or int(round(duration * avg_fps))
    is_vfr = bool(avg_fps and nominal_fps and abs(nominal_fps - avg_fps) / avg_fps > _VFR_TOLERANCE)
    return MediaInfo(
        path=str(path),
        duration=duration,
        avg_fps=avg_fps,
        nominal_fps=nominal_fps,
        is_vfr=is_vfr,
        frame_count=frame_count,
        width=int(video.get("width", 0)),
        height=int(video.get("height", 0)),
        rotation=_rotation(video),
        video_codec=str(video.get("codec_name", "unknown")),
        video_start=_float(video.get("start_time")),
        has_audio=audio is not None,
        audio_codec=audio.get("codec_name") if audio else None,
        audio_sample_rate=int(_float(audio.get("sample_rate"))) if audio else None,
        audio_channels=int(audio.get("channels", 0)) if audio else None,
        audio_start=_float(audio.get("start_time"), _float(video.get("start_time"))) if audio else None,
        container=str(fmt.get("format_name", "unknown")),
        size_bytes=path.stat().st_size,
    )


def output_size(info: MediaInfo, short_side: int) -> tuple[int, int]:
    """Decoded frame size (width, height): the short side scaled to ``short_side``, aspect kept, even numbers."""
    width, height = info.display_size
    scale = short_side / min(width, height)
    return max(2, int(round(width * scale / 2)) * 2), max(2, int(round(height * scale / 2)) * 2)


#: ``FrameBatch.kind`` of the snippet-centre frames (appearance encoders) ...
CENTRE_FRAMES = "centre"
#: ... and of the low-resolution fine stream (several frames per snippet: motion, shot cuts).
FINE_FRAMES = "fine"
#: Batches the reader threads may hold ahead of the consumer (decoding runs ahead of encoding).
DEFAULT_PREFETCH = 4


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


@dataclass
class _Output:
    """One rawvideo output of the decode process and the reader state that goes with it."""

    kind: str
    grid: SnippetGrid
    width: int
    height: int
    batch_size: int
    produced: int = 0
    last_frame: np.ndarray | None = None

    @property
    def frame_bytes(self) -> int:
        return self.width * self.height * 3

    def batch(self, first: int, frames: np.ndarray) -> FrameBatch:
        indices = np.arange(first, first + len(frames))
        return FrameBatch(indices=indices, times=self.grid.index_to_seconds(indices), frames=frames, kind=self.kind)


def _read_output(handle, output: _Output, queue: Queue, stop: threading.Event) -> None:
    """Reader thread: cut one output pipe into frame batches and queue them; ``None`` frames mark the end.

    Frames past the grid's last snippet are read and dropped, so that ffmpeg never blocks on this
    pipe while it still has frames to write to the other one.
    """
    try:
        total = output.grid.num_snippets
        read = 0
        while not stop.is_set():
            buffer = handle.read(output.frame_bytes * output.batch_size)
            count = min(len(buffer) // output.frame_bytes, total - read)
            if not buffer:
                break
            if count > 0:
                frames = np.frombuffer(buffer, dtype=np.uint8, count=count * output.frame_bytes)
                queue.put((output, read, frames.reshape(count, output.height, output.width, 3)))
                read += count
    finally:
        queue.put((output, -1, None))


def iter_frames(path: str | os.PathLike, grid: SnippetGrid, short_side: int = 256, batch_size: int = 32,
                info: MediaInfo | None = None, fine: FineStream | None = None,
                prefetch: int = DEFAULT_PREFETCH) -> Iterator[FrameBatch]:
    """Yield RGB frames at the grid's centre times in batches, decoded and resized by one ffmpeg process.

    With ``fine``, the same process (one decode of the video) also yields a second, low-resolution
    stream at ``fine.grid``'s centre times (``kind=FINE_FRAMES``); the two streams are interleaved
    in decoding order. Reader threads keep up to ``prefetch`` batches decoded ahead of the consumer,
    so decoding overlaps with whatever the consumer does with a batch.

    Frames are selected by presentation timestamp (works for variable frame rate). Exactly
    ``grid.num_snippets`` frames are produced per stream: if the stream ends early by less than a
    snippet the last frame is repeated; a file that ends much earlier than its header says raises UTALError.
    """
    info = info or probe(path)
    outputs = [_Output(CENTRE_FRAMES, grid, *output_size(info, short_side), batch_size)]
    if fine is not None:
        outputs.append(_Output(FINE_FRAMES, fine.grid, *output_size(info, fine.short_side), fine.batch_size))
    branches = ";".join(f"[v{n}]{_sampling_filter(o.grid, o.width, o.height)}[out{n}]" for n, o in enumerate(outputs))
    graph = f"[0:v:0]split={len(outputs)}{''.join(f'[v{n}]' for n in range(len(outputs)))};{branches}"
    extra_read, extra_write = os.pipe() if fine is not None else (None, None)
    targets = ["pipe:1"] + ([f"pipe:{extra_write}"] if fine is not None else [])
    command = [_binary("ffmpeg"), "-nostdin", "-v", "error", "-i", str(path), "-filter_complex", graph]
    for n, target in enumerate(targets):
        command += ["-map", f"[out{n}]", "-fps_mode", "passthrough", "-f", "rawvideo", "-pix_fmt", "rgb24", target]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                               pass_fds=() if extra_write is None else (extra_write,))
    handles = [process.stdout]
    if extra_write is not None:
        os.close(extra_write)
        handles.append(os.fdopen(extra_read, "rb"))
    queue: Queue = Queue(maxsize=max(1, prefetch) * len(outputs))
    stop = threading.Event()
    readers = [threading.Thread(target=_read_output, args=(handle, output, queue, stop), daemon=True)
               for handle, output in zip(handles, outputs)]
    for reader in readers:
        reader.start()
    stderr = ""
    try:
        running = len(readers)
        while running:
            output, first, frames = queue.get()
            if frames is None:
                running -= 1
                continue
            output.last_frame = frames[-1]
            output.produced = first + len(frames)
            yield output.batch(first, frames)
    finally:
        stop.set()
        if process.poll() is None and any(reader.is_alive() for reader in readers):
            process.kill()
        while any(reader.is_alive() for reader in readers):  # unblock readers waiting on a full queue
            try:
                queue.get(timeout=0.05)
            except Empty:
                pass
        for handle in handles:
            handle.close()
        stderr = process.stderr.read().decode(errors="replace")
        process.stderr.close()
        process.wait()
    for output in outputs:
        yield from _pad_short_stream(path, output, stderr)


def _pad_short_stream(path, output: _Output, stderr: str) -> Iterator[FrameBatch]:
    """Repeat the last frame of a stream that ended less than a few frames early; raise when it ended much earlier."""
    total = output.grid.num_snippets
    missing = total - output.produced
    if output.last_frame is None:
        raise UTALError(f"{Path(path).name}: no frame could be decoded (truncated or corrupt file). {stderr.strip()[:200]}")
    if missing > max(2, 0.02 * total):
        raise UTALError(f"{Path(path).name} ends early: decoded {output.produced} of {total} snippets "
                        f"(truncated or corrupt file).")
    if missing > 0:
        yield output.batch(output.produced, np.repeat(output.last_frame[None], missing, axis=0))


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


NO_AUDIO_REASON = "the video has no audio track"


def decode_audio(path: str | os.PathLike, sample_rate: int = AUDIO_SAMPLE_RATE,
                 info: MediaInfo | None = None) -> AudioTrack:
    """Decode the first audio stream to mono float32 at ``sample_rate`` with an ffmpeg subprocess.

    The track is shifted so that sample 0 is the video's first presented frame. A video without
    audio gives ``AudioTrack(samples=None, absent_reason=...)``, not an exception or fake silence.
    """
    info = info or probe(path)
    if not info.has_audio:
        return AudioTrack(samples=None, sample_rate=sample_rate, absent_reason=NO_AUDIO_REASON)
    command = [_binary("ffmpeg"), "-nostdin", "-v", "error", "-i", str(path), "-map", "0:a:0", "-vn",
               "-ac", "1", "-ar", str(sample_rate), "-f", "f32le", "pipe:1"]
    result = subprocess.run(command, capture_output=True, check=False)
    samples = np.frombuffer(result.stdout, dtype="<f4").astype(np.float32)
    if samples.size == 0:
        if result.returncode != 0:
            raise UTALError(f"{Path(path).name}: the audio track could not be decoded "
                            f"({result.stderr.decode(errors='replace').strip()[:200]}).")
        return AudioTrack(samples=None, sample_rate=sample_rate, absent_reason="the audio track is empty")
    offset = int(round(((info.audio_start or 0.0) - info.video_start) * sample_rate))
    if offset > 0:
        samples = np.concatenate([np.zeros(offset, np.float32), samples])
    elif offset < 0:
        samples = samples[-offset:]
    return AudioTrack(samples=samples, sample_rate=sample_rate)
