"""Localization on real annotated clips: the project against naive baselines, with a per-view ablation.

Runs the same code path as ``python -m utal_core analyze`` (``Pipeline.analyze`` with the default
configuration) on every clip of ``../shared/data/real/`` (ground truth ``real/gt.json``) and
``../shared/data/unav/`` (``<stem>.gt.json``), and, in the same run, naive baselines built by this
script on the analysis's own snippet grid and scored by the same proposal, NMS and evaluation code:

- whole video: one segment from 0 to the end;
- motion energy: mean absolute difference of consecutive sampled grey frames;
- audio RMS: root mean square of each snippet's audio window (motion energy for a silent clip);

the last two both on the analysis's grid and on a plain 1 s grid.

Per clip and overall it prints class-agnostic mAP at tIoU 0.1:0.1:0.7 (overall: every clip's
predictions ranked together), the mean over clips, the number of segments, the expected
calibration error (10 bins) of the fused actionness against ground-truth foreground per snippet,
and how many segments change when the threshold moves from 0.2 to 0.8. ``--ablation`` adds one
row per view (the model run on that view alone), the text prior without any model (CLIP's, or
the label bridge's) and the model with the label bridge as its vision-language view, next to the
full model.

    .venv/bin/python benchmarks/real_clips.py                 # project + baselines
    .venv/bin/python benchmarks/real_clips.py --ablation      # + per-view rows

The clips are research-only footage: they are read from ../shared and never copied; the script
exits cleanly (status 0, one line) when they are absent.
"""

from __future__ import annotations

import argparse
import copy
import json
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from utal_core import media  # noqa: E402
from utal_core.evaluate import (THUMOS_TIOUS, Prediction, evaluate_detection,  # noqa: E402
                                expected_calibration_error, foreground_mask, load_ground_truth)
from utal_core.grid import SnippetGrid  # noqa: E402
from utal_core.localize import LocalizeParams, localize  # noqa: E402
from utal_core.pipeline import Analysis, Pipeline, PipelineConfig, run_model  # noqa: E402
from utal_core.text import BRIDGE_PRIOR_KEY, LabelBridgeScorer  # noqa: E402
from utal_core.types import Segment  # noqa: E402

DATA = Path(__file__).resolve().parents[2] / "shared" / "data"
LOW_THRESHOLD, HIGH_THRESHOLD = 0.2, 0.8
#: A clip whose audio RMS never reaches this is treated as silent by the audio baseline.
SILENT_RMS = 1e-3


@dataclass
class Clip:
    """One real clip and its ground-truth file."""

    path: Path
    ground_truth: Path

    @property
    def video_id(self) -> str:
        return self.path.stem


@dataclass
class RowResult:
    """One method's segments (and curve, when it has one) on every clip."""

    name: str
    segments: dict[str, list[Segment]] = field(default_factory=dict)
    curves: dict[str, np.ndarray] = field(default_factory=dict)
    changed: dict[str, int] = field(default_factory=dict)


def find_clips(data: Path) -> list[Clip]:
    """The real clips under ``data`` that have ground truth."""
    clips = [Clip(path, data / "real" / "gt.json") for path in sorted((data / "real").glob("*.mp4"))]
    clips += [Clip(path, path.with_suffix(".gt.json")) for path in sorted((data / "unav").glob("*.mp4"))]
    return [clip for clip in clips if clip.ground_truth.exists()]


def motion_energy(path: Path, grid: SnippetGrid) -> np.ndarray:
    """Mean absolute difference of consecutive sampled grey frames (the first snippet copies the second)."""
    previous, energy = None, []
    for batch in media.iter_frames(path, grid, short_side=128):
        for frame in batch.frames.astype(np.float32).mean(axis=-1):
            energy.append(0.0 if previous is None else float(np.abs(frame - previous).mean()))
            previous = frame
    values = np.asarray(energy)
    if len(values) > 1:
        values[0] = values[1]
    return values


def audio_rms(path: Path, grid: SnippetGrid) -> np.ndarray | None:
    """RMS of each snippet's audio window; None when the clip has no audio or is silent."""
    track = media.decode_audio(path)
    if not track.available:
        return None
    starts = grid.times - grid.window / 2
    rms = np.array([np.sqrt(np.mean(np.square(track.window(s, s + grid.window))) + 1e-12) for s in starts])
    return None if rms.max() < SILENT_RMS else rms


def signal_segments(signal: np.ndarray, grid: SnippetGrid, params: LocalizeParams) -> list[Segment]:
    """The pipeline's proposals, scoring and NMS on a hand-made signal rescaled to [0, 1]."""
    return localize(signal, grid, LocalizeParams(**(params.to_dict() | {"normalize": True})))


def changed_segments(low: list[Segment], high: list[Segment]) -> int:
    """How many segments appear at one threshold but not at the other."""
    def key(segments: list[Segment]) -> set[tuple[float, float]]:
        return {(round(s.start, 3), round(s.end, 3)) for s in segments}

    return len(key(low) ^ key(high))


def model_row(name: str, analyses: dict[str, Analysis], pipeline: Pipeline) -> RowResult:
    """Segments of the pipeline's analyses, and how they move between the low and high thresholds."""
    row = RowResult(name)
    for video_id, analysis in analyses.items():
        row.segments[video_id] = analysis.segments
        row.curves[video_id] = np.asarray(analysis.curves["fused"], dtype=np.float64)
        low, high = (pipeline.resegment(analysis, analysis.params.with_threshold(t)).segments
                     for t in (LOW_THRESHOLD, HIGH_THRESHOLD))
        row.changed[video_id] = changed_segments(low, high)
    return row


def text_prior_row(analyses: dict[str, Analysis], params: LocalizeParams) -> RowResult:
    """The vision-language view without any model: CLIP's zero-shot prior, else the label bridge's."""
    key = "clip_prior" if all("clip_prior" in a.features.extras for a in analyses.values()) else BRIDGE_PRIOR_KEY
    row = RowResult(f"{'CLIP' if key == 'clip_prior' else 'label-bridge'} prior (no model)")
    for video_id, analysis in analyses.items():
        if key not in analysis.features.extras:
            continue
        prior = np.asarray(analysis.features.extras[key], dtype=np.float64)
        row.curves[video_id] = prior
        row.segments[video_id] = localize(prior, analysis.grid, params)
        row.changed[video_id] = changed_segments(
            *(localize(prior, analysis.grid, params.with_threshold(t)) for t in (LOW_THRESHOLD, HIGH_THRESHOLD)))
    return row


def bridge_vlp_row(analyses: dict[str, Analysis], pipeline: Pipeline) -> RowResult:
    """Issue 9's offline vision-language try: the label bridge's per-snippet class-name mixtures
    (MiniLM space) given to the model in the VLP slot, so the CBP<->VLP collaboration runs without
    CLIP. The evidence is unchanged (the bridge prior stands in for CLIP's prior); only the model's
    input differs. Not part of the pipeline unless this row beats the full model."""
    scorer = LabelBridgeScorer()
    row = RowResult("model + bridge as VLP view")
    for video_id, analysis in analyses.items():
        features = copy.deepcopy(analysis.features)
        features.views["clip"] = scorer.segment_vectors(features.extras).astype(np.float32)
        features.extras["clip_prior"] = features.extras[BRIDGE_PRIOR_KEY]
        prediction = run_model(None, features, pipeline.config.refine_steps, pipeline.config.seed)
        row.curves[video_id] = np.asarray(prediction.actionness, dtype=np.float64)
        row.segments[video_id] = localize(prediction.actionness, analysis.grid, analysis.params)
        row.changed[video_id] = changed_segments(
            *(localize(prediction.actionness, analysis.grid, analysis.params.with_threshold(t))
              for t in (LOW_THRESHOLD, HIGH_THRESHOLD)))
    return row


def baseline_rows(clips: list[Clip], analyses: dict[str, Analysis], params: LocalizeParams) -> list[RowResult]:
    """Whole video, and motion energy and audio RMS on each analysis's grid and on a plain 1 s grid
    (a finer grid makes a raw signal noisier; each baseline is shown at both, so it is not handicapped)."""
    whole = RowResult("whole video")
    rows = {(kind, grid_name): RowResult(f"{kind} ({grid_name})")
            for kind in ("motion energy", "audio RMS") for grid_name in ("analysis grid", "1 s grid")}
    for clip in clips:
        analysis = analyses[clip.video_id]
        whole.segments[clip.video_id] = [Segment(0.0, analysis.duration, 1.0)]
        for grid_name, grid in (("analysis grid", analysis.grid), ("1 s grid", SnippetGrid(analysis.duration))):
            energy = motion_energy(clip.path, grid)
            rms = audio_rms(clip.path, grid)
            for kind, signal in (("motion energy", energy), ("audio RMS", energy if rms is None else rms)):
                row = rows[kind, grid_name]
                row.segments[clip.video_id] = signal_segments(signal, grid, params)
                row.changed[clip.video_id] = changed_segments(
                    *(signal_segments(signal, grid, params.with_threshold(t)) for t in (LOW_THRESHOLD, HIGH_THRESHOLD)))
    return [whole, *rows.values()]


def detection_map(truth: dict, segments: dict[str, list[Segment]]) -> float:
    predictions = {video: [Prediction(s.start, s.end, s.score, "action") for s in items]
                   for video, items in segments.items()}
    return evaluate_detection(truth, predictions, THUMOS_TIOUS, class_agnostic=True).mean_map


def summarise(row: RowResult, truth: dict, analyses: dict[str, Analysis]) -> dict:
    """Overall and per-clip mAP, segment counts, ECE and threshold sensitivity of one row."""
    # A row without a clip (a view the clip lacks) has no segments there: its ground truth is missed.
    per_clip = {video: detection_map({video: truth[video]}, {video: row.segments.get(video, [])}) for video in truth}
    summary = {
        "name": row.name,
        "overall_map": detection_map(truth, row.segments),
        "mean_over_clips": float(np.mean(list(per_clip.values()))),
        "per_clip_map": per_clip,
        "segments": {video: len(row.segments.get(video, [])) for video in truth},
        "changed_0.2_0.8": dict(row.changed),
    }
    if row.curves:
        masks = {video: foreground_mask(truth[video], analyses[video].times) for video in row.curves}
        summary["ece_per_clip"] = {video: expected_calibration_error(row.curves[video], masks[video])
                                   for video in row.curves}
        summary["ece"] = expected_calibration_error(np.concatenate(list(row.curves.values())),
                                                    np.concatenate([masks[video] for video in row.curves]))
    return summary


def print_table(summaries: list[dict], videos: list[str]) -> None:
    short = {video: video.split("_")[0] for video in videos}
    header = f"{'method':<30} {'overall':>8} {'mean/clip':>9} {'ECE':>6} " + " ".join(f"{short[v]:>9}" for v in videos)
    print(header)
    print("-" * len(header))
    for s in summaries:
        ece = f"{s['ece']:.3f}" if "ece" in s else "   -  "
        cells = " ".join(f"{s['per_clip_map'][v]:9.3f}" for v in videos)
        print(f"{s['name']:<30} {s['overall_map']:8.3f} {s['mean_over_clips']:9.3f} {ece:>6} {cells}")
    print()
    print(f"{'segments / changed 0.2->0.8':<30} " + " ".join(f"{short[v]:>9}" for v in videos))
    for s in summaries:
        cells = " ".join(f"{s['segments'][v]:>4}/{s['changed_0.2_0.8'].get(v, 0):<4}" if s['changed_0.2_0.8']
                         else f"{s['segments'][v]:>4}/ -  " for v in videos)
        print(f"{s['name']:<30} {cells}")
    for s in summaries:
        if "ece_per_clip" in s:
            print(f"ECE per clip ({s['name']}): " + ", ".join(f"{short[v]} {e:.3f}" for v, e in s["ece_per_clip"].items()))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--data", type=Path, default=DATA, help="the shared data folder (real/ and unav/)")
    parser.add_argument("--cache", type=Path, default=None, help="feature cache folder (default: the pipeline's)")
    parser.add_argument("--ablation", action="store_true", help="also run the model on each view alone")
    parser.add_argument("--json", type=Path, help="write every figure to this JSON file")
    args = parser.parse_args(argv)

    clips = find_clips(args.data)
    if not clips:
        print(f"no real clips under {args.data}: nothing to do")
        return 0
    truth: dict = {}
    for clip in clips:
        truth.update({video: items for video, items in load_ground_truth(clip.ground_truth).items()
                      if video == clip.video_id})
    config = PipelineConfig(cache_dir=str(args.cache) if args.cache else None)
    pipeline = Pipeline.from_config(config)
    started = time.perf_counter()
    analyses = {clip.video_id: pipeline.analyze(clip.path) for clip in clips}
    seconds = time.perf_counter() - started
    rows = [model_row("project (fused)", analyses, pipeline)]
    if args.ablation:
        for view in [v for v in config.views if any(v in a.features.views for a in analyses.values())]:
            single = Pipeline.from_config(PipelineConfig(cache_dir=config.cache_dir, views=(view,)))
            having = [clip for clip in clips if view in analyses[clip.video_id].features.views]
            rows.append(model_row(f"model: {view} only", {c.video_id: single.analyze(c.path) for c in having}, single))
        rows.append(text_prior_row(analyses, config.localize))
        rows.append(bridge_vlp_row(analyses, pipeline))
    rows += baseline_rows(clips, analyses, config.localize)
    videos = [clip.video_id for clip in clips]
    summaries = [summarise(row, truth, analyses) for row in rows]
    print(f"{len(clips)} real clips, class-agnostic mAP@{THUMOS_TIOUS[0]}:{THUMOS_TIOUS[-1]}; "
          f"analyses took {seconds:.1f} s; model: {analyses[videos[0]].config.get('model')}\n")
    print_table(summaries, videos)
    if args.json:
        args.json.write_text(json.dumps({"clips": videos, "rows": summaries}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
