"""The CLIP path at full size: an open_clip ViT-B-32 with random weights, saved in the files the hub serves
for open_clip models, loaded through ``--clip-weights`` and run through doctor, analyze, library add/search
and the app. Random weights must be named "CLIP (unverified weights)" everywhere, never "CLIP"."""

from __future__ import annotations

import json
import shutil
import subprocess
import sys

import numpy as np
import pytest

from utal_core.pipeline import PipelineConfig, read_analysis
from utal_core.synth.video import SyntheticVideoSpec, make_video
from utal_core.viz import timeline_figure

from .app_harness import running_app

pytestmark = [pytest.mark.slow, pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")]
UNVERIFIED = "CLIP (unverified weights)"


@pytest.fixture(scope="module")
def hub_files(tmp_path_factory):
    """open_clip_model.safetensors and open_clip_pytorch_model.bin of a random ViT-B-32, written as
    open_clip's ``save_for_hf`` writes them (the model's state_dict, safetensors and torch pickle)."""
    import open_clip
    import safetensors.torch
    import torch

    folder = tmp_path_factory.mktemp("vit_b_32_random")
    torch.manual_seed(0)
    state = open_clip.create_model("ViT-B-32").state_dict()
    safetensors.torch.save_file(state, folder / "open_clip_model.safetensors")
    torch.save(state, folder / "open_clip_pytorch_model.bin")
    return folder


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_video(tmp_path_factory.mktemp("clip_video") / "clip_full.mp4",
                      SyntheticVideoSpec(duration=20.0, num_actions=2, seed=5))


def cli(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "utal_core", *args], capture_output=True, text=True, check=True,
                          timeout=1500)


def test_doctor_names_random_weights_unverified(hub_files):
    report = json.loads(cli("doctor", "--json", "--clip-weights", str(hub_files / "open_clip_model.safetensors")).stdout)
    clip = next(e for e in report["encoders"] if e["name"] == "clip")
    assert clip["available"] and clip["label"] == UNVERIFIED and clip["verified"] is False
    assert "sanity check" in clip["warning"]
    text = cli("doctor", "--clip-weights", str(hub_files / "open_clip_pytorch_model.bin")).stdout
    assert f"[!!] {UNVERIFIED}:" in text


def test_analyze_library_and_app_at_full_size(hub_files, video, tmp_path):
    weights = str(hub_files / "open_clip_model.safetensors")
    out = tmp_path / "out"
    run = cli("analyze", str(video.path), "--clip-weights", weights, "--out", str(out), "--json")
    summary = json.loads(run.stdout)[0]
    assert summary["clip"] == UNVERIFIED and "clip" not in summary["absent"]
    assert "warning:" in run.stderr and "sanity check" in run.stderr
    analysis = read_analysis(out / f"{video.video_id}.analysis.json")
    assert analysis.curves["clip"] is not None and analysis.curves["clip"].shape == (analysis.grid.num_snippets,)
    assert analysis.segments and analysis.segment_embeddings["clip"].shape[1] == 512
    assert analysis.config["clip_weights"]["label"] == UNVERIFIED
    assert analysis.config["model"].startswith("scratch")  # the shipped checkpoint has no CLIP view
    legend = [trace.name for trace in timeline_figure(analysis).data]
    assert "CLIP-text prior (unverified weights)" in legend and "CLIP-text prior" not in legend
    assert all(c.named_by == "clip/ViT-B-32 (unverified weights)" for c in analysis.clusters)

    library = tmp_path / "library"
    cli("library", "add", str(video.path), "--clip-weights", weights, "--library", str(library))
    search = cli("library", "search", "a person waving", "--clip-weights", str(hub_files / "open_clip_pytorch_model.bin"),
                 "--library", str(library), "--json")
    hits = json.loads(search.stdout)
    assert hits and all(hit["encoder"] == "clip/ViT-B-32 (unverified weights)" for hit in hits)
    assert "warning:" in search.stderr

    from gradio_client import Client, handle_file

    import app

    config = PipelineConfig(cache_dir=str(tmp_path / "features"), encoder_configs={"clip": {"weights": weights}})
    with running_app(tmp_path / "app", pipeline=config) as server:
        client = Client(server.url, verbose=False)
        status, _player, rows, *_ = client.predict(handle_file(str(video.path)), None, 0.3, 0.0, 0.0, 0.6, "auto",
                                              api_name="/analyze")
        assert "Analysed." in status and rows["data"]
        _gallery, table, info = client.predict("a person waving", 5, api_name="/search")
        assert table["data"] and f"{UNVERIFIED} text tower" in info
        encoder_rows, summary_text, banner = app.Explorer(server.services).settings()
        assert [row[0] for row in encoder_rows if row[1] == "clip"] == [UNVERIFIED]
        assert "(unverified weights)" in summary_text
        assert banner.visible and "sanity check" in banner.value
        assert any(e.view == "clip" and e.dim == 512 for e in server.services.pipeline.extractor.encoders)
    assert np.isfinite(analysis.curves["fused"]).all()
