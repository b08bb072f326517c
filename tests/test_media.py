import json
import shutil
import subprocess
import sys

import av
import numpy as np
import pytest

from utal_core.errors import UTALError
from utal_core.grid import SnippetGrid
from utal_core.media import (AUDIO_SAMPLE_RATE, CENTRE_FRAMES, ENV_VARIABLE, FINE_FRAMES, BackendChoice, FineStream, MediaInfo,
                              choose_backend, decode_audio, iter_frames, media_report, probe)
from utal_core.synth.video import SyntheticVideoSpec, make_video, read_frame_code
from utal_core.media.types import aligned_chunks

from .conftest import shared_file

HOP_S = 0.010  # one YAMNet audio hop


def sampled_codes(video, grid, batch_size=7):
    info = probe(video.path)
    codes, times = [], []
    for batch in iter_frames(video.path, grid, short_side=96, batch_size=batch_size, info=info):
        assert len(batch.frames) <= batch_size
        codes += [read_frame_code(frame, video.spec.height) for frame in batch.frames]
        times += list(batch.times)
    return np.array(codes), np.array(times)


@pytest.mark.parametrize("stride, window", [(1.0, 1.0), (0.64, 0.64), (0.5, 2.0), (0.25, 0.25)])
def test_frames_are_the_ones_shown_at_window_centres(synthetic_video, media_backend, stride, window):
    grid = SnippetGrid(probe(synthetic_video.path).duration, stride=stride, window=window)
    codes, times = sampled_codes(synthetic_video, grid)
    assert len(codes) == grid.num_snippets
    np.testing.assert_allclose(times, grid.times)
    # The frame a viewer sees at time t of a 25 fps video is frame floor(25 t).
    np.testing.assert_array_equal(codes, np.floor(grid.times * 25 + 1e-6).astype(int))


def test_variable_frame_rate_frames_follow_timestamps(vfr_silent_video, media_backend):
    info = probe(vfr_silent_video.path)
    assert info.is_vfr
    grid = SnippetGrid(info.duration, stride=0.5, window=0.5)
    codes, _ = sampled_codes(vfr_silent_video, grid)
    shown = np.floor(grid.times * 25 + 1e-6).astype(int)
    # Second half keeps only even frames: the frame on screen is the last even one.
    expected = np.where(grid.times >= vfr_silent_video.spec.duration / 2, shown - shown % 2, shown)
    np.testing.assert_array_equal(codes, expected)


def test_fine_stream_comes_from_the_same_pass_frame_accurate_and_interleaved(synthetic_video, media_backend):
    info = probe(synthetic_video.path)
    grid = SnippetGrid(info.duration, stride=1.0, window=1.0)
    fine = FineStream(SnippetGrid(info.duration, stride=0.125, window=0.125), short_side=96, batch_size=16)
    kinds, codes = [], {CENTRE_FRAMES: [], FINE_FRAMES: []}
    times = {CENTRE_FRAMES: [], FINE_FRAMES: []}
    for batch in iter_frames(synthetic_video.path, grid, short_side=120, batch_size=8, info=info, fine=fine, prefetch=1):
        kinds.append(batch.kind)
        codes[batch.kind] += [read_frame_code(frame, synthetic_video.spec.height) for frame in batch.frames]
        times[batch.kind] += list(batch.times)
        assert batch.frames.shape[1:] == ((120, 160, 3) if batch.kind == CENTRE_FRAMES else (96, 128, 3))
    for kind, stream_grid in ((CENTRE_FRAMES, grid), (FINE_FRAMES, fine.grid)):
        np.testing.assert_allclose(times[kind], stream_grid.times)
        np.testing.assert_array_equal(codes[kind], np.floor(stream_grid.times * 25 + 1e-6).astype(int))
    # Decoding order interleaves the streams: the consumer sees centre frames long before the fine stream ends.
    last = {kind: max(i for i, k in enumerate(kinds) if k == kind) for kind in (CENTRE_FRAMES, FINE_FRAMES)}
    assert kinds.index(CENTRE_FRAMES) < last[FINE_FRAMES] and kinds.index(FINE_FRAMES) < last[CENTRE_FRAMES]


def test_a_consumer_that_stops_early_ends_the_decoder(synthetic_video, media_backend):
    import threading

    before = threading.active_count()
    fine = FineStream(SnippetGrid(30.0, stride=0.1, window=0.1), short_side=48, batch_size=4)
    batches = iter_frames(synthetic_video.path, SnippetGrid(30.0), short_side=64, batch_size=2, fine=fine, prefetch=1)
    next(batches)
    batches.close()  # readers blocked on a full queue must not hang, ffmpeg must not linger
    assert threading.active_count() == before


def test_frames_keep_aspect_and_short_side(synthetic_video, media_backend):
    grid = SnippetGrid(5.0)
    batch = next(iter_frames(synthetic_video.path, grid, short_side=120))
    assert batch.frames.shape[1:] == (120, 160, 3)
    assert batch.frames.dtype == np.uint8


def onset_seconds(samples, threshold, hop=int(HOP_S * AUDIO_SAMPLE_RATE)):
    frames = samples[: len(samples) // hop * hop].reshape(-1, hop)
    energy = np.sqrt((frames ** 2).mean(axis=1))
    return np.argmax(energy > threshold) * HOP_S


def test_audio_is_aligned_to_video_time(synthetic_video, media_backend):
    track = decode_audio(synthetic_video.path)
    assert track.available and track.sample_rate == AUDIO_SAMPLE_RATE
    assert track.samples.dtype == np.float32
    assert track.duration == pytest.approx(synthetic_video.spec.duration, abs=0.05)
    first = synthetic_video.instances[0]
    found = onset_seconds(track.window(first.sound_start - 1.0, first.sound_end), threshold=0.1) + first.sound_start - 1.0
    assert abs(found - first.sound_start) <= HOP_S


def test_no_audio_track_is_an_explicit_absence(vfr_silent_video, media_backend):
    info = probe(vfr_silent_video.path)
    assert not info.has_audio
    track = decode_audio(vfr_silent_video.path, info=info)
    assert not track.available
    assert "no audio" in track.absent_reason


def test_probe_reports_streams(synthetic_video, media_backend):
    info = probe(synthetic_video.path)
    assert info.duration == pytest.approx(30.0, abs=0.05)
    assert info.fps == pytest.approx(25.0) and not info.is_vfr
    assert (info.width, info.height, info.rotation) == (320, 240, 0)
    assert info.video_codec == "h264" and info.audio_codec == "aac" and info.has_audio
    assert info.frame_count == 750


@pytest.mark.parametrize("kind, message", [
    ("text", "not a readable video"), ("empty", "empty"), ("headless", "not a readable video"),
    ("audio_only", "no video stream"), ("zero", "zero duration"),
])
def test_bad_inputs_raise_plain_errors(bad_files, media_backend, kind, message):
    with pytest.raises(UTALError, match=message):
        probe(bad_files[kind])


def test_missing_file_is_named(media_backend):
    with pytest.raises(UTALError, match="File not found"):
        probe("/no/such/video.mp4")


def test_truncated_file_is_detected_while_decoding(bad_files, media_backend):
    path = bad_files["truncated"]
    info = probe(path)  # the header survives the cut
    with pytest.raises(UTALError, match="ends early"):
        for _ in iter_frames(path, SnippetGrid(info.duration), info=info):
            pass


def test_real_clip_probe(media_backend):
    info = probe(shared_file("unav/unav_speech_60s.mp4"))
    assert info.duration == pytest.approx(60.06, abs=0.05)
    assert info.fps == pytest.approx(15.0, abs=0.05)
    assert info.has_audio and (info.width, info.height) == (320, 240)


def test_skipping_the_loop_filter_reaches_the_decoder_and_keeps_frames_close(media_backend):
    """A real H.264 clip (with deblocking): frames decoded without the loop filter differ from a full
    decode, proving the setting reaches the decoder, but only slightly at analysis size."""
    path = shared_file("real/anet_v_GGSY1Qvo990.mp4")
    info = probe(path)
    grid = SnippetGrid(min(info.duration, 30.0), stride=2.0, window=2.0)

    def frames(skip: bool) -> np.ndarray:
        return np.concatenate([b.frames for b in iter_frames(path, grid, info=info, skip_loop_filter=skip)]).astype(float)

    full, fast = frames(False), frames(True)
    assert full.shape == fast.shape == (grid.num_snippets, *full.shape[1:])
    difference = np.abs(full - fast).mean()
    assert 0.0 < difference < 3.0


def test_xvid_mp3_avi_decodes(media_backend):
    path = shared_file("eval_fixtures/short_clip_mp3.avi")
    info = probe(path)
    assert (info.video_codec, info.audio_codec, info.container) == ("mpeg4", "mp3", "avi")
    grid = SnippetGrid(info.duration, stride=0.5, window=0.5)
    frames = np.concatenate([b.frames for b in iter_frames(path, grid, info=info)])
    assert len(frames) == grid.num_snippets and frames.std() > 5
    track = decode_audio(path, info=info)
    assert track.duration == pytest.approx(info.duration, abs=0.1) and np.abs(track.samples).max() > 0.01


def test_cli_probe_json_and_plain_error(synthetic_video, bad_files):
    result = subprocess.run([sys.executable, "-m", "utal_core", "probe", str(synthetic_video.path), "--json"],
                            capture_output=True, text=True, check=True)
    report = json.loads(result.stdout)
    assert report["media"]["has_audio"] and report["grid"]["num_snippets"] == 40  # adaptive: >= 40 snippets
    failed = subprocess.run([sys.executable, "-m", "utal_core", "probe", str(bad_files["text"])],
                            capture_output=True, text=True)
    assert failed.returncode == 2
    assert failed.stderr.startswith("error: ") and "Traceback" not in failed.stderr


def test_a_synthetic_video_written_by_either_backend_reads_back_exactly(tmp_path, media_backend):
    spec = SyntheticVideoSpec(duration=8.0, width=160, height=120, num_actions=1, min_action_s=2, max_action_s=3,
                              variable_frame_rate=True, frame_code=True, seed=9)
    video = make_video(tmp_path / "written.mp4", spec)
    info = probe(video.path)
    assert info.is_vfr and info.has_audio and (info.width, info.height) == (160, 120)
    assert info.duration == pytest.approx(8.0, abs=0.1)
    grid = SnippetGrid(info.duration, stride=0.5, window=0.5)
    codes, _ = sampled_codes(video, grid)
    shown = np.floor(grid.times * 25 + 1e-6).astype(int)
    np.testing.assert_array_equal(codes, np.where(grid.times >= 4.0, shown - shown % 2, shown))
    instance = video.instances[0]
    track = decode_audio(video.path, info=info)
    found = onset_seconds(track.window(instance.sound_start - 1.0, instance.sound_end), threshold=0.1)
    assert abs(found - 1.0) <= HOP_S  # the window starts 1 s before the sound


def test_backend_is_chosen_by_setting_or_by_what_is_on_path(tmp_path, monkeypatch):
    assert choose_backend({ENV_VARIABLE: "pyav"}) == BackendChoice("pyav", f"set by {ENV_VARIABLE}=pyav", "pyav")
    assert choose_backend({ENV_VARIABLE: " FFmpeg "}).name == "ffmpeg"
    with pytest.raises(UTALError, match=f"{ENV_VARIABLE} must be one of auto, ffmpeg, pyav"):
        choose_backend({ENV_VARIABLE: "gstreamer"})
    monkeypatch.setenv("PATH", str(tmp_path))  # an empty folder: neither binary on PATH
    assert choose_backend({}) == BackendChoice("pyav", "ffmpeg and ffprobe not on PATH", "auto")
    (tmp_path / "ffmpeg").symlink_to("/bin/true")
    assert choose_backend({}).reason == "ffprobe not on PATH"
    report = media_report({})
    assert report["name"] == "pyav" and report["ffprobe"] is None and report["pyav"] == av.__version__


@pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs the ffmpeg binary to compare with")
def test_rotated_video_is_turned_the_same_way_by_both_backends(synthetic_video, tmp_path, monkeypatch):
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(synthetic_video.path), "-c", "copy",
                    "-metadata:s:v:0", "rotate=90", str(rotated)], check=True)
    frames = {}
    for backend in ("ffmpeg", "pyav"):
        monkeypatch.setenv(ENV_VARIABLE, backend)
        info = probe(rotated)
        assert info.rotation == 90 and info.display_size == (240, 320)
        frames[backend] = next(iter_frames(rotated, SnippetGrid(info.duration), short_side=120, info=info)).frames
    assert frames["pyav"].shape == frames["ffmpeg"].shape and frames["pyav"].shape[1:] == (160, 120, 3)
    difference = np.abs(frames["pyav"].astype(float) - frames["ffmpeg"].astype(float)).mean()
    upside_down = np.abs(np.rot90(frames["pyav"], 2, axes=(1, 2)).astype(float) - frames["ffmpeg"]).mean()
    assert difference < 3 and upside_down > 5 * difference


@pytest.mark.parametrize("audio_start", [0.0, 0.3, -0.2])
def test_audio_chunks_are_aligned_to_video_time_and_bounded(audio_start):
    """iter_audio's regrouping: fixed-size float32 chunks whose concatenation is the track shifted so that
    sample 0 is the first video frame (silence first when the audio starts later, samples dropped when earlier)."""
    info = MediaInfo(path="x.mp4", duration=2.0, avg_fps=25.0, nominal_fps=25.0, is_vfr=False, frame_count=50, width=64,
                     height=48, rotation=0, video_codec="h264", video_start=0.0, has_audio=True, audio_codec="aac",
                     audio_sample_rate=100, audio_channels=1, audio_start=audio_start, container="mp4", size_bytes=1)
    track = np.arange(1, 201, dtype=np.float64)
    pieces = np.split(track, [7, 8, 8, 90, 151])
    chunks = list(aligned_chunks(iter(pieces), info, 100, chunk_samples=40))
    assert all(chunk.dtype == np.float32 and len(chunk) == 40 for chunk in chunks[:-1]) and 0 < len(chunks[-1]) <= 40
    shift = int(round(audio_start * 100))
    expected = np.concatenate([np.zeros(shift), track]) if shift >= 0 else track[-shift:]
    np.testing.assert_array_equal(np.concatenate(chunks), expected)
    assert not list(aligned_chunks(iter([np.zeros(0)]), info, 100, chunk_samples=40))  # an empty track stays empty
