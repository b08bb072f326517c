"""`train`: self-supervised CLIP-AE training from a folder of features (no labels needed)."""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

from ..encoders.base import file_sha256
from ..export import atomic_write_text
from ..footage import footage_source
from ..model import CLIPAEConfig, TrainConfig, load_feature_folder, read_checkpoint_metadata, save_checkpoint, train
from ..model.data import feature_manifest
from ..model.train import infer_input_dims
from . import subcommand


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--features", required=True,
                        help="folder of per-video CBP .npy files (THUMOS I3D layout), cached feature .npz files, "
                             "or the output folder of `batch` (its cached features)")
    parser.add_argument("--out", required=True, help="checkpoint to write (.safetensors)")
    parser.add_argument("--audio", help="folder of per-video audio .npy files with the same names")
    parser.add_argument("--clip", help="folder of per-video CLIP .npy files with the same names")
    parser.add_argument("--k", type=int, default=20, help="number of pseudo-classes (default 20, THUMOS14)")
    parser.add_argument("--epochs", type=int, default=TrainConfig.epochs)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--stride-s", type=float, default=0.64, help="snippet stride of .npy features in seconds")
    parser.add_argument("--hidden", type=int, default=CLIPAEConfig.hidden_dim, help="hidden width d")
    parser.add_argument("--device", default="cpu", help="torch device (cpu, cuda)")
    parser.add_argument("--manifest", help="record the checkpoint (sha256, config, training data) in this manifest JSON")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")


def _training_data(features_dir: str, video_ids: list[str]) -> list[dict]:
    """Where each training video came from: its cached-feature sidecar's source and the footage licence."""
    manifest = feature_manifest(features_dir) or {}
    entries = []
    for video_id in video_ids:
        sidecar = manifest[video_id].with_suffix(".json") if video_id in manifest else Path(features_dir) / f"{video_id}.json"
        source = json.loads(sidecar.read_text()).get("source") if sidecar.exists() else None
        origin = footage_source(Path(source).name) if source else None
        entries.append({"video": video_id, "file": Path(source).name if source else None,
                        "package": origin.name if origin else None, "licence": origin.licence if origin else None})
    return entries


def record_in_manifest(manifest: Path, checkpoint: Path, entry: dict) -> None:
    """Add or replace ``checkpoint``'s entry in the manifest (atomic write)."""
    data = json.loads(manifest.read_text()) if manifest.exists() else {"checkpoints": []}
    data["checkpoints"] = [c for c in data["checkpoints"] if c.get("file") != checkpoint.name]
    data["checkpoints"].append({"file": checkpoint.name, "sha256": file_sha256(checkpoint), **entry})
    atomic_write_text(manifest, json.dumps(data, indent=2) + "\n")


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
    if args.manifest:
        record_in_manifest(Path(args.manifest), Path(args.out), {
            "command": "python -m utal_core " + " ".join(sys.argv[1:]),
            "model_config": read_checkpoint_metadata(args.out).get("model_config"),
            "train_config": {"epochs": args.epochs, "seed": args.seed, "pseudo_classes": args.k, "hidden": args.hidden},
            "training_data": _training_data(args.features, list(videos)),
            "seconds": round(seconds, 2),
        })
    if args.json:
        print(json.dumps(summary, indent=2))
    else:
        print(f"trained on {len(dataset)} videos ({', '.join(config.input_dims)}) for {args.epochs} epochs "
              f"in {seconds:.1f} s -> {args.out}")
    return 0
