"""`demo`: a bundled example, end to end: analysed, segmented, clustered and scored against its ground truth (when it has one)."""

from __future__ import annotations

import argparse

from ..evaluate import THUMOS_TIOUS, Prediction, evaluate_detection, load_ground_truth
from ..examples import EXAMPLES, example_path
from ..pipeline import Pipeline
from . import subcommand


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--example", default="synthetic_actions", choices=sorted(EXAMPLES))


@subcommand("demo", "Analyse the bundled example and score it against its ground truth.", _configure)
def run_demo(args: argparse.Namespace) -> int:
    path = example_path(args.example)
    pipeline = Pipeline.from_config()
    analysis = pipeline.analyze(path)
    print(f"{path.name}: {analysis.duration:.1f} s, {analysis.grid.num_snippets} snippets; "
          f"model: {analysis.config['model']}")
    for view, reason in analysis.absent.items():
        print(f"  {view} view absent: {reason}")
    for segment in sorted(analysis.segments, key=lambda s: s.start):
        print(f"  {segment.start:6.1f} - {segment.end:6.1f} s  score {segment.score:.2f}  "
              f"cluster {segment.cluster} (suggested name: {segment.label})")
    if not path.with_suffix(".gt.json").exists():
        print("  (this example has no ground truth, so no mAP)")
        return 0
    truth = load_ground_truth(path.with_suffix(".gt.json"))
    for instance in truth[analysis.video_id]:
        print(f"  ground truth {instance.start:6.1f} - {instance.end:6.1f} s  {instance.label}")
    result = evaluate_detection(truth, {analysis.video_id: [Prediction.from_segment(s) for s in analysis.segments]},
                                THUMOS_TIOUS, class_agnostic=True)
    scores = "  ".join(f"{t:.1f}: {m:.2f}" for t, m in zip(THUMOS_TIOUS, result.map_per_tiou))
    print(f"class-agnostic mAP by tIoU  {scores}  mean {result.mean_map:.3f}")
    return 0
