"""An edits layer read from one thread while another undoes (the app reads a layer in its view handlers
while an edit runs in another worker thread): a read never leaves a stale replay behind."""

from __future__ import annotations

import threading

from utal_core import edits
from utal_core.edits import EditLayer
from utal_core.types import Segment


def test_a_read_replaying_the_log_while_an_undo_comes_leaves_no_stale_replay(monkeypatch):
    layer = EditLayer((Segment(0.0, 1.0, 0.5), Segment(2.0, 3.0, 0.5)), 10.0, 25.0)
    layer.accept("r0")
    layer.reject("r0")
    layer.undo()
    layer.redo()  # the log is replayed again on the next read
    replaying, resume = threading.Event(), threading.Event()
    replay = edits._Replay.apply

    def paused(state, operation):  # the reading thread stops after replaying the last operation, the reject
        replay(state, operation)
        if threading.current_thread() is reader and operation.kind == "reject":
            replaying.set()
            resume.wait(10)

    monkeypatch.setattr(edits._Replay, "apply", paused)
    reader = threading.Thread(target=layer.segments)
    reader.start()
    assert replaying.wait(10)
    undo = threading.Thread(target=layer.undo)
    undo.start()
    undo.join(0.3)  # unguarded, the undo is over here, before the reader keeps the replay it made
    resume.set()
    reader.join(10)
    undo.join(10)
    assert not reader.is_alive() and not undo.is_alive()
    assert [op.kind for op in layer.operations] == ["accept"] and [op.kind for op in layer.redo_stack] == ["reject"]
    assert [item.status for item in layer.segments()] == ["accepted", "untouched"]
