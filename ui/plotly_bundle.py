"""Gradio's Plotly chunk as the page gets it: only the trace types the app draws are registered.

Gradio bundles all of Plotly (49 trace types and components beyond its core: 3D, maps, polar, tables...) and
registers every one as the chunk loads. Each registration runs that module's code and the libraries under it
(WebGL, map and geo code): about 0.6 s of the 1.6 s of main-thread CPU a first visit of this page took
(``benchmarks/first_visit.py --main-thread``). The app draws only
scatter and bar traces (:data:`utal_core.viz.TRACE_TYPES`; scatter is part of Plotly's core), so the served chunk
registers only those, as Plotly's own partial bundles do; the other modules stay in the file, never run.

The chunk is minified CommonJS-in-ESM: each module a lazy factory (``co=h((e,t)=>{t.exports=so()})``), the
bundle's end one call ``n.register([co(),So(),...])``. A factory's trace name is read from its module's
``moduleType:`trace`,name:`bar``` (following ``t.exports=so()`` style re-exports). When the call is not found,
or a kept type is not found among its factories (another Gradio build), the chunk is served unchanged: all of
Plotly, slower but complete.
"""

from __future__ import annotations

import re
from typing import Iterable

from utal_core.viz import TRACE_TYPES

#: The trace types Plotly's core registers itself (not in the bundle's registration call).
CORE_TRACE_TYPES = ("scatter",)
#: The bundle's one registration of its extra modules: ``<core>.register([<factory>(),...])``.
REGISTER_CALL = re.compile(r"\w+\.register\(\[((?:[\w$]+\(\),)*[\w$]+\(\))\]\)")
#: The start of a lazy module factory's definition: ``,<name>=<wrapper>((e,t)=>{`` or ``,<name>=<wrapper>(e=>{``.
FACTORY = re.compile(r"[,;{]([\w$]+)=[\w$]+\((?:\([\w$,]*\)|[\w$]+)=>\{")
MODULE_NAME = re.compile(r"moduleType:`(?:trace|component)`,name:`(\w+)`")
CALL = re.compile(r"([\w$]+)\(\)")
#: How many re-exports (``t.exports=so()``) are followed to a module that names itself.
MAX_DEPTH = 3


def factory_bodies(text: str) -> dict[str, str]:
    """Each lazy module factory's name -> the text of its body (up to the next factory's definition)."""
    starts = list(FACTORY.finditer(text))
    ends = [m.start() for m in starts[1:]] + [len(text)]
    return {m.group(1): text[m.end():end] for m, end in zip(starts, ends)}


def module_name(bodies: dict[str, str], factory: str, depth: int = 0) -> str | None:
    """The trace or component name of the module ``factory`` makes, or None when it cannot be read."""
    body = bodies.get(factory)
    if body is None or depth > MAX_DEPTH:
        return None
    named = MODULE_NAME.search(body)
    if named:
        return named.group(1)
    first_call = CALL.search(body)
    return module_name(bodies, first_call.group(1), depth + 1) if first_call else None


def registered_modules(text: str) -> list[tuple[str, str | None]]:
    """The chunk's registered factories, in order, each with its module's name (None where it cannot be read)."""
    return _named(text, _register_call(text))


def registering_only(text: str, kept: Iterable[str]) -> str:
    """The chunk ``text`` with only the modules named in ``kept`` registered beyond Plotly's core
    (:data:`CORE_TRACE_TYPES`); ``text`` unchanged when its registration call, or one of the other names of
    ``kept`` there, is not found."""
    kept = set(kept) - set(CORE_TRACE_TYPES)
    call = _register_call(text)
    modules = _named(text, call)
    if call is None or not kept <= {name for _, name in modules}:
        return text
    calls = ",".join(f"{factory}()" for factory, name in modules if name in kept)
    return text[:call.start(1)] + calls + text[call.end(1):]


def served_chunk(text: str) -> str:
    """The Plotly chunk as the page gets it: only :data:`utal_core.viz.TRACE_TYPES` registered."""
    return registering_only(text, TRACE_TYPES)


def _named(text: str, call: re.Match[str] | None) -> list[tuple[str, str | None]]:
    if call is None:
        return []
    bodies = factory_bodies(text)
    return [(factory, module_name(bodies, factory)) for factory in CALL.findall(call.group(1))]


def _register_call(text: str) -> re.Match[str] | None:
    found = list(REGISTER_CALL.finditer(text))
    return found[-1] if found else None
