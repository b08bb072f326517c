"""Checks of the values a user can give (times, counts, labels): each refuses with one plain message naming the field.

Times and counts come from hand-edited files, imports, the app's events and the Python API; ``float()`` alone
lets NaN, infinities, strings ("19", "nan") and booleans through, and a huge integer overflows later. Labels
are shown and exported as one line of plain text, so they lose control characters, invisible marks and line
breaks here, once, wherever they come from.
"""

from __future__ import annotations

import math
import numbers
import re

from .errors import UTALError

#: Control characters, zero-width characters, direction marks, lone surrogates, the BOM and non-characters:
#: invisible in a label, or not allowed in XML (EAF).
_INVISIBLE = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\u200b-\u200f\u202a-\u202e\u2060-\u2064\ud800-\udfff"
                        "\ufeff\ufffe\uffff]")
_WHITESPACE = re.compile(r"\s+")
#: Longest label kept (a label is a name, not a document).
MAX_LABEL_CHARS = 200


def _shown(value: object) -> str:
    text = repr(value)
    return text if len(text) <= 40 else text[:37] + "..."


def finite_number(value: object, name: str, minimum: float | None = None, maximum: float | None = None) -> float:
    """``value`` as a float when it is a real number (not a bool or a string), finite and within
    ``[minimum, maximum]``; else a plain UTALError naming ``name``."""
    if isinstance(value, bool) or not isinstance(value, numbers.Real):
        raise UTALError(f"{name} must be a number, not {_shown(value)}")
    try:
        number = float(value)
    except OverflowError:
        raise UTALError(f"{name} is far too large: {_shown(value)}") from None
    if not math.isfinite(number):
        raise UTALError(f"{name} must be a finite number, not {number}")
    if minimum is not None and number < minimum:
        raise UTALError(f"{name} must be at least {minimum:g}, not {number:g}")
    if maximum is not None and number > maximum:
        raise UTALError(f"{name} must be at most {maximum:g}, not {number:g}")
    return number


def whole_number(value: object, name: str, minimum: int, maximum: int) -> int:
    """``value`` as an int when it is an integer (not a bool) within ``[minimum, maximum]``; else a plain UTALError."""
    if isinstance(value, bool) or not isinstance(value, numbers.Integral):
        raise UTALError(f"{name} must be a whole number, not {_shown(value)}")
    if not minimum <= int(value) <= maximum:
        raise UTALError(f"{name} must be from {minimum} to {maximum}, not {_shown(value)}")
    return int(value)


def plain_label(value: object) -> str:
    """``value`` as one line of plain text: control characters, zero-width characters and direction marks
    removed, every run of whitespace (line breaks included) one space, at most MAX_LABEL_CHARS; "" when
    nothing is left. Not a string: ""."""
    if not isinstance(value, str):
        return ""
    return _WHITESPACE.sub(" ", _INVISIBLE.sub("", value)).strip()[:MAX_LABEL_CHARS]


def checked_label(value: object, name: str = "a label") -> str:
    """:func:`plain_label` of ``value``, which must be a string with something visible in it."""
    if not isinstance(value, str):
        raise UTALError(f"{name} must be text, not {_shown(value)}")
    label = plain_label(value)
    if not label:
        raise UTALError(f"{name} cannot be empty (or only invisible characters)")
    return label
