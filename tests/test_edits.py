"""The edits layer: each operation, undo/redo, bounds, and persistence beside the raw segments."""

from __future__ import annotations

import dataclasses
import json
from pathlib import Path

import pytest

from utal_core.edit_files import load_edits, save_edits
from utal_core.edits import EditLayer, numbered_segments, segment_tag, segments_fingerprint
from utal_core.errors import UTALError
from utal_core.pipeline import Analysis, read_analysis
from utal_core.types import Segment

from .test_viz import synthetic_analysis

RAW = [Segment(2.0, 5.0, 0.8, cluster=0, label="waving", label_score=0.4), Segment(10.0, 14.0, 0.6, cluster=1)]


def layer(fps: float | None = 25.0) -> EditLayer:
    return EditLayer(tuple(RAW), duration=20.0, fps=fps)


def statuses(edits: EditLayer) -> dict[str, str]:
    return {item.key: item.status for item in edits.segments()}


def test_accept_reject_relabel_and_their_statuses() -> None:
    edits = layer()
    assert statuses(edits) == {"r0": "untouched", "r1": "untouched"}
    edits.accept("r0")
    edits.reject("r1")
    assert statuses(edits) == {"r0": "accepted", "r1": "rejected"}
    edits.accept("r1")  # the last decision wins
    edits.relabel("r0", "  clapping ")
    assert statuses(edits) == {"r0": "edited", "r1": "accepted"}
    assert edits.segment("r0").label == "clapping" and edits.segment("r0").label_score is None
    assert RAW[0].label == "waving", "the raw segments are never modified"


def test_nudges_by_frame_tenth_and_second() -> None:
    edits = layer(fps=25.0)
    edits.nudge("r0", "start", 1, "frame")
    assert edits.segment("r0").start == pytest.approx(2.04)
    edits.nudge("r0", "start", -3, "0.1s")
    assert edits.segment("r0").start == pytest.approx(1.74)
    edits.nudge("r0", "end", 2, "1s")
    assert edits.segment("r0").end == pytest.approx(7.0)
    assert layer(fps=30.0).frame_s == pytest.approx(1 / 30) and layer(fps=None).frame_s == pytest.approx(0.04)
    assert [op.kind for op in edits.operations] == ["set_start", "set_start", "set_end"]
    assert (RAW[0].start, RAW[0].end) == (2.0, 5.0)


def test_set_to_a_time_and_add_from_the_playhead() -> None:
    edits = layer()
    edits.set_start("r1", 9.5)
    edits.set_end("r1", 15.25)
    edits.add(16.0, 18.0, "jumping")
    edits.add(0.5, 1.0)
    assert [(i.key, i.status) for i in edits.segments()][2:] == [("a0", "added"), ("a1", "added")]
    assert edits.segment("a1").label == "action" and edits.segment("a0").score == 1.0
    kept = edits.kept_segments()
    assert [(s.start, s.end) for s in kept] == [(0.5, 1.0), (9.5, 15.25), (16.0, 18.0)]  # time order, r0 untouched


def test_kept_segments_drop_rejected_and_untouched_unless_kept() -> None:
    edits = layer()
    edits.reject("r0")
    assert edits.kept_segments() == []
    assert [(s.start, s.end) for s in edits.kept_segments(untouched="keep")] == [(10.0, 14.0)]
    with pytest.raises(UTALError, match="'drop' or 'keep'"):
        edits.kept_segments(untouched="maybe")  # type: ignore[arg-type]


def test_undo_and_redo() -> None:
    edits = layer()
    edits.nudge("r0", "end", 1, "1s")
    edits.reject("r1")
    assert edits.undo().kind == "reject" and statuses(edits)["r1"] == "untouched"
    assert edits.undo().kind == "set_end" and edits.segment("r0").end == 5.0
    assert edits.undo() is None
    assert edits.redo().kind == "set_end" and edits.segment("r0").end == 6.0
    edits.accept("r1")  # a new edit forgets what was undone
    assert edits.redo() is None
    assert statuses(edits) == {"r0": "edited", "r1": "accepted"}


@pytest.mark.parametrize("action,message", [
    (lambda e: e.set_start("r0", 5.0), "must come before the end"),
    (lambda e: e.set_end("r0", 1.0), "must come before the end"),
    (lambda e: e.set_start("r0", -0.5), "before the video begins"),
    (lambda e: e.set_end("r1", 20.5), "after the video ends"),
    (lambda e: e.set_end("r0", 2.02), "at least one frame"),
    (lambda e: e.nudge("r0", "start", 75, "frame"), "must come before the end"),
    (lambda e: e.nudge("r0", "start", 1, "minute"), "nudge by one of frame, 0.1s, 1s"),
    (lambda e: e.add(3.0, 3.0), "must come before the end"),
    (lambda e: e.relabel("r0", "  "), "cannot be empty"),
    (lambda e: e.accept("r7"), "no segment 'r7'"),
])
def test_bounds_give_a_plain_message_and_change_nothing(action, message: str) -> None:
    edits = layer()
    with pytest.raises(UTALError, match=message):
        action(edits)
    assert edits.operations == [] and statuses(edits) == {"r0": "untouched", "r1": "untouched"}


def test_layer_round_trips_through_its_dict() -> None:
    edits = layer()
    edits.nudge("r0", "start", 2, "frame")
    edits.relabel("r1", "bouncing")
    edits.add(16.0, 18.0, "jumping")
    edits.reject("a0")
    again = EditLayer.from_dict(json.loads(json.dumps(edits.to_dict())), RAW)
    assert again.operations == edits.operations and again.segments() == edits.segments()


def test_a_layer_refuses_other_segments_and_damaged_operations() -> None:
    data = layer().to_dict()
    with pytest.raises(UTALError, match="re-segmented"):
        EditLayer.from_dict(data, RAW[:1])
    bad = dict(data, operations=[{"kind": "set_end", "key": "r0", "end": 99.0}])
    with pytest.raises(UTALError, match="after the video ends"):
        EditLayer.from_dict(bad, RAW)
    with pytest.raises(UTALError, match="not an edit operation"):
        EditLayer.from_dict(dict(data, operations=[{"kind": "explode", "key": "r0"}]), RAW)
    with pytest.raises(UTALError, match="unsupported edits format"):
        EditLayer.from_dict(dict(data, format=99), RAW)


def test_rebased_carries_kept_corrections_onto_new_segments() -> None:
    edits = layer()
    edits.nudge("r0", "end", 1, "1s")
    edits.reject("r1")
    new_raw = [Segment(1.0, 3.0, 0.5)]
    moved = edits.rebased(new_raw)
    assert moved.base == segments_fingerprint(new_raw)
    assert [dataclasses.replace(s, number=None) for s in moved.raw] == new_raw
    assert [(i.key, i.status, i.segment.start, i.segment.end) for i in moved.segments()] == [
        ("r0", "untouched", 1.0, 3.0), ("a0", "added", 2.0, 6.0)]
    assert edits.rebased(RAW) is edits


def test_analysis_persists_edits_beside_its_raw_segments(tmp_path: Path) -> None:
    analysis = dataclasses.replace(synthetic_analysis(), media={"fps": 25.0})
    path = analysis.write_json(tmp_path / "clip.analysis.json")
    assert "edits" not in json.loads(path.read_text())
    assert read_analysis(path).edits is None  # an analysis without edits reads as before
    raw = [dataclasses.asdict(s) for s in analysis.segments]

    edits = analysis.edit_layer()
    assert edits.frame_s == pytest.approx(0.04)
    edits.nudge("r0", "start", -1, "frame")
    edits.reject("r1")
    edits.add(55.0, 58.0, "jumping")
    analysis.write_json(path)
    payload = json.loads(path.read_text())
    assert payload["segments"] == raw, "the raw segments are written as they were"
    assert [op["kind"] for op in payload["edits"]["operations"]] == ["set_start", "reject", "add"]
    back = read_analysis(path)
    assert back.segments == analysis.segments and back.edits.segments() == edits.segments()

    # save_edits rewrites only the edits entry of the file, atomically.
    loaded = load_edits(path)
    loaded.undo()
    save_edits(path, loaded)
    payload = json.loads(path.read_text())
    assert payload["segments"] == raw and len(payload["edits"]["operations"]) == 2
    assert not [p for p in tmp_path.iterdir() if p.name.endswith(".tmp")]


def test_save_edits_refuses_a_file_with_other_segments(tmp_path: Path) -> None:
    path = synthetic_analysis().write_json(tmp_path / "clip.analysis.json")
    with pytest.raises(UTALError, match="other segments"):
        save_edits(path, layer())
    with pytest.raises(UTALError, match="not found"):
        load_edits(tmp_path / "absent.json")
    (tmp_path / "notes.json").write_text('{"hello": 1}')
    with pytest.raises(UTALError, match="not an analysis file"):
        load_edits(tmp_path / "notes.json")


def test_the_inspector_prefetches_the_nearest_segments_first_and_skips_rejected_ones():
    from ui.inspector import Inspector

    raw = tuple(Segment(float(10 * i), float(10 * i + 4), 0.5) for i in range(6))
    edits = EditLayer(raw, duration=60.0, fps=25.0)
    edits.reject("r3")
    edits.nudge("r1", "start", 1, "1s")
    assert Inspector.neighbours(edits, "r2", 2) == [(40.0, 44.0), (11.0, 14.0), (50.0, 54.0), (0.0, 4.0)]
    assert Inspector.neighbours(edits, "r0", 1) == [(11.0, 14.0)]
    assert Inspector.neighbours(edits, "r2", 0) == []


def test_the_info_line_writes_bounds_as_the_page_does():
    """ui/inspector.js writes a nudged bound with toFixed(3), which rounds ties up; the server's answer must read
    the same (Python's format would give 8.562)."""
    from ui.inspector import _millis

    assert _millis(8.5625) == "8.563" and _millis(0.0) == "0.000" and _millis(6.975) == "6.975"


def test_the_green_bar_marks_the_frames_on_screen_during_the_segment(tmp_path):
    """Segment 6.35-7.5 s in a 15 fps video: the frame presented at 6.34 is on screen at its start (inside), the
    one presented at 7.474 until after its end (inside), the one at 6.14 and the one at 7.54 are not."""
    from ui.inspector import strip_html
    from utal_core.strips import StripFrame

    image = tmp_path / "frame.jpg"
    image.write_bytes(b"\xff\xd8\xff\xd9")
    frames = [StripFrame(6.2, 6.14, image, False), StripFrame(6.35, 6.34, image, True),
              StripFrame(6.4, 6.34, image, False), StripFrame(7.5, 7.474, image, True),
              StripFrame(7.54, 7.54, image, False)]
    html = strip_html(frames, "start", 6.35, 6.35, 7.5)
    classes = [chunk.split("'", 1)[0] for chunk in html.split("<figure class='")[1:]]
    assert classes == ["", "boundary inside", "inside", "boundary inside", ""]


def test_strip_frames_carry_their_size_so_the_page_lays_them_out_once(tmp_path):
    """Each strip image has the JPEG's own width and height (read from its header), so the page lays the strip
    out before the images decode, not again as each one does; a file without a frame header gets none."""
    import numpy as np

    from ui.inspector import strip_html
    from utal_core.strips import StripFrame, _jpeg

    wide, tall, broken = tmp_path / "wide.jpg", tmp_path / "tall.jpg", tmp_path / "broken.jpg"
    wide.write_bytes(_jpeg(np.zeros((90, 160, 3), np.uint8)))
    tall.write_bytes(_jpeg(np.zeros((160, 90, 3), np.uint8)))
    broken.write_bytes(b"\xff\xd8\xff\xd9")
    html = strip_html([StripFrame(1.0, 1.0, wide, True), StripFrame(1.2, 1.2, tall, False),
                       StripFrame(1.4, 1.4, broken, False)], "start", 1.0, 1.0, 2.0)
    images = [chunk.split(" src=", 1)[0] for chunk in html.split("<img ")[1:]]
    assert images == ["alt='1.000 s' width='160' height='90'", "alt='1.200 s' width='90' height='160'",
                      "alt='1.400 s'"]


@pytest.mark.parametrize("bad", [float("nan"), float("inf"), -float("inf"), "3.0", "nan", True, None, 10**400])
def test_every_time_entering_the_layer_is_a_finite_number(bad) -> None:
    """NaN, infinities, strings, booleans and huge integers are refused by every bound check, with one plain
    message naming the field, and the layer is unchanged."""
    edits = layer()
    for attempt in (lambda: edits.set_start("r0", bad), lambda: edits.set_end("r0", bad),
                    lambda: edits.add(bad, 3.0), lambda: edits.add(1.0, bad)):
        with pytest.raises(UTALError, match="start|end"):
            attempt()
    assert edits.operations == []


@pytest.mark.parametrize("steps", [float("nan"), 10**400, "2", True, 2.5, 10**7])
def test_nudge_steps_are_a_bounded_whole_number(steps) -> None:
    with pytest.raises(UTALError, match="nudge steps"):
        layer().nudge("r0", "start", steps)


def test_a_hand_edited_file_cannot_smuggle_in_a_bad_time_or_label(tmp_path: Path) -> None:
    analysis = synthetic_analysis()
    analysis.edit_layer().set_start("r0", analysis.segments[0].start + 0.5)
    path = analysis.write_json(tmp_path / "a.analysis.json")
    for field, value, message in (("start", "nan", "start must be a number"), ("start", 1e400, "finite"),
                                  ("label", {"x": 1}, "label must be text")):
        payload = json.loads(path.read_text())
        payload["edits"]["operations"][0][field] = value
        broken = tmp_path / f"{field}.analysis.json"
        broken.write_text(json.dumps(payload).replace("Infinity", "1e400"))
        with pytest.raises(UTALError, match=message):
            load_edits(broken)
    payload = json.loads(path.read_text())
    payload["media"] = ["not", "a", "dict"]
    (tmp_path / "media.analysis.json").write_text(json.dumps(payload))
    assert len(load_edits(tmp_path / "media.analysis.json").operations) == 1
    payload["media"] = {"fps": "twenty-five"}
    payload.pop("edits")
    (tmp_path / "fps.analysis.json").write_text(json.dumps(payload))
    assert load_edits(tmp_path / "fps.analysis.json").fps is None


def test_labels_are_one_line_of_visible_text() -> None:
    edits = layer()
    edits.relabel("r0", "  wave\n-->\u0001 hand\u200b ")
    assert edits.segment("r0").label == "wave --> hand"
    edits.add(6.0, 7.0, "\u200b\u0002")
    assert edits.segment("a0").label == "action"
    for bad in ("\u200b", "  ", None, 5):
        with pytest.raises(UTALError, match="label"):
            edits.relabel("r1", bad)


def bounds_and_numbers(segments) -> list[tuple[float, float, int | None]]:
    return [(s.start, s.end, s.number) for s in segments]


def test_segments_are_numbered_in_time_order_and_keep_their_order() -> None:
    numbered = numbered_segments([Segment(10.0, 12.0, 0.9), Segment(1.0, 3.0, 0.5), Segment(5.0, 6.0, 0.7)])
    assert bounds_and_numbers(numbered) == [(10.0, 12.0, 3), (1.0, 3.0, 1), (5.0, 6.0, 2)]
    assert [segment_tag(s) for s in numbered] == ["#3", "#1", "#2"]


def test_numbers_survive_a_resegmentation_and_new_segments_get_new_ones() -> None:
    """Issue 22, defect 8: a segment that survives a new threshold keeps its number; a new one never takes the
    number of another (nor of one that went, nor of a corrected segment's)."""
    before = numbered_segments([Segment(1.0, 3.0, 0.5), Segment(5.0, 8.0, 0.9), Segment(10.0, 12.0, 0.6),
                                Segment(15.0, 16.0, 0.4)])
    assert [s.number for s in before] == [1, 2, 3, 4]
    # 5-8 shrank, 10-12 grew and a piece split off it, 1-3 and 15-16 went, 18-19 is new; score order changed
    after = numbered_segments([Segment(10.0, 12.5, 0.7), Segment(5.5, 7.5, 0.95), Segment(12.6, 13.5, 0.3),
                               Segment(18.0, 19.0, 0.5)], before, taken=[5])
    assert bounds_and_numbers(after) == [(10.0, 12.5, 3), (5.5, 7.5, 2), (12.6, 13.5, 6), (18.0, 19.0, 7)]
    # each number at most once: of two segments over one old one, the one that overlaps it most keeps it
    split = numbered_segments([Segment(5.0, 6.0, 0.5), Segment(6.2, 8.0, 0.5)], before)
    assert bounds_and_numbers(split) == [(5.0, 6.0, 5), (6.2, 8.0, 2)]


def test_corrected_segments_keep_their_numbers_when_carried_onto_new_segments() -> None:
    edits = EditLayer(tuple(numbered_segments(RAW)), duration=20.0, fps=25.0)
    edits.accept("r0")
    edits.nudge("r1", "start", 1, "1s")  # #2 edited to 11-14
    edits.add(16.0, 18.0, "jumping")  # #3
    assert [(i.key, i.tag) for i in edits.segments()] == [("r0", "#1"), ("r1", "#2"), ("a0", "#3")]
    # a re-threshold: #2 survives as 9.5-13.5 (listed first), #1 as 2.5-5.5, a new segment at 6-7
    new_raw = numbered_segments([Segment(9.5, 13.5, 0.7), Segment(2.5, 5.5, 0.6), Segment(6.0, 7.0, 0.2)],
                                edits.raw, taken=[3])
    moved = edits.rebased(new_raw)
    assert [(i.key, i.tag, i.status, i.segment.start, i.segment.end) for i in moved.segments()] == [
        ("r0", "#2", "edited", 11.0, 14.0), ("r1", "#1", "edited", 2.0, 5.0), ("r2", "#4", "untouched", 6.0, 7.0),
        ("a0", "#3", "added", 16.0, 18.0)]
    assert moved.segment("r1").label == "waving", "the accepted label is kept"
    # the carried log replays (so it saves and reads back), and an added segment's number is kept in it
    back = EditLayer.from_dict(json.loads(json.dumps(moved.to_dict())), new_raw)
    assert [(i.tag, i.status, i.segment.start, i.segment.end) for i in back.segments()] == [
        (i.tag, i.status, i.segment.start, i.segment.end) for i in moved.segments()]
    assert moved.key_of("#3") == "a0" and moved.key_of("#9") is None
    assert moved.add(0.0, 1.0).number is None and moved.segment("a1").number == 5  # the next free number


def test_segments_of_an_older_file_are_numbered_in_time_order(tmp_path: Path) -> None:
    analysis = synthetic_analysis()
    payload = analysis.to_dict()
    for item in payload["segments"]:
        del item["number"]  # written before segments had numbers
    back = Analysis.from_dict(payload)
    ordered = sorted(back.segments, key=lambda s: (s.start, s.end))
    assert [s.number for s in ordered] == list(range(1, len(ordered) + 1))
