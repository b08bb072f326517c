"""`batch`: analyse folders, globs or lists of videos, in-process or on Ray, resumable."""

from __future__ import annotations

import argparse
import json
import sys

from ..errors import UTALError
from . import subcommand


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("inputs", nargs="+", metavar="INPUT",
                        help="video files, folders (searched recursively), globs, or .txt/.lst files of paths")
    parser.add_argument("--out", required=True, help="output folder (features, analyses, results, failures)")
    parser.add_argument("--library", help="also add every analysed video to this segment library")
    parser.add_argument("--views", nargs="+", default=None, help="views to use (default: cbp motion clip audio)")
    parser.add_argument("--checkpoint", help="CLIP-AE checkpoint (default: the shipped one in checkpoints/)")
    parser.add_argument("--clip-weights", help="local open_clip weights file for the CLIP view")
    parser.add_argument("--stride", type=float, default=None, help="snippet stride in seconds (default: adaptive)")
    parser.add_argument("--refine-steps", type=int, default=None, help="per-video refinement steps (0: checkpoint as is)")
    parser.add_argument("--device", default="auto", help="auto, cpu or cuda (on each worker)")
    parser.add_argument("--ray", metavar="ADDRESS",
                        help="run on Ray: 'local' starts a local runtime, an address (host:port) joins a cluster "
                             "(default: in this process, without Ray)")
    parser.add_argument("--workers", type=int, default=None, help="Ray workers (actors), each one video at a time (default 1)")
    parser.add_argument("--gpus-per-worker", type=float, default=None,
                        help="GPUs each Ray worker asks for (default: 1 when the cluster has GPUs and --device is not cpu)")
    parser.add_argument("--ray-temp-dir", help="folder for a local Ray runtime's session files")
    parser.add_argument("--retry-failed", action="store_true", help="analyse again the videos that failed before")
    parser.add_argument("--no-progress", action="store_true", help="no progress bar")
    parser.add_argument("--json", action="store_true", help="print the summary rows as JSON")


@subcommand("batch", "Analyse many videos (folders, globs, lists) in-process or on Ray; reruns skip what is done.",
            _configure)
def run_batch_command(args: argparse.Namespace) -> int:
    from ..batch import InProcessRunner, RayRunner, RaySettings, run_batch
    from ..pipeline import PipelineConfig

    if args.ray is None and args.workers not in (None, 1):
        raise UTALError("--workers needs --ray (without it, one process analyses one video at a time)")
    config = PipelineConfig(stride_s=args.stride, checkpoint=args.checkpoint, device=args.device)
    if args.refine_steps is not None:
        config.refine_steps = args.refine_steps
    if args.views:
        config.views = tuple(args.views)
    if args.clip_weights:
        config.encoder_configs["clip"] = {"weights": args.clip_weights}
    runner = (InProcessRunner() if args.ray is None else
              RayRunner(args.ray, args.workers or 1,
                        RaySettings(temp_dir=args.ray_temp_dir, gpus_per_worker=args.gpus_per_worker)))
    report = run_batch(args.inputs, args.out, config, runner, library=args.library,
                       retry_failed=args.retry_failed, progress=not args.no_progress and not args.json)
    if args.json:
        print(json.dumps(report.rows, indent=1))
    else:
        print(report.table())
    for row in report.failed:
        print(f"error: {row['video']}: {row['message']}", file=sys.stderr)
    return 2 if report.failed else 0
