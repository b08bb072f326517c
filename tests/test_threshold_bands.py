"""Issue 24: the threshold slider's segments at every position, sent to the page once and drawn there on release.

What the page draws from the payload (ui/threshold_bands.py, done here as DRAW_BANDS_JS does it) must be what the
server's own re-segmentation at that threshold draws; the server skips its redraw only when the page drew exactly
that. The browser side: tests/test_app_browser.py.
"""

from __future__ import annotations

import json

import gradio as gr
import numpy as np
import pytest

from ui.explorer import Explorer
from ui.services import AppConfig, AppServices
from ui.threshold_bands import trace_key, drawn_by_page, slider_thresholds
from utal_core.pipeline import Pipeline, PipelineConfig
from utal_core.synth.video import SyntheticVideoSpec, make_video

CONTROLS = {"min_duration": 0.0, "merge_gap": 0.0, "nms_iou": 0.6, "clusters_choice": "auto"}


@pytest.fixture(scope="module")
def explorer(tmp_path_factory):
    folder = tmp_path_factory.mktemp("threshold_bands")
    pipeline = Pipeline.from_config(PipelineConfig(cache_dir=str(folder / "features")))
    return Explorer(AppServices(AppConfig(library_dir=folder / "library", work_dir=folder / "work"), pipeline=pipeline))


@pytest.fixture(scope="module")
def analysis(explorer, tmp_path_factory):
    """A short video as the page holds it: analysed, then cut at the page's controls (threshold 0.5)."""
    video = make_video(tmp_path_factory.mktemp("video") / "two_actions.mp4",
                       SyntheticVideoSpec(duration=16.0, num_actions=2, seed=11))
    analysed = explorer.services.pipeline.analyze(video.path)
    return explorer.with_controls(analysed, 0.5, *CONTROLS.values())


def server_answer(explorer: Explorer, analysis, threshold: float, cluster=None, drawn: str | None = None) -> tuple:
    """The server's re-segmentation on a release of the slider at ``threshold``: (new analysis, cluster, redraw)."""
    new, cluster, redraw, _, _ = explorer.resegment(analysis, None, cluster, None, threshold, *CONTROLS.values(), drawn)
    return new, cluster, redraw


def payload(explorer: Explorer, analysis, cluster=None) -> tuple[dict, str]:
    """The payload the page is sent (parsed, as STORE_BANDS_JS keeps it) and its key."""
    text, key = explorer.threshold_bands(analysis, None, cluster, None, None)
    return json.loads(text), key


def drawn_in_page(bands: dict, threshold: float, figure: dict) -> dict:
    """``figure`` after the page drew the position of ``threshold`` on it (what DRAW_BANDS_JS does)."""
    position = bands["positions"][round(threshold / bands["step"])]
    assert position["threshold"] == threshold

    def changed(trace: dict) -> dict:
        key = trace_key(trace)
        if key in position["traces"]:
            return position["traces"][key]
        runs = position["customdata"].get(key)
        return trace if runs is None else trace | {"customdata": [value for count, value in runs for _ in range(count)]}

    others = [changed(t) for t in figure["data"] if "segments" not in (t.get("meta") or {})]
    layout = figure["layout"] | {"shapes": [bands["pool"][i] for i in position["shapes"]],
                                 "annotations": [bands["pool"][i] for i in position["annotations"]]}
    return {"data": [*position["bands"], *others], "layout": layout}


@pytest.mark.parametrize("cluster", [None, 0])
def test_every_position_draws_what_the_server_draws_at_that_threshold(explorer, analysis, cluster):
    bands, key = payload(explorer, analysis, cluster)
    assert key == bands["key"] and [p["threshold"] for p in bands["positions"]] == slider_thresholds()
    assert len(bands["positions"]) == 101 and bands["controls"] == [0.0, 0.0, 0.6, "auto"]
    on_screen = json.loads(server_answer(explorer, analysis, 0.5, cluster)[2])["figure"]
    counts = set()
    for threshold in slider_thresholds()[::4] + [0.37, 1.0]:  # a sample (each server answer redraws everything)
        server = json.loads(server_answer(explorer, analysis, threshold, cluster)[2])
        assert server["threshold"] == threshold
        assert drawn_in_page(bands, threshold, on_screen) == server["figure"], threshold
        counts.add(sum(len(t["x"]) for t in server["figure"]["data"] if "segments" in (t.get("meta") or {})))
    assert len(counts) > 2 and 0 in counts  # the positions do differ (1.0: nothing is above it)


def test_the_server_redraws_only_what_the_page_did_not_draw(explorer, analysis):
    bands, key = payload(explorer, analysis)
    note = json.dumps({"key": key, "threshold": 0.37})
    assert drawn_by_page(note, key, 0.37)
    assert server_answer(explorer, analysis, 0.37, drawn=note)[2] == ""
    for stale in (json.dumps({"key": key, "threshold": 0.36}), "", None, "not json"):
        assert json.loads(server_answer(explorer, analysis, 0.37, drawn=stale)[2])["threshold"] == 0.37
    # drawn with the payload of another selected cluster, or of other settings: the server redraws
    assert server_answer(explorer, analysis, 0.37, cluster=0, drawn=note)[2] != ""
    other = explorer.resegment(analysis, None, None, None, 0.37, 2.0, 0.0, 0.6, "auto", note)
    assert other[2] != ""
    # a page that has this payload already is not sent it again; another selection gets its own
    assert explorer.threshold_bands(analysis, None, None, None, key) == (gr.skip(), gr.skip())
    assert explorer.threshold_bands(analysis, None, 0, None, key)[1] != key


def test_the_positions_cut_together_are_the_per_position_resegments(explorer, analysis):
    """The payload's segmentations (``Pipeline.resegment_thresholds``: runs of snippets pooled once for all positions)
    are those of ``Pipeline.resegment`` at each position, embeddings bit for bit."""
    pipeline, thresholds = explorer.services.pipeline, slider_thresholds()
    together = list(pipeline.resegment_thresholds(analysis, thresholds, analysis.num_clusters))
    assert len(together) == len(thresholds)
    for threshold, cut in zip(thresholds, together):
        alone = pipeline.resegment(analysis, analysis.params.with_threshold(threshold), analysis.num_clusters)
        assert (cut.params, cut.segments, cut.clusters, cut.num_clusters) == \
            (alone.params, alone.segments, alone.clusters, alone.num_clusters), threshold
        assert cut.segment_embeddings.keys() == alone.segment_embeddings.keys()
        for view, values in alone.segment_embeddings.items():
            assert values.dtype == cut.segment_embeddings[view].dtype
            assert np.array_equal(values, cut.segment_embeddings[view]), (threshold, view)
    assert sum(bool(cut.segments) for cut in together) > 10
