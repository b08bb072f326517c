"""`demo`: the bundled example, end to end as far as the pipeline goes."""

from __future__ import annotations

import argparse

from ..examples import EXAMPLE_SPECS, example_path
from . import subcommand
from .media import run_probe


def _configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--example", default="synthetic_actions", choices=sorted(EXAMPLE_SPECS))


@subcommand("demo", "Prepare the bundled example and run the pipeline on it.", _configure)
def run_demo(args: argparse.Namespace) -> int:
    path = example_path(args.example)
    print(f"example: {path} (ground truth: {path.with_suffix('.gt.json').name})")
    return run_probe(argparse.Namespace(video=str(path), stride=None, window=None, thumos=False, json=False))
