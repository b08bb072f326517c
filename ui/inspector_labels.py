"""The session's label list (one hotkey per label, 1-9) and the import of corrections (ELAN EAF, ActivityNet
ground truth) into the edits layer: both edit through ``ui.inspector.Inspector``, so each change is an edit of
the layer, saved at once for the visitor and exported like any other."""

from __future__ import annotations

from typing import Any, Callable, Sequence

import gradio as gr

from utal_core.annotations import add_segments, read_annotations
from utal_core.checks import plain_label
from utal_core.cluster import unnamed
from utal_core.errors import UTALError
from utal_core.pipeline import Analysis

from .inspector import Inspector, Selection
from .messages import markdown_text, warn

#: Labels with a hotkey (1-9) and a button; later ones are still in the list the relabel box completes.
HOTKEY_LABELS = 9
#: What the corrections slot takes.
IMPORT_TYPES = [".eaf", ".json"]


def label_list(analysis: Analysis | None, truth: Sequence[Any] | None, labels: Sequence[str] | None) -> list[str]:
    """The session's labels in the order they came: those kept so far (typed ones included), then the ground
    truth's, the named clusters' and those the edits layer gave its segments, each once, as plain text."""
    found = [getattr(item, "label", "") for item in truth or []]
    if analysis is not None:
        found += [cluster.name for cluster in analysis.clusters if cluster.name != unnamed(cluster.id)]
        if analysis.edits is not None:
            found += [item.segment.label or "" for item in analysis.edits.segments() if item.status in ("edited", "added")]
    kept: list[str] = []
    for label in [*(labels or []), *found]:
        text = plain_label(label)
        if text and text not in kept:
            kept.append(text)
    return kept


def hotkey_buttons(labels: Sequence[str]) -> list[Any]:
    """The updates of the HOTKEY_LABELS label buttons: "k label" for the first labels, the rest hidden."""
    return [gr.update(value=f"{number} {labels[number - 1]}", visible=True) if number <= len(labels)
            else gr.update(visible=False) for number in range(1, HOTKEY_LABELS + 1)]


class LabelsAndImport:
    """Handlers of the label list and the corrections import (per-session state comes in as arguments)."""

    def __init__(self, inspector: Inspector) -> None:
        self.inspector = inspector

    @staticmethod
    def refresh(analysis: Analysis | None, truth: Sequence[Any] | None, labels: list[str] | None) -> tuple:
        """The label list of what is on screen now, with its buttons."""
        kept = label_list(analysis, truth, labels)
        return (kept, *hotkey_buttons(kept))

    @staticmethod
    def add_typed(labels: list[str] | None, text: str) -> tuple:
        """The label typed in the label box added to the list (a plain message when it is empty)."""
        label = plain_label(text)
        if not label:
            raise UTALError("Type a label in the label box first.")
        kept = label_list(None, None, [*(labels or []), label])
        return (kept, *hotkey_buttons(kept))

    def relabel_with(self, buttons: dict[str, int]) -> Callable:
        """One handler for the label list's buttons: ``buttons`` maps a button's ``elem_id`` to its number (hotkey);
        the inspected segment is relabelled with the list's label of that number."""
        def relabel_handler(analysis: Analysis | None, cache: dict, selection: Selection | None,
                            labels: list[str] | None, event: gr.EventData, request: gr.Request) -> tuple:
            number = buttons[event.target.elem_id]
            if not labels or number > len(labels):
                raise UTALError(f"The label list has no label {number}: type one in the label box and add it.")
            return self.inspector.relabel(analysis, cache, selection, labels[number - 1], request)

        return relabel_handler

    def import_corrections(self, analysis: Analysis | None, cache: dict, selection: Selection | None, upload: Any,
                           request: gr.Request) -> tuple:
        """The annotations of an ELAN ``.eaf`` or an ActivityNet ground-truth JSON (this video's entry) added to
        the edits layer as added segments, all or none (``utal_core.annotations``, as the CLI's ``import``)."""
        if upload is None:
            return (gr.skip(),) * 4
        if analysis is None:
            raise UTALError("Analyse a video first, then import its corrections.")
        layer = analysis.edit_layer()
        path = str(getattr(upload, "name", upload))
        warnings: list[str] = []
        segments = read_annotations(path, analysis.video_id, warnings)
        for message in warnings:
            warn(message)
        if not segments:
            raise UTALError("The file holds no annotation that can be imported.")
        with self.inspector.edit_lock:
            operations = add_segments(layer, segments)
        note = f"Imported {len(operations)} annotation(s) as added segments ({markdown_text(_file_name(path))})."
        return self.inspector.edited(analysis, cache, selection, note, request)


def _file_name(path: str) -> str:
    return path.replace("\\", "/").rsplit("/", 1)[-1]
