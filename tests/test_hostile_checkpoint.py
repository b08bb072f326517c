"""Hostile checkpoints, weights and model outputs (issue 10, points 3, 6 and 7): sizes checked against
the tensors before any allocation; NaN weights, NaN features and NaN predictions refused; deep metadata
and foreign CLIP weights a plain error."""

from __future__ import annotations

import json
import pickle
from dataclasses import asdict

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from tests.hostile import measure
from utal_core.cli import main
from utal_core.encoders.base import EncodedBatch, EncoderConfig, Fingerprint, FrameEncoder
from utal_core.encoders.clip import load_open_clip
from utal_core.errors import UTALError
from utal_core.features import FeatureExtractor
from utal_core.model import CLIPAE, load_checkpoint, save_checkpoint
from utal_core.model.clip_ae import CLIPAEConfig
from utal_core.pipeline import run_model
from utal_core.synth.video import SyntheticVideoSpec, make_video
from utal_core.types import ViewFeatures

SMALL = CLIPAEConfig(input_dims={"cbp": 8, "audio": 4}, hidden_dim=8, num_classes=3, contrast_dim=4)


def _forged(path, metadata) -> None:
    """A few-KB safetensors file of 40 tiny tensors whose CLIP-AE metadata says whatever ``metadata`` says."""
    save_file({f"t{i}": torch.zeros(1) for i in range(40)}, str(path), metadata={"clip_ae": metadata})


def _meta(**model_config) -> str:
    config = asdict(SMALL) | model_config
    return json.dumps({"format": "clip-ae", "version": 1, "model_config": config, "train_config": None,
                       "input_dims": config["input_dims"]})


@pytest.fixture(scope="module")
def saved(tmp_path_factory):
    path = tmp_path_factory.mktemp("checkpoints") / "good.safetensors"
    torch.manual_seed(0)
    save_checkpoint(path, CLIPAE(SMALL))
    return path


@pytest.mark.parametrize("claim", [{"hidden_dim": 16384}, {"num_classes": 10**7}, {"num_classes": 1e7},
                                   {"caf_stages": 10**9}, {"input_dims": {"cbp": 10**9}}])
def test_checkpoint_bomb_is_refused_in_milliseconds_before_any_allocation(tmp_path, saved, claim):
    load_checkpoint(saved)  # warm up torch's meta device once
    bomb = tmp_path / "bomb.safetensors"
    _forged(bomb, _meta(**claim))
    assert bomb.stat().st_size < 8192
    with measure() as usage, pytest.raises(UTALError, match="bomb.safetensors (does not match|describes a model)"):
        load_checkpoint(bomb)
    assert usage.seconds < 1.0 and usage.peak_growth_mib < 50, usage
    assert load_checkpoint(saved)[0].config == SMALL  # the good checkpoint still loads


def test_nan_weights_are_refused(tmp_path, saved):
    model, _ = load_checkpoint(saved)
    with torch.no_grad():
        next(model.parameters())[0] = float("nan")
    save_checkpoint(tmp_path / "nan.safetensors", model)
    with pytest.raises(UTALError, match="holds NaN or infinite weights"):
        load_checkpoint(tmp_path / "nan.safetensors")


def test_deeply_nested_metadata_is_a_plain_error(tmp_path):
    _forged(tmp_path / "deep.safetensors", "[" * 100_000 + "]" * 100_000)
    with pytest.raises(UTALError, match="nested too deeply"):
        load_checkpoint(tmp_path / "deep.safetensors")


def test_cli_refuses_a_checkpoint_bomb_with_one_line(tmp_path, capsys):
    _forged(tmp_path / "bomb.safetensors", _meta(hidden_dim=16384))
    np.save(tmp_path / "v.npy", np.ones((6, 8), np.float32))
    assert main(["analyze", "--features", str(tmp_path), "--checkpoint", str(tmp_path / "bomb.safetensors"),
                 "--out", str(tmp_path / "out")]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: ") and "describes a model of" in err[0]


@pytest.fixture(scope="module")
def foreign_weights(tmp_path_factory):
    folder = tmp_path_factory.mktemp("clip_weights")
    (folder / "payload.pt").write_bytes(pickle.dumps({"state_dict": {"x": 1}, "run": print}))
    (folder / "random.bin").write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    save_file({"visual.proj": torch.zeros(3, 3)}, str(folder / "other.safetensors"))
    (folder / "truncated.safetensors").write_bytes((folder / "other.safetensors").read_bytes()[:40])
    return folder


@pytest.mark.parametrize("name", ["payload.pt", "random.bin", "other.safetensors", "truncated.safetensors"])
def test_foreign_clip_weights_are_one_plain_error(foreign_weights, name):
    with pytest.raises(UTALError, match=f"CLIP weights {name} could not be loaded"):
        load_open_clip("ViT-B-32", str(foreign_weights / name))


def test_library_search_with_foreign_clip_weights_exits_2(tmp_path, foreign_weights, capsys):
    code = main(["library", "search", "running", "--library", str(tmp_path), "--encoder", "clip",
                 "--clip-weights", str(foreign_weights / "payload.pt")])
    err = capsys.readouterr().err.strip().splitlines()
    assert code == 2 and len(err) == 1 and err[0].startswith("error: CLIP weights payload.pt could not be loaded")


def test_nan_predictions_are_refused(saved):
    model, _ = load_checkpoint(saved)
    with torch.no_grad():
        for parameter in model.parameters():
            parameter.fill_(float("inf"))
    features = ViewFeatures(times=np.arange(10) + 0.5, views={"cbp": np.ones((10, 8), np.float32),
                                                            "audio": np.ones((10, 4), np.float32)})
    with pytest.raises(UTALError, match="the model produced NaN or infinite"):
        run_model(model, features)


class NaNFrameEncoder(FrameEncoder):
    """A frame encoder whose outputs are NaN: what a broken encoder or weights file would give."""

    name = "nan_frames"
    view = "cbp"

    def __init__(self) -> None:
        super().__init__(EncoderConfig())

    @property
    def dim(self) -> int:
        return 4

    @property
    def fingerprint(self) -> Fingerprint:
        return Fingerprint(self.name, "")

    def encode_batch(self, frames: np.ndarray) -> EncodedBatch:
        return EncodedBatch(np.full((len(frames), 4), np.nan, np.float32), {})


def test_nan_features_from_an_encoder_are_refused_and_not_cached(tmp_path):
    video = make_video(tmp_path / "v.mp4", SyntheticVideoSpec(duration=12.0, num_actions=1, seed=1)).path
    extractor = FeatureExtractor([NaNFrameEncoder()], cache_dir=tmp_path / "cache", shot_cuts=None)
    with pytest.raises(UTALError, match=r"v.mp4: the encoders produced NaN or infinite features \(cbp\)"):
        extractor.extract(video)
    assert not list((tmp_path / "cache").rglob("*.npz"))
