"""Resource limits: what one analysis, checkpoint or search may ask for, with safe defaults.

Each limit is a field of :class:`Limits` and can be overridden by an environment variable
(``UTAL_MAX_DURATION_S`` and so on, see ``ENV``) or, in the CLI, by ``--max-duration`` and
``--max-snippets`` on ``analyze``. A limit that is hit raises :class:`~utal_core.errors.UTALError`
with a plain message naming the setting, before any large allocation or decode starts.
"""

from __future__ import annotations

import dataclasses
import math
import os
from dataclasses import dataclass
from typing import Any

from .errors import UTALError


@dataclass(frozen=True)
class Limits:
    """Upper bounds per analysis, checkpoint and search; see the module docstring for overrides."""

    #: Longest video (seconds of presentation time) analysed.
    max_duration_s: float = 4 * 3600.0
    #: Most snippets in one analysis (the grid's length: duration / stride).
    max_snippets: int = 20_000
    #: A video must hold at least this many real frames per snippet: a file whose header claims an
    #: hour but that holds two frames is refused instead of being decoded as thousands of copies.
    min_frames_per_snippet: float = 0.05
    #: ... but only grids longer than this are refused for it (a short one costs little either way,
    #: and a still image with a soundtrack is a real video).
    frame_check_above_snippets: int = 200
    #: Files up to this size have their frames counted (demuxing only, no decoding) at probe time;
    #: larger ones are trusted to hold the frames their container announces.
    count_frames_below_bytes: int = 512 * 1024 * 1024
    #: Most results one library search returns.
    max_search_k: int = 1000
    #: Most parameters a CLIP-AE checkpoint's configuration may describe.
    max_checkpoint_parameters: int = 200_000_000

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None, **overrides: Any) -> "Limits":
        """Defaults, then ``UTAL_*`` environment variables, then ``overrides`` (None values are ignored)."""
        environ = dict(os.environ if environ is None else environ)
        values: dict[str, Any] = {}
        for item in dataclasses.fields(cls):
            variable = ENV[item.name]
            if variable in environ:
                values[item.name] = parse_setting(variable, environ[variable], type(getattr(cls(), item.name)))
        values |= {name: value for name, value in overrides.items() if value is not None}
        return cls(**values)

    def check_search_k(self, k: int) -> int:
        """``k`` itself when it is between 1 and ``max_search_k``; a plain error otherwise."""
        if not 1 <= k <= self.max_search_k:
            raise UTALError(f"the number of results must be between 1 and {self.max_search_k} "
                            f"(got {k}; the limit is {ENV['max_search_k']})")
        return k

    def check_analysis(self, name: str, duration: float, num_snippets: int, frame_count: int) -> None:
        """Refuse an analysis too long, with too many snippets, or with far fewer frames than snippets."""
        if duration > self.max_duration_s:
            raise UTALError(f"{name} lasts {duration:.0f} s, longer than the {self.max_duration_s:.0f} s allowed "
                            f"per analysis (setting {ENV['max_duration_s']})")
        if num_snippets > self.max_snippets:
            raise UTALError(f"{name} would be {num_snippets} snippets, more than the {self.max_snippets} allowed "
                            f"per analysis (use a longer stride, or raise {ENV['max_snippets']})")
        if num_snippets > self.frame_check_above_snippets and frame_count < self.min_frames_per_snippet * num_snippets:
            raise UTALError(f"{name} holds only {frame_count} frame(s) over {duration:.0f} s of announced duration "
                            f"({num_snippets} snippets): a damaged or hostile file (setting "
                            f"{ENV['min_frames_per_snippet']})")


ENV: dict[str, str] = {item.name: f"UTAL_{item.name.upper()}" for item in dataclasses.fields(Limits)}


def parse_setting(variable: str, text: str, kind: type) -> float | int:
    """The value of setting ``variable`` given as ``text``: a finite number >= 0 (an int for ``kind`` int)."""
    try:
        value = float(text)
    except ValueError:
        raise UTALError(f"{variable} must be a number, got {text!r}") from None
    if not math.isfinite(value) or value < 0:
        raise UTALError(f"{variable} must be a finite number >= 0, got {text!r}")
    return int(value) if kind is int else value
