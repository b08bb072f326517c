"""Self-supervised training, refinement, pseudo-labels and feature-folder loading."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
import torch

from utal_core.cli import main as cli_main
from utal_core.errors import UTALError
from utal_core.evaluate import THUMOS_TIOUS, GroundTruth, Prediction, evaluate_detection
from utal_core.localize import LocalizeParams, localize
from utal_core.model import (CLIPAE, CLIPAEConfig, TrainConfig, initial_pseudo_labels, load_checkpoint,
                             load_feature_folder, predict, refine, train)
from utal_core.model.optim import AdamW
from utal_core.model.train import cluster_videos
from utal_core.synth.features import SynthFeatureConfig, make_feature_set


pytestmark = pytest.mark.usefixtures("single_torch_thread")


TINY = SynthFeatureConfig(num_videos=24, num_classes=2, min_snippets=100, max_snippets=150, cbp_dim=32, clip_dim=16,
                          audio_dim=8, instances_per_video=(1, 3), instance_snippets=(6, 20), seed=5)


@pytest.fixture(scope="module")
def family():
    return make_feature_set(TINY)


def tiny_config(dataset) -> CLIPAEConfig:
    return CLIPAEConfig(input_dims={name: dataset[0].views[name].shape[-1] for name in dataset[0].views},
                        hidden_dim=24, num_classes=2, contrast_dim=8)


def class_agnostic_map(model: CLIPAE, videos) -> float:
    ground_truth = {v.video_id: [GroundTruth(s, e, label) for s, e, label in v.instances] for v in videos}
    predictions = {v.video_id: [Prediction.from_segment(s) for s in localize(predict(model, v.features).actionness, v.grid, LocalizeParams())]
                   for v in videos}
    return evaluate_detection(ground_truth, predictions, THUMOS_TIOUS, class_agnostic=True).mean_map


def test_training_beats_the_untrained_model(family):
    train_videos, test_videos = family.split(0.5)
    dataset = [v.features for v in train_videos]
    config = tiny_config(dataset)
    trained = train(dataset, config, TrainConfig(epochs=15, max_len=64), seed=0)
    torch.manual_seed(0)
    untrained = CLIPAE(config).eval()
    after, before = class_agnostic_map(trained.model, test_videos), class_agnostic_map(untrained, test_videos)
    assert after > before + 0.05, (before, after)
    assert trained.history[-1]["fused"] < trained.history[0]["fused"]
    assert len(trained.cluster_ids) == len(dataset) and set(trained.cluster_ids) <= {0, 1}


def test_training_is_deterministic_on_cpu(family):
    dataset = [v.features for v in family.videos[:8]]
    runs = [train(dataset, tiny_config(dataset), TrainConfig(epochs=2, max_len=48, relabel_every=1), seed=3) for _ in range(2)]
    first, second = (run.model.state_dict() for run in runs)
    assert all(torch.equal(first[name], second[name]) for name in first)
    other = train(dataset, tiny_config(dataset), TrainConfig(epochs=2, max_len=48, relabel_every=1), seed=4).model.state_dict()
    assert not all(torch.equal(first[name], other[name]) for name in first)


def test_training_with_videos_missing_views(family):
    dataset = [v.features for v in family.videos[:6]]
    dataset[0] = type(dataset[0])(times=dataset[0].times, views={"clip": dataset[0].views["clip"]})
    dataset[1] = type(dataset[1])(times=dataset[1].times, views={"cbp": dataset[1].views["cbp"], "audio": dataset[1].views["audio"]})
    trained = train(dataset, tiny_config([family.videos[0].features]),
                    TrainConfig(epochs=1, max_len=48), seed=0)
    assert predict(trained.model, dataset[0]).view_actionness["cbp"] is None


def test_too_few_videos_for_k_is_a_user_error(family):
    dataset = [v.features for v in family.videos[:2]]
    config = CLIPAEConfig(input_dims={"cbp": TINY.cbp_dim}, hidden_dim=8, num_classes=5)
    with pytest.raises(UTALError, match="pseudo-classes"):
        train(dataset, config, TrainConfig(epochs=1))


def test_pseudo_labels_prefer_action_snippets(family):
    video = family.videos[0]
    labels = initial_pseudo_labels(video.features, ["cbp", "clip", "audio"])
    inside = np.zeros(video.features.num_snippets, dtype=bool)
    for start, end, _ in video.instances:
        inside[video.grid.nearest_index(start):video.grid.nearest_index(end) + 1] = True
    assert labels.shape == inside.shape and labels.min() >= 0 and labels.max() <= 1
    assert labels[inside].mean() > labels[~inside].mean() + 0.15


def test_clustering_keeps_cluster_ids_stable_when_relabelled():
    rng = np.random.default_rng(0)
    points = np.concatenate([rng.normal(c, 0.1, (10, 2)) for c in (0, 5, 10)])
    first = cluster_videos(points, 3, seed=0)
    previous = (first + 1) % 3
    assert np.array_equal(cluster_videos(points, 3, seed=1, previous=previous), previous)


def test_refine_from_scratch_and_from_a_model(family):
    video = family.videos[0].features
    scratch = refine(video)
    assert predict(scratch, video).actionness.shape == (video.num_snippets,)
    dataset = [v.features for v in family.videos[:6]]
    base = train(dataset, tiny_config(dataset), TrainConfig(epochs=1, max_len=48), seed=0).model
    before = {name: value.clone() for name, value in base.state_dict().items()}
    refined = refine(video, base)
    assert all(torch.equal(before[name], value) for name, value in base.state_dict().items())
    assert not all(torch.equal(before[name], value) for name, value in refined.state_dict().items())


def test_light_adamw_takes_torchs_adamw_steps():
    torch.manual_seed(0)
    ours, reference = torch.nn.Linear(6, 3), torch.nn.Linear(6, 3)
    reference.load_state_dict(ours.state_dict())
    light = AdamW(ours.parameters(), lr=0.05, weight_decay=0.1)
    torchs = torch.optim.AdamW(reference.parameters(), lr=0.05, weight_decay=0.1)
    inputs, start = torch.randn(16, 6), ours.weight.detach().clone()
    for _ in range(25):
        for model, optimizer in ((ours, light), (reference, torchs)):
            optimizer.zero_grad(set_to_none=True)
            (model(inputs) ** 2).mean().backward()
            optimizer.step()
    assert not torch.allclose(ours.weight, start, atol=1e-2)
    for mine, theirs in zip(ours.parameters(), reference.parameters()):
        assert torch.allclose(mine, theirs, rtol=1e-6, atol=1e-7)


def test_refining_never_imports_torch_dynamo():
    """Every `analyze` refines: torch.optim would import torch._dynamo (seconds of start-up) on first use."""
    script = ("import sys; from utal_core.model import refine, predict; "
              "from utal_core.synth.features import SynthFeatureConfig, make_feature_set; "
              "video = make_feature_set(SynthFeatureConfig(num_videos=1, min_snippets=40, max_snippets=40)).videos[0]; "
              "predict(refine(video.features), video.features); print('torch._dynamo' in sys.modules)")
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert result.stdout.strip() == "False"


def write_thumos_folder(root, video_ids, length=40):
    rng = np.random.default_rng(0)
    for name in ("rgb", "flow", "audio", "flat"):
        (root / name).mkdir()
    for i, video_id in enumerate(video_ids):
        for name in ("rgb", "flow"):
            np.save(root / name / f"{video_id}.npy", rng.standard_normal((length + i, 6)).astype(np.float32))
        np.save(root / "flat" / f"{video_id}.npy", rng.standard_normal((length + i, 12)).astype(np.float32))
        if i:
            np.save(root / "audio" / f"{video_id}.npy", rng.standard_normal(((length + i) // 2, 4)).astype(np.float32))


def test_thumos_layout_folders(tmp_path):
    ids = ["video_validation_0000051", "video_validation_0000052", "video_validation_0000053"]
    write_thumos_folder(tmp_path, ids)
    split = load_feature_folder(tmp_path, audio_dir=tmp_path / "audio")
    flat = load_feature_folder(tmp_path / "flat")
    assert list(split) == ids and list(flat) == ids
    first = split[ids[0]]
    assert first.views["cbp"].shape == (40, 12) and "audio" in first.absent
    assert split[ids[1]].views["audio"].shape == (41, 4)
    np.testing.assert_allclose(first.times[:2], [0.32, 0.96])
    pairs = tmp_path / "pairs"
    pairs.mkdir()
    np.save(pairs / "v1_rgb.npy", np.ones((5, 3), dtype=np.float32))
    np.save(pairs / "v1_flow.npy", np.zeros((6, 3), dtype=np.float32))
    assert load_feature_folder(pairs)["v1"].views["cbp"].shape == (5, 6)


def test_cached_npz_folder(tmp_path):
    times = np.arange(10) + 0.5
    np.savez(tmp_path / "a.npz", cbp=np.ones((10, 4)), audio=np.zeros((10, 2)), times=times, extra_clip_prior=np.full(10, 0.3))
    features = load_feature_folder(tmp_path)["a"]
    assert set(features.views) == {"cbp", "audio"} and "clip" in features.absent
    np.testing.assert_allclose(features.extras["clip_prior"], 0.3)


def test_bad_feature_folders(tmp_path):
    with pytest.raises(UTALError, match="not found"):
        load_feature_folder(tmp_path / "nope")
    with pytest.raises(UTALError, match="no .npy or .npz"):
        load_feature_folder(tmp_path)
    np.save(tmp_path / "v.npy", np.zeros(5, dtype=np.float32))
    with pytest.raises(UTALError, match=r"\[T, D\]"):
        load_feature_folder(tmp_path)


def test_train_command_writes_a_checkpoint(tmp_path, capsys):
    ids = [f"video_validation_{i:07d}" for i in range(4)]
    write_thumos_folder(tmp_path, ids)
    out = tmp_path / "model.safetensors"
    status = cli_main(["train", "--features", str(tmp_path / "flat"), "--audio", str(tmp_path / "audio"), "--out", str(out),
                       "--k", "2", "--epochs", "1", "--hidden", "8", "--json"])
    assert status == 0 and '"videos": 4' in capsys.readouterr().out
    model, meta = load_checkpoint(out)
    assert model.views == ["cbp", "audio"] and meta["num_videos"] == 4
    assert cli_main(["train", "--features", str(tmp_path / "missing"), "--out", str(out)]) == 2
