"""`analyze`: the whole path (features -> model -> segments -> clusters) for one or more videos."""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np

from ..export import write_activitynet
from ..pipeline import Analysis, Pipeline, PipelineConfig
from . import subcommand


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="+", help="video files")
    parser.add_argument("--out", required=True, help="folder for <stem>.analysis.json files")
    parser.add_argument("--checkpoint", help="CLIP-AE checkpoint (default: the shipped one in checkpoints/)")
    parser.add_argument("--stride", type=float, default=1.0, help="snippet stride in seconds (default 1.0)")
    parser.add_argument("--refine-steps", type=int, default=PipelineConfig.refine_steps,
                        help="per-video test-time refinement steps (0: checkpoint as is)")
    parser.add_argument("--views", nargs="+", default=None, help="views to use (default: cbp clip audio)")
    parser.add_argument("--clip-weights", help="local open_clip weights file for the CLIP view")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda")
    parser.add_argument("--format", choices=["anet"], help="also write ActivityNet results (results.anet.json)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")


def pseudo_class_segments(analysis: Analysis) -> list:
    """Segments labelled with the video's pseudo-class (argmax of the CAS head's video scores),
    the label the unsupervised protocol maps to real classes with the Hungarian algorithm."""
    label = f"pseudo_{int(np.argmax(analysis.video_scores))}"
    return [dataclasses.replace(s, label=label) for s in analysis.segments]


@subcommand("analyze", "Analyse videos: actionness curves, segments and pseudo-action clusters.", _configure)
def run_analyze(args: argparse.Namespace) -> int:
    config = PipelineConfig(stride_s=args.stride, refine_steps=args.refine_steps, checkpoint=args.checkpoint,
                            device=args.device)
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
        path = write_activitynet(out / "results.anet.json", predictions)
        summary.append({"results": str(path)})
        if not args.json:
            print(f"ActivityNet results -> {path}")
    if args.json:
        print(json.dumps(summary, indent=2))
    return 0
