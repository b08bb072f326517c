"""`export`: an analysis JSON (raw or corrected segments) as ActivityNet results or ground truth, CSV,
WebVTT, SRT or ELAN EAF."""

from __future__ import annotations

import argparse
import dataclasses
from pathlib import Path

from ..edit_files import load_edits
from ..errors import UTALError
from ..export import EAF_TIER_LAYOUTS, EXPORT_FORMATS, default_export_path, export_analysis, load_analysis_json
from . import subcommand


def _configure_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("analysis", type=Path, metavar="ANALYSIS.json", help="analysis JSON written by analyze")
    parser.add_argument("--format", required=True, choices=sorted(EXPORT_FORMATS),
                        help="output format (anet-gt: ActivityNet ground truth, eaf: ELAN)")
    parser.add_argument("--out", type=Path, help="output file (default: next to the analysis)")
    parser.add_argument("--corrected", action="store_true",
                        help="export the corrected annotations of the analysis's edits layer (accepted, edited and "
                             "added segments) instead of the model's raw segments")
    parser.add_argument("--untouched", choices=["drop", "keep"], default="drop",
                        help="with --corrected: raw segments nobody reviewed are dropped (default) or kept")
    parser.add_argument("--eaf-tiers", choices=list(EAF_TIER_LAYOUTS), default=None,
                        help="eaf: one tier per label (default) or one tier for all")


@subcommand("export", "Export an analysis (raw or corrected segments) as ActivityNet results or ground-truth JSON, "
                      "CSV, WebVTT, SRT or ELAN EAF.", _configure_export)
def run_export(args: argparse.Namespace) -> int:
    if args.eaf_tiers and args.format != "eaf":
        raise UTALError("--eaf-tiers goes with --format eaf")
    if args.untouched != "drop" and not args.corrected:
        raise UTALError("--untouched goes with --corrected")
    exported = load_analysis_json(args.analysis)
    if args.corrected:
        exported = dataclasses.replace(exported, segments=load_edits(args.analysis).kept_segments(args.untouched))
    options = {"tiers": args.eaf_tiers} if args.eaf_tiers else {}
    out = args.out or default_export_path(args.analysis, args.format)
    print(export_analysis(exported, args.format, out, **options))
    return 0
