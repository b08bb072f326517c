"""`export`: an analysis JSON as ActivityNet JSON, CSV, WebVTT or SRT."""

from __future__ import annotations

import argparse
from pathlib import Path

from ..export import EXPORT_FORMATS, default_export_path, export_analysis, load_analysis_json
from . import subcommand


def _configure_export(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("analysis", type=Path, metavar="ANALYSIS.json", help="analysis JSON written by analyze")
    parser.add_argument("--format", required=True, choices=sorted(EXPORT_FORMATS), help="output format")
    parser.add_argument("--out", type=Path, help="output file (default: next to the analysis)")


@subcommand("export", "Export an analysis as ActivityNet JSON, CSV, WebVTT or SRT.", _configure_export)
def run_export(args: argparse.Namespace) -> int:
    out = args.out or default_export_path(args.analysis, args.format)
    print(export_analysis(load_analysis_json(args.analysis), args.format, out))
    return 0
