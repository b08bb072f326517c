"""`synth-thumos`: synthetic features in the THUMOS14 layout, for the real annotation file's videos."""

from __future__ import annotations

import argparse
import json

from ..pipeline import ROOT
from ..synth.features import SIDE_VIEWS, write_thumos_layout
from . import subcommand

#: Where the project's shared data keeps the real THUMOS14 annotation file (beside the repository).
DEFAULT_THUMOS_ANNOTATIONS = ROOT.parent / "shared" / "data" / "thumos14" / "thumos14.json"


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="layout root: <out>/<subset>/<id>.npy, <out>/<subset>/audio|clip/")
    parser.add_argument("--annotations", default=str(DEFAULT_THUMOS_ANNOTATIONS),
                        help="THUMOS14 annotation JSON (default: ../shared/data/thumos14/thumos14.json)")
    parser.add_argument("--subset", help="only this subset (validation or test; default both)")
    parser.add_argument("--max-videos", type=int, help="at most this many videos per subset, spread over the ids")
    parser.add_argument("--max-duration", type=float, help="only videos at most this many seconds long")
    parser.add_argument("--side-views", nargs="*", choices=SIDE_VIEWS, default=list(SIDE_VIEWS),
                        help="side folders to write (default: audio clip; none: CBP only)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--json", action="store_true", help="print a JSON summary")


@subcommand("synth-thumos", "Write synthetic features in the THUMOS14 layout with the real annotation file's "
            "videos, durations and instances.", _configure)
def run_synth_thumos(args: argparse.Namespace) -> int:
    layout = write_thumos_layout(args.annotations, args.out, subset=args.subset, max_videos=args.max_videos,
                                 max_duration_s=args.max_duration, seed=args.seed, side_views=args.side_views)
    summary = {"root": str(layout.root), "annotations": str(layout.annotations),
               "folders": {subset: str(layout.folder(subset)) for subset in layout.videos},
               "videos": {subset: len(ids) for subset, ids in layout.videos.items()},
               "side_views": list(layout.side_views)}
    if args.json:
        print(json.dumps(summary, indent=2))
        return 0
    for subset, ids in layout.videos.items():
        print(f"{subset}: {len(ids)} videos -> {layout.folder(subset)}")
    print(f"annotations of the written videos -> {layout.annotations}")
    return 0
