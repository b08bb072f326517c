"""The boundary inspector's components and the wiring of their events to ``ui.inspector.Inspector``."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import gradio as gr

from .inspector import CORRECTION_COLUMNS, EDIT_LEGEND, NUDGE_UNITS, RATE_MODE, SHORTCUTS, STRIP_MODES, Inspector
from .inspector_labels import HOTKEY_LABELS, IMPORT_TYPES, LabelsAndImport

#: Runs once in the page (with ui/instrument.js): shortcuts, the playhead for the server, the edits row redraw.
INSPECTOR_JS = (Path(__file__).with_name("inspector.js")).read_text(encoding="utf-8")
#: Read the player's time into the hidden playhead number (a step in the browser, before the server's).
PLAYHEAD_JS = "() => window.utalPlayhead()"
#: Restyle the timeline's edits row from the data an edit answered with (no redraw of the figure).
DRAW_EDITS_JS = "(data) => { window.utalDrawEdits(data); }"
#: The same, then a wait until the browser has painted it: the strips' request (and Gradio's bookkeeping for
#: it, tens of ms on a long video's page) starts only once the edit is on screen.
DRAW_EDITS_THEN_PAINT_JS = ("(data) => new Promise((done) => { window.utalDrawEdits(data); "
                            "requestAnimationFrame(() => setTimeout(done, 0)); })")
#: The same two for the answer to a nudge, which the page drew already: the row is redrawn from the last answer.
ANSWERED_JS = "(data) => { window.utalDrawEdits(data, true); }"
#: ... and, after an answer that was taken, only once the answer (the info line, the corrections table) is painted:
#: the row on screen is already the nudged one, and its redraw (the timeline restyled, tens of ms on a long
#: video's page) would otherwise hold back the paint of the table.
ANSWERED_THEN_PAINT_JS = ("(data) => new Promise((done) => requestAnimationFrame(() => setTimeout(() => { "
                          "window.utalDrawEdits(data, true); requestAnimationFrame(() => setTimeout(done, 0)); }, 0)))")
#: Edits run one at a time in the order they were sent, so their answers come back in that order: the page
#: draws a nudge before its answer (ui/inspector.js), and a quick second key must not be undone by the first
#: answer arriving last. ``Inspector`` changes an edits layer under its lock. Not part of the app's API.
EDIT_QUEUE = {"concurrency_id": "inspector-edits", "concurrency_limit": 1, "show_progress": "hidden",
              "api_visibility": "private"}
VIEW_QUEUE = {"concurrency_id": "inspector-views", "concurrency_limit": 2, "show_progress": "hidden",
              "api_visibility": "private"}


@dataclass
class InspectorView:
    """The inspector's components and how to hook a selection event of the explorer to it."""

    inspector: Inspector
    handle: Callable
    analysis: gr.State
    inspected: gr.State
    #: The strips' mode (a radio of STRIP_MODES).
    mode: gr.Radio
    fast: list
    slow: list
    #: What the label list's refresh reads (analysis, ground truth, the list) and writes (the list, its buttons).
    label_inputs: list
    label_outputs: list

    def follow(self, event: gr.events.Dependency, draw: str = DRAW_EDITS_THEN_PAINT_JS) -> gr.events.Dependency:
        """After an edit: restyle the edits row (``draw``), then (once painted) refresh strips and curves."""
        return event.success(None, [self.fast[2]], None, js=draw).success(
            self.handle(self.inspector.views), [self.analysis, self.inspected, self.mode], self.slow, **VIEW_QUEUE)

    def refresh_labels(self, event: gr.events.Dependency) -> None:
        """After ``event`` changed the analysis, its ground truth or its edits: the label list of what is on screen."""
        event.success(self.handle(LabelsAndImport.refresh), self.label_inputs, self.label_outputs,
                      show_progress="hidden", api_visibility="private")

    def open_span(self, event: gr.events.Dependency, start: gr.components.Component,
                  end: gr.components.Component) -> gr.events.Dependency:
        """The entry point for other views: after ``event``, open the inspector on the span between the values of
        ``start`` and ``end`` (seconds; ``Inspector.inspect_span``: the matching segment, else the span's frames)."""
        opened = event.success(self.handle(self.inspector.inspect_span), [self.analysis, start, end, self.mode],
                               [*self.fast, *self.slow], **VIEW_QUEUE, trigger_mode="always_last")
        opened.success(None, [self.fast[2]], None, js=DRAW_EDITS_JS)
        return opened

    def follow_video(self, event: gr.events.Dependency) -> None:
        """After ``event`` replaced the analysis on screen (another video, a re-segmentation): the inspector of that
        analysis (``Inspector.follow_video``), its edits row restyled."""
        followed = event.success(self.handle(self.inspector.follow_video), [self.analysis, self.inspected],
                                 [*self.fast, *self.slow], show_progress="hidden", api_visibility="private")
        followed.success(None, [self.fast[2]], None, js=DRAW_EDITS_JS)
        self.refresh_labels(followed)

    def wire_selection(self, event: Callable, handler: Callable, inputs: list, seek_outputs: list) -> None:
        """``event`` (a table row, a thumbnail, Previous / Next) runs ``handler``, one of ``Inspector``'s
        ``inspect_*``: the explorer's seek and the inspection in one event; then the edits row is restyled."""
        # A click while the last selection's curves are still on their way is kept (run next), not dropped.
        inspected = event(self.handle(handler), [*inputs, self.mode], [*seek_outputs, *self.fast, *self.slow],
                          **VIEW_QUEUE, trigger_mode="always_last")
        inspected.success(None, [self.fast[2]], None, js=DRAW_EDITS_JS)


def _button(text: str, elem_id: str, variant: str = "secondary") -> gr.Button:
    return gr.Button(text, elem_id=elem_id, size="sm", min_width=60, variant=variant)


def build_inspector(inspector: Inspector, analysis: gr.State, cache: gr.State, truth: gr.State,
                    handle: Callable) -> InspectorView:
    """The inspector's panel, inside the current Blocks (a column beside the player): the info line, the strips
    and their mode, the edit controls, the label list, the curves, the corrections and their import; returns
    its view for more wiring. Its style rules (``ui.inspector.STRIP_CSS``) are in the page's CSS."""
    inspected = gr.State(None)
    labels = gr.State([])
    playhead = gr.Number(visible=False, elem_id="inspector-playhead")
    edits_data = gr.Textbox(visible=False, elem_id="inspector-edits-data")
    info = gr.Markdown("**Boundary inspector**: select a segment (a table row, a thumbnail, Previous / Next).",
                       elem_id="inspector-info")
    strips = gr.HTML(elem_id="inspector-strips", padding=False)
    mode = gr.Radio(list(STRIP_MODES), value=RATE_MODE, show_label=False, elem_id="strip-mode", container=False)
    nudges: list[tuple[gr.Button, str, int, str]] = []
    playhead_buttons = {}
    for bound in ("start", "end"):
        with gr.Row(equal_height=True, variant="panel"):
            gr.Markdown(f"**{bound}**", min_height=0)
            for sign, name in ((-1, "minus"), (+1, "plus")):
                units = NUDGE_UNITS if sign < 0 else tuple(reversed(NUDGE_UNITS))
                for part, unit, text in units:
                    button = _button(f"{'−' if sign < 0 else '+'}{text}", f"nudge-{bound}-{part}-{name}")
                    nudges.append((button, bound, sign, unit))
            playhead_buttons[bound] = _button(f"⇤ playhead ({'I' if bound == 'start' else 'O'})",
                                              f"set-{bound}-playhead")
    with gr.Row(equal_height=True):
        accept = _button("✓ Accept (A)", "inspector-accept", "primary")
        reject = _button("✗ Reject (R)", "inspector-reject", "stop")
        add = _button("+ Add at playhead (N)", "inspector-add")
        undo = _button("↶ Undo (U)", "inspector-undo")
        redo = _button("↷ Redo (⇧U)", "inspector-redo")
    with gr.Row(equal_height=True):
        label = gr.Textbox(show_label=False, placeholder="label (L)", elem_id="inspector-label", scale=2,
                           min_width=120, lines=1, max_lines=1)
        relabel = _button("Relabel", "inspector-relabel")
        add_label = _button("+ to the list", "add-label")
    with gr.Row(elem_id="label-list"):
        label_buttons = [gr.Button(str(number), visible=False, size="sm", min_width=60, elem_id=f"label-key-{number}")
                         for number in range(1, HOTKEY_LABELS + 1)]
    curves = gr.Plot(show_label=False, elem_id="inspector-curves")
    corrections = gr.Dataframe(headers=CORRECTION_COLUMNS, label="Corrections (click a row to inspect it)",
                               interactive=False, elem_id="corrections-table", max_height=220)
    import_upload = gr.File(label="Import corrections (ELAN .eaf or ActivityNet GT .json)", file_types=IMPORT_TYPES,
                            elem_id="import-upload", height=90)
    gr.Markdown("**Keys** (not while typing)  \n" + "  \n".join(f"`{keys}` {what}" for keys, what in SHORTCUTS)
                + f"\n\n{EDIT_LEGEND}", elem_id="inspector-legend")
    fast = [inspected, info, edits_data, corrections]
    view = InspectorView(inspector, handle, analysis, inspected, mode, fast, [strips, curves],
                         [analysis, truth, labels], [labels, *label_buttons])

    with_key = [analysis, cache, inspected]
    nudged = gr.on([button.click for button, *_ in nudges],
                   handle(inspector.nudge({button.elem_id: (bound, sign, unit) for button, bound, sign, unit in nudges})),
                   with_key, fast, **EDIT_QUEUE)
    nudged.failure(None, [edits_data], None, js=ANSWERED_JS)  # a refused nudge: the row as it was
    view.follow(nudged, ANSWERED_THEN_PAINT_JS)
    for bound, button in playhead_buttons.items():
        view.follow(button.click(None, None, playhead, js=PLAYHEAD_JS).then(
            handle(inspector.set_bound(bound)), [*with_key, playhead], fast, **EDIT_QUEUE))
    view.follow(accept.click(handle(inspector.decide("accept")), with_key, fast, **EDIT_QUEUE))
    view.follow(reject.click(handle(inspector.decide("reject")), with_key, fast, **EDIT_QUEUE))
    for event in (relabel.click, label.submit):
        view.refresh_labels(view.follow(event(handle(inspector.relabel), [*with_key, label], fast, **EDIT_QUEUE)))
    labelling = LabelsAndImport(inspector)
    add_label.click(handle(labelling.add_typed), [labels, label], view.label_outputs, show_progress="hidden",
                    api_visibility="private")
    numbers = {button.elem_id: number for number, button in enumerate(label_buttons, start=1)}
    view.follow(gr.on([button.click for button in label_buttons], handle(labelling.relabel_with(numbers)),
                      [*with_key, labels], fast, **EDIT_QUEUE))
    imported = import_upload.upload(handle(labelling.import_corrections), [*with_key, import_upload], fast,
                                    **EDIT_QUEUE)
    view.refresh_labels(view.follow(imported))
    # the slot empties after each import, taken or refused, so the next file (or the same one again) can come
    for after in (imported.success, imported.failure):
        after(lambda: None, None, import_upload, show_progress="hidden", api_visibility="private")
    view.follow(add.click(None, None, playhead, js=PLAYHEAD_JS).then(
        handle(inspector.add), [analysis, cache, playhead, label], fast, **EDIT_QUEUE))
    view.follow(undo.click(handle(inspector.undo), with_key, fast, **EDIT_QUEUE))
    view.follow(redo.click(handle(inspector.redo), with_key, fast, **EDIT_QUEUE))
    view.follow(corrections.select(handle(inspector.select_correction), analysis, fast, show_progress="hidden",
                                  api_visibility="private"))
    mode.change(handle(inspector.views), [analysis, inspected, mode], view.slow, **VIEW_QUEUE)
    return view
