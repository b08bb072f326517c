"""The player's copy of a video a browser cannot play (utal_core.media.browser_mp4), on both media backends."""

from __future__ import annotations

import dataclasses
import shutil
import subprocess

import pytest

from utal_core import media
from utal_core.errors import UTALError

from .conftest import SHARED_DATA


@pytest.fixture(scope="module")
def avi(tmp_path_factory, synthetic_video):
    """../shared's Xvid + MP3 AVI (packed B-frames, timestamps out of order), or one made like it."""
    shared = SHARED_DATA / "eval_fixtures" / "short_clip_mp3.avi"
    if shared.exists():
        return shared
    if shutil.which("ffmpeg") is None:
        pytest.skip("needs ../shared/data or ffmpeg to make an AVI")
    target = tmp_path_factory.mktemp("avi") / "short_clip_mp3.avi"
    subprocess.run(["ffmpeg", "-v", "error", "-y", "-i", str(synthetic_video.path), "-t", "6", "-c:v", "mpeg4",
                    "-bf", "2", "-c:a", "libmp3lame", str(target)], check=True)
    return target


def test_an_avi_becomes_an_mp4_the_browser_plays_with_every_frame(media_backend, avi, tmp_path):
    source = media.probe(avi)
    assert not media.browser_playable(source)
    reported: list[float] = []
    copy = media.browser_mp4(source, tmp_path / "clip.browser.mp4", reported.append)
    result = media.probe(copy)
    assert media.browser_playable(result) and result.video_codec == "h264" and result.has_audio
    assert abs(result.frame_count - source.frame_count) <= 1, (result.frame_count, source.frame_count)
    assert abs(result.duration - source.duration) < 0.15
    assert reported and reported == sorted(reported) and reported[-1] > 0.9
    assert not list(tmp_path.glob(".*partial"))


def test_an_h264_mp4_is_already_playable(synthetic_video):
    assert media.browser_playable(media.probe(synthetic_video.path))


def test_a_file_that_fails_to_convert_is_one_plain_message(media_backend, synthetic_video, bad_files, tmp_path):
    """A file that stopped being a video after its probe (here: text under the probed facts of a real one)."""
    info = dataclasses.replace(media.probe(synthetic_video.path), path=str(bad_files["text"]), video_codec="mpeg4")
    with pytest.raises(UTALError) as raised:
        media.browser_mp4(info, tmp_path / "out.mp4")
    assert str(raised.value) == "notes.mp4 could not be converted into a video the browser can play."
    assert not list(tmp_path.iterdir())
