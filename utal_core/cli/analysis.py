"""`analyze`: the whole path (features -> model -> segments -> clusters) for one or more videos, or
features -> model -> class-wise segments for a folder of precomputed features (THUMOS14 layout)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from ..errors import UTALError
from ..export import write_activitynet
from ..features import resolve_device
from ..grid import ADAPTIVE_MAX_SNIPPETS, ADAPTIVE_MIN_SNIPPETS, THUMOS_FPS, THUMOS_SNIPPET_FRAMES
from ..localize import LocalizeParams
from ..model import load_checkpoint, load_feature_folder
from ..pipeline import Analysis, Pipeline, PipelineConfig, features_grid, predict_features, pseudo_class_label
from . import subcommand

FEATURES_STRIDE_S = THUMOS_SNIPPET_FRAMES / THUMOS_FPS
RESULTS_FILE = "results.anet.json"


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="*", help="video files (or give --features instead)")
    parser.add_argument("--features",
                        help="folder of per-video precomputed features instead of videos: <id>.npy CBP files "
                             "(THUMOS14 I3D layout, rgb/ + flow/ also accepted) or cached .npz files")
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


def pseudo_class_segments(analysis: Analysis) -> list:
    """Segments labelled with the video's pseudo-class (argmax of the CAS head's video scores),
    the label the unsupervised protocol maps to real classes with the Hungarian algorithm."""
    label = pseudo_class_label(int(np.argmax(analysis.video_scores)))
    return [dataclasses.replace(s, label=label) for s in analysis.segments]


def _analyze_features(args: argparse.Namespace) -> int:
    """Precomputed features -> model -> class-wise pseudo-labelled segments -> results.anet.json."""
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
    pipeline = Pipeline.from_config(config)
    out = Path(args.out)
    summary, predictions = [], {}
    for video in args.videos:
        def progress(stage: str, fraction: float) -> None:
            if not args.json:
                print(f"\r{Path(video).name}: {stage} {fraction:4.0%}   ", end="", file=sys.stderr, flush=True)

        analysis = pipeline.analyze(video, progress=progress)
        path = analysis.write_json(out / f"{analysis.video_id}.analysis.json")
        predictions[analysis.video_id] = pseudo_class_segments(analysis)
        summary.append({"video": analysis.video_id, "analysis": str(path), "segments": len(analysis.segments),
                        "clusters": [c.name for c in analysis.clusters], "absent": analysis.absent})
        if not args.json:
            print(f"\r{analysis.video_id}: {len(analysis.segments)} segments, {len(analysis.clusters)} clusters "
                  f"-> {path}", file=sys.stderr)
            for s in analysis.segments:
                print(f"  {s.start:8.2f} - {s.end:8.2f} s  score {s.score:.3f}  cluster {s.cluster} ({s.label})")
    if args.format == "anet":
        path = write_activitynet(out / RESULTS_FILE, predictions)
        summary.append({"results": str(path)})
        if not args.json:
            print(f"ActivityNet results -> {path}")
    if args.json:
        print(json.dumps(summary, indent=2))
    return 0
