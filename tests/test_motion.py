"""Motion view, shot cuts and fine-time signals: synthetic scenes with known motion, cuts and sounds."""

from __future__ import annotations

import subprocess

import numpy as np
import pytest

from utal_core.encoders import create_encoder
from utal_core.encoders.motion import FEATURE_NAMES, FINE_BINS
from utal_core.features import FeatureExtractor, fine_stream_grid
from utal_core.grid import SnippetGrid
from utal_core.media import probe
from utal_core.signals import AUDIO_FINE_BINS, ShotCutDetector, audio_rms_fine

HEIGHT, WIDTH, RATE, DURATION = 96, 128, 8.0, 10.0
TIMES = (np.arange(int(DURATION * RATE)) + 0.5) / RATE
#: The square moves from 4 s to 6 s (40 px/s) and stands still before and after.
MOVING = (4.0, 6.0)


def texture(height: int, width: int, seed: int) -> np.ndarray:
    """Smooth random colour texture (flow needs texture to see motion)."""
    import cv2

    coarse = np.random.default_rng(seed).integers(0, 256, (height // 4 + 1, width // 4 + 1, 3)).astype(np.uint8)
    return cv2.GaussianBlur(cv2.resize(coarse, (width, height), interpolation=cv2.INTER_CUBIC), (3, 3), 0)


BACKGROUND = texture(HEIGHT + 100, WIDTH + 400, 0)
SQUARE = texture(24, 24, 1)


def scene(kind: str) -> np.ndarray:
    """Frames [N, H, W, 3] at TIMES: "static", "object" (a square moving during MOVING) or "pan" (30 px/s)."""
    frames = []
    for time in TIMES:
        if kind == "pan":
            left = int(round(time * 30))
            frames.append(BACKGROUND[50:50 + HEIGHT, left:left + WIDTH].copy())
            continue
        frame = BACKGROUND[50:50 + HEIGHT, 100:100 + WIDTH].copy()
        if kind == "object":
            x = int(round(10 + 40 * (np.clip(time, *MOVING) - MOVING[0])))
            frame[36:60, x:x + 24] = SQUARE
        frames.append(frame)
    return np.stack(frames)


@pytest.fixture(scope="module")
def motion():
    return create_encoder("motion")


@pytest.fixture(scope="module")
def energies(motion):
    grid = SnippetGrid(DURATION, 0.25, 0.25)
    return grid, {kind: motion.encode_batch(scene(kind), TIMES, grid) for kind in ("static", "object", "pan")}


def test_motion_energy_peaks_where_the_object_moves(energies):
    grid, encoded = energies
    energy = encoded["object"].extras["motion_energy"]
    moving = (grid.times > MOVING[0] + 0.2) & (grid.times < MOVING[1] - 0.2)
    still = (grid.times < MOVING[0] - 0.2) | (grid.times > MOVING[1] + 0.2)
    assert energy[moving].min() > 0.01  # about 0.42 short sides/s on ~5 % of the frame
    assert energy[still].max() < 0.05 * energy[moving].mean()
    assert MOVING[0] < grid.times[np.argmax(energy)] < MOVING[1]


def test_motion_energy_is_flat_on_a_static_scene_and_on_a_pure_camera_pan(energies):
    _, encoded = energies
    peak = encoded["object"].extras["motion_energy"].max()
    assert encoded["static"].extras["motion_energy"].max() < 1e-3 * peak
    pan = encoded["pan"].extras["motion_energy"]
    assert pan.max() < 0.25 * peak and pan.std() < 0.05 * peak
    # The pan is seen as camera motion instead: 30 px/s on a 96 px short side.
    camera = encoded["pan"].features[:, FEATURE_NAMES.index("camera_speed")]
    assert np.all(np.expm1(camera) * 0.05 == pytest.approx(30 / 96, rel=0.1))


def test_motion_features_have_fixed_dims_and_are_finite(energies, motion):
    grid, encoded = energies
    for result in encoded.values():
        assert result.features.shape == (grid.num_snippets, motion.dim) == (grid.num_snippets, len(FEATURE_NAMES))
        assert np.isfinite(result.features).all()
        assert result.extras["motion_fine"].shape == (grid.num_snippets, FINE_BINS)


def test_motion_fine_says_where_inside_a_snippet_motion_starts(motion):
    grid = SnippetGrid(DURATION, 1.0, 1.0)  # 8 fine frames per snippet: snippet 4 spans 4..5 s
    frames = scene("object")
    fine = motion.encode_batch(frames, TIMES, grid).extras["motion_fine"]
    shifted = TIMES + 0.5  # the same motion half a second later: it starts in the middle of snippet 4
    late = motion.encode_batch(frames, shifted[shifted <= DURATION], grid).extras["motion_fine"]
    assert fine[4].min() > 0.5 * fine[4].max()  # moving through the whole snippet
    assert late[4, :2].max() < 0.1 * late[4, 2:].min()  # still for the first half, moving after


def test_shot_cut_detector_sees_a_hard_cut_but_not_a_pan_or_motion():
    grid = SnippetGrid(DURATION, 0.25, 0.25)
    for kind in ("static", "object", "pan"):
        detector = ShotCutDetector(grid)
        detector.add(scene(kind), TIMES)
        assert detector.finish().sum() == 0, kind
    other = texture(HEIGHT, WIDTH, 7)
    frames = scene("object")
    frames[TIMES > 5.0] = other  # the scene changes between 4.9375 s and 5.0625 s
    detector = ShotCutDetector(grid)
    detector.add(frames, TIMES)
    np.testing.assert_allclose(detector.cut_times(), [TIMES[TIMES > 5.0][0]])
    assert np.flatnonzero(detector.finish()).tolist() == [grid.nearest_index(5.06).item()]


def _lavfi_clip(path, source: str, seconds: float) -> None:
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "lavfi", "-i", f"{source}=size=160x120:rate=25",
                    "-t", str(seconds), "-pix_fmt", "yuv420p", "-c:v", "libx264", "-preset", "ultrafast", str(path)],
                   check=True)


@pytest.fixture(scope="module")
def cut_video(tmp_path_factory):
    """6 s: 3 s of a moving test pattern, then a hard cut to 3 s of a different one."""
    folder = tmp_path_factory.mktemp("cuts")
    _lavfi_clip(folder / "a.mp4", "testsrc2", 3.0)
    _lavfi_clip(folder / "b.mp4", "rgbtestsrc", 3.0)
    (folder / "list.txt").write_text("file 'a.mp4'\nfile 'b.mp4'\n")
    path = folder / "cut.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-f", "concat", "-safe", "0", "-i", str(folder / "list.txt"),
                    "-c", "copy", str(path)], check=True)
    continuous = folder / "continuous.mp4"
    _lavfi_clip(continuous, "testsrc2", 6.0)
    return path, continuous


def test_shot_cut_is_found_in_the_decode_pass_of_a_real_file_and_not_on_a_continuous_one(cut_video):
    cut, continuous = cut_video
    extractor = FeatureExtractor(["motion"])
    features = extractor.extract(cut)
    grid = SnippetGrid.adaptive(probe(cut).duration)
    assert grid.num_snippets == features.num_snippets == 40
    assert np.flatnonzero(features.extras["shot_cut"]).tolist() == [grid.nearest_index(3.0).item()]
    assert extractor.extract(continuous).extras["shot_cut"].sum() == 0


def test_fine_stream_grid_tiles_snippets_and_never_repeats_a_frame():
    grid = SnippetGrid(600.0, 1.0, 1.0)
    fine = fine_stream_grid(grid, fps=24.0)
    assert fine.stride == pytest.approx(1 / 8) and fine.num_snippets == 8 * grid.num_snippets
    short = SnippetGrid(10.0, 0.25, 0.25)
    assert fine_stream_grid(short, fps=25.0).stride == pytest.approx(0.25 / 4)  # at least 4 per snippet
    assert fine_stream_grid(short, fps=10.0).stride == pytest.approx(0.25 / 2)  # never above the frame rate
    tiny = SnippetGrid(1.0, 0.05, 0.05)
    assert fine_stream_grid(tiny, fps=25.0).stride == pytest.approx(0.05)


def test_audio_rms_fine_places_an_onset_inside_its_snippet():
    rate = 16_000
    samples = np.zeros(rate * 4, np.float32)
    onset = 2.0 + 5 / 8  # snippet 2 (2..3 s), sixth of its eight sub-windows
    samples[int(onset * rate):] = 0.5 * np.sin(np.arange(len(samples) - int(onset * rate)) * 0.3)
    fine = audio_rms_fine(samples, rate, SnippetGrid(4.0, 1.0, 1.0))
    assert fine.shape == (4, AUDIO_FINE_BINS)
    assert fine[:2].max() == 0 and np.flatnonzero(fine[2] > 0.1).tolist() == [5, 6, 7]
    assert fine[3].min() == pytest.approx(0.5 / np.sqrt(2), rel=0.02)
