"""Ablation of CLIP-AE on the feature-level synthetic benchmark (utal_core.synth.features).

For each seed, a family member is generated (``num_videos`` videos, first half train, second half
test), each model row is trained without labels on the train half, and the test half is scored
with the project's own localizer and evaluator: class-agnostic mAP (localization from the fused
actionness alone) and class-wise mAP after mapping pseudo-classes to real classes with the
Hungarian algorithm (localization with the CAS and video scores). The training-free baseline
thresholds the CLIP-text prior directly; it has no classes.

    .venv/bin/python benchmarks/accuracy.py            # 3 seeds, a few minutes on 2 CPU cores
    .venv/bin/python benchmarks/accuracy.py --quick    # smoke run
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from utal_core.evaluate import (THUMOS_TIOUS, GroundTruth, Prediction, apply_label_mapping,  # noqa: E402
                                evaluate_detection, hungarian_label_mapping)
from utal_core.localize import LocalizeParams, localize  # noqa: E402
from utal_core.model import CLIPAEConfig, TrainConfig, predict, train  # noqa: E402
from utal_core.synth.features import SynthFeatureConfig, SynthVideo, make_feature_set, restrict_views  # noqa: E402

#: Per test video: (actionness [T], CAS [T, K] or None, video scores [K] or None).
Curves = tuple[np.ndarray, np.ndarray | None, np.ndarray | None]


@dataclass(frozen=True)
class Row:
    """One line of the ablation: the views it sees and whether it is trained."""

    name: str
    views: tuple[str, ...]
    trained: bool = True


ROWS = (
    Row("training-free (CLIP prior)", ("clip",), trained=False),
    Row("CBP only", ("cbp",)),
    Row("CBP+CLIP (collaboration)", ("cbp", "clip")),
    Row("CBP+audio (CAF)", ("cbp", "audio")),
    Row("full CLIP-AE", ("cbp", "clip", "audio")),
)


def row_curves(row: Row, train_videos: list[SynthVideo], test_videos: list[SynthVideo], num_classes: int,
               hidden_dim: int, train_config: TrainConfig, seed: int) -> list[Curves]:
    """Curves of every test video for ``row`` (training its model first when it has one)."""
    test = [restrict_views(v.features, row.views) for v in test_videos]
    if not row.trained:
        return [(f.extras["clip_prior"], None, None) for f in test]
    dataset = [restrict_views(v.features, row.views) for v in train_videos]
    config = CLIPAEConfig(input_dims={name: dataset[0].views[name].shape[-1] for name in row.views},
                          hidden_dim=hidden_dim, num_classes=num_classes)
    model = train(dataset, config, train_config, seed=seed).model
    predictions = [predict(model, f) for f in test]
    return [(p.actionness, p.cas, p.video_scores) for p in predictions]


def score(test_videos: list[SynthVideo], curves: list[Curves]) -> tuple[np.ndarray, float | None]:
    """Class-agnostic mAP per tIoU and Hungarian-mapped class-wise mean mAP (None without a CAS)."""
    ground_truth = {v.video_id: [GroundTruth(s, e, label) for s, e, label in v.instances] for v in test_videos}

    def detections(localizer: Callable[[SynthVideo, Curves], list]) -> dict[str, list[Prediction]]:
        return {v.video_id: [Prediction.from_segment(s) for s in localizer(v, c)] for v, c in zip(test_videos, curves)}

    agnostic = detections(lambda v, c: localize(c[0], v.grid, LocalizeParams()))
    agnostic_map = evaluate_detection(ground_truth, agnostic, THUMOS_TIOUS, class_agnostic=True).map_per_tiou
    if curves[0][1] is None:
        return agnostic_map, None
    classwise = detections(lambda v, c: localize(c[0], v.grid, LocalizeParams(), c[1], c[2]))
    mapped = apply_label_mapping(classwise, hungarian_label_mapping(ground_truth, classwise))
    return agnostic_map, evaluate_detection(ground_truth, mapped, THUMOS_TIOUS).mean_map


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seeds", type=int, default=3)
    parser.add_argument("--videos", type=int, default=60, help="videos per seed (half train, half test)")
    parser.add_argument("--classes", type=int, default=4)
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--hidden", type=int, default=64)
    parser.add_argument("--quick", action="store_true", help="smoke run: 1 seed, 16 videos, 2 epochs")
    parser.add_argument("--json", action="store_true", help="print the results as JSON")
    parser.add_argument("--threads", type=int, default=1, help="torch CPU threads (tiny models: 1 is fastest)")
    args = parser.parse_args(argv)
    torch.set_num_threads(args.threads)
    if args.quick:
        args.seeds, args.videos, args.epochs = 1, 16, 2

    train_config = TrainConfig(epochs=args.epochs)
    results: dict[str, dict[str, list]] = {row.name: {"agnostic": [], "classwise": []} for row in ROWS}
    started = time.perf_counter()
    for seed in range(args.seeds):
        family = make_feature_set(SynthFeatureConfig(num_videos=args.videos, num_classes=args.classes, seed=seed))
        train_videos, test_videos = family.split(0.5)
        for row in ROWS:
            curves = row_curves(row, train_videos, test_videos, args.classes, args.hidden, train_config, seed)
            agnostic, classwise = score(test_videos, curves)
            results[row.name]["agnostic"].append(agnostic.tolist())
            results[row.name]["classwise"].append(classwise)
    seconds = time.perf_counter() - started

    if args.json:
        print(json.dumps({"seeds": args.seeds, "videos": args.videos, "epochs": args.epochs, "seconds": seconds,
                          "tious": list(THUMOS_TIOUS), "rows": results}, indent=2))
        return 0
    print(f"synthetic features: {args.videos} videos/seed ({args.videos // 2} test), {args.classes} classes, "
          f"{args.seeds} seeds, {args.epochs} epochs; {seconds:.0f} s. mAP % (mean ± std over seeds)")
    header = "".join(f"{t:>6.1f}" for t in THUMOS_TIOUS)
    print(f"{'':28s}{'class-agnostic mAP@tIoU':^42s}")
    print(f"{'row':28s}{header}   {'mean':>11s}   {'class-wise (Hungarian)':>22s}")
    for row in ROWS:
        agnostic = np.array(results[row.name]["agnostic"]) * 100
        per_tiou = "".join(f"{m:6.1f}" for m in agnostic.mean(axis=0))
        means = agnostic.mean(axis=1)
        classwise = [c for c in results[row.name]["classwise"] if c is not None]
        classwise_text = f"{np.mean(classwise) * 100:5.1f} ± {np.std(classwise) * 100:4.1f}" if classwise else "n/a"
        print(f"{row.name:28s}{per_tiou}   {means.mean():5.1f} ± {means.std():4.1f}   {classwise_text:>22s}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
