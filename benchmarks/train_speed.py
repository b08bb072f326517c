"""Time one training epoch of CLIP-AE over a THUMOS14-sized feature set (random features).

Default size: 200 videos x 2000 snippets, 2048-d CBP + 512-d CLIP + 128-d audio (the THUMOS14
validation set with I3D, CLIP ViT-B/32 and VGGish-style features). One epoch = every snippet of
every video seen once in crops of ``max_len``; pseudo-labels and clusters are computed first
and reported separately, as in the real loop.

    .venv/bin/python benchmarks/train_speed.py                  # CPU
    .venv/bin/python benchmarks/train_speed.py --device cuda
    .venv/bin/python benchmarks/train_speed.py --videos 20      # a tenth, for a quick look
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from utal_core.model import CLIPAE, CLIPAEConfig, TrainConfig, initial_pseudo_labels  # noqa: E402
from utal_core.model.clip_ae import count_parameters  # noqa: E402
from utal_core.model.train import (cluster_videos, input_scales, make_batches, training_step,  # noqa: E402
                                   video_descriptors)
from utal_core.types import ViewFeatures  # noqa: E402


def random_dataset(videos: int, snippets: int, dims: dict[str, int], seed: int) -> list[ViewFeatures]:
    """Random float32 features of the given size (speed only; the content does not matter)."""
    rng = np.random.default_rng(seed)
    return [ViewFeatures(times=np.arange(snippets) * 0.64 + 0.32,
                         views={name: rng.standard_normal((snippets, dim), dtype=np.float32) for name, dim in dims.items()},
                         extras={"clip_prior": rng.random(snippets, dtype=np.float32)})
            for _ in range(videos)]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--videos", type=int, default=200)
    parser.add_argument("--snippets", type=int, default=2000)
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--hidden", type=int, default=CLIPAEConfig.hidden_dim)
    parser.add_argument("--k", type=int, default=20)
    args = parser.parse_args(argv)

    dims = {"cbp": 2048, "clip": 512, "audio": 128}
    dataset = random_dataset(args.videos, args.snippets, dims, seed=0)
    views = list(dims)
    train_config = TrainConfig(device=args.device)
    torch.manual_seed(0)
    model = CLIPAE(CLIPAEConfig(input_dims=dims, hidden_dim=args.hidden, num_classes=args.k))

    started = time.perf_counter()
    scales = input_scales(dataset, views)
    model.set_input_scale(scales)
    targets = [initial_pseudo_labels(f, views) for f in dataset]
    clusters = cluster_videos(video_descriptors(dataset, targets, views, scales), args.k, seed=0)
    setup_seconds = time.perf_counter() - started

    model.to(args.device)
    optimizer = torch.optim.AdamW(model.parameters(), lr=train_config.learning_rate)
    rng = np.random.default_rng(0)
    steps = 0
    started = time.perf_counter()
    for batch in make_batches(dataset, views, targets, clusters, train_config.max_len, train_config.batch_size, args.device, rng):
        training_step(model, optimizer, batch, train_config.losses)
        steps += 1
    if args.device.startswith("cuda"):
        torch.cuda.synchronize()
    epoch_seconds = time.perf_counter() - started

    device_name = torch.cuda.get_device_name() if args.device.startswith("cuda") else f"CPU ({torch.get_num_threads()} threads)"
    snippets = args.videos * args.snippets
    print(f"{args.videos} videos x {args.snippets} snippets, views {dims}, d={args.hidden}, K={args.k}, "
          f"{count_parameters(model) / 1e6:.2f} M parameters, device {device_name}")
    print(f"pseudo-labels + clustering: {setup_seconds:.1f} s")
    print(f"one epoch: {epoch_seconds:.1f} s ({steps} steps of {train_config.batch_size} x {train_config.max_len} snippets, "
          f"{snippets / epoch_seconds:,.0f} snippets/s)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
