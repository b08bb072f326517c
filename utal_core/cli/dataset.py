"""`dataset`: a whole benchmark's ground truth against one or more detectors' results: summary and per-video table."""

from __future__ import annotations

import argparse
import json
import sys

from . import subcommand

_PRESETS = {"thumos": "THUMOS_TIOUS", "anet": "ANET_TIOUS"}


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ground_truth", help="ground-truth JSON (ActivityNet 'database' or THUMOS14 {video: ...})")
    parser.add_argument("results", nargs="+", metavar="RESULTS",
                        help="ActivityNet results JSON of a detector; two or more: side by side, the second minus the first")
    parser.add_argument("--subset", default=None, help="only ground-truth videos of this subset (e.g. test, validation)")
    parser.add_argument("--videos", metavar="DIR", default=None,
                        help="folder of the videos, matched by id with or without the 'v_' prefix, any common extension")
    parser.add_argument("--preset", choices=sorted(_PRESETS), default=None,
                        help="tIoU thresholds: thumos 0.1:0.1:0.7 or anet 0.5:0.05:0.95 (default: by the ground "
                             "truth's layout)")
    parser.add_argument("--tiou", type=float, nargs="+", default=None, help="tIoU thresholds (override --preset)")
    parser.add_argument("--diagnose-tiou", type=float, default=0.5,
                        help="tIoU of the DETAD outcomes and the missed count (default 0.5)")
    parser.add_argument("--min-tiou", type=float, default=0.1,
                        help="below this tIoU with every ground truth a prediction is background (default 0.1)")
    parser.add_argument("--sort", default="ap", metavar="COLUMN",
                        help="column the video table is sorted by (default ap: worst first)")
    parser.add_argument("--descending", action="store_true", help="sort the video table from the largest value")
    parser.add_argument("--rows", type=int, default=None, metavar="N", help="print only the first N videos")
    parser.add_argument("--cache-dir", default=None, metavar="DIR",
                        help="keep the computed view here, keyed by the files' content, for the next run")
    parser.add_argument("--json", action="store_true", help="print the summary and the video table as JSON")
    parser.add_argument("--html", metavar="OUT", help="also write a self-contained HTML report to OUT")


@subcommand("dataset", "A benchmark's ground truth against detectors' results: mAP, AP per class, DETAD errors, "
                       "length sensitivity and a per-video table (two results files: side by side).", _configure)
def run_dataset(args: argparse.Namespace) -> int:
    from .. import evaluate
    from ..dataset import load_dataset
    from ..dataset.report import format_text, report_html, report_json
    from ..errors import UTALError
    from ..export import atomic_write_text

    if args.rows is not None and args.rows < 0:
        raise UTALError("--rows must not be negative")
    thresholds = args.tiou or (getattr(evaluate, _PRESETS[args.preset]) if args.preset else None)
    view = load_dataset(args.ground_truth, args.results, subset=args.subset, videos=args.videos,
                        tiou_thresholds=thresholds, diagnose_tiou=args.diagnose_tiou, min_tiou=args.min_tiou,
                        cache_dir=args.cache_dir)
    rows = view.page(args.sort, args.descending, None, 0, len(view.ground_truth)).rows
    for detector in view.detectors:
        if detector.ignored_predictions:
            print(f"warning: {detector.name}: {detector.ignored_predictions} prediction(s) on videos not in the ground "
                  "truth were ignored", file=sys.stderr)
    if args.html:
        atomic_write_text(args.html, report_html(view, rows))
    shown = rows if args.rows is None else rows[:args.rows]
    if args.json:
        print(json.dumps(report_json(view, shown), indent=1))
        return 0
    print(format_text(view, shown))
    if args.html:
        print(f"HTML report -> {args.html}")
    return 0
