"""`diagnose`: DETAD-style error analysis of ActivityNet-format predictions against ground truth."""

from __future__ import annotations

import argparse
import json
import sys

from . import subcommand


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ground_truth", help="ground-truth JSON (ActivityNet 'database' or THUMOS14 {video: ...})")
    parser.add_argument("predictions", help="ActivityNet results JSON {'results': {video: [...]}} from any detector")
    parser.add_argument("--tiou", type=float, default=0.5, help="tIoU threshold of a true positive (default 0.5)")
    parser.add_argument("--min-tiou", type=float, default=0.1,
                        help="below this tIoU with every ground truth a prediction is background (default 0.1, DETAD's)")
    parser.add_argument("--subset", default=None, help="only ground-truth videos of this subset (e.g. validation)")
    parser.add_argument("--class-agnostic", action="store_true", help="collapse all labels into one class")
    parser.add_argument("--hungarian", action="store_true",
                        help="map pseudo-labels to real classes (Hungarian, video-level confusion) first")
    parser.add_argument("--limit-factor", type=int, default=None, metavar="G",
                        help="keep the top G x (ground-truth instances) predictions per class, as DETAD's plots do")
    parser.add_argument("--json", action="store_true", help="print the whole diagnosis as JSON")
    parser.add_argument("--html", metavar="OUT", help="also write a self-contained HTML report to OUT")


@subcommand("diagnose", "Error analysis against ground truth: per-prediction match and tIoU, DETAD false-positive "
                        "breakdown, missed ground truth, start/end offset histograms.", _configure)
def run_diagnose(args: argparse.Namespace) -> int:
    from ..diagnose import report_html, diagnose_detection
    from ..evaluate import (align_video_ids, apply_label_mapping, ground_truth_durations, hungarian_label_mapping,
                            load_ground_truth, load_predictions)
    from ..export import atomic_write_text

    ground_truth = load_ground_truth(args.ground_truth, subset=args.subset)
    predictions = load_predictions(args.predictions)
    if args.hungarian:
        predictions = apply_label_mapping(predictions, hungarian_label_mapping(ground_truth, predictions))
    diagnosis = diagnose_detection(ground_truth, predictions, args.tiou, args.min_tiou, args.class_agnostic,
                                   args.limit_factor)
    durations = ground_truth_durations(args.ground_truth)
    beyond = sum(p.end > durations[video] + 1e-3 for video, items in align_video_ids(ground_truth, predictions).items()
                 if video in durations for p in items)
    if beyond:
        print(f"warning: {beyond} prediction(s) end after their video does (the ground truth's duration); they are "
              "judged as they are", file=sys.stderr)
    if diagnosis.ignored_predictions:
        print(f"warning: {diagnosis.ignored_predictions} prediction(s) on videos not in the ground truth were ignored",
              file=sys.stderr)
    if args.html:
        atomic_write_text(args.html, report_html(diagnosis))
    if args.json:
        print(json.dumps(diagnosis.to_dict(), indent=2))
        return 0
    total = max(len(diagnosis.predictions), 1)
    print(f"{diagnosis.num_ground_truth} ground-truth instances, {len(diagnosis.predictions)} predictions, "
          f"tIoU {diagnosis.tiou:g}")
    for outcome, count in diagnosis.counts.items():
        print(f"  {outcome:<20} {count:>7}  {100 * count / total:5.1f}%")
    print(f"  {'missed ground truth':<20} {len(diagnosis.missed):>7}")
    if args.html:
        print(f"HTML report -> {args.html}")
    return 0
