"""Feature extraction: one decode pass, absent audio, content-addressed cache, CLI (doctor, features)."""

from __future__ import annotations

import argparse
import json
import shutil

import numpy as np
import pytest

from utal_core import media
from utal_core.cli.features import _configure_doctor, _configure_features, doctor_report, run_doctor, run_features
from utal_core.encoders import create_encoder
from utal_core.encoders.base import CHECKPOINTS_DIR
from utal_core.features import FeatureExtractor, content_hash, read_features, write_features
from utal_core.grid import SnippetGrid
from utal_core.media import NO_AUDIO_REASON
from utal_core.types import ViewFeatures
from tests.tiny_clip import register_tiny_clip, save_tiny_clip_weights


def run_cli(configure, handler, argv: list[str]) -> int:
    """Run one of this area's subcommands as `python -m utal_core` would, without importing the others."""
    parser = argparse.ArgumentParser()
    configure(parser)
    return handler(parser.parse_args(argv))


@pytest.fixture(scope="module")
def tiny_clip_settings(tmp_path_factory) -> dict:
    folder = tmp_path_factory.mktemp("tiny_clip_features")
    vocabulary = folder / "vocabulary.txt"
    vocabulary.write_text("walking\nwaving\nbouncing a ball\n")
    weights = save_tiny_clip_weights(folder / "tiny.pt")
    return {"model": register_tiny_clip(), "weights": str(weights), "vocabulary": str(vocabulary), "top_k": 2}


@pytest.fixture(scope="module")
def encoders(tiny_clip_settings):
    """Loaded once for the module; tests read their call counters as differences."""
    return [create_encoder("cbp"), create_encoder("clip", **tiny_clip_settings), create_encoder("audio"),
            create_encoder("motion")]


@pytest.fixture
def count_decodes(monkeypatch):
    counts = {"frames": 0, "audio": 0}
    real_iter_frames, real_iter_audio = media.iter_frames, media.iter_audio

    def iter_frames(*args, **kwargs):
        counts["frames"] += 1
        return real_iter_frames(*args, **kwargs)

    def iter_audio(*args, **kwargs):
        counts["audio"] += 1
        return real_iter_audio(*args, **kwargs)

    monkeypatch.setattr(media, "iter_frames", iter_frames)
    monkeypatch.setattr(media, "iter_audio", iter_audio)
    return counts


def test_content_hash_follows_content_not_name(tmp_path):
    first, second = tmp_path / "a.bin", tmp_path / "b.bin"
    data = np.random.default_rng(0).integers(0, 256, 3 << 20, dtype=np.uint8).tobytes()
    first.write_bytes(data)
    second.write_bytes(data)
    assert content_hash(first) == content_hash(second)
    second.write_bytes(data[:-1] + bytes([data[-1] ^ 1]))
    assert content_hash(first) != content_hash(second)
    large = tmp_path / "large.bin"
    large.write_bytes(bytes(12 << 20))
    before = content_hash(large)
    with open(large, "r+b") as handle:
        handle.write(b"\x01")  # the first chunk is always sampled
    assert content_hash(large) != before


def test_one_decode_pass_feeds_every_view(synthetic_video, encoders, count_decodes):
    extractor = FeatureExtractor(encoders, batch_size=4)
    stages = []
    grid = SnippetGrid(media.probe(synthetic_video.path).duration, stride=2.5, window=2.5)
    features = extractor.extract(synthetic_video.path, grid, progress=lambda stage, fraction: stages.append(stage))
    assert count_decodes == {"frames": 1, "audio": 1}
    assert features.num_snippets == grid.num_snippets
    np.testing.assert_allclose(features.times, grid.times)
    assert {name: value.shape for name, value in features.views.items()} == {
        "cbp": (grid.num_snippets, 1280), "clip": (grid.num_snippets, 32), "audio": (grid.num_snippets, 1024),
        "motion": (grid.num_snippets, 32)}
    for name, shape in (("motion_energy", ()), ("motion_fine", (4,)), ("shot_cut", ()), ("audio_rms_fine", (8,))):
        assert features.extras[name].shape == (grid.num_snippets, *shape)
    assert features.absent == {}
    assert features.extras["cbp_probs"].shape == (grid.num_snippets, 1000)
    assert features.extras["audio_scores"].shape == (grid.num_snippets, 521)
    assert features.extras["clip_prior"].shape == (grid.num_snippets,)
    assert features.extras["clip_topk"].shape == (grid.num_snippets, 2)
    assert stages[0] == "probe" and "frames" in stages and stages[-1] == "done"
    assert {"decode_frames", "decode_audio", "cbp", "clip", "audio", "motion", "shot_cuts"} <= set(extractor.last_timings)


def test_a_video_without_audio_gets_an_explicit_absent_audio_view(vfr_silent_video, encoders):
    features = FeatureExtractor([encoders[0], encoders[2]]).extract(vfr_silent_video.path, SnippetGrid(20.0, 2.0, 2.0))
    assert set(features.views) == {"cbp"}
    assert features.absent == {"audio": NO_AUDIO_REASON}
    assert features.views["cbp"].shape == (10, 1280)


def test_an_unavailable_encoder_becomes_an_absent_view_with_its_reason(synthetic_video, tmp_path):
    missing = create_encoder("clip", weights=str(tmp_path / "nope.safetensors"))
    features = FeatureExtractor([missing]).extract(synthetic_video.path)
    assert features.views == {}
    assert "not found" in features.absent["clip"]


def test_cache_hit_does_no_decoding_and_no_forward_and_returns_identical_arrays(
        synthetic_video, encoders, count_decodes, tmp_path):
    extractor = FeatureExtractor(encoders, cache_dir=tmp_path / "cache")
    grid = SnippetGrid(30.0, stride=5.0, window=5.0)
    first = extractor.extract(synthetic_video.path, grid)
    calls = [encoder.calls for encoder in encoders]
    decodes = dict(count_decodes)
    second = extractor.extract(synthetic_video.path, grid)
    assert extractor.last_from_cache
    assert count_decodes == decodes and [encoder.calls for encoder in encoders] == calls
    assert first.views.keys() == second.views.keys() and first.extras.keys() == second.extras.keys()
    for name in first.views:
        np.testing.assert_array_equal(first.views[name], second.views[name])
    for name in first.extras:
        np.testing.assert_array_equal(first.extras[name], second.extras[name])
    copy = tmp_path / "renamed_copy.mp4"
    shutil.copy(synthetic_video.path, copy)
    extractor.extract(copy, grid)
    assert extractor.last_from_cache  # content-addressed: same bytes, other name
    extractor.extract(synthetic_video.path, SnippetGrid(30.0, stride=6.0, window=6.0))
    assert not extractor.last_from_cache  # another grid is another entry


def test_corrupt_cache_entry_is_recomputed_not_fatal(synthetic_video, encoders, tmp_path):
    cbp = encoders[0]
    extractor = FeatureExtractor([cbp], cache_dir=tmp_path / "cache")
    grid = SnippetGrid(30.0, stride=5.0, window=5.0)
    original = extractor.extract(synthetic_video.path, grid)
    (entry,) = (tmp_path / "cache").rglob("*.npz")
    entry.write_bytes(entry.read_bytes()[:100])
    calls = cbp.calls
    recomputed = extractor.extract(synthetic_video.path, grid)
    assert not extractor.last_from_cache and cbp.calls > calls
    np.testing.assert_allclose(recomputed.views["cbp"], original.views["cbp"], rtol=1e-5, atol=1e-6)
    read_features(entry)  # the entry was rewritten whole
    entry.with_suffix(".json").write_text("{ not json")
    extractor.extract(synthetic_video.path, grid)
    assert not extractor.last_from_cache


def test_a_cache_hit_builds_no_network(synthetic_video, encoders, tmp_path):
    """Issue 24: a hit checks the cached dimensions against those its sidecar recorded, not by building the cbp
    network (its ONNX session) to ask it."""
    grid = SnippetGrid(30.0, stride=5.0, window=5.0)
    FeatureExtractor([encoders[0]], cache_dir=tmp_path / "cache").extract(synthetic_video.path, grid)
    fresh = create_encoder("cbp")
    extractor = FeatureExtractor([fresh], cache_dir=tmp_path / "cache")
    again = extractor.extract(synthetic_video.path, grid)
    assert extractor.last_from_cache and again.views["cbp"].shape == (6, 1280)
    assert fresh._session is None and fresh._model is None


def test_write_and_read_features_round_trip(tmp_path):
    features = ViewFeatures(times=np.arange(3) + 0.5, views={"cbp": np.ones((3, 4), np.float32)},
                            absent={"audio": NO_AUDIO_REASON}, extras={"clip_topk": np.zeros((3, 2), np.int32)})
    write_features(tmp_path / "v.npz", features, {"source": "v.mp4"})
    loaded, metadata = read_features(tmp_path / "v.npz")
    assert metadata["source"] == "v.mp4" and loaded.absent == features.absent
    np.testing.assert_array_equal(loaded.views["cbp"], features.views["cbp"])
    assert loaded.extras["clip_topk"].dtype == np.int32
    with pytest.raises(ValueError):
        read_features(tmp_path / "missing.npz")


def test_doctor_reports_real_weights_and_a_clear_reason_for_clip(capsys, tiny_clip_settings):
    report = doctor_report()
    assert set(report) == {"device", "versions", "media", "encoders"}
    assert report["media"]["name"] in {"ffmpeg", "pyav"} and report["media"]["reason"]
    assert {"torch", "open_clip_torch", "onnxruntime", "ffmpeg"} <= set(report["versions"])
    by_name = {entry["name"]: entry for entry in report["encoders"]}
    for name in ("cbp", "audio"):
        assert by_name[name]["available"] and len(by_name[name]["weights_sha256"]) == 64
    if not list(CHECKPOINTS_DIR.glob("ViT-B-32_*")):
        assert not by_name["clip"]["available"] and "weights" in by_name["clip"]["reason"]
    assert run_cli(_configure_doctor, run_doctor, ["--json", "--clip-weights", tiny_clip_settings["weights"]]) == 0
    clip = {entry["name"]: entry for entry in json.loads(capsys.readouterr().out)["encoders"]}["clip"]
    # tiny-CLIP weights are not a ViT-B-32: doctor loads them and says so
    assert not clip["available"] and "does not load into open_clip ViT-B-32" in clip["reason"]


def test_features_cli_writes_npz_and_json_per_video(synthetic_video, tmp_path, capsys):
    out = tmp_path / "out"
    code = run_cli(_configure_features, run_features, [str(synthetic_video.path), "--views", "audio", "--out", str(out), "--json",
                     "--stride", "2", "--window", "2"])
    assert code == 0
    summary = json.loads(capsys.readouterr().out)
    assert summary[0]["views"] == {"audio": [15, 1024]}
    features, metadata = read_features(out / f"{synthetic_video.path.stem}.npz")
    assert features.views["audio"].shape == (15, 1024) and metadata["grid"]["stride"] == 2.0
    assert metadata["fingerprints"]["audio"]["name"] == "audio"


def test_cache_key_covers_the_motion_settings_the_fine_stream_and_cut_detection(synthetic_video):
    grid = SnippetGrid(30.0)
    variants = (({}, {}), ({"preset": "fast"}, {}), ({}, {"fine_rate_hz": 12.0}), ({}, {"fine_short_side": 128}),
                ({}, {"shot_cuts": None}))
    keys = {FeatureExtractor([create_encoder("motion", **settings)], **extra).cache_key(synthetic_video.path, grid)
            for settings, extra in variants}
    assert len(keys) == len(variants)
