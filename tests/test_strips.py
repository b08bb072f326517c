"""Frame strips: frame-accurate frames around a boundary (read back from the drawn frame counter), by a
seek and a short decode in either media backend, cached on disk."""

from __future__ import annotations

import math
import shutil
import subprocess
import threading

import cv2
import numpy as np
import pytest

from utal_core import strips as strips_module
from utal_core.errors import UTALError
from utal_core.media import ProxyVideo, frames_at, frames_between, probe, write_proxy
from utal_core.strips import ProxyBuilder, StripCache, strip_times
from utal_core.synth.video import read_frame_code


def on_screen(time: float, fps: float) -> int:
    """The frame counter a viewer sees at ``time`` in a constant-rate video (frame n is shown from n / fps)."""
    return int(math.floor(time * fps + 1e-6))


def test_strip_times_are_a_fixed_grid_plus_the_boundary():
    times = strip_times(10.37, duration=30.0)
    assert times[0] == 8.4 and times[-1] == 12.2 and 10.37 in times and len(times) == 21
    assert strip_times(10.39, duration=30.0)[:3] == times[:3]  # a nudge keeps the neighbours
    assert strip_times(0.5, duration=30.0)[0] == 0.0 and strip_times(29.9, duration=30.0)[-1] == 29.9


@pytest.mark.parametrize("first", [0.0, 7.37, 19.96, 29.5])
def test_frames_at_are_the_frames_on_screen(synthetic_video, media_backend, first):
    info = probe(synthetic_video.path)
    times = [t for t in np.round(first + np.arange(0.0, 4.0, 0.2), 3) if t < info.duration]
    picked = frames_at(synthetic_video.path, times, short_side=120, info=info)
    codes = [read_frame_code(frame, synthetic_video.spec.height) for frame in picked.frames]
    assert codes == [on_screen(t, 25.0) for t in times]
    np.testing.assert_allclose(picked.shown, [c / 25.0 for c in codes], atol=1e-4)
    assert picked.frames.shape[1:] == (120, 160, 3)


def test_frames_at_on_variable_frame_rate(vfr_silent_video, media_backend):
    """Every other frame is dropped after 10 s: each time gets the last frame presented at or before it."""
    video = vfr_silent_video
    times = np.round(np.arange(9.0, 12.0, 0.12), 3)
    picked = frames_at(video.path, times, short_side=96)
    codes = [read_frame_code(frame, video.spec.height) for frame in picked.frames]
    assert np.all(picked.shown <= times + 1e-6) and np.all(times - picked.shown < 2 / 25 + 1e-6)
    np.testing.assert_allclose(picked.shown, np.array(codes) / 25.0, atol=1e-4)
    assert any(t > 10.5 and on_screen(t, 25.0) != c for t, c in zip(times, codes))  # the dropped frames show


def test_strip_cache_decodes_once_and_labels_the_same(synthetic_video, media_backend, tmp_path):
    cache = StripCache(tmp_path / "strips", short_side=120)
    first = cache.strips(synthetic_video.path, "abc123", [10.37, 14.02], duration=30.0)
    assert [len(s) for s in first] == [21, 21]
    boundary = [f for f in first[0] if f.at_boundary]
    assert len(boundary) == 1 and boundary[0].time == 10.37 and boundary[0].shown == pytest.approx(10.36)
    for frame in first[1]:
        image = cv2.cvtColor(cv2.imread(str(frame.path)), cv2.COLOR_BGR2RGB)
        assert read_frame_code(image, synthetic_video.spec.height) == on_screen(frame.time, 25.0)
        assert frame.shown == pytest.approx(on_screen(frame.time, 25.0) / 25.0, abs=1e-4)
    stamps = {f.path: f.path.stat().st_mtime_ns for s in first for f in s}
    again = cache.strips(synthetic_video.path, "abc123", [10.37, 14.02], duration=30.0)
    assert again == first and all(f.path.stat().st_mtime_ns == stamps[f.path] for s in again for f in s)


def test_frames_between_gives_every_frame_of_the_span(synthetic_video, media_backend):
    """The frame on screen at the start, then each frame presented up to the end, in order."""
    picked = frames_between(synthetic_video.path, 7.37, 9.0, short_side=120)
    codes = [read_frame_code(frame, synthetic_video.spec.height) for frame in picked.frames]
    assert codes == list(range(on_screen(7.37, 25.0), on_screen(9.0, 25.0) + 1))
    np.testing.assert_allclose(picked.shown, np.array(codes) / 25.0, atol=1e-4)
    assert np.array_equal(picked.times, picked.shown)


def test_a_nudged_boundary_comes_from_the_window_in_memory(synthetic_video, media_backend, tmp_path, monkeypatch):
    """Once the windows around a segment's bounds are in memory, the strip of a bound moved by a frame, 0.1 s or
    1 s needs no decode; its own frame is still the one on screen, and another video never gets those frames."""
    cache = StripCache(tmp_path / "strips", short_side=120)
    cache.strips(synthetic_video.path, "abc123", [10.37, 14.02], duration=30.0)
    assert cache.remember_windows(synthetic_video.path, "abc123", [10.37, 14.02], duration=30.0) == 1  # merged
    assert cache.remember_windows(synthetic_video.path, "abc123", [10.41], duration=30.0) == 0

    def no_decode(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(strips_module, "frames_at", no_decode)
    for start in (10.41, 10.47, 10.33, 11.37):
        strip = cache.strips(synthetic_video.path, "abc123", [start], duration=30.0)[0]
        boundary = next(frame for frame in strip if frame.at_boundary)
        image = cv2.cvtColor(cv2.imread(str(boundary.path)), cv2.COLOR_BGR2RGB)
        assert read_frame_code(image, synthetic_video.spec.height) == on_screen(start, 25.0)
        assert boundary.shown == pytest.approx(on_screen(start, 25.0) / 25.0, abs=1e-4)
    with pytest.raises(AssertionError, match="decoded again"):
        cache.strips(synthetic_video.path, "other-video", [10.41], duration=30.0)
    with pytest.raises(AssertionError, match="decoded again"):
        cache.strips(synthetic_video.path, "abc123", [20.0], duration=30.0)


def test_prefetch_keeps_windows_caches_strips_and_stops_when_asked(synthetic_video, media_backend, tmp_path,
                                                                  monkeypatch):
    cache = StripCache(tmp_path / "strips", short_side=120)
    stop = threading.Event()
    assert cache.prefetch(synthetic_video.path, "abc123", 30.0, around=[8.0, 9.0], segments=[(3.0, 5.0)],
                          stop=stop) == 1
    stop.set()
    assert cache.prefetch(synthetic_video.path, "abc123", 30.0, segments=[(20.0, 22.0)], stop=stop) == 0
    cache.prefetch_in_background(synthetic_video.path, "abc123", 30.0, segments=[(24.0, 26.0)])
    assert cache.wait_prefetch(timeout=60)
    decoded = []
    monkeypatch.setattr(strips_module, "frames_at", lambda *a, **k: decoded.append(a) or 1 / 0)
    for start, end in ((3.0, 5.0), (24.0, 26.0), (8.1, 9.04)):  # on disk, or in the windows around 8 and 9 s
        strip = cache.strips(synthetic_video.path, "abc123", [start, end], duration=30.0)
        assert all(frame.path.exists() for frame in strip[0] + strip[1])
    assert not decoded


def test_cached_says_whether_a_strip_needs_a_decode(synthetic_video, media_backend, tmp_path):
    cache = StripCache(tmp_path / "strips", short_side=120)
    assert not cache.cached("abc123", [10.37], duration=30.0)
    cache.strips(synthetic_video.path, "abc123", [10.37], duration=30.0)
    assert cache.cached("abc123", [10.37], duration=30.0)
    assert not cache.cached("abc123", [10.41], duration=30.0)  # its own frame is not decoded yet
    cache.remember_windows(synthetic_video.path, "abc123", [10.37], duration=30.0)
    assert cache.cached("abc123", [10.41], duration=30.0) and not cache.cached("other", [10.37], duration=30.0)



def written_proxy(video, short_side: int, folder) -> ProxyVideo:
    proxy = ProxyVideo(folder / f"{video.path.stem}_{short_side}.mp4", short_side)
    assert write_proxy(video.path, proxy)
    return proxy


@pytest.mark.parametrize("fixture", ["synthetic_video", "vfr_silent_video"])
def test_a_proxy_is_frame_accurate(fixture, media_backend, tmp_path, request):
    """Every frame at its own time: the same frame counters, at the same times, as the video itself."""
    video = request.getfixturevalue(fixture)
    proxy = written_proxy(video, 120, tmp_path)
    info, proxy_info = probe(video.path), probe(proxy.path)
    assert proxy.path.is_file() and not proxy.partial.exists()
    assert proxy_info.frame_count == info.frame_count and proxy_info.display_size == (160, 120)
    for start in (0.0, 9.3, info.duration - 1.5):
        original = frames_between(video.path, start, start + 1.5, short_side=120, info=info)
        copy = frames_between(proxy.path, start, start + 1.5, short_side=120, info=proxy_info)
        codes = [read_frame_code(frame, video.spec.height) for frame in copy.frames]
        assert codes == [read_frame_code(frame, video.spec.height) for frame in original.frames]
        np.testing.assert_allclose(copy.shown, original.shown, atol=1e-3)


def test_a_proxy_stopped_or_failed_leaves_nothing(synthetic_video, bad_files, media_backend, tmp_path):
    stop = threading.Event()
    stop.set()
    proxy = ProxyVideo(tmp_path / "stopped.mp4", 120)
    assert not write_proxy(synthetic_video.path, proxy, stop=stop)
    assert not proxy.path.exists() and not proxy.partial.exists()
    broken = ProxyVideo(tmp_path / "broken.mp4", 120)
    with pytest.raises(UTALError, match="notes.mp4"):
        write_proxy(bad_files["text"], broken)
    assert not broken.path.exists() and not broken.partial.exists()


def test_strips_come_from_the_proxy_when_it_is_written(synthetic_video, media_backend, tmp_path):
    """With the video itself gone, the strips still come, frame-accurate, from its proxy; a proxy of another
    frame size is not used."""
    video = tmp_path / "video.mp4"
    shutil.copy(synthetic_video.path, video)
    proxy = ProxyVideo(tmp_path / "proxies" / "abc123_120.mp4", 120)
    cache = StripCache(tmp_path / "strips", short_side=120)
    assert not cache.cached("abc123", [10.37, 14.02], duration=30.0, proxy=proxy)
    builder = ProxyBuilder()
    builder.request(video, proxy)
    builder.request(video, proxy)  # asked twice, written once
    assert builder.wait(timeout=120) and builder.failure(proxy) is None
    video.unlink()
    assert cache.cached("abc123", [10.37, 14.02], duration=30.0, proxy=proxy)
    start, end = cache.strips(video, "abc123", [10.37, 14.02], duration=30.0, proxy=proxy)
    for frame in start + end:
        image = cv2.cvtColor(cv2.imread(str(frame.path)), cv2.COLOR_BGR2RGB)
        assert read_frame_code(image, synthetic_video.spec.height) == on_screen(frame.time, 25.0)
        assert frame.shown == pytest.approx(on_screen(frame.time, 25.0) / 25.0, abs=1e-3)
    other_size = StripCache(tmp_path / "strips96", short_side=96)
    assert not other_size.cached("abc123", [10.37], duration=30.0, proxy=proxy)
    with pytest.raises(UTALError):
        other_size.strips(video, "abc123", [10.37], duration=30.0, proxy=proxy)


def test_the_proxy_builder_remembers_a_failure_and_stops_when_closed(bad_files, synthetic_video, tmp_path):
    builder = ProxyBuilder()
    broken = ProxyVideo(tmp_path / "broken.mp4", 120)
    builder.request(bad_files["text"], broken)
    assert builder.wait(timeout=60) and "notes.mp4" in (builder.failure(broken) or "")
    builder.request(bad_files["text"], broken)
    assert builder.wait(timeout=0)  # not tried again: nothing to wait for
    builder.close()
    late = ProxyVideo(tmp_path / "late.mp4", 120)
    builder.request(synthetic_video.path, late)
    assert builder.wait(timeout=0) and not late.path.exists()


def test_a_rotated_video_has_an_upright_proxy(synthetic_video, media_backend, tmp_path):
    """The proxy holds the frames as displayed (turned as the decoders turn them), with no rotation of its own."""
    rotated = tmp_path / "rotated.mp4"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(synthetic_video.path), "-c", "copy",
                    "-metadata:s:v:0", "rotate=90", str(rotated)], check=True)
    info = probe(rotated)
    proxy = ProxyVideo(tmp_path / "rotated_proxy.mp4", 120)
    assert write_proxy(rotated, proxy, info)
    proxy_info = probe(proxy.path)
    assert info.display_size == (240, 320) and proxy_info.rotation == 0 and proxy_info.display_size == (120, 160)
    original = frames_between(rotated, 9.0, 10.0, short_side=120, info=info).frames.astype(float)
    copy = frames_between(proxy.path, 9.0, 10.0, short_side=120, info=proxy_info).frames.astype(float)
    assert copy.shape == original.shape
    difference = np.abs(copy - original).mean()
    assert difference < 4 and np.abs(np.rot90(copy, 2, axes=(1, 2)) - original).mean() > 5 * difference


@pytest.mark.parametrize("boundary, duration", [(float("inf"), 10.0), (1.0, float("nan")), (11.0, 10.0), ("1", 10.0),
                                                (10**400, 10.0)])
def test_strip_times_refuse_what_is_not_a_finite_time_in_the_video(boundary, duration) -> None:
    from utal_core.strips import strip_times

    with pytest.raises(UTALError, match="boundary|duration"):
        strip_times(boundary, duration)


def test_the_proxy_builder_publishes_only_the_bytes_it_was_asked_for(synthetic_video, vfr_silent_video, tmp_path,
                                                                      monkeypatch):
    """A source deleted before its turn is no lasting failure: a live copy of the same video gets its proxy. A
    source replaced before its turn, or cut short while its proxy is written, leaves no proxy under the hash."""
    from utal_core import media
    from utal_core.identity import content_hash

    video_hash = content_hash(synthetic_video.path)
    gone, live = tmp_path / "closed_session.mp4", tmp_path / "live_copy.mp4"
    shutil.copy(synthetic_video.path, live)
    proxy = ProxyVideo(tmp_path / "proxies" / f"{video_hash[:24]}_120.mp4", 120)
    builder = ProxyBuilder()
    builder.request(gone, proxy, video_hash=video_hash)
    assert builder.wait(timeout=60) and builder.failure(proxy)
    builder.request(live, proxy, video_hash=video_hash)
    assert builder.wait(timeout=120) and builder.failure(proxy) is None and proxy.path.is_file()

    replaced = tmp_path / "replaced.mp4"
    shutil.copy(vfr_silent_video.path, replaced)  # other bytes at the path the analysed video had
    wrong = ProxyVideo(tmp_path / "proxies" / f"{video_hash[:24]}_96.mp4", 96)
    builder.request(replaced, wrong, video_hash=video_hash)
    assert builder.wait(timeout=60) and "replaced or cut short" in builder.failure(wrong) and not wrong.path.exists()

    cut = tmp_path / "cut.mp4"
    shutil.copy(synthetic_video.path, cut)
    backend = media.backend_module()
    real = backend.write_proxy

    def write_then_truncate(info, target, stop):
        real(info, target, stop)
        with open(cut, "r+b") as handle:
            handle.truncate(cut.stat().st_size // 2)

    monkeypatch.setattr(backend, "write_proxy", write_then_truncate)
    short = ProxyVideo(tmp_path / "proxies" / f"{video_hash[:24]}_80.mp4", 80)
    builder.request(cut, short, video_hash=video_hash)
    assert builder.wait(timeout=120) and "cut short" in builder.failure(short)
    assert not short.path.exists() and not short.partial.exists()
    builder.close()


def _codes(strip, height: int) -> list[int]:
    return [read_frame_code(cv2.cvtColor(cv2.imread(str(frame.path)), cv2.COLOR_BGR2RGB), height) for frame in strip]


@pytest.mark.parametrize("boundary, first, last", [(10.37, 254, 264), (0.03, 0, 5), (29.99, 744, 749)])
def test_every_frame_strips_are_consecutive_frames_by_presentation_time(synthetic_video, media_backend, tmp_path,
                                                                        boundary, first, last):
    """The frame on screen at the boundary and five before and after it (fewer at the video's ends): every frame,
    each labelled with its own presentation time, decoded from a short span only."""
    cache = StripCache(tmp_path / "strips", short_side=120)
    strip = cache.every_frame_strips(synthetic_video.path, "abc123", [boundary], 30.0, frame_s=1 / 25)[0]
    assert _codes(strip, synthetic_video.spec.height) == list(range(first, last + 1))
    assert [f.shown for f in strip] == pytest.approx([code / 25 for code in range(first, last + 1)], abs=1e-4)
    assert [f.shown for f in strip if f.at_boundary] == pytest.approx([on_screen(boundary, 25.0) / 25], abs=1e-4)


def test_every_frame_strips_follow_a_one_frame_nudge_from_memory(synthetic_video, media_backend, tmp_path, monkeypatch):
    """With the boundary's window in memory, the strip of a bound nudged by one frame needs no decode and its
    boundary frame is the next one; from the proxy, the frames are the same."""
    cache = StripCache(tmp_path / "strips", short_side=120)
    before = cache.every_frame_strips(synthetic_video.path, "abc123", [10.37], 30.0, frame_s=1 / 25)[0]
    assert cache.remember_windows(synthetic_video.path, "abc123", [10.37], duration=30.0) == 1

    def no_decode(*args, **kwargs):
        raise AssertionError("decoded again")

    monkeypatch.setattr(strips_module, "frames_between", no_decode)
    after = cache.every_frame_strips(synthetic_video.path, "abc123", [10.41], 30.0, frame_s=1 / 25)[0]
    moved = [next(f.shown for f in strip if f.at_boundary) for strip in (before, after)]
    assert moved[1] - moved[0] == pytest.approx(1 / 25, abs=1e-4)
    assert _codes(after, synthetic_video.spec.height) == list(range(255, 266))
    monkeypatch.undo()
    proxy = written_proxy(synthetic_video, 120, tmp_path)
    from_proxy = StripCache(tmp_path / "proxy_strips", short_side=120).every_frame_strips(
        synthetic_video.path, "abc123", [10.41], 30.0, frame_s=1 / 25, proxy=proxy)[0]
    assert [f.shown for f in from_proxy] == pytest.approx([f.shown for f in after], abs=1e-4)
    assert _codes(from_proxy, synthetic_video.spec.height) == list(range(255, 266))


@pytest.mark.parametrize("boundary, frame_s", [(float("nan"), 0.04), (31.0, 0.04), (1.0, 0.0), (1.0, float("inf"))])
def test_every_frame_strips_refuse_what_is_not_a_time_or_a_frame_length(boundary, frame_s, tmp_path) -> None:
    with pytest.raises(UTALError):
        StripCache(tmp_path).every_frame_strips("video.mp4", "abc123", [boundary], 30.0, frame_s=frame_s)
