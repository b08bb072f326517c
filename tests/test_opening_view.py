"""The example's opening view (``ui.opening_view``): the load event's answer leaves out what the page shows."""

from __future__ import annotations

import gradio as gr
from gradio.components.plot import PlotData

from ui.opening_view import OpeningView


def _answer(status: str, rows: list, plot: str) -> dict:
    return {"upload": "/examples/band.mp4", "truth_upload": None, "analysis": "the analysis", "status": status,
            "player": gr.update(value="/session/public/band.mp4", playback_position=0.0), "table": rows,
            "timeline": PlotData(type="plotly", plot=plot), "segment_count": "3 segments"}


def test_the_answer_skips_what_the_page_shows_and_keeps_what_changed():
    view = OpeningView("band", {"upload": "/examples/band.mp4", "truth_upload": None, "status": "model runs: 1",
                                "player": "/examples/band.mp4", "table": [[1, 0.0, 2.0]],
                                "timeline": PlotData(type="plotly", plot='{"data": []}'), "segment_count": "3 segments"})
    same = view.unshown(_answer("model runs: 1", [[1, 0.0, 2.0]], '{"data": []}'))
    assert [role for role, value in same.items() if not isinstance(value, type(gr.skip()))] == ["analysis"]

    # the visitor's saved corrections changed the table and the timeline, another visitor's run the status
    changed = view.unshown(_answer("model runs: 2", [[1, 0.5, 2.0]], '{"data": [1]}'))
    kept = {role: value for role, value in changed.items() if not isinstance(value, type(gr.skip()))}
    assert list(kept) == ["analysis", "status", "table", "timeline"]
    assert kept["table"] == [[1, 0.5, 2.0]]


def test_a_view_without_the_player_leaves_the_answers_player():
    view = OpeningView("band", {"status": "model runs: 1"})
    answer = view.unshown(_answer("model runs: 1", [], "{}"))
    assert answer["player"]["value"] == "/session/public/band.mp4"
    assert answer["upload"] == "/examples/band.mp4"
