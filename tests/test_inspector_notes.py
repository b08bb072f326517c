"""The inspector's notes name segments by their number (``#7``), as the tables, the timeline and the info line do,
never by the edits layer's own keys (``r3``, ``a0``); the handlers run as the app runs them, on real services
(the visitor's corrections saved in a temporary folder)."""

from __future__ import annotations

import json
import re
from types import SimpleNamespace

import pytest

from ui.explorer import Explorer
from ui.inspector import Inspector
from ui.services import AppConfig, AppServices
from ui.timeline_edits import TimelineEditor

from .test_viz import synthetic_analysis

#: An edits layer's key where a note names a segment: "r3", "a0".
RAW_KEY = re.compile(r"\b[ra]\d+\b")


@pytest.fixture
def editing(tmp_path):
    """An inspector on real services, a request of a visitor with a corrections store, and an analysis whose
    numbers differ from its keys' indices (so a key in a note cannot pass for a number)."""
    explorer = Explorer(AppServices(AppConfig(library_dir=tmp_path / "library", work_dir=tmp_path / "work")))
    explorer.services.sessions.attach_visitor("notes-test", None)
    analysis = synthetic_analysis()
    for offset, segment in enumerate(analysis.segments):
        segment.number = 40 + 3 * offset
    return Inspector(explorer), SimpleNamespace(session_hash="notes-test"), analysis


def info_note(answer: tuple) -> str:
    """The info line of an edit's answer (the inspector's fast outputs: selection, info, edits row, corrections)."""
    return answer[1]


def test_undo_redo_and_add_notes_name_the_segment_by_its_number(editing):
    inspector, request, analysis = editing
    cache: dict = {}
    second = analysis.edit_layer().segment("r1")
    selection = inspector.fast_outputs(analysis, "r1")[0]
    inspector.decide("reject")(analysis, cache, selection, request)

    undone = inspector.undo(analysis, cache, selection, request)
    assert f"Undone: reject #{second.number}." in info_note(undone) and not RAW_KEY.search(info_note(undone))
    redone = inspector.redo(analysis, cache, undone[0], request)
    assert f"Redone: reject #{second.number}." in info_note(redone) and "(rejected)" in info_note(redone)

    added = inspector.add(analysis, cache, 1.0, "jump", request)
    number = max(s.number for s in analysis.segments) + 1  # an added segment takes the next free number
    assert f"Added #{number} at the playhead." in info_note(added) and not RAW_KEY.search(info_note(added))
    # the undone add's segment is gone from the layer: the note still names it by the number it had
    undone = inspector.undo(analysis, cache, added[0], request)
    assert f"Undone: add #{number}." in info_note(undone) and "No segment inspected" in info_note(undone)
    redone = inspector.redo(analysis, cache, undone[0], request)
    assert f"Redone: add #{number}." in info_note(redone) and f"Inspecting **#{number}** (added)" in info_note(redone)


def test_a_segment_drawn_on_the_timeline_is_named_by_its_number(editing):
    inspector, request, analysis = editing
    drawn = TimelineEditor(inspector).apply(analysis, {}, json.dumps({"kind": "add", "start": 1.0, "end": 2.5}),
                                            request)
    number = max(s.number for s in analysis.segments) + 1
    assert info_note(drawn).startswith(f"Inspecting **#{number}** (added)")
    assert f"Added #{number}, 1.000–2.500 s, drawn on the timeline." in info_note(drawn)
    assert not RAW_KEY.search(info_note(drawn))
