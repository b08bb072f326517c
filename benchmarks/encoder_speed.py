"""Encoder throughput without decoding: snippets/s of each view's encoder on in-memory inputs.

Frames are random 256x455 RGB (the sampler's output size for 16:9 video) and audio is 600 s of
noise at 16 kHz, so the figures isolate the networks (useful where no ffmpeg exists, e.g. a GPU
box). CLIP runs with random weights when none are given: its speed does not depend on the weights.

    .venv/bin/python benchmarks/encoder_speed.py [--device cuda] [--snippets 600]
"""

from __future__ import annotations

import argparse
import time

import numpy as np
from common import peak_rss_mb

from utal_core.encoders import create_encoder
from utal_core.encoders.base import AudioEncoder
from utal_core.features import resolve_device
from utal_core.grid import SnippetGrid


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="auto")
    parser.add_argument("--snippets", type=int, default=600, help="snippets (= seconds of audio at 1 snippet/s)")
    parser.add_argument("--batch-size", type=int, default=32)
    args = parser.parse_args()
    device = resolve_device(args.device)
    half = device.startswith("cuda")
    rng = np.random.default_rng(0)
    frames = rng.integers(0, 256, size=(args.batch_size, 256, 455, 3), dtype=np.uint8)
    grid = SnippetGrid(float(args.snippets))
    audio = (0.1 * rng.standard_normal(args.snippets * 16_000)).astype(np.float32)
    print(f"device {device}{' (fp16)' if half else ''}, {args.snippets} snippets, batch {args.batch_size}")
    for name, config in (("cbp", {}), ("clip", {"allow_random": True}), ("audio", {})):
        encoder = create_encoder(name, device=device, half=half, **config)
        if isinstance(encoder, AudioEncoder):
            encoder.encode_batch(audio[:16_000 * 10], 16_000, SnippetGrid(10.0))  # warm-up
            start = time.perf_counter()
            encoder.encode_batch(audio, 16_000, grid)
        else:
            encoder.encode_batch(frames)  # warm-up (loads weights, builds kernels)
            start = time.perf_counter()
            for _ in range(int(np.ceil(args.snippets / args.batch_size))):
                encoder.encode_batch(frames)
        seconds = time.perf_counter() - start
        print(f"  {name:<6} {args.snippets / seconds:9.1f} snippets/s  ({seconds:.2f} s for {args.snippets})")
    print(f"peak RSS {peak_rss_mb():.0f} MB")


if __name__ == "__main__":
    main()
