"""The whole path on synthetic videos with known actions: features -> model -> segments -> clusters."""

import dataclasses
import json
import subprocess
import sys

import numpy as np
import pytest

from utal_core.errors import UTALError
from utal_core.evaluate import THUMOS_TIOUS, Prediction, evaluate_detection, load_ground_truth, load_predictions
from utal_core.localize import LocalizeParams
from utal_core.pipeline import Analysis, Pipeline, PipelineConfig, read_analysis


@pytest.fixture(scope="module")
def pipeline(tmp_path_factory):
    return Pipeline.from_config(PipelineConfig(cache_dir=str(tmp_path_factory.mktemp("features"))))


@pytest.fixture(scope="module")
def analysis(pipeline, synthetic_video):
    return pipeline.analyze(synthetic_video.path)


def test_curves_cover_every_view_on_the_grid(analysis, synthetic_video):
    assert analysis.grid.num_snippets == 40 and analysis.grid.stride == 0.75  # adaptive: 30 s -> 40 snippets
    for name in ("cbp", "motion", "audio", "fused"):
        curve = analysis.curves[name]
        assert curve.shape == (40,) and np.all((curve >= 0) & (curve <= 1))
    assert analysis.curves["clip"] is None and "clip" in analysis.absent  # no CLIP weights offline


def test_segments_find_the_planted_actions(analysis, synthetic_video):
    gt = load_ground_truth(synthetic_video.gt_path)
    predictions = {synthetic_video.video_id: [Prediction.from_segment(s) for s in analysis.segments]}
    result = evaluate_detection(gt, predictions, THUMOS_TIOUS, class_agnostic=True)
    assert result.map_per_tiou[THUMOS_TIOUS.index(0.5)] >= 0.6, result.to_dict()


def test_resegment_never_reruns_the_model(pipeline, analysis):
    runs = pipeline.model_runs
    strict = pipeline.resegment(analysis, LocalizeParams().with_threshold(0.95), "auto")
    loose = pipeline.resegment(analysis, LocalizeParams().with_threshold(0.05), 2)
    assert pipeline.model_runs == runs
    assert sum(s.duration for s in strict.segments) <= sum(s.duration for s in loose.segments)
    assert {s.cluster for s in loose.segments} <= {0, 1} and len(loose.clusters) <= 2
    assert all(s.label for s in loose.segments)


def test_clusters_are_fitted_once_and_their_names_kept_across_thresholds(pipeline, analysis):
    """Issue 22: a cluster's name must not change when the threshold moves. The analysis keeps its fitted
    clusters; a re-threshold assigns each new segment to the nearest kept centroid; a new number of clusters refits."""
    model = analysis.cluster_model
    assert model is not None and len(model.names) >= 1
    seen: dict[tuple[float, float], int] = {}
    for threshold in (0.3, 0.5, 0.6, 0.8):
        again = pipeline.resegment(analysis, LocalizeParams().with_threshold(threshold), analysis.num_clusters)
        assert again.cluster_model is model
        assert all(s.label == model.names[s.cluster].name for s in again.segments)
        assert [c.name for c in again.clusters] == [model.names[c.id].name for c in again.clusters]
        for s in again.segments:  # a segment found at several thresholds stays in its cluster
            assert seen.setdefault((s.start, s.end), s.cluster) == s.cluster
    refitted = pipeline.resegment(analysis, LocalizeParams().with_threshold(0.5), 2)
    assert refitted.cluster_model is not model and refitted.cluster_model.num_clusters == 2


def test_segment_numbers_are_kept_across_thresholds_where_the_segment_survives(pipeline, analysis):
    """Issue 22, defect 8: one number per segment, given once per analysis (1, 2, 3 in time order) and kept by a
    segment that a new threshold keeps (same bounds, or overlapping at tIoU >= 0.3); a new segment gets a new one."""
    ordered = sorted(analysis.segments, key=lambda s: (s.start, s.end))
    assert [s.number for s in ordered] == list(range(1, len(ordered) + 1))
    by_bounds = {(s.start, s.end): s.number for s in analysis.segments}
    highest = max(by_bounds.values())
    kept = 0
    for threshold in (0.3, 0.6, 0.8):
        cut = pipeline.resegment(analysis, LocalizeParams().with_threshold(threshold), analysis.num_clusters)
        numbers = [s.number for s in cut.segments]
        assert len(set(numbers)) == len(numbers)
        for s in cut.segments:
            overlaps = [o for o in analysis.segments
                        if min(s.end, o.end) - max(s.start, o.start) >= 0.3 * (max(s.end, o.end) - min(s.start, o.start))]
            if (s.start, s.end) in by_bounds:
                assert s.number == by_bounds[(s.start, s.end)]
                kept += 1
            if not overlaps:
                assert s.number > highest
    assert kept, "no segment survived any threshold"


def test_second_analysis_is_served_from_the_feature_cache(pipeline, synthetic_video, analysis):
    again = pipeline.analyze(synthetic_video.path)
    assert pipeline.extractor.last_from_cache
    np.testing.assert_array_equal(again.curves["fused"], analysis.curves["fused"])


def test_the_model_stage_runs_on_its_own_thread_count(pipeline, synthetic_video, analysis, monkeypatch):
    """The model is small: on a CPU it runs on ``model_threads`` torch threads (one by default), and the
    process's own setting comes back afterwards."""
    import torch

    import utal_core.pipeline as pipeline_module

    seen = []
    real_run_model = pipeline_module.run_model
    monkeypatch.setattr(pipeline_module, "run_model", lambda *a, **k: seen.append(torch.get_num_threads()) or real_run_model(*a, **k))
    before = torch.get_num_threads()
    torch.set_num_threads(2)
    try:
        pipeline.run_model(analysis.features)
        assert seen == [PipelineConfig.model_threads] == [1]
        assert torch.get_num_threads() == 2
    finally:
        torch.set_num_threads(before)


def test_analysis_json_round_trip(pipeline, analysis, tmp_path):
    path = analysis.write_json(tmp_path / "a.analysis.json")
    back = read_analysis(path)
    assert [(s.start, s.end, s.cluster, s.label) for s in back.segments] == \
        [(s.start, s.end, s.cluster, s.label) for s in analysis.segments]
    np.testing.assert_allclose(back.curves["fused"], analysis.curves["fused"], atol=1e-5)
    assert back.curves["clip"] is None and back.grid == analysis.grid
    assert analysis.clusters and all(len(c.alternatives) == 3 for c in analysis.clusters)
    assert [c.alternatives for c in back.clusters] == [
        [(name, pytest.approx(score)) for name, score in c.alternatives] for c in analysis.clusters]
    old_file = json.loads(path.read_text())
    for cluster in old_file["clusters"]:
        del cluster["alternatives"]  # files written before runner-ups were kept
    assert all(c.alternatives == [] for c in Analysis.from_dict(old_file).clusters)
    np.testing.assert_allclose(back.cluster_model.centroids, analysis.cluster_model.centroids, atol=1e-5)
    assert [n.name for n in back.cluster_model.names] == [n.name for n in analysis.cluster_model.names]
    del old_file["cluster_model"]  # files written before clusters were kept: re-segmenting fits them
    old = dataclasses.replace(Analysis.from_dict(old_file), features=analysis.features)
    assert old.cluster_model is None
    assert pipeline.resegment(old, old.params, old.num_clusters).cluster_model is not None
    with pytest.raises(UTALError, match="features"):
        Pipeline.resegment(None, back, LocalizeParams())  # features are not serialised


def test_segment_embeddings_are_written_as_binary_and_read_back_as_the_lists_of_older_files(analysis, tmp_path):
    """Issue 24: the embeddings (thousands of numbers per segment) are base64 float32, not text; an older file's
    lists read back to the same values, and a damaged array is a plain error."""
    back = read_analysis(analysis.write_json(tmp_path / "a.analysis.json"))
    data = json.loads((tmp_path / "a.analysis.json").read_text())
    assert set(back.segment_embeddings) == set(analysis.segment_embeddings) == set(data["segment_embeddings"])
    older = data | {"segment_embeddings": {name: np.asarray(values, np.float64).round(5).tolist()
                                           for name, values in analysis.segment_embeddings.items()}}
    for name, values in analysis.segment_embeddings.items():
        stored = data["segment_embeddings"][name]
        assert stored["shape"] == list(values.shape) and "/" not in stored["base64"]
        assert back.segment_embeddings[name].dtype == np.float32
        np.testing.assert_array_equal(back.segment_embeddings[name], Analysis.from_dict(older).segment_embeddings[name])
        np.testing.assert_allclose(back.segment_embeddings[name], values, atol=1e-5)
    name = next(iter(data["segment_embeddings"]))
    data["segment_embeddings"][name]["shape"][0] += 1
    (tmp_path / "damaged.analysis.json").write_text(json.dumps(data))
    with pytest.raises(UTALError, match="damaged.analysis.json is not an analysis file"):
        read_analysis(tmp_path / "damaged.analysis.json")


def test_video_without_audio_runs_on_the_other_views(pipeline, vfr_silent_video):
    result = pipeline.analyze(vfr_silent_video.path)
    assert result.curves["audio"] is None and "no audio" in result.absent["audio"]
    assert result.curves["fused"] is not None


def test_bad_file_is_a_plain_error(pipeline, bad_files):
    with pytest.raises(UTALError):
        pipeline.analyze(bad_files["text"])


def test_analyze_cli_writes_analysis_and_activitynet_results(synthetic_video, tmp_path):
    out = tmp_path / "out"
    subprocess.run([sys.executable, "-m", "utal_core", "analyze", str(synthetic_video.path), "--out", str(out),
                    "--format", "anet", "--json"], check=True, capture_output=True, text=True)
    analysis = json.loads((out / f"{synthetic_video.video_id}.analysis.json").read_text())
    assert analysis["curves"]["clip"] is None and len(analysis["times"]) == 40
    assert len(analysis["curves"]["motion"]) == 40
    predictions = load_predictions(out / "results.anet.json")
    assert len(predictions[synthetic_video.video_id]) == len(analysis["segments"]) > 0
