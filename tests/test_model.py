"""CLIP-AE network: shapes for every subset of views, gradients, checkpoints, prediction."""

from __future__ import annotations

import itertools
import json
import subprocess
import sys

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from utal_core.errors import UTALError
from utal_core.model import CLIPAE, CLIPAEConfig, TrainConfig, load_checkpoint, predict, save_checkpoint
from utal_core.model.checkpoint import read_checkpoint_metadata
from utal_core.types import VIEW_NAMES, ViewFeatures


pytestmark = pytest.mark.usefixtures("single_torch_thread")


DIMS = {"cbp": 24, "motion": 10, "clip": 12, "audio": 8}
K = 3


def tiny_model(**overrides) -> CLIPAE:
    torch.manual_seed(0)
    return CLIPAE(CLIPAEConfig(input_dims=dict(DIMS), hidden_dim=16, num_classes=K, contrast_dim=8, **overrides))


def view_batch(names, batch=2, length=20) -> dict[str, torch.Tensor]:
    generator = torch.Generator().manual_seed(1)
    return {name: torch.randn(batch, length, DIMS[name], generator=generator) for name in names}


SUBSETS = [subset for r in range(1, 4) for subset in itertools.combinations(VIEW_NAMES, r)]


@pytest.mark.parametrize("names", SUBSETS, ids=["+".join(s) for s in SUBSETS])
def test_forward_shapes_with_every_subset_of_views(names):
    model = tiny_model().eval()
    mask = torch.ones(2, 20, dtype=torch.bool)
    mask[1, 15:] = False
    output = model(view_batch(names), mask)
    assert set(output.view_logits) == set(names)
    assert output.logits.shape == (2, 20)
    assert output.cas_logits.shape == (2, 20, K)
    assert output.video_logits.shape == (2, K)
    assert output.cas.shape == (2, 20, K)
    assert torch.all((output.actionness > 0) & (output.actionness < 1))
    assert all(torch.isfinite(v).all() for v in [output.logits, output.cas_logits, output.video_logits])


def test_padding_does_not_change_the_real_snippets():
    model = tiny_model().eval()
    views = view_batch(VIEW_NAMES, batch=1, length=16)
    padded = {name: torch.cat([x, torch.randn(1, 6, x.shape[-1]) * 50], dim=1) for name, x in views.items()}
    mask = torch.zeros(1, 22, dtype=torch.bool)
    mask[0, :16] = True
    plain = model(views).actionness
    with_padding = model(padded, mask).actionness[:, :16]
    torch.testing.assert_close(plain, with_padding, atol=1e-5, rtol=1e-4)


def test_modules_are_skipped_without_their_views():
    audio_clip = CLIPAE(CLIPAEConfig(input_dims={"clip": 12, "audio": 8}, hidden_dim=16, num_classes=K))
    assert audio_clip.caf is None and audio_clip.collaboration is None
    assert tiny_model().caf is not None and tiny_model().collaboration is not None
    with pytest.raises(ValueError):
        tiny_model()({"unknown": torch.zeros(1, 4, 3)})


def test_gradients_reach_every_module_in_the_full_model():
    model = tiny_model(view_dropout=0.0, dropout=0.0).train()
    output = model(view_batch(VIEW_NAMES))
    loss = output.logits.sum() + output.video_logits.sum() + sum(v.sum() for v in output.view_logits.values()) \
        + sum(p.sum() for p in output.projections.values())
    loss.backward()
    missing = [name for name, p in model.named_parameters() if p.grad is None or not torch.any(p.grad != 0)]
    assert missing == []


def test_view_dropout_keeps_at_least_one_view():
    model = tiny_model(view_dropout=0.99).train()
    torch.manual_seed(3)
    for _ in range(10):
        assert len(model(view_batch(VIEW_NAMES)).view_logits) >= 1


def features(length=30, names=VIEW_NAMES) -> ViewFeatures:
    rng = np.random.default_rng(0)
    return ViewFeatures(times=np.arange(length) + 0.5,
                        views={name: rng.standard_normal((length, DIMS[name])).astype(np.float32) for name in names})


def test_predict_reports_absent_views_as_none():
    prediction = predict(tiny_model(), features(names=("cbp", "audio")))
    assert prediction.view_actionness["clip"] is None
    assert prediction.view_actionness["cbp"].shape == (30,)
    assert prediction.actionness.shape == (30,) and prediction.cas.shape == (30, K)
    assert prediction.video_scores.shape == (K,) and np.isclose(prediction.video_scores.sum(), 1.0, atol=1e-5)


def test_predict_rejects_wrong_dimensions():
    bad = ViewFeatures(times=np.arange(5.0), views={"cbp": np.zeros((5, 7), dtype=np.float32)})
    with pytest.raises(UTALError, match="dimensions"):
        predict(tiny_model(), bad)
    with pytest.raises(UTALError, match="none of the views"):
        predict(tiny_model(), ViewFeatures(times=np.arange(5.0)))


def test_checkpoint_round_trip(tmp_path):
    model = tiny_model()
    model.projections["cbp"].input_std.fill_(2.5)
    path = tmp_path / "model.safetensors"
    save_checkpoint(path, model, TrainConfig(epochs=7), extra={"seed": 11})
    loaded, meta = load_checkpoint(path)
    assert meta["train_config"]["epochs"] == 7 and meta["seed"] == 11 and meta["input_dims"] == DIMS
    assert loaded.config == model.config
    for name, value in model.state_dict().items():
        torch.testing.assert_close(loaded.state_dict()[name], value)
    sample = features()
    np.testing.assert_allclose(predict(loaded, sample).actionness, predict(model, sample).actionness, rtol=1e-6)
    assert [p.name for p in tmp_path.iterdir()] == ["model.safetensors"]


def test_bad_checkpoints_raise_plain_errors(tmp_path):
    with pytest.raises(UTALError, match="not found"):
        load_checkpoint(tmp_path / "missing.safetensors")
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"\x00\x01not a checkpoint at all" * 10)
    with pytest.raises(UTALError):
        load_checkpoint(garbage)
    good = tmp_path / "good.safetensors"
    save_checkpoint(good, tiny_model())
    truncated = tmp_path / "truncated.safetensors"
    truncated.write_bytes(good.read_bytes()[: good.stat().st_size // 2])
    with pytest.raises(UTALError):
        load_checkpoint(truncated)


def test_incompatible_checkpoint_is_rejected(tmp_path):
    path = tmp_path / "other.safetensors"
    save_file({"weight": torch.zeros(2)}, str(path), metadata={"something": "else"})
    with pytest.raises(UTALError, match="not a CLIP-AE checkpoint"):
        read_checkpoint_metadata(path)
    good = tmp_path / "good.safetensors"
    save_checkpoint(good, tiny_model())
    meta = read_checkpoint_metadata(good)
    tensors = {name: value for name, value in tiny_model().state_dict().items() if "cas_head" not in name}
    save_file({k: v.contiguous() for k, v in tensors.items()}, str(path), metadata={"clip_ae": json.dumps(meta)})
    with pytest.raises(UTALError, match="does not match"):
        load_checkpoint(path)
    save_file({"weight": torch.zeros(2)}, str(path), metadata={"clip_ae": json.dumps(meta | {"version": 99})})
    with pytest.raises(UTALError, match="version 99"):
        load_checkpoint(path)


def test_attention_window_is_the_full_attention_up_to_it_and_a_band_beyond():
    from utal_core.model.clip_ae import _attend

    model = tiny_model().eval()
    views, mask = view_batch(DIMS, length=40), torch.ones(2, 40, dtype=torch.bool)
    mask[1, 31:] = False
    with torch.no_grad():
        full = model(views, mask)
        assert torch.equal(model(views, mask, attention_window=40).logits, full.logits)
        assert not torch.allclose(model(views, mask, attention_window=16).logits, full.logits)
    generator = torch.Generator().manual_seed(3)
    q, k, v = (torch.randn(2, 40, 5, generator=generator) for _ in range(3))
    banded = _attend(lambda queries, keys: q[:, queries] @ k[:, keys].transpose(1, 2), v, mask, window=16)
    positions = torch.arange(40)
    near = (positions[:, None] - positions[None, :]).abs() <= 8
    reference = torch.softmax((q @ k.transpose(1, 2)).masked_fill(~(near & mask[:, None, :]), float("-inf")), dim=2) @ v
    torch.testing.assert_close(banded[0], reference[0])
    torch.testing.assert_close(banded[1, :31], reference[1, :31])  # padding queries are masked later


def test_model_memory_does_not_grow_with_the_square_of_the_length():
    """Inference on 8,000 snippets (a fixed 1 s stride over 2.2 hours) with the default window: with full attention
    (T x T maps of 256 MB) the forward pass raised peak RSS by 762 MB, with the band by 80 MB."""
    script = """
import numpy as np, torch
from utal_core.model import CLIPAE, CLIPAEConfig, predict
from utal_core.types import ViewFeatures
torch.set_num_threads(1)
torch.manual_seed(0)
dims = {"cbp": 24, "motion": 10, "clip": 12, "audio": 8}
model = CLIPAE(CLIPAEConfig(input_dims=dims, hidden_dim=16, num_classes=3, contrast_dim=8)).eval()
length = 8_000
rng = np.random.default_rng(0)
features = ViewFeatures(times=np.arange(length) + 0.5, views={n: rng.standard_normal((length, d)).astype(np.float32) for n, d in dims.items()})
def peak():
    return next(int(line.split()[1]) for line in open("/proc/self/status") if line.startswith("VmHWM")) / 1024
before = peak()
assert np.isfinite(predict(model, features).actionness).all()
print(peak() - before)
"""
    result = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert float(result.stdout) < 300, f"the forward pass on 8,000 snippets raised peak RSS by {result.stdout.strip()} MB"
