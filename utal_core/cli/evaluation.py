"""`eval`: detection mAP of ActivityNet-format predictions against ActivityNet or THUMOS14 ground truth."""

from __future__ import annotations

import argparse
import json
import sys

from ..evaluate import (
    ANET_TIOUS,
    THUMOS_TIOUS,
    DetectionResult,
    apply_label_mapping,
    evaluate_detection,
    hungarian_label_mapping,
    load_ground_truth,
    load_predictions,
)
from . import subcommand

_PRESETS = {"thumos": THUMOS_TIOUS, "anet": ANET_TIOUS}


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("ground_truth", help="ground-truth JSON (ActivityNet 'database' or THUMOS14 {video: ...})")
    parser.add_argument("predictions", help="ActivityNet results JSON {'results': {video: [...]}}")
    parser.add_argument("--tiou", type=float, nargs="+", default=None, help="tIoU thresholds (override --preset)")
    parser.add_argument("--preset", choices=sorted(_PRESETS), default="anet",
                        help="tIoU thresholds: thumos 0.1:0.1:0.7 or anet 0.5:0.05:0.95 (default anet)")
    parser.add_argument("--class-agnostic", action="store_true", help="collapse all labels into one class")
    parser.add_argument("--hungarian", action="store_true",
                        help="map pseudo-labels to real classes (Hungarian, video-level confusion) first")
    parser.add_argument("--subset", default=None, help="only ground-truth videos of this subset (e.g. test)")
    parser.add_argument("--json", action="store_true", help="print JSON")


def _format_table(result: DetectionResult) -> str:
    """mAP row and per-class AP rows, in percent, one column per tIoU threshold plus the mean."""
    header = ["tIoU"] + [f"{t:g}" for t in result.tiou_thresholds] + ["mean"]
    rows = [["mAP"] + [f"{100 * m:.2f}" for m in result.map_per_tiou] + [f"{100 * result.mean_map:.2f}"]]
    rows += [[label] + [f"{100 * a:.2f}" for a in ap] + [f"{100 * ap.mean():.2f}"] for label, ap in result.per_class_ap.items()]
    widths = [max(len(row[i]) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(cell.rjust(width) if i else cell.ljust(width) for i, (cell, width) in enumerate(zip(row, widths)))
             for row in [header, *rows]]
    lines.insert(1, "-" * len(lines[0]))
    lines.insert(3, "-" * len(lines[0]))
    return "\n".join(lines)


@subcommand("eval", "Evaluate predictions: mAP at tIoU thresholds (ActivityNet protocol), optionally after Hungarian label mapping.", _configure)
def run_eval(args: argparse.Namespace) -> int:
    ground_truth = load_ground_truth(args.ground_truth, subset=args.subset)
    predictions = load_predictions(args.predictions)
    mapping = hungarian_label_mapping(ground_truth, predictions) if args.hungarian else None
    if mapping is not None:
        predictions = apply_label_mapping(predictions, mapping)
    result = evaluate_detection(ground_truth, predictions, args.tiou or _PRESETS[args.preset], args.class_agnostic)
    if result.ignored_videos:
        print(f"warning: predictions for {result.ignored_videos} video(s) not in the ground truth were ignored",
              file=sys.stderr)
    if args.json:
        print(json.dumps(result.to_dict() | ({"label_mapping": mapping} if mapping is not None else {}), indent=2))
        return 0
    mode = "class-agnostic" if args.class_agnostic else "class-wise"
    print(f"{result.num_videos} videos, {result.num_ground_truth} ground-truth instances, "
          f"{result.num_predictions} predictions; {mode} AP (%)")
    if mapping is not None:
        print("label mapping: " + ", ".join(f"{pseudo} -> {real}" for pseudo, real in sorted(mapping.items())))
    print(_format_table(result))
    return 0
