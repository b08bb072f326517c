"""Deterministic synthetic videos with exact ground truth (tests and benchmarks).

A video is a drifting textured background with ambient noise, and action instances of a few
kinds, each drawn with its own visual pattern and its own sound. The sound of an instance starts
and ends near, but not exactly at, its visual boundaries, as real sounds do. Written as MP4
(H.264 + AAC) with an ActivityNet-format ground-truth JSON beside it.
"""

from __future__ import annotations

import json
import os
import tempfile
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from ..errors import UTALError
from ..media import EncodeSettings, write_mp4

AUDIO_RATE = 48_000
#: Bits of the frame counter drawn into the top-left corner when ``frame_code`` is on.
FRAME_CODE_BITS = 16


@dataclass(frozen=True)
class ActionInstance:
    """One planted action: its kind, its visual span and its sound span, in seconds."""

    label: str
    start: float
    end: float
    sound_start: float
    sound_end: float


@dataclass(frozen=True)
class SyntheticVideoSpec:
    """Parameters of one synthetic video; the same spec always gives the same file content."""

    duration: float = 30.0
    width: int = 320
    height: int = 240
    fps: float = 25.0
    num_actions: int = 3
    kinds: tuple[str, ...] = ("bouncing_ball", "waving_person", "spinning_square")
    min_action_s: float = 3.0
    max_action_s: float = 7.0
    min_gap_s: float = 2.0
    variable_frame_rate: bool = False
    audio: bool = True
    frame_code: bool = False
    seed: int = 0
    crf: int = 23


def _place_instances(spec: SyntheticVideoSpec, rng: np.random.Generator) -> list[ActionInstance]:
    lengths = rng.uniform(spec.min_action_s, spec.max_action_s, spec.num_actions)
    free = spec.duration - lengths.sum() - spec.min_gap_s * (spec.num_actions + 1)
    if spec.num_actions and free < 0:
        raise UTALError(f"{spec.num_actions} actions of {spec.min_action_s}-{spec.max_action_s} s do not fit "
                        f"in {spec.duration} s.")
    # Split the spare time into num_actions + 1 random gaps (on top of the minimum gap).
    extra = rng.dirichlet(np.ones(spec.num_actions + 1)) * max(free, 0.0)
    instances, cursor = [], 0.0
    for index, length in enumerate(lengths):
        cursor += spec.min_gap_s + extra[index]
        start, end = round(cursor, 3), round(cursor + length, 3)
        onset = rng.choice([-1, 1]) * rng.uniform(0.1, 0.4)
        offset = rng.choice([-1, 1]) * rng.uniform(0.1, 0.4)
        kind = spec.kinds[index % len(spec.kinds)] if index < len(spec.kinds) else str(rng.choice(spec.kinds))
        instances.append(ActionInstance(kind, float(start), float(end), round(float(max(0.0, start + onset)), 3),
                                        round(float(min(spec.duration, end + offset)), 3)))
        cursor += length
    return instances


# --- visuals -------------------------------------------------------------------------------------

_Painter = Callable[[np.ndarray, float, float, np.random.Generator], None]
_PAINTERS: dict[str, _Painter] = {}
_SOUNDS: dict[str, Callable[[np.ndarray], np.ndarray]] = {}


def _action_kind(name: str, sound: Callable[[np.ndarray], np.ndarray]):
    def register(painter: _Painter) -> _Painter:
        _PAINTERS[name] = painter
        _SOUNDS[name] = sound
        return painter
    return register


def list_action_kinds() -> list[str]:
    """Names of the action kinds the generator can plant."""
    return sorted(_PAINTERS)


def _disk(frame: np.ndarray, cx: float, cy: float, radius: float, colour) -> None:
    height, width = frame.shape[:2]
    x0, x1 = int(max(0, cx - radius)), int(min(width, cx + radius + 1))
    y0, y1 = int(max(0, cy - radius)), int(min(height, cy + radius + 1))
    if x1 <= x0 or y1 <= y0:
        return
    yy, xx = np.mgrid[y0:y1, x0:x1]
    mask = (xx - cx) ** 2 + (yy - cy) ** 2 <= radius ** 2
    frame[y0:y1, x0:x1][mask] = colour


def _bar(frame: np.ndarray, x0: float, y0: float, x1: float, y1: float, thickness: float, colour) -> None:
    height, width = frame.shape[:2]
    pad = thickness
    bx0, bx1 = int(max(0, min(x0, x1) - pad)), int(min(width, max(x0, x1) + pad + 1))
    by0, by1 = int(max(0, min(y0, y1) - pad)), int(min(height, max(y0, y1) + pad + 1))
    if bx1 <= bx0 or by1 <= by0:
        return
    yy, xx = np.mgrid[by0:by1, bx0:bx1]
    dx, dy = x1 - x0, y1 - y0
    t = np.clip(((xx - x0) * dx + (yy - y0) * dy) / max(dx * dx + dy * dy, 1e-9), 0, 1)
    mask = (xx - x0 - t * dx) ** 2 + (yy - y0 - t * dy) ** 2 <= (thickness / 2) ** 2
    frame[by0:by1, bx0:bx1][mask] = colour


def _tone(frequency: float, pulse_hz: float) -> Callable[[np.ndarray], np.ndarray]:
    def sound(t: np.ndarray) -> np.ndarray:
        envelope = 0.5 + 0.5 * np.sign(np.sin(2 * np.pi * pulse_hz * t))
        return 0.4 * envelope * np.sin(2 * np.pi * frequency * t)
    return sound


def _chirp(t: np.ndarray) -> np.ndarray:
    phase = 2 * np.pi * (300 * t + 400 * (t % 1.0) ** 2)
    return 0.35 * np.sin(phase)


@_action_kind("bouncing_ball", sound=_tone(440.0, 2.0))
def _paint_ball(frame: np.ndarray, t: float, progress: float, rng: np.random.Generator) -> None:
    height, width = frame.shape[:2]
    bounce = abs(np.sin(np.pi * 2.0 * t))
    cx = width * (0.2 + 0.6 * progress)
    cy = height * (0.85 - 0.6 * bounce)
    _disk(frame, cx, cy, 0.08 * height, (230, 40, 40))


@_action_kind("waving_person", sound=_tone(880.0, 3.0))
def _paint_person(frame: np.ndarray, t: float, progress: float, rng: np.random.Generator) -> None:
    height, width = frame.shape[:2]
    unit = height / 10
    cx, hip = width * 0.5, height * 0.7
    shoulder = hip - 3 * unit
    colour = (20, 20, 20)
    _disk(frame, cx, shoulder - 0.9 * unit, 0.7 * unit, colour)
    _bar(frame, cx, shoulder, cx, hip, 0.6 * unit, colour)
    for side in (-1, 1):
        _bar(frame, cx, hip, cx + side * unit, hip + 2.5 * unit, 0.4 * unit, colour)
        # Arms swing between 60 degrees below and 70 degrees above the horizontal.
        angle = np.radians(-60 + 130 * (0.5 + 0.5 * np.sin(2 * np.pi * 1.5 * t)))
        _bar(frame, cx, shoulder, cx + side * 2.2 * unit * np.cos(angle), shoulder - 2.2 * unit * np.sin(angle),
             0.35 * unit, colour)


@_action_kind("spinning_square", sound=_chirp)
def _paint_square(frame: np.ndarray, t: float, progress: float, rng: np.random.Generator) -> None:
    height, width = frame.shape[:2]
    half = 0.15 * height
    cx, cy = width * 0.7, height * 0.4
    angle = 2 * np.pi * 0.5 * t
    reach = int(half * 1.5)
    y0, y1 = int(max(0, cy - reach)), int(min(height, cy + reach))
    x0, x1 = int(max(0, cx - reach)), int(min(width, cx + reach))
    yy, xx = np.mgrid[y0:y1, x0:x1]
    u = (xx - cx) * np.cos(angle) + (yy - cy) * np.sin(angle)
    v = -(xx - cx) * np.sin(angle) + (yy - cy) * np.cos(angle)
    mask = (np.abs(u) <= half) & (np.abs(v) <= half)
    frame[y0:y1, x0:x1][mask] = (40, 90, 230)


class _Background:
    """A smooth random texture larger than the frame, viewed through a slowly drifting window."""

    def __init__(self, width: int, height: int, rng: np.random.Generator):
        self.margin = max(8, width // 10)
        coarse = rng.uniform(60, 200, size=(height // 16 + 4, width // 16 + 4, 3))
        coarse = 0.7 * coarse.mean(axis=2, keepdims=True) + 0.3 * coarse  # muted colours, like a scene
        big_h, big_w = height + 2 * self.margin, width + 2 * self.margin
        rows = np.linspace(0, coarse.shape[0] - 1, big_h)
        cols = np.linspace(0, coarse.shape[1] - 1, big_w)
        smooth = _bilinear(coarse, rows, cols)
        grain = rng.normal(0, 6, size=(big_h, big_w, 1))
        self.texture = np.clip(smooth + grain, 0, 255).astype(np.uint8)
        self.width, self.height = width, height

    def frame(self, t: float) -> np.ndarray:
        dx = int(round(self.margin * (1 + 0.9 * np.sin(2 * np.pi * t / 37.0))))
        dy = int(round(self.margin * (1 + 0.9 * np.cos(2 * np.pi * t / 53.0))))
        return self.texture[dy: dy + self.height, dx: dx + self.width].copy()


def _bilinear(grid: np.ndarray, rows: np.ndarray, cols: np.ndarray) -> np.ndarray:
    r0 = np.floor(rows).astype(int).clip(0, grid.shape[0] - 2)
    c0 = np.floor(cols).astype(int).clip(0, grid.shape[1] - 2)
    fr, fc = (rows - r0)[:, None, None], (cols - c0)[None, :, None]
    top = grid[r0][:, c0] * (1 - fc) + grid[r0][:, c0 + 1] * fc
    bottom = grid[r0 + 1][:, c0] * (1 - fc) + grid[r0 + 1][:, c0 + 1] * fc
    return top * (1 - fr) + bottom * fr


def draw_frame_code(frame: np.ndarray, index: int) -> None:
    """Draw ``index`` as FRAME_CODE_BITS black/white blocks along the top-left edge."""
    block = max(4, frame.shape[0] // 30)
    for bit in range(FRAME_CODE_BITS):
        value = 255 if (index >> bit) & 1 else 0
        frame[0:block, bit * block:(bit + 1) * block] = value


def read_frame_code(frame: np.ndarray, source_height: int) -> int:
    """Read back the counter drawn by :func:`draw_frame_code` from a (possibly resized) frame."""
    scale = frame.shape[0] / source_height
    block = max(4, source_height // 30) * scale
    row = int(block / 2)
    value = 0
    for bit in range(FRAME_CODE_BITS):
        column = int((bit + 0.5) * block)
        if frame[row, column].mean() > 127:
            value |= 1 << bit
    return value


# --- audio ---------------------------------------------------------------------------------------

def _soundtrack(spec: SyntheticVideoSpec, instances: list[ActionInstance], rng: np.random.Generator) -> np.ndarray:
    samples = int(round(spec.duration * AUDIO_RATE))
    white = rng.normal(0, 1, samples)
    ambient = np.convolve(white, np.ones(64) / 64, mode="same") * 0.05
    track = ambient.astype(np.float64)
    for instance in instances:
        first, last = int(instance.sound_start * AUDIO_RATE), int(instance.sound_end * AUDIO_RATE)
        t = np.arange(last - first) / AUDIO_RATE
        ramp = np.minimum(1.0, np.minimum(t, t[::-1] if len(t) else t) / 0.01)
        track[first:last] += _SOUNDS[instance.label](t) * ramp
    return np.clip(track, -1, 1).astype(np.float32)


# --- writing -------------------------------------------------------------------------------------

@dataclass
class SyntheticVideo:
    """A written synthetic video: its files, its spec and its exact ground truth."""

    path: Path
    gt_path: Path
    spec: SyntheticVideoSpec
    instances: list[ActionInstance] = field(default_factory=list)

    @property
    def video_id(self) -> str:
        return self.path.stem


def ground_truth_json(video_id: str, spec: SyntheticVideoSpec, instances: list[ActionInstance]) -> dict:
    """ActivityNet-format ground truth; each annotation also carries its sound span."""
    return {
        "version": "utal_core synthetic",
        "database": {video_id: {
            "duration": spec.duration,
            "subset": "test",
            "spec": asdict(spec),
            "annotations": [{"segment": [i.start, i.end], "label": i.label,
                             "sound_segment": [i.sound_start, i.sound_end]} for i in instances],
        }},
    }


def _frames(spec: SyntheticVideoSpec, instances: list[ActionInstance], background: _Background,
            rng: np.random.Generator) -> Iterator[np.ndarray]:
    """Every frame of the video in order: the background with the instances active then painted over."""
    for index in range(int(round(spec.duration * spec.fps))):
        t = index / spec.fps
        frame = background.frame(t)
        for instance in instances:
            if instance.start <= t < instance.end:
                progress = (t - instance.start) / (instance.end - instance.start)
                _PAINTERS[instance.label](frame, t - instance.start, progress, rng)
        if spec.frame_code:
            draw_frame_code(frame, index)
        yield frame


def make_video(path: str | os.PathLike, spec: SyntheticVideoSpec = SyntheticVideoSpec()) -> SyntheticVideo:
    """Render ``spec`` to an MP4 at ``path`` (H.264, plus AAC when ``spec.audio``) and its GT JSON beside it."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(spec.seed)
    unknown = set(spec.kinds) - set(_PAINTERS)
    if unknown:
        raise UTALError(f"Unknown action kind(s) {sorted(unknown)}; known: {list_action_kinds()}")
    instances = _place_instances(spec, rng)
    background = _Background(spec.width, spec.height, rng)
    soundtrack = _soundtrack(spec, instances, rng) if spec.audio else None
    settings = EncodeSettings(width=spec.width, height=spec.height, fps=spec.fps, duration=spec.duration, crf=spec.crf,
                              audio=soundtrack, audio_rate=AUDIO_RATE,
                              halve_rate_after_s=spec.duration / 2 if spec.variable_frame_rate else None)
    with tempfile.TemporaryDirectory(prefix="utal_synth_", dir=path.parent) as tmp:
        partial = Path(tmp) / path.name
        write_mp4(partial, _frames(spec, instances, background, rng), settings)
        os.replace(partial, path)
    gt_path = path.with_suffix(".gt.json")
    gt_path.write_text(json.dumps(ground_truth_json(path.stem, spec, instances), indent=1))
    return SyntheticVideo(path=path, gt_path=gt_path, spec=spec, instances=instances)
