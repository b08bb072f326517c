"""Hostile media and caches (issue 10, points 3, 6 and 7): limits hit before decoding, decode errors
warned about, feature cache entries that fail their checks recomputed, unwritable caches reported."""

from __future__ import annotations

import numpy as np
import pytest

from tests.hostile import damage_middle, make_read_only, measure, tiny_filesystem, two_frame_hour
from utal_core.cache import default_cache_dir
from utal_core.errors import UTALError
from utal_core.features import FeatureExtractor, read_features, write_features
from utal_core.grid import SnippetGrid, make_grid
from utal_core.limits import Limits
from utal_core.media import probe
from utal_core.model import load_feature_folder
from utal_core.synth.video import SyntheticVideoSpec, make_video


@pytest.fixture(scope="module")
def short_video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("hostile_media") / "short.mp4",
                      SyntheticVideoSpec(duration=12.0, num_actions=1, seed=1)).path


@pytest.fixture(scope="module")
def cbp_extractor(tmp_path_factory, single_torch_thread):
    return FeatureExtractor(["cbp"], device="cpu", cache_dir=tmp_path_factory.mktemp("hostile_cache"))


def test_two_frame_hour_is_refused_in_seconds_with_bounded_memory(tmp_path, cbp_extractor, media_backend):
    bomb = two_frame_hour(tmp_path / "bomb.mkv")
    assert bomb.stat().st_size < 10_000
    info = probe(bomb)
    assert info.duration > 3600 and info.frame_count == 2  # counted, not taken from the header
    with measure() as usage, pytest.raises(UTALError, match="holds only 2 frame"):
        cbp_extractor.extract(bomb)
    assert usage.seconds < 5 and usage.peak_growth_mib < 100, usage
    assert not list(cbp_extractor.cache_dir.rglob("*.npz"))


def test_duration_and_snippet_limits_are_settings_with_plain_messages(short_video, monkeypatch, media_backend):
    assert Limits.from_env({}).max_duration_s == Limits().max_duration_s
    extractor = FeatureExtractor([], cache_dir=None, limits=Limits.from_env({"UTAL_MAX_DURATION_S": "5"}))
    with pytest.raises(UTALError, match=r"lasts 12 s, longer than the 5 s allowed .*UTAL_MAX_DURATION_S"):
        extractor.extract(short_video)
    extractor = FeatureExtractor([], cache_dir=None, limits=Limits(max_snippets=20))
    with pytest.raises(UTALError, match="would be 24 snippets, more than the 20 allowed"):
        extractor.extract(short_video, SnippetGrid(12.0, stride=0.5, window=0.5))
    monkeypatch.setenv("UTAL_MAX_SNIPPETS", "lots")
    with pytest.raises(UTALError, match="UTAL_MAX_SNIPPETS must be a number"):
        Limits.from_env()
    assert Limits.from_env({"UTAL_MAX_SNIPPETS": "7"}, max_snippets=9).max_snippets == 9  # a CLI flag wins
    Limits().check_analysis("still_image_with_sound.mp4", 60.0, 60, 1)  # a short grid is never refused for it
    with pytest.raises(UTALError, match="holds only 2 frame"):
        Limits().check_analysis("bomb.mkv", 3601.0, 1800, 2)


def test_decode_errors_in_the_middle_are_a_warning_kept_in_the_cache(tmp_path, short_video, cbp_extractor, media_backend):
    damaged = damage_middle(short_video, tmp_path / "damaged.mp4")
    features = cbp_extractor.extract(damaged)
    assert features.views["cbp"].shape[0] == cbp_extractor.extract(short_video).num_snippets
    assert len(features.warnings) == 1 and "decode error(s) in the video frames" in features.warnings[0]
    assert "h264" not in features.warnings[0] and "NAL" not in features.warnings[0]  # no raw ffmpeg wording
    again = cbp_extractor.extract(damaged)
    assert cbp_extractor.last_from_cache and again.warnings == features.warnings
    assert cbp_extractor.extract(short_video).warnings == []


def _entry(extractor, video):
    return extractor._cache_path(extractor.cache_key(video, make_grid(probe(video).duration)))


@pytest.mark.parametrize("damage", ["wrong dimension", "nan", "sidecar is a list", "deeply nested sidecar"])
def test_cache_entry_failing_its_checks_is_recomputed(short_video, cbp_extractor, damage):
    good = cbp_extractor.extract(short_video)
    entry = _entry(cbp_extractor, short_video)
    features, metadata = read_features(entry)
    if damage == "wrong dimension":
        features.views["cbp"] = features.views["cbp"][:, :7]
        write_features(entry, features, metadata)  # a consistent entry (checksum matches), of the wrong shape
    elif damage == "nan":
        features.views["cbp"][3, 3] = np.nan
        write_features(entry, features, metadata)
    elif damage == "sidecar is a list":
        entry.with_suffix(".json").write_text("[1, 2, 3]")
    else:
        entry.with_suffix(".json").write_text("[" * 100_000 + "]" * 100_000)
    again = cbp_extractor.extract(short_video)
    assert not cbp_extractor.last_from_cache
    np.testing.assert_allclose(again.views["cbp"], good.views["cbp"], atol=1e-5)
    assert read_features(entry)[0].views["cbp"].shape == good.views["cbp"].shape  # the entry was rewritten


def test_cache_entry_path_that_is_a_folder_is_a_plain_error(tmp_path, short_video, single_torch_thread):
    extractor = FeatureExtractor(["cbp"], device="cpu", cache_dir=tmp_path)
    entry = _entry(extractor, short_video)
    entry.mkdir(parents=True)
    with pytest.raises(UTALError, match=r"^Cannot write .*\.npz: Is a directory"):
        extractor.extract(short_video)
    assert entry.is_dir()


def test_cache_root_that_is_a_file_is_a_plain_error(tmp_path, monkeypatch):
    (tmp_path / "cache").write_text("not a folder")
    monkeypatch.setenv("UTAL_CACHE_DIR", str(tmp_path / "cache"))
    with pytest.raises(UTALError, match="is a file, not a folder"):
        default_cache_dir()


def test_full_or_read_only_cache_is_a_plain_error_and_keeps_what_was_saved(short_video, tmp_path):
    extractor_cache = tmp_path / "features"
    with tiny_filesystem("64k") as root:
        (root / "saved.txt").write_text("saved before")
        extractor = FeatureExtractor(["cbp"], device="cpu", cache_dir=root / "features")
        with pytest.raises(UTALError, match="No space left on device"):
            extractor.extract(short_video)
        assert (root / "saved.txt").read_text() == "saved before"
        assert not list(root.rglob("*.tmp"))  # the partial temp file was removed
        make_read_only(root)
        with pytest.raises(UTALError, match="Read-only file system"):
            extractor.extract(short_video)
        assert (root / "saved.txt").read_text() == "saved before"
    assert not extractor_cache.exists()


def test_nan_in_precomputed_features_is_refused(tmp_path):
    values = np.ones((8, 4), np.float32)
    values[2, 1] = np.inf
    np.save(tmp_path / "video_a.npy", values)
    with pytest.raises(UTALError, match="video_a.npy holds NaN or infinite values"):
        load_feature_folder(tmp_path)
