"""Timeline figure, table rows, ground-truth selection and thumbnails (utal_core/viz.py)."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest

from utal_core.errors import UTALError
from utal_core.evaluate import GroundTruth, ground_truth_durations
from utal_core.export import subtitles_vtt
from utal_core.grid import SnippetGrid
from utal_core.localize import LocalizeParams, localize
from utal_core.pipeline import Analysis, ClusterInfo
from utal_core.synth.video import SyntheticVideoSpec, make_video
from utal_core.viz import (
    CURVE_STYLES, Thumbnailer, cluster_rows, detection_rows, ground_truth_for_video,
    segment_rows, timeline_figure, visible_segments,
)

ACTIONS = [(5, 12), (20, 26), (40, 47)]  # snippet runs of the planted actions


def synthetic_analysis(duration: float = 60.0, audio: bool = False, threshold: float = 0.5) -> Analysis:
    """An Analysis built from step curves, segmented with the real localizer; clusters by alternation."""
    grid = SnippetGrid(duration)
    rng = np.random.default_rng(0)
    base = np.full(grid.num_snippets, 0.1)
    for first, last in ACTIONS:
        base[first:last + 1] = 0.9
    curves = {"cbp": np.clip(base + rng.normal(0, 0.03, base.shape), 0, 1), "motion": base * 0.6, "clip": base * 0.8,
              "audio": base * 0.7 if audio else None, "fused": base}
    params = LocalizeParams(thresholds=(threshold,))
    segments = [dataclasses.replace(s, cluster=i % 2, label=("waving", "bouncing")[i % 2])
                for i, s in enumerate(sorted(localize(base, grid, params), key=lambda s: s.start))]
    clusters = [ClusterInfo(c, ("waving", "bouncing")[c], 0.5, "test", sum(s.cluster == c for s in segments))
                for c in range(2)]
    return Analysis(video_path="/nonexistent/clip.mp4", video_id="clip", content_hash="abc", duration=duration,
                    grid=grid, media={}, curves=curves, clip_prior=None,
                    absent={} if audio else {"audio": "no audio track"}, cas=np.zeros((grid.num_snippets, 2)),
                    video_scores=np.array([0.5, 0.5]), params=params, segments=segments, clusters=clusters,
                    segment_embeddings={}, config={}, versions={})


def traces_with(figure, key: str) -> list:
    return [t for t in figure.data if t.meta and key in t.meta]


def lane_names(figure) -> list[str]:
    """The lanes' names at the left margin (the lanes' axis tick labels), top to bottom."""
    return list(figure.layout.yaxis2.ticktext)


def bar_spans(trace) -> list[tuple[float, float, float]]:
    """``(start, end, base)`` of each bar of a lane trace."""
    bases = trace.base if isinstance(trace.base, (list, tuple)) else [trace.base] * len(trace.x)
    return [(x - w / 2, x + w / 2, b) for x, w, b in zip(trace.x, trace.width, bases)]


def test_one_trace_per_curve_and_absent_views_named_with_reason():
    analysis = synthetic_analysis(audio=False)
    figure = timeline_figure(analysis)
    curves = {t.meta["curve"]: t for t in traces_with(figure, "curve")}
    assert set(curves) == {"cbp", "motion", "clip", "fused"}
    assert all(len(t.x) == analysis.grid.num_snippets for t in curves.values())
    np.testing.assert_allclose(curves["fused"].x, analysis.grid.times)
    (absent,) = traces_with(figure, "absent")
    assert absent.meta == {"absent": "audio", "reason": "no audio track"}
    assert CURVE_STYLES["audio"][0] in absent.name and absent.showlegend is not False
    assert any("no audio track" in a.text for a in figure.layout.annotations)
    assert not traces_with(timeline_figure(synthetic_analysis(audio=True)), "absent")


def test_the_label_bridge_prior_is_drawn_under_its_own_name_only_when_present():
    analysis = synthetic_analysis(audio=True)
    assert not traces_with(timeline_figure(analysis), "absent")  # no bridge: no missing-view entry for it
    analysis.curves["bridge"] = analysis.curves["clip"]
    analysis.curves["clip"] = None
    curves = {t.meta["curve"]: t for t in traces_with(timeline_figure(analysis), "curve")}
    assert "bridge" in curves and curves["bridge"].name == CURVE_STYLES["bridge"][0] != CURVE_STYLES["clip"][0]
    assert "CLIP" not in curves["bridge"].name.replace("no CLIP", "")


def test_segment_bands_span_each_segment_one_trace_per_cluster():
    analysis = synthetic_analysis()
    figure = timeline_figure(analysis)
    bands = traces_with(figure, "segments")
    assert sorted(t.meta["segments"] for t in bands) == [0, 1]
    spans = sorted((x - w / 2, x + w / 2) for t in bands for x, w in zip(t.x, t.width))
    expected = sorted((s.start, s.end) for s in analysis.segments)
    np.testing.assert_allclose(spans, expected)
    assert len(expected) == len(ACTIONS)
    assert all("waving" in text or "bouncing" in text for t in bands for text in t.customdata)
    assert len(figure.data) <= len(CURVE_STYLES) + len(analysis.clusters) + 2  # + the edits lane's two traces


def test_threshold_line_and_sweep_band():
    figure = timeline_figure(synthetic_analysis(threshold=0.42))
    lines = [s for s in figure.layout.shapes if s.type == "line"]
    assert len(lines) == 1 and lines[0].y0 == lines[0].y1 == pytest.approx(0.42)
    sweep = dataclasses.replace(synthetic_analysis(), params=LocalizeParams())
    rects = [s for s in timeline_figure(sweep).layout.shapes if s.type == "rect"]
    assert len(rects) == 1 and rects[0].y0 == pytest.approx(0.1) and rects[0].y1 == pytest.approx(0.9)


def test_ground_truth_gets_its_own_row():
    analysis = synthetic_analysis()
    truth = [GroundTruth(5.0, 12.0, "waving"), GroundTruth(40.0, 48.0, "bouncing")]
    figure = timeline_figure(analysis, truth)
    (row,) = traces_with(figure, "ground_truth")
    assert row.yaxis == "y2" and len(row.x) == 2
    assert all(t.yaxis in (None, "y") for t in traces_with(figure, "curve"))
    assert lane_names(figure) == ["ground truth", "edits (drag)"]
    assert not traces_with(timeline_figure(analysis), "ground_truth")


def test_selected_cluster_hides_other_bands_and_filters_rows():
    analysis = synthetic_analysis()
    figure = timeline_figure(analysis, selected_cluster=1)
    visibility = {t.meta["segments"]: t.visible for t in traces_with(figure, "segments")}
    assert visibility == {0: "legendonly", 1: True}
    rows = segment_rows(analysis, cluster=1)
    assert rows and all(row[5].startswith("1:") for row in rows)
    in_time_order = sorted(analysis.segments, key=lambda s: (s.start, s.end))
    for row in rows:  # "#" is the subtitle cue number: the row-th segment in time order of all of them
        assert in_time_order[row[0] - 1].start == pytest.approx(row[1], abs=0.01)


def test_rows_are_in_time_order_and_clusters_listed():
    analysis = dataclasses.replace(synthetic_analysis(), segments=list(reversed(synthetic_analysis().segments)))
    starts = [row[1] for row in segment_rows(analysis)]
    assert starts == sorted(starts) and len(starts) == len(ACTIONS)
    # The table's numbers are the subtitles' (issue 11): cue "#n" starts where row n does.
    cue_start = {}
    for block in subtitles_vtt(analysis.segments).split("\n\n")[1:]:
        _, times, text = block.strip().split("\n")
        hours, minutes, seconds = times.split(" --> ")[0].split(":")
        cue_start[int(text.split()[0][1:])] = int(hours) * 3600 + int(minutes) * 60 + float(seconds)
    for number, start, *_ in segment_rows(analysis):
        assert cue_start[number] == pytest.approx(start, abs=0.01)
    assert [i for i, _ in visible_segments(analysis)] == [2, 1, 0]
    assert [row[:3] for row in cluster_rows(analysis)] == [[0, "waving", 2], [1, "bouncing", 1]]


def test_ground_truth_for_video_matches_ids_or_one_duration_never_the_only_video(tmp_path):
    truth = {"v_clip": [GroundTruth(1, 2, "a")], "other": [GroundTruth(3, 4, "b")]}
    assert ground_truth_for_video(truth, "clip") == [GroundTruth(1, 2, "a")]
    # The only video of a file is not the analysed one just because it is alone (the defect of issue 11).
    assert ground_truth_for_video({"anything": [GroundTruth(3, 4, "b")]}, "clip") is None
    assert ground_truth_for_video(truth, "missing") is None
    gt = tmp_path / "gt.json"
    gt.write_text(json.dumps({"database": {"v_clip": {"duration": 60.0, "annotations": []},
                                           "other": {"duration": 24.2, "annotations": []}}}))
    durations = ground_truth_durations(gt)
    assert durations == {"v_clip": 60.0, "other": 24.2}
    assert ground_truth_for_video(truth, "renamed", duration=24.0, durations=durations) == [GroundTruth(3, 4, "b")]
    assert ground_truth_for_video(truth, "renamed", duration=30.0, durations=durations) is None
    twins = {"v_clip": 24.1, "other": 24.2}  # two videos of that length: no guess
    assert ground_truth_for_video(truth, "renamed", duration=24.0, durations=twins) is None


def test_detection_rows_end_with_the_mean():
    from utal_core.evaluate import DetectionResult

    rows = detection_rows(DetectionResult(np.array([0.3, 0.5]), np.array([0.8, 0.4])))
    assert rows == [["0.30", 0.8], ["0.50", 0.4], ["mean", 0.6]]


def test_thumbnails_are_extracted_once_and_bad_files_named(tmp_path, media_backend):
    video = make_video(tmp_path / "tiny.mp4", SyntheticVideoSpec(duration=12.0, width=160, height=120,
                                                                num_actions=1, audio=False, seed=2))
    thumbnails = Thumbnailer(tmp_path / "thumbs", width=64)
    first = thumbnails(video.path, 2.0)
    assert first.read_bytes()[:2] == b"\xff\xd8"  # JPEG
    stamp = first.stat().st_mtime_ns
    assert thumbnails(video.path, 2.04) == first and first.stat().st_mtime_ns == stamp
    assert thumbnails(video.path, 4.0) != first
    broken = tmp_path / "broken.mp4"
    broken.write_text("not a video")
    with pytest.raises(UTALError, match="broken.mp4"):
        thumbnails(broken, 1.0)
    assert not list((tmp_path / "thumbs").glob(".thumb.*"))


def test_edits_get_their_own_row_coloured_by_status():
    from utal_core.viz import EDIT_COLOURS, edits_row

    analysis = synthetic_analysis()
    (empty,) = traces_with(timeline_figure(analysis), "edits")
    assert len(empty.x) == 0 and empty.yaxis == "y2"
    layer = analysis.edit_layer()
    layer.accept("r0")
    layer.reject("r1")
    layer.nudge("r2", "start", 5, "0.1s")
    layer.add(1.0, 2.5, "clap")
    figure = timeline_figure(analysis, [GroundTruth(5.0, 12.0, "waving")])
    (row,) = traces_with(figure, "edits")
    (track,) = traces_with(figure, "track")
    assert row.yaxis == track.yaxis == "y2" and len(row.x) == 4
    # The track outlines every segment of the layer (what a drag grabs), in the edits lane's span on the axis.
    assert len(track.x) == len(analysis.segments) + 1 and set(row.base) == set(track.base) == {track.meta["lane"][0]}
    assert list(row.marker.color) == [EDIT_COLOURS[s] for s in ("accepted", "rejected", "edited", "added")]
    assert list(row.marker.pattern.shape) == ["", "x", "", ""]
    edited = analysis.segments[2]
    assert row.width[2] == pytest.approx(edited.end - edited.start - 0.5)
    assert f"model: {edited.start:.3f}" in row.customdata[2]
    fresh = synthetic_analysis().edit_layer()
    fresh.accept("r0")
    selected = edits_row(fresh, selected="r1")  # an untouched segment joins the row when selected, outlined
    assert selected["keys"] == ["r0", "r1"] and selected["line"] == [0, 3] and selected["color"][1] == "#ffffff"
    # What the page needs to draw a nudge before the server answers: which bar, a frame, the video's end.
    assert selected["selected"] == "r1" and selected["frame"] == fresh.frame_s
    assert selected["duration"] == fresh.duration


def test_a_kept_timeline_base_gives_the_figure_of_each_new_segmentation():
    """The app draws the curves, rows and layout once per analysis (timeline_base) and adds each re-segmentation
    to them (timeline_json): the result must be the figure drawn from scratch for that segmentation."""
    from utal_core.viz import timeline_base, timeline_json

    first, truth = synthetic_analysis(threshold=0.5), [GroundTruth(5.0, 12.0, "waving")]
    base = timeline_base(first, truth, height=320)
    for threshold, count in ((0.3, 1), (0.7, 2)):  # another threshold and other segments
        moved = synthetic_analysis(threshold=threshold)
        moved.segments = moved.segments[:count]
        moved.edit_layer().accept("r0")
        kept = json.loads(timeline_json(moved, truth, 1, 320, base=base))
        assert kept == json.loads(timeline_json(moved, truth, 1, 320))
        assert any(f"threshold {threshold:.2f}" == a["text"] for a in kept["layout"]["annotations"])
        assert sum(len(t["x"]) for t in kept["data"] if "segments" in t.get("meta", {})) == count
        edits = [t for t in kept["data"] if t.get("meta", {}).get("edits")]
        assert len(edits) == 1 and len(edits[0]["x"]) == 1


def test_pack_rows_puts_overlapping_spans_on_rows_of_their_own_and_needs_no_more_rows_than_overlap():
    from utal_core.viz import pack_rows

    # A localization error under a hit, a touching span after the hit, a later span alone.
    spans = [(1.0, 3.4), (1.2, 3.0), (3.4, 5.0), (8.0, 9.0)]
    assert pack_rows(spans) == [0, 1, 0, 0]
    assert pack_rows([]) == []
    rng = np.random.default_rng(3)
    for _ in range(50):
        starts = rng.uniform(0, 50, rng.integers(1, 40))
        spans = [(float(s), float(s + rng.uniform(0.1, 10))) for s in starts]
        rows = pack_rows(spans)
        for i, (a0, a1) in enumerate(spans):
            for j, (b0, b1) in enumerate(spans[:i]):
                if min(a1, b1) > max(a0, b0):
                    assert rows[i] != rows[j], (spans[i], spans[j])
        most_at_once = max(sum(s <= t < e for s, e in spans) for t, _ in spans)
        assert max(rows) + 1 == most_at_once


def detector_row():
    from utal_core.diagnose import OUTCOME_COLOURS
    from utal_core.viz import BandRow

    spans = [(1.0, 3.4), (1.2, 3.0), (20.0, 22.0)]
    kinds = ["true positive", "localization error", "background"]
    return BandRow("detector: <b>af</b>.json", spans, [f"{k}" for k in kinds], "#6a3d9a", {"detector": "af"},
                   kinds, OUTCOME_COLOURS)


def test_a_detector_lane_stacks_overlapping_predictions_coloured_by_outcome_with_a_legend():
    from utal_core.diagnose import OUTCOME_COLOURS, OUTCOMES

    analysis = synthetic_analysis()
    figure = timeline_figure(analysis, [GroundTruth(1.0, 3.3, "waving")], extra_rows=[detector_row()])
    traces = traces_with(figure, "detector")
    assert [t.name for t in traces] == list(OUTCOMES)  # one legend entry per outcome, empty ones too
    assert all(t.showlegend and t.marker.color == OUTCOME_COLOURS[t.name] and t.yaxis == "y2" for t in traces)
    assert {t.legend for t in traces} == {"legend2"} and figure.layout.legend2.y == 0  # its own legend, by the lanes
    spans = {t.name: bar_spans(t) for t in traces}
    (hit,), (error,) = spans["true positive"], spans["localization error"]
    assert (hit[0], hit[1]) == pytest.approx((1.0, 3.4)) and (error[0], error[1]) == pytest.approx((1.2, 3.0))
    assert abs(hit[2] - error[2]) >= 1.0  # a sub-row each: the error is not hidden under the hit
    (alone,) = spans["background"]
    assert alone[2] == hit[2]  # no overlap: back on the first sub-row
    # Names at the left, the file name as plain text; the detector's name sits between its two sub-rows.
    assert lane_names(figure) == ["ground truth", "detector: &lt;b&gt;af&lt;/b&gt;.json", "edits (drag)"]
    middle = figure.layout.yaxis2.tickvals[1]
    assert min(hit[2], error[2]) < middle < max(hit[2], error[2]) + 1


def test_legend_outside_the_plot_curves_keep_their_height_and_the_absent_line_is_wrapped():
    from utal_core.viz.timeline import MIN_CURVES_PX, NOTE_CHARS

    analysis = synthetic_analysis()
    analysis.absent["audio"] = "the file has no audio stream that ffmpeg can decode " * 3
    analysis.curves["motion"], analysis.absent["motion"] = None, "the motion encoder's weights are missing"
    figure = timeline_figure(analysis, [GroundTruth(1.0, 3.3, "waving")], height=320, extra_rows=[detector_row()])
    layout = figure.layout
    assert layout.legend.x > 1 and layout.legend.xanchor == "left"  # right of the plot area, not over it
    plot_px = layout.height - layout.margin.t - layout.margin.b
    curves_px = (layout.yaxis.domain[1] - layout.yaxis.domain[0]) * plot_px
    assert curves_px >= MIN_CURVES_PX - 0.5 and layout.yaxis.domain[0] > layout.yaxis2.domain[1]
    (note,) = [a for a in layout.annotations if a.name == "absent"]
    lines = note.text.split("<br>")
    assert len(lines) >= 2 and all(len(line) <= NOTE_CHARS for line in lines)
    assert "motion evidence: the motion encoder's weights are missing" in " ".join(lines)
    assert layout.margin.t >= 14 * len(lines) + 20  # the note's lines lie in the top margin, above the plot


def test_a_video_with_sound_gets_a_loudness_lane_from_its_decode_pass():
    from utal_core.signals import AUDIO_RMS_FINE_KEY
    from utal_core.types import ViewFeatures
    from utal_core.viz import loudness_envelope

    analysis = synthetic_analysis(audio=True)
    assert loudness_envelope(analysis) is None and "audio loudness" not in lane_names(timeline_figure(analysis))
    grid = analysis.grid
    rms = np.full((grid.num_snippets, 8), 0.01, dtype=np.float32)
    rms[20:27] = 0.5  # loud during the second action
    analysis.features = ViewFeatures(grid.times, views={}, extras={AUDIO_RMS_FINE_KEY: rms})
    times, loudness = loudness_envelope(analysis)
    assert len(times) == grid.num_snippets * 8 and loudness.max() == pytest.approx(1.0)
    assert loudness[(times > 21) & (times < 26)].min() > 0.9 > 0.2 > loudness[times < 15].max()
    figure = timeline_figure(analysis)
    assert lane_names(figure)[0] == "audio loudness"
    (wave,) = traces_with(figure, "waveform")
    assert wave.yaxis == "y2" and wave.fill == "toself" and len(wave.x) == 2 * len(times)


def test_a_lane_of_many_overlapping_spans_is_squeezed_to_a_few_rows_height_every_span_still_drawn():
    from utal_core.viz import BandRow
    from utal_core.viz.lanes import LANE_PITCH, MAX_LANE_ROWS

    spans = [(1.0 + i * 0.1, 30.0) for i in range(20)]  # twenty predictions over one another
    row = BandRow("detector: dense", spans, [""] * 20, "#123456", {"detector": "dense"})
    figure = timeline_figure(synthetic_analysis(), extra_rows=[row])
    (lane,) = traces_with(figure, "detector")
    bases = sorted(b for _, _, b in bar_spans(lane))
    assert len(set(bases)) == 20 and all(h == pytest.approx(MAX_LANE_ROWS / 20) for h in lane.y)
    assert all(later - earlier >= lane.y[0] for earlier, later in zip(bases, bases[1:]))  # no two bars overlap
    assert bases[-1] + lane.y[0] <= MAX_LANE_ROWS * LANE_PITCH  # within the room of MAX_LANE_ROWS rows


def test_overlapping_segments_lie_on_sub_rows_of_their_own_in_the_edits_lane():
    from utal_core.viz import edits_row

    analysis = synthetic_analysis()
    first = analysis.segments[0]
    analysis.segments.append(dataclasses.replace(first, start=first.start + 1, end=first.end + 1))  # over the first
    layer = analysis.edit_layer()
    layer.accept("r3")
    row = edits_row(layer)
    assert row["track"]["rows"] == [0, 0, 0, 1] and row["rows"] == [1]
    figure = timeline_figure(analysis)
    (track,) = traces_with(figure, "track")
    (edits,) = traces_with(figure, "edits")
    low, high = track.meta["lane"]
    assert high - low == pytest.approx(2 * 1.25)  # two sub-rows and a spare one for added segments
    assert list(track.base) == [low, low, low, low + 1.25] and list(edits.base) == [low + 1.25]
