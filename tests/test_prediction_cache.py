"""The model stage's outputs cached beside the features (issue 24): a re-analysis reads them instead of
running the model, and anything that changes them (settings, checkpoint bytes, a damaged file) misses."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from tests.batch_helpers import make_videos
from utal_core.pipeline import CURVE_NAMES, DEFAULT_CHECKPOINT, Pipeline, PipelineConfig
from utal_core import prediction_cache
from utal_core.prediction_cache import PREDICTIONS_FOLDER
from utal_core.types import ViewFeatures


def light_config(cache, **changes) -> PipelineConfig:
    """A real but cheap analysis: the motion view, a few refinement steps from the shipped checkpoint."""
    return PipelineConfig(**{"views": ("motion",), "refine_steps": 3, "device": "cpu", "cache_dir": str(cache)} | changes)


@pytest.fixture(scope="module")
def video(tmp_path_factory):
    return make_videos(tmp_path_factory.mktemp("videos"), 1, duration=12.0)[0]


@pytest.fixture(scope="module")
def first(tmp_path_factory, video):
    """(cache folder, the analysis of ``video`` by a pipeline that ran the model once)."""
    cache = tmp_path_factory.mktemp("cache")
    pipeline = Pipeline.from_config(light_config(cache))
    analysis = pipeline.analyze(video)
    assert pipeline.model_runs == 1 and pipeline.checkpoint_path == DEFAULT_CHECKPOINT
    return cache, analysis


def analyzed(cache, video, **changes):
    pipeline = Pipeline.from_config(light_config(cache, **changes))
    return pipeline, pipeline.analyze(video)


def assert_same_analysis(one, other) -> None:
    for name in CURVE_NAMES:
        if one.curves[name] is None:
            assert other.curves[name] is None
        else:
            np.testing.assert_array_equal(one.curves[name], other.curves[name])
    np.testing.assert_array_equal(one.cas, other.cas)
    np.testing.assert_array_equal(one.video_scores, other.video_scores)
    assert one.segments == other.segments and one.clusters == other.clusters


def test_a_second_analysis_reads_the_model_outputs_without_running_or_loading_the_model(first, video):
    cache, analysis = first
    pipeline, again = analyzed(cache, video)
    assert pipeline.model_runs == 0 and pipeline._checkpoint_model is None
    assert_same_analysis(analysis, again)
    assert again.config["model"] == analysis.config["model"] == f"checkpoint: {DEFAULT_CHECKPOINT.name}"


@pytest.mark.parametrize("change", [{"seed": 1}, {"refine_steps": 4}])
def test_a_setting_that_changes_the_outputs_runs_the_model_again(first, video, change):
    cache, analysis = first
    pipeline, again = analyzed(cache, video, **change)
    assert pipeline.model_runs == 1
    assert not np.array_equal(again.curves["fused"], analysis.curves["fused"])


def test_the_checkpoint_counts_by_its_bytes_not_its_path(first, video, tmp_path):
    from utal_core.model import load_checkpoint, save_checkpoint

    cache, analysis = first
    copy = shutil.copy(DEFAULT_CHECKPOINT, tmp_path / "copy.safetensors")
    pipeline, again = analyzed(cache, video, checkpoint=str(copy))
    assert pipeline.model_runs == 0
    np.testing.assert_array_equal(again.curves["fused"], analysis.curves["fused"])
    model, _ = load_checkpoint(DEFAULT_CHECKPOINT)
    save_checkpoint(tmp_path / "other.safetensors", model, extra={"note": "the same weights in other bytes"})
    pipeline, _ = analyzed(cache, video, checkpoint=str(tmp_path / "other.safetensors"))
    assert pipeline.model_runs == 1


@pytest.mark.parametrize("damage", ["truncated", "one bit flipped", "another video's outputs"])
def test_a_damaged_entry_is_recomputed(tmp_path, video, damage):
    pipeline, analysis = analyzed(tmp_path, video)
    [entry] = (tmp_path / PREDICTIONS_FOLDER).rglob("*.npz")
    data = bytearray(entry.read_bytes())
    if damage == "truncated":
        data = data[: len(data) // 2]
    elif damage == "one bit flipped":
        at = data.find(analysis.curves["fused"][3].tobytes())
        assert at > 0
        data[at] ^= 1
    else:
        short = make_videos(tmp_path / "short", 1, duration=6.0)[0]
        analyzed(tmp_path / "short_cache", short)
        [data] = [bytearray(p.read_bytes()) for p in (tmp_path / "short_cache" / PREDICTIONS_FOLDER).rglob("*.npz")]
    entry.write_bytes(bytes(data))
    pipeline, again = analyzed(tmp_path, video)
    assert pipeline.model_runs == 1
    assert_same_analysis(analysis, again)
    assert analyzed(tmp_path, video)[0].model_runs == 0  # the entry was written again


def test_no_feature_cache_means_no_prediction_cache(video, tmp_path):
    pipeline = Pipeline.from_config(light_config(tmp_path))
    pipeline.extractor.cache_dir = None
    pipeline.analyze(video)
    pipeline.analyze(video)
    assert pipeline.model_runs == 2 and not (tmp_path / PREDICTIONS_FOLDER).exists()


def test_an_edit_of_the_model_code_makes_a_new_key(tmp_path, monkeypatch):
    """No version to bump by hand: one changed byte in the refinement code changes the code's hash, and so the key."""
    copies = [tmp_path / name / "utal_core" for name in ("same", "edited")]
    for package in copies:
        shutil.copytree(Path(prediction_cache.__file__).parent, package, ignore=shutil.ignore_patterns("__pycache__"))
    refine = copies[1] / "model" / "refine.py"
    refine.write_text(refine.read_text() + "\n# changed\n")
    before, after = (prediction_cache.library_code_sha256(package) for package in copies)
    assert before == prediction_cache.library_code_sha256() and after != before

    features = ViewFeatures(times=np.arange(4, dtype=np.float32), views={"motion": np.ones((4, 2), np.float32)})
    key = prediction_cache.prediction_key(features, None, {})
    monkeypatch.setattr(prediction_cache, "library_code_sha256", lambda: after)
    assert prediction_cache.prediction_key(features, None, {}) != key
