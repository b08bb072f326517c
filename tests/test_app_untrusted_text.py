"""Untrusted text reaches the page as plain text, never as Markdown or HTML (issue 21, point 9), and a
detector's predictions beyond the video's end are said, not judged in silence (point 10)."""

from __future__ import annotations

import re
import warnings

from ui.diagnosis import DetectorResults, show_detector
from ui.explorer import status_markdown
from ui.inspector import Inspector
from ui.messages import markdown_text
from utal_core.evaluate import GroundTruth, Prediction

from .test_viz import synthetic_analysis

TRACKER = "![p](http://127.0.0.1:9/track.png)"
#: A Markdown image or link that would still be parsed: "![", "](" or "<" not backslashed or escaped.
LIVE_MARKUP = re.compile(r"(?<!\\)!(?<!\\)\[|(?<!\\)\]\(|<img|<script")


def test_markdown_text_leaves_nothing_to_render():
    shown = markdown_text(TRACKER + " <img src=x onerror=alert(1)> *bold* `code`")
    assert not LIVE_MARKUP.search(shown) and "&lt;img" in shown and r"\*bold\*" in shown


def test_labels_file_names_and_video_ids_are_escaped_where_the_page_shows_them():
    analysis = synthetic_analysis()
    analysis.video_path = f"/uploads/{TRACKER}.mp4"
    analysis.video_id = TRACKER
    layer = analysis.edit_layer()
    layer.relabel("r0", TRACKER)

    class Services:
        pipeline = type("P", (), {"model_runs": 0, "extractor": type("E", (), {"device": "cpu"})()})()

    assert not LIVE_MARKUP.search(status_markdown(Services(), analysis, "note"))
    _, info, _, _ = Inspector(explorer=None).fast_outputs(analysis, "r0")
    assert not LIVE_MARKUP.search(info) and "track" in info
    results = DetectorResults(f"{TRACKER}.json", {TRACKER: [Prediction(100.0, 200.0, 0.9, "a"), Prediction(1.0, 2.0, 0.5, "a")]})
    with warnings.catch_warnings(record=True):
        _, info, *_ = show_detector(results, analysis, [GroundTruth(1.0, 2.0, "a")], 0.5, True)
    assert not LIVE_MARKUP.search(info)
    assert "1 of them end after the video does (60.0 s)" in info
    missing = DetectorResults(f"{TRACKER}.json", {f"other {TRACKER}": []})
    _, info, *_ = show_detector(missing, analysis, None, 0.5, True)
    assert not LIVE_MARKUP.search(info)
