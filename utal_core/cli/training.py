"""`train`: self-supervised CLIP-AE training from a folder of features (no labels needed)."""

from __future__ import annotations

import argparse
import json
import time

from ..model import CLIPAEConfig, TrainConfig, load_feature_folder, save_checkpoint, train
from ..model.train import infer_input_dims
from . import subcommand


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--features", required=True,
                        help="folder of per-video CBP .npy files (THUMOS I3D layout) or cached feature .npz files")
    parser.add_argument("--out", required=True, help="checkpoint to write (.safetensors)")
    parser.add_argument("--audio", help="folder of per-video audio .npy files with the same names")
    parser.add_argument("--clip", help="folder of per-video CLIP .npy files with the same names")
    parser.add_argument("--k", type=int, default=20, help="number of pseudo-classes (default 20, THUMOS14)")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stride-s", type=float, default=0.64, help="snippet stride of .npy features in seconds")
    parser.add_argument("--hidden", type=int, default=CLIPAEConfig.hidden_dim, help="hidden width d")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")


@subcommand("train", "Train CLIP-AE without labels on a folder of per-video features.", _configure)
def run_train(args: argparse.Namespace) -> int:
    videos = load_feature_folder(args.features, audio_dir=args.audio, clip_dir=args.clip, stride_s=args.stride_s)
    dataset = list(videos.values())
    config = CLIPAEConfig(input_dims=infer_input_dims(dataset), hidden_dim=args.hidden, num_classes=args.k)
    train_config = TrainConfig(epochs=args.epochs, device=args.device)
    started = time.perf_counter()
    trained = train(dataset, config, train_config, seed=args.seed)
    seconds = time.perf_counter() - started
    save_checkpoint(args.out, trained.model, train_config,
                    extra={"seed": args.seed, "num_videos": len(dataset), "stride_s": args.stride_s,
                           "final_loss": trained.history[-1]["total"] if trained.history else None})
    summary = {"checkpoint": str(args.out), "videos": len(dataset), "views": list(config.input_dims),
               "pseudo_classes": args.k, "epochs": args.epochs, "seconds": round(seconds, 2),
               "final_loss": trained.history[-1] if trained.history else None}
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"trained on {len(dataset)} videos ({', '.join(config.input_dims)}) for {args.epochs} epochs "
              f"in {seconds:.1f} s -> {args.out}")
    return 0
