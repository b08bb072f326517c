"""Edits made with the mouse on the timeline's edits lane (ui/instrument.js): a segment's start or end dragged to
another time, or a new segment drawn on an empty stretch of the lane.

The page draws a drag at once (its outline and the edits row, before the server answers) and sends it here as
JSON; each drag is one operation of the analysis's edits layer, made by the same ``EditLayer`` calls as the
inspector's keys and buttons (``set_start`` / ``set_end`` / ``add``) and answered with the inspector's own
outputs (``Inspector.edited``), so it is saved for the visitor, listed in the corrections table, undone by
the inspector's Undo and exported with the corrected annotations like any other edit.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any, Callable, Literal

import gradio as gr

from utal_core.checks import finite_number
from utal_core.edits import EditLayer, segment_tag
from utal_core.errors import UTALError
from utal_core.pipeline import Analysis

from .inspector import Inspector
from .inspector_view import EDIT_QUEUE, DRAW_EDITS_JS, DRAW_EDITS_THEN_PAINT_JS, InspectorView

#: A dragged segment is found by its bounds as the page drew them (rounded to the microsecond there): this close.
MATCH_S = 2e-3
#: Hands the drag the page just drew (ui/instrument.js) to the server.
TAKE_DRAG_JS = "() => window.utalTakeDrag()"


@dataclass(frozen=True)
class Drag:
    """One drag on the edits lane: ``move`` (the ``bound`` of the segment spanning ``start``..``end`` to ``to``)
    or ``add`` (a new segment ``start``..``end``)."""

    kind: Literal["move", "add"]
    start: float
    end: float
    bound: Literal["start", "end"] | None = None
    to: float | None = None

    @classmethod
    def from_json(cls, text: str | None) -> "Drag":
        """The page's JSON of a drag; a plain UTALError when it is not one."""
        try:
            data = json.loads(text or "")
            kind, bound = data["kind"], data.get("bound")
            if kind not in ("move", "add") or (kind == "move" and bound not in ("start", "end")):
                raise ValueError(kind)
            start, end = finite_number(data["start"], "the start"), finite_number(data["end"], "the end")
            to = finite_number(data["to"], "the new time") if kind == "move" else None
        except (ValueError, KeyError, TypeError) as error:
            raise UTALError(f"Not a drag on the timeline ({error}); drag again.") from None
        return cls(kind, start, end, bound, to)


def dragged_key(layer: EditLayer, start: float, end: float) -> str:
    """The key of the layer's segment spanning ``start``..``end`` (within :data:`MATCH_S`)."""
    for item in layer.segments():
        if abs(item.segment.start - start) <= MATCH_S and abs(item.segment.end - end) <= MATCH_S:
            return item.key
    raise UTALError(f"No segment spans {start:.3f}–{end:.3f} s any more (it changed meanwhile); drag it again.")


class TimelineEditor:
    """The server side of the timeline's drags; the state comes in as arguments, never kept here."""

    def __init__(self, inspector: Inspector) -> None:
        self.inspector = inspector

    def apply(self, analysis: Analysis | None, cache: dict, drag_json: str | None, request: gr.Request) -> tuple:
        """Apply one drag (:class:`Drag`) to the analysis's edits layer; the inspector's fast outputs (the dragged
        segment inspected, the info line, the edits row's data, the corrections table)."""
        if analysis is None:
            raise UTALError("Analyse a video first.")
        drag = Drag.from_json(drag_json)
        layer = analysis.edit_layer()
        with self.inspector.edit_lock:
            if drag.kind == "add":
                key = layer.add(round(drag.start, 6), round(drag.end, 6)).key
                note = f"Added {segment_tag(layer.segment(key))}, {drag.start:.3f}–{drag.end:.3f} s, drawn on the timeline."
            else:
                key = dragged_key(layer, drag.start, drag.end)
                to = round(float(drag.to or 0.0), 6)
                (layer.set_start if drag.bound == "start" else layer.set_end)(key, to)
                note = f"{str(drag.bound).capitalize()} dragged to {to:.3f} s."
        return self.inspector.edited(analysis, cache, key, note, request)


def build_timeline_edits(view: InspectorView, cache: gr.State, handle: Callable[[Callable], Callable]) -> Any:
    """The hidden trigger of the timeline's drags and its wiring, inside the current Blocks: the page clicks it
    after drawing a drag; the answer redraws the edits row and the inspector (``view``) follows the dragged
    segment; a refused drag puts the row back as the server last sent it."""
    editor = TimelineEditor(view.inspector)
    drag = gr.Textbox(visible=False)
    trigger = gr.Button("Apply the timeline drag", elem_id="timeline-drag-apply", visible="hidden")
    edits_data = view.fast[2]
    applied = trigger.click(None, None, drag, js=TAKE_DRAG_JS, queue=False).then(
        handle(editor.apply), [view.analysis, cache, drag], view.fast, **EDIT_QUEUE)
    applied.failure(None, [edits_data], None, js=DRAW_EDITS_JS)
    view.follow(applied, DRAW_EDITS_THEN_PAINT_JS)
    return applied
