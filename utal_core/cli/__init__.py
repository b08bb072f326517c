"""`python -m utal_core`: one CLI whose subcommands live in the modules of this package.

Each module registers its subcommands with :func:`subcommand`; modules are discovered
automatically, so adding a command never means editing this file.
"""

from __future__ import annotations

import argparse
import importlib
import pkgutil
import sys
from typing import Callable

from ..errors import UTALError

Handler = Callable[[argparse.Namespace], int | None]
_COMMANDS: dict[str, tuple[str, Callable[[argparse.ArgumentParser], None], Handler]] = {}


def subcommand(name: str, help: str, configure: Callable[[argparse.ArgumentParser], None]):
    """Register ``name`` as a subcommand: ``configure`` adds its arguments, the decorated function runs it."""

    def register(handler: Handler) -> Handler:
        if name in _COMMANDS:
            raise ValueError(f"subcommand {name!r} registered twice")
        _COMMANDS[name] = (help, configure, handler)
        return handler

    return register


def build_parser() -> argparse.ArgumentParser:
    """The full argument parser, with every registered subcommand."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    parser = argparse.ArgumentParser(prog="python -m utal_core", description="CLIP-AE Explorer: unsupervised temporal action localization.")
    subparsers = parser.add_subparsers(dest="command", required=True)
    for name in sorted(_COMMANDS):
        help_text, configure, handler = _COMMANDS[name]
        sub = subparsers.add_parser(name, help=help_text, description=help_text)
        configure(sub)
        sub.set_defaults(handler=handler)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Run the CLI; user errors print one plain line to stderr and exit with status 2."""
    args = build_parser().parse_args(argv)
    try:
        return int(args.handler(args) or 0)
    except UTALError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
