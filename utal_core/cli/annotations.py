"""`import`: an ELAN EAF or ActivityNet ground-truth file added to an analysis's edits layer as a starting point."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from . import subcommand


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("analysis", type=Path, metavar="ANALYSIS.json", help="analysis JSON written by analyze")
    parser.add_argument("annotations", type=Path, metavar="FILE",
                        help="ELAN .eaf, or ActivityNet / THUMOS14 ground-truth .json")
    parser.add_argument("--video", help="the video's id in a ground-truth file (default: the analysis's video id)")


@subcommand("import", "Add the annotations of an ELAN EAF or ActivityNet ground-truth file to an analysis's edits "
                      "layer (the model's segments stay as they are).", _configure)
def run_import(args: argparse.Namespace) -> int:
    from ..annotations import add_segments, read_annotations
    from ..edit_files import update_edits
    from ..export import load_analysis_json

    video_id = args.video or load_analysis_json(args.analysis).video
    warnings: list[str] = []
    segments = read_annotations(args.annotations, video_id, warnings)
    for warning in warnings:
        print(f"warning: {warning}", file=sys.stderr)
    # read, add and write under the analysis file's lock: a concurrent import waits and then adds to this one
    added = update_edits(args.analysis, lambda layer: add_segments(layer, segments),
                         [f"import: {warning}" for warning in warnings])
    print(f"{len(added)} annotations added to the edits of {args.analysis}")
    return 0
