"""What the UI may say about a failure: the plain message, without server paths or tool output."""

from __future__ import annotations

import contextlib
import functools
import html
import inspect
import logging
import re
from typing import Any, Callable, Iterator

import gradio as gr

from utal_core.errors import UTALError

LOG = logging.getLogger("utal_app")

#: An absolute POSIX path (group 1: its last part); not preceded by a word character, so "1/2" stays.
_PATH = re.compile(r"(?<![\w/.~])/(?:[^\s/'\"():;,\[\]]+/)*([^\s/'\"():;,\[\]]+)/?")
#: The start of text copied from ffmpeg/ffprobe or the OS: "[mov,mp4 @ 0x55..]" log prefixes, the
#: stock ffmpeg error phrases (optionally after "file.mp4: ") and Python's "[Errno N]".
_TOOL_OUTPUT = re.compile(
    r"\[[^\]\n]*@ ?0x[0-9a-fA-F]+\]|\[Errno \d+\]|(?:\S+: )?(?:Invalid data found|moov atom not found|End of file|"
    r"Error (?:opening|while|during|reading|splitting|submitting|initializing)|Could not (?:find|open|write)|"
    r"No such file or directory|Permission denied|Invalid argument|Operation not permitted|Conversion failed|"
    r"Output file|Stream #\d|Input #\d|Invalid NAL|non-existing PPS|decode_slice|header damaged)", re.IGNORECASE)


def plain_message(text: str) -> str:
    """``text`` as the UI may show it: paths reduced to their last part, tool output cut off.

    "x.mp4 is not a readable video (corrupt: /tmp/x.mp4: Invalid data found ...)." becomes
    "x.mp4 is not a readable video (corrupt)."
    """
    text = _PATH.sub(r"\1", str(text)).strip()
    match = _TOOL_OUTPUT.search(text)
    if match is None:
        return text
    kept = text[:match.start()].rstrip(" :;,(-\n")
    if not kept:
        return "The file could not be read."
    kept += ")" * max(0, kept.count("(") - kept.count(")"))
    return kept if kept.endswith((".", "!", "?")) else kept + "."


def error_message(error: Exception) -> str:
    """What the page says about ``error``: a UTALError's plain message, else one line naming its type."""
    if isinstance(error, UTALError):
        return plain_message(str(error))
    return f"Something went wrong ({type(error).__name__}); the server log has the details."


def _as_gradio_error(error: Exception, handler: Callable) -> gr.Error:
    if not isinstance(error, UTALError):
        LOG.error("unexpected error in %s", handler.__name__, exc_info=error)
    return gr.Error(error_message(error), print_exception=False)


@contextlib.contextmanager
def _plain_errors(handler: Callable) -> Iterator[None]:
    """Re-raise any failure inside as the gr.Error of its plain message (a gr.Error as it is)."""
    try:
        yield
    except gr.Error:
        raise
    except Exception as error:  # noqa: BLE001 - the UI answers with a message, the log keeps the trace
        raise _as_gradio_error(error, handler) from None


def user_errors(handler: Callable) -> Callable:
    """Show a UTALError as its plain message and any other failure as one line, never a traceback
    (works for plain, generator and async handlers)."""
    if inspect.iscoroutinefunction(handler):
        @functools.wraps(handler)
        async def wrapped_async(*args, **kwargs):
            with _plain_errors(handler):
                return await handler(*args, **kwargs)

        return wrapped_async

    if inspect.isgeneratorfunction(handler):
        @functools.wraps(handler)
        def wrapped_generator(*args, **kwargs):
            with _plain_errors(handler):
                yield from handler(*args, **kwargs)

        return wrapped_generator

    @functools.wraps(handler)
    def wrapped(*args, **kwargs):
        with _plain_errors(handler):
            return handler(*args, **kwargs)

    return wrapped


#: The Markdown characters that start a link, an image, code or emphasis; a backslash before each makes it plain
#: (underscores and dots, common in file names, cannot make a link or fetch anything and are left as they are).
_MARKDOWN = re.compile(r"([\\`*\[\]!])")


def markdown_text(value: object) -> str:
    """Untrusted text (a file name, a video id, a label, a query) for a Markdown component: HTML escaped and every
    Markdown character backslashed, so ``![p](http://host/x.png)`` is shown as typed and fetches nothing."""
    return _MARKDOWN.sub(r"\\\1", html.escape(str(value), quote=False))


def warn(message: str) -> None:
    """A yellow toast with the plain form of ``message``."""
    gr.Warning(plain_message(message))


def strip_paths(value: Any) -> Any:
    """``value`` (nested dicts, lists and strings) with every absolute path reduced to its last part."""
    if isinstance(value, str):
        return _PATH.sub(r"\1", value)
    if isinstance(value, dict):
        return {key: strip_paths(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [strip_paths(item) for item in value]
    return value
