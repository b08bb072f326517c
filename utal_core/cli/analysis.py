"""`analyze`: the whole path (features -> model -> segments -> clusters) for one or more videos, or
features -> model -> class-wise segments for a folder of precomputed features (THUMOS14 layout)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

from ..edit_files import write_analysis_keeping_edits
from ..errors import UTALError
from ..export import unique_video_ids, write_activitynet
from ..features import resolve_device
from ..grid import ADAPTIVE_MAX_SNIPPETS, ADAPTIVE_MIN_SNIPPETS, THUMOS_FPS, THUMOS_SNIPPET_FRAMES
from ..limits import ENV, Limits
from ..localize import LocalizeParams
from ..pipeline import Pipeline, PipelineConfig, features_grid, predict_features, pseudo_class_segments
from . import subcommand

FEATURES_STRIDE_S = THUMOS_SNIPPET_FRAMES / THUMOS_FPS
RESULTS_FILE = "results.anet.json"


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="*", help="video files (or give --features instead)")
    parser.add_argument("--features",
                        help="folder of per-video precomputed features instead of videos: <id>.npy CBP files "
                             "(THUMOS14 I3D layout, rgb/ + flow/ also accepted), cached .npz files, or a `batch` output folder")
    parser.add_argument("--audio", help="with --features: folder of per-video audio .npy files")
    parser.add_argument("--clip", help="with --features: folder of per-video CLIP .npy files")
    parser.add_argument("--out", required=True,
                        help="folder for <stem>.analysis.json files (with --features: for results.anet.json)")
    parser.add_argument("--checkpoint",
                        help="CLIP-AE checkpoint (default: the shipped one in checkpoints/; required with --features)")
    parser.add_argument("--stride", "--stride-s", dest="stride", type=float, default=None,
                        help=f"snippet stride in seconds (default for videos: adaptive, 1 s with at least "
                             f"{ADAPTIVE_MIN_SNIPPETS} and at most {ADAPTIVE_MAX_SNIPPETS} snippets; "
                             f"{FEATURES_STRIDE_S:g} for .npy features: 16 frames at 25 fps)")
    parser.add_argument("--refine-steps", type=int, default=None,
                        help=f"per-video test-time refinement steps (0: checkpoint as is; default "
                             f"{PipelineConfig.refine_steps} for videos, 0 with --features)")
    parser.add_argument("--views", nargs="+", default=None, help="views to use for videos (default: cbp motion clip audio)")
    parser.add_argument("--clip-weights", help="local open_clip weights file for the CLIP view")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--format", choices=["anet"],
                        help="also write ActivityNet results (results.anet.json); always written with --features")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")
    parser.add_argument("--max-duration", type=float, metavar="SECONDS",
                        help=f"longest video analysed (default {Limits.max_duration_s:g} s, or {ENV['max_duration_s']})")
    parser.add_argument("--max-snippets", type=int, metavar="N",
                        help=f"most snippets per video (default {Limits.max_snippets}, or {ENV['max_snippets']})")


def _analyze_features(args: argparse.Namespace) -> int:
    """Precomputed features -> model -> class-wise pseudo-labelled segments -> results.anet.json."""
    from ..model import load_checkpoint, load_feature_folder

    if not args.checkpoint:
        raise UTALError("--features needs --checkpoint (a model trained on such features with `train`)")
    stride = args.stride or FEATURES_STRIDE_S
    videos = load_feature_folder(args.features, audio_dir=args.audio, clip_dir=args.clip, stride_s=stride)
    model, _ = load_checkpoint(args.checkpoint, device=resolve_device(args.device))
    params = LocalizeParams()
    summary, predictions = [], {}
    for video_id, features in videos.items():
        _, segments = predict_features(model, features, features_grid(features, stride), params,
                                       refine_steps=args.refine_steps or 0)
        predictions[video_id] = segments
        summary.append({"video": video_id, "snippets": features.num_snippets, "segments": len(segments),
                        "absent": features.absent})
        if not args.json:
            print(f"{video_id}: {features.num_snippets} snippets, {len(segments)} segments", file=sys.stderr)
    path = write_activitynet(Path(args.out) / RESULTS_FILE, predictions)
    summary.append({"results": str(path)})
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"ActivityNet results for {len(predictions)} videos -> {path}")
    return 0


@subcommand("analyze", "Analyse videos: actionness curves, segments and pseudo-action clusters.", _configure)
def run_analyze(args: argparse.Namespace) -> int:
    if bool(args.videos) == bool(args.features):
        raise UTALError("give either video files or --features FOLDER (exactly one of them)")
    if args.features:
        return _analyze_features(args)
    if args.audio or args.clip:
        raise UTALError("--audio and --clip go with --features")
    refine_steps = PipelineConfig.refine_steps if args.refine_steps is None else args.refine_steps
    config = PipelineConfig(stride_s=args.stride, refine_steps=refine_steps,
                            checkpoint=args.checkpoint, device=args.device)
    if args.views:
        config.views = tuple(args.views)
    if args.clip_weights:
        config.encoder_configs["clip"] = {"weights": args.clip_weights}
    limits = Limits.from_env(max_duration_s=args.max_duration, max_snippets=args.max_snippets)
    pipeline = Pipeline.from_config(config, limits=limits)
    out = Path(args.out)
    summary, predictions, failures = [], {}, {}
    for video, video_id in zip(args.videos, unique_video_ids(args.videos)):
        def progress(stage: str, fraction: float) -> None:
            if not args.json:
                print(f"\r{Path(video).name}: {stage} {fraction:4.0%}   ", end="", file=sys.stderr, flush=True)

        try:  # one bad video must not stop the others: failures are listed at the end
            analysis = dataclasses.replace(pipeline.analyze(video, progress=progress), video_id=video_id)
            path, kept, changed = write_analysis_keeping_edits(analysis, out / f"{video_id}.analysis.json")
        except UTALError as error:
            failures[video] = str(error)
            if not args.json:
                print(f"\r{Path(video).name}: failed (listed at the end)", file=sys.stderr)
            continue
        predictions[video_id] = pseudo_class_segments(analysis)
        clip_weights = analysis.config.get("clip_weights", {})
        summary.append({"video": video_id, "analysis": str(path), "segments": len(analysis.segments),
                        "clusters": [c.name for c in analysis.clusters], "absent": analysis.absent,
                        "warnings": analysis.warnings, "model": analysis.config["model"],
                        "timings_s": {stage: round(seconds, 3) for stage, seconds in pipeline.last_timings.items()},
                        **({"clip": clip_weights["label"]} if clip_weights else {})})
        if clip_weights.get("warning"):
            print(f"warning: {clip_weights['warning']}", file=sys.stderr)
        if not args.json:
            print(f"\r{video_id}: {len(analysis.segments)} segments, {len(analysis.clusters)} clusters "
                  f"-> {path}", file=sys.stderr)
            for s in analysis.segments:
                print(f"  {s.start:8.2f} - {s.end:8.2f} s  score {s.score:.3f}  cluster {s.cluster} ({s.label})")
        if kept:
            print(f"{'warning' if changed else 'note'}: {path.name}: {kept}", file=sys.stderr)
            summary[-1]["edits"] = kept
        for warning in analysis.warnings:
            print(f"warning: {warning}", file=sys.stderr)
    if args.format == "anet" and predictions:
        path = write_activitynet(out / RESULTS_FILE, predictions)
        summary.append({"results": str(path)})
        if not args.json:
            print(f"ActivityNet results -> {path}")
    if args.json:
        print(json.dumps(summary + [{"failed": failures}] * bool(failures), indent=2))
    if failures:
        if len(args.videos) > 1:
            print(f"{len(failures)} of {len(args.videos)} videos failed:", file=sys.stderr)
        for reason in failures.values():
            print(f"error: {reason}", file=sys.stderr)
        return 2
    return 0
