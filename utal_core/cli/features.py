"""`doctor` (what can run here) and `features` (extract per-view features to npz + json)."""

from __future__ import annotations

import argparse
import json
import shutil
import subprocess
from pathlib import Path

from . import subcommand
from ..encoders import create_encoder, list_encoders
from ..features import FeatureExtractor, library_versions, resolve_device, write_features
from ..media import ENV_VARIABLE, media_report
from ..types import VIEW_NAMES


def _ffmpeg_version() -> str:
    binary = shutil.which("ffmpeg")
    if binary is None:
        return "not installed"
    first_line = subprocess.run([binary, "-version"], capture_output=True, text=True, check=False).stdout.splitlines()
    return first_line[0].split(" Copyright")[0].removeprefix("ffmpeg version ") if first_line else "unknown"


def _clip_settings(args: argparse.Namespace) -> dict:
    return {"weights": args.clip_weights} if args.clip_weights else {}


def doctor_report(clip_weights: str | None = None, device: str = "auto") -> dict:
    """Availability of every registered encoder (weights file + sha256, or the reason), device, versions and
    the media backend in use (and why)."""
    settings = {"clip": {"weights": clip_weights, "allow_download": False} if clip_weights
                else {"allow_download": False}}
    encoders = [create_encoder(name, **settings.get(name, {})).describe() for name in list_encoders()]
    return {"device": resolve_device(device), "versions": library_versions() | {"ffmpeg": _ffmpeg_version()},
            "media": media_report(), "encoders": encoders}


def _configure_doctor(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--clip-weights", metavar="PATH", help="a local open_clip weights file for the CLIP view")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")


@subcommand("doctor", "Report which encoders can run here (weights, device, library versions).", _configure_doctor)
def run_doctor(args: argparse.Namespace) -> int:
    report = doctor_report(args.clip_weights, args.device)
    if args.json:
        print(json.dumps(report, indent=1))
        return 0
    print(f"device: {report['device']}")
    media = report["media"]
    print(f"media backend: {media['name']} ({media['reason']}; {ENV_VARIABLE}={media['setting']}; "
          f"PyAV {media['pyav']})")
    print("versions: " + ", ".join(f"{name} {version}" for name, version in report["versions"].items()))
    for encoder in report["encoders"]:
        if encoder["available"]:
            print(f"  [ok] {encoder['name']:<12} view={encoder['view']:<6} {encoder['weights'] or '(no weights needed)'} "
                  f"sha256={encoder['weights_sha256'] or '-'}")
            if encoder.get("warning"):
                print(f"  [!!] {encoder['label']}: {encoder['warning']}")
        else:
            print(f"  [--] {encoder['name']:<12} view={encoder['view']:<6} {encoder['reason']}")
    return 0


def _configure_features(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("videos", nargs="+", metavar="VIDEO")
    parser.add_argument("--views", nargs="+", default=list(VIEW_NAMES), choices=list(VIEW_NAMES),
                        help="which views to extract (default: all)")
    parser.add_argument("--out", default=".", help="folder for <video stem>.npz + .json (default: current folder)")
    parser.add_argument("--cache", metavar="DIR", help="feature cache folder (default: no cache)")
    parser.add_argument("--clip-weights", metavar="PATH", help="a local open_clip weights file for the CLIP view")
    parser.add_argument("--device", default="auto", help="auto (CUDA when present), cpu or cuda")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--stride", type=float, default=None, help="snippet stride in seconds (default: adaptive)")
    parser.add_argument("--window", type=float, default=None, help="snippet window in seconds (default: the stride)")
    parser.add_argument("--json", action="store_true", help="print a JSON summary")


@subcommand("features", "Extract per-snippet cbp/motion/clip/audio features of videos to npz + json.", _configure_features)
def run_features(args: argparse.Namespace) -> int:
    from ..grid import make_grid
    from ..media import probe

    extractor = FeatureExtractor(args.views, device=args.device, batch_size=args.batch_size, cache_dir=args.cache,
                                 encoder_configs={"clip": _clip_settings(args)})
    summary = []
    for video in args.videos:
        grid = make_grid(probe(video).duration, args.stride, args.window)
        features = extractor.extract(video, grid)
        target = Path(args.out) / f"{Path(video).stem}.npz"
        write_features(target, features, extractor.metadata(video, grid))
        summary.append({"video": video, "npz": str(target), "snippets": features.num_snippets,
                        "views": {name: list(value.shape) for name, value in features.views.items()},
                        "absent": features.absent, "from_cache": extractor.last_from_cache})
        if not args.json:
            views = ", ".join(f"{name} {value.shape[1]}-d" for name, value in features.views.items())
            absent = "; ".join(f"{name} absent: {reason}" for name, reason in features.absent.items())
            print(f"{video}: {features.num_snippets} snippets, {views} -> {target}" + (f" ({absent})" if absent else ""))
    if args.json:
        print(json.dumps(summary, indent=1))
    return 0
