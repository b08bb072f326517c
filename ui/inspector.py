"""The boundary inspector: frame strips and zoomed curves around the selected segment's start and end, and the
edit controls (nudges, playhead bounds, accept / reject / relabel, add, undo / redo) over its edits layer.

Edits live on the session's ``Analysis`` (its ``edits`` layer, ``utal_core.edits``) in ``gr.State`` and in the
session's analysis cache, and each one is saved at once in the visitor's own store (``ui.sessions``), so a
reload, a new tab of the same browser or a server restart brings them back when the video is opened again;
the analysis JSON download carries them. An edit answers with the small things that change (the info line,
the corrections table, the edits row's data, which ``ui/inspector.js`` restyles into the timeline without
redrawing it); the strips (their JPEGs inline, no image requests) and then the curves follow in a second
step, after which the strips of the neighbouring segments are prefetched. Keys: :data:`SHORTCUTS`.
"""

from __future__ import annotations

import base64
import dataclasses
import html
import json
import threading
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any, Callable, Literal

import gradio as gr

from utal_core.checks import finite_number
from utal_core.edits import NUMBER_MATCH_TIOU, EditedSegment, EditLayer, segment_tag
from utal_core.errors import UTALError
from utal_core.media import MediaInfo, ProxyVideo
from utal_core.pipeline import Analysis
from utal_core.strips import EVERY_FRAME_SIDE, STRIP_HALF_WINDOW_S, STRIP_RATE, StripFrame
from utal_core.types import Segment
from utal_core.viz import edits_row, visible_segments
from utal_core.viz_inspector import boundary_curves_figure

from .explorer import Explorer
from .messages import markdown_text

#: Length (s) of a segment added at the playhead; its end is then nudged or set like any other.
ADDED_LENGTH_S = 2.0
#: Nudge buttons: (element id part, unit of ``EditLayer.nudge``, button text).
NUDGE_UNITS: tuple[tuple[str, str, str], ...] = (("second", "1s", "1 s"), ("tenth", "0.1s", "0.1 s"),
                                                 ("frame", "frame", "1 frame"))
CORRECTION_COLUMNS = ["#", "status", "start (s)", "end (s)", "label", "model start", "model end"]
#: Keyboard shortcuts (ui/inspector.js), as the legend shows them; none fires while typing in a text box.
SHORTCUTS: tuple[tuple[str, str], ...] = (
    ("Z / X", "start 1 frame earlier / later (Shift: 0.1 s, Alt: 1 s)"),
    ("C / V", "end 1 frame earlier / later (Shift: 0.1 s, Alt: 1 s)"),
    ("I / O", "start / end at the playhead"),
    ("A / R", "accept / reject"),
    ("L", "type a label (Enter relabels)"),
    ("N", f"new segment at the playhead ({ADDED_LENGTH_S:g} s, the label box's label)"),
    ("U / Shift+U", "undo / redo (also Ctrl+Z / Ctrl+Shift+Z)"),
    ("1 … 9", "relabel with that label of the list"),
    (", / .", "player one frame back / forward (also ← / → while the inspector has the focus)"),
)
#: The strips' modes (the radio's choices): frames at STRIP_RATE over ±STRIP_HALF_WINDOW_S, or every frame
#: within EVERY_FRAME_SIDE frames of the boundary (a one-frame nudge moves the boundary frame by one).
RATE_MODE = f"{STRIP_RATE:g} frames/s, ±{STRIP_HALF_WINDOW_S:g} s"
EVERY_FRAME_MODE = f"every frame, ±{EVERY_FRAME_SIDE}"
STRIP_MODES = (RATE_MODE, EVERY_FRAME_MODE)
EDIT_LEGEND = ("Edits row: <span style='color:#2ca02c'>■ accepted</span> · <span style='color:#1f77b4'>■ edited"
               "</span> · <span style='color:#9467bd'>■ added</span> · <span style='color:#9e9e9e'>▨ rejected</span>"
               " · outlined: the inspected segment. Exports under *Prepare downloads*: *.corrected.* files hold "
               "only accepted, edited and added segments.")
#: Frames STRIP_FRAME_PX wide in a strip that scrolls sideways; ui/inspector.js scrolls the boundary's frame to
#: the middle each time strips are drawn.
STRIP_FRAME_PX = 128
STRIP_CSS = f"""
#inspector-strips .utal-strip{{display:flex;gap:3px;align-items:flex-start;margin:2px 0 4px;overflow-x:auto;
                            position:relative}}
#inspector-strips .utal-strip-title{{font-size:12px;font-weight:600;margin:2px 0 0}}
#inspector-strips figure{{flex:0 0 {STRIP_FRAME_PX}px;width:{STRIP_FRAME_PX}px;margin:0;cursor:pointer}}
#inspector-strips figure img{{width:100%;height:auto;display:block;border-bottom:3px solid #ccc}}
#inspector-strips figure.inside img{{border-bottom-color:#2ca02c}}
#inspector-strips figure.boundary img{{outline:3px solid #d62728;outline-offset:-3px}}
#inspector-strips figcaption{{font-size:12px;text-align:center;line-height:1.3;color:#333}}
#inspector-strips figure.boundary figcaption{{color:#d62728;font-weight:700}}
"""


@dataclass(frozen=True)
class Selection:
    """The inspected segment as the page holds it (``gr.State``): its key in the edits layer, the video and the
    segmentation it belongs to, its bounds when it was selected and its number (``#7``). A key is only ever used on
    the video and segmentation it was made for, so no key of a video shown before can edit the one on screen."""

    key: str
    video: str
    base: str
    start: float
    end: float
    tag: str

    @classmethod
    def of(cls, analysis: Analysis, item: EditedSegment) -> "Selection":
        """The selection of ``item``, one of ``analysis``'s edited segments as read from its layer."""
        segment = item.segment
        return cls(item.key, analysis.content_hash, analysis.edit_layer().base, segment.start, segment.end, item.tag)

    def key_in(self, analysis: Analysis | None) -> str | None:
        """The key when the selection belongs to ``analysis`` as it is segmented now, else None."""
        if analysis is None or analysis.content_hash != self.video or analysis.edit_layer().base != self.base:
            return None
        return self.key


def _media_info(analysis: Analysis) -> MediaInfo | None:
    """The probe result kept in the analysis (no second probe of the file), None when it lacks a field."""
    try:
        return MediaInfo(**{f.name: analysis.media[f.name] for f in dataclasses.fields(MediaInfo)})
    except (KeyError, TypeError):
        return None


def _millis(seconds: float) -> str:
    """``seconds`` to the millisecond as JavaScript's ``toFixed(3)`` writes it (ties away from zero, not to
    even), so that a bound ui/inspector.js draws before the server answers reads the same as the answer."""
    return str(Decimal(seconds).quantize(Decimal("0.001"), ROUND_HALF_UP))


def _jpeg_size(data: bytes) -> tuple[int, int] | None:
    """``(width, height)`` from a JPEG's frame header, None when there is none."""
    at = 2
    while at + 9 <= len(data) and data[at] == 0xFF:
        marker, length = data[at + 1], int.from_bytes(data[at + 2:at + 4], "big")
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):  # a start of frame
            return int.from_bytes(data[at + 7:at + 9], "big"), int.from_bytes(data[at + 5:at + 7], "big")
        at += 2 + length
    return None


def _image(path: Path, alt: str) -> str:
    """An ``<img>`` of the JPEG at ``path`` inline (a data URI: no request per frame), with its size, so that
    the page lays the strip out once, not again as each image decodes."""
    data = path.read_bytes()
    size = _jpeg_size(data)
    sized = f" width='{size[0]}' height='{size[1]}'" if size else ""
    return f"<img alt='{alt}'{sized} src='data:image/jpeg;base64,{base64.b64encode(data).decode('ascii')}'>"


def strip_html(frames: list[StripFrame], bound: Literal["start", "end"], boundary: float,
               segment_start: float, segment_end: float, every_frame: bool = False) -> str:
    """One boundary's strip as HTML: each frame with its time, inside or outside the segment, the boundary's own
    frame marked, under a title naming the strip's mode (``every_frame``: every frame, else the sampled rate)."""
    figures = []
    for frame in frames:
        # Inside: on screen during the segment (asked at a time in it, presented before its end); so the frame
        # on screen at the start, presented a little before it, is inside too.
        inside = segment_start <= frame.time and frame.shown < segment_end
        classes = " ".join(name for name, on in (("boundary", frame.at_boundary), ("inside", inside)) if on)
        caption = f"{frame.shown:.3f}" if frame.at_boundary else f"{frame.shown:.2f}"
        figures.append(f"<figure class='{classes}' data-time='{frame.shown:.6f}' title='frame at {frame.shown:.3f} s"
                       f" (asked {frame.time:.3f} s); click to seek'>{_image(frame.path, f'{frame.shown:.3f} s')}"
                       f"<figcaption>{caption}</figcaption>"
                       "</figure>")
    mode = EVERY_FRAME_MODE if every_frame else RATE_MODE
    title = f"{bound} {boundary:.3f} s — {mode}; red: the boundary's own frame, green bar: inside"
    return (f"<div class='utal-strip-title'>{title}</div>"
            f"<div class='utal-strip' data-bound='{bound}' data-mode='{'every' if every_frame else 'rate'}'>"
            f"{''.join(figures)}</div>")


class Inspector:
    """The inspector's handlers (per-session state comes in as arguments, never kept here)."""

    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer
        #: Edits skip the queue, so two may run at once: each changes its layer under this lock.
        self.edit_lock = threading.Lock()

    # --- reading ----------------------------------------------------------------------------------

    @staticmethod
    def layer(analysis: Analysis | None) -> EditLayer:
        """The edits layer of ``analysis``; a plain message without an analysis."""
        if analysis is None:
            raise UTALError("Analyse a video first.")
        return analysis.edit_layer()

    @staticmethod
    def _checked_key(analysis: Analysis, selection: Selection | None) -> str:
        """The inspected segment's key, refused with a plain message when nothing is inspected or the selection
        belongs to another video (or another segmentation of this one) than the one on screen."""
        if selection is None:
            raise UTALError("Select a segment first (a row of the table, a thumbnail, or Previous / Next).")
        key = selection.key_in(analysis)
        if key is None:
            raise UTALError("The inspected segment belongs to what was on screen before; select a segment of this "
                            "video first.")
        analysis.edit_layer().segment(key)
        return key

    def fast_outputs(self, analysis: Analysis, key: str | Selection | None, note: str = "") -> tuple:
        """(the inspected selection, info line, edits row data for ui/inspector.js, corrections table)."""
        layer = self.layer(analysis)
        items = layer.segments()
        key = key.key_in(analysis) if isinstance(key, Selection) else key
        item = next((item for item in items if item.key == key), None)
        if item is None:
            info, selection = "No segment inspected. " + note, None
        else:
            segment = item.segment
            info = (f"Inspecting **{item.tag}** ({item.status}): <span id='inspected-start'>{_millis(segment.start)}"
                    f"</span>–<span id='inspected-end'>{_millis(segment.end)}</span> s, "
                    f"{markdown_text(segment.label or 'unlabelled')}. {note}")
            selection = Selection.of(analysis, item)
        return (selection, info, json.dumps(edits_row(layer, item.key if item is not None else None)),
                self.corrections(layer, items))

    def follow_video(self, analysis: Analysis | None, selection: Selection | None) -> tuple:
        """After the video on screen or its segmentation changed: the inspector of *this* analysis. A selection of
        another video is dropped; one of another segmentation of this video moves to the segment it became (the
        same number where it still overlaps, else the one that overlaps it most, at tIoU >= 0.5), or is dropped.
        Strips and curves follow."""
        if analysis is None:
            return None, "No segment inspected.", json.dumps(edits_row(None)), self.corrections(None), "", None
        key = selection.key_in(analysis) if selection is not None else None
        if selection is not None and key is None and selection.video == analysis.content_hash:
            key = self._nearest(analysis.edit_layer(), selection.start, selection.end, selection.tag)
        fast = self.fast_outputs(analysis, key)
        if fast[0] == selection:
            return (*fast, gr.skip(), gr.skip())
        return (*fast, "", None)

    @staticmethod
    def _nearest(layer: EditLayer, start: float, end: float, tag: str | None = None) -> str | None:
        """The key of the segment numbered ``tag`` when it overlaps ``start``-``end`` (at the tIoU that keeps a
        number, ``NUMBER_MATCH_TIOU``), else of the one that overlaps it most at tIoU >= 0.5, else None."""
        best, overlap = None, 0.5
        for item in layer.segments():
            inter = max(0.0, min(end, item.segment.end) - max(start, item.segment.start))
            union = max(end, item.segment.end) - min(start, item.segment.start)
            tiou = inter / union if union > 0 else 0.0
            if item.tag == tag and tiou >= NUMBER_MATCH_TIOU:
                return item.key
            if tiou >= overlap:
                best, overlap = item.key, tiou
        return best

    @staticmethod
    def corrections(layer: EditLayer | None, items: list[EditedSegment] | None = None) -> list[list[Any]]:
        """One row per reviewed, edited or added segment, in time order (see CORRECTION_COLUMNS); ``items``: the
        layer's segments when the caller has them already."""
        if layer is None:
            return [[""] * len(CORRECTION_COLUMNS)]
        model = {f"r{i}": s for i, s in enumerate(layer.raw)}
        rows = []
        touched = (item for item in (layer.segments() if items is None else items) if item.status != "untouched")
        for item in sorted(touched, key=lambda i: (i.segment.start, i.segment.end)):
            before = model.get(item.key)
            rows.append([item.tag, item.status, round(item.segment.start, 3), round(item.segment.end, 3),
                         item.segment.label or "", round(before.start, 3) if before else "",
                         round(before.end, 3) if before else ""])
        return rows or [[""] * len(CORRECTION_COLUMNS)]

    def views(self, analysis: Analysis | None, selection: Selection | None, mode: str, request: gr.Request):
        """The frame strips (HTML, in the strips' ``mode``: one of STRIP_MODES) of the inspected segment, then its
        zoomed curves as well (two updates); then, in the background, the frames around its bounds are kept in
        memory (for nudges) and the strips of its neighbours are decoded (``AppConfig.prefetch_strips``)."""
        key = selection.key_in(analysis) if selection is not None else None
        segment = self._segment(analysis, key)
        if segment is None or key is None:
            yield "", None
            return
        yield from self._span_views(analysis, segment, key, mode, request)

    def _span_views(self, analysis: Analysis, segment: Segment, key: str | None, mode: str, request: gr.Request):
        """:meth:`views` of ``segment`` (the layer's segment ``key``, or a span of no segment when None); a dataset's
        video without its file has no frames, one without an analysis no curves."""
        if not analysis.video_path:
            yield "<p>No video file for this video: the timeline alone.</p>", None
            return
        layer = analysis.edit_layer()
        session = self.explorer.session(request)
        info, proxy = _media_info(analysis), self._proxy(analysis)
        self.explorer.services.proxies.request(analysis.video_path, proxy, info, analysis.content_hash)
        session.strips.stop_prefetch()
        bounds = [segment.start, segment.end]
        every_frame = mode == EVERY_FRAME_MODE
        if every_frame:
            start_strip, end_strip = session.strips.every_frame_strips(
                analysis.video_path, analysis.content_hash, bounds, analysis.duration, layer.frame_s, info, proxy)
        else:
            start_strip, end_strip = session.strips.strips(analysis.video_path, analysis.content_hash, bounds,
                                                           analysis.duration, info, proxy)
        strips = (f"<div data-key='{html.escape(key or '')}' data-start='{segment.start:.6f}' "
                  f"data-end='{segment.end:.6f}'>"
                  + strip_html(start_strip, "start", segment.start, segment.start, segment.end, every_frame)
                  + strip_html(end_strip, "end", segment.end, segment.start, segment.end, every_frame) + "</div>")
        yield strips, gr.skip()
        model = layer.raw[int(key[1:])] if key is not None and key.startswith("r") else None
        yield gr.skip(), boundary_curves_figure(analysis, segment, model) if isinstance(analysis, Analysis) else None
        count = self.explorer.services.config.prefetch_strips
        session.strips.prefetch_in_background(analysis.video_path, analysis.content_hash, analysis.duration, info,
                                              around=bounds, segments=self.neighbours(layer, key, count) if key else [],
                                              proxy=proxy)

    def inspect_span(self, analysis: Analysis | None, start: float | None, end: float | None, mode: str,
                     request: gr.Request):
        """Open the inspector on the time span ``start``-``end`` (s) of the video on screen: the segment of the
        edits layer that matches it (tIoU >= 0.5, the best) is selected for editing; a span that matches none (a
        prediction of another detector, a ground-truth instance) gets its strips and curves, with nothing to
        edit. Yields the fast outputs, then the strips, then the curves (as :meth:`inspect_position`)."""
        layer = self.layer(analysis)
        start = finite_number(start, "the span's start", minimum=0.0, maximum=layer.duration)
        end = finite_number(end, "the span's end", minimum=start, maximum=layer.duration)
        key = self._nearest(layer, start, end)
        note = "" if key is not None else f"No segment of this analysis matches {start:.3f}–{end:.3f} s; its frames:"
        fast, unchanged = self.fast_outputs(analysis, key, note), (gr.skip(),) * 4
        segment = layer.segment(key) if key is not None else Segment(start, end, 0.0)
        for strips, curves in self._span_views(analysis, segment, key, mode, request):
            yield (*fast, strips, curves)
            fast = unchanged

    @staticmethod
    def neighbours(layer: EditLayer, key: str, count: int) -> list[tuple[float, float]]:
        """``(start, end)`` of up to ``count`` segments on each side of ``key`` in time order, nearest first
        (the next one before the previous one), rejected ones left out."""
        ordered = sorted((item for item in layer.segments() if item.status != "rejected" or item.key == key),
                         key=lambda item: (item.segment.start, item.segment.end))
        position = next((i for i, item in enumerate(ordered) if item.key == key), None)
        if position is None:
            return []
        picked = [ordered[i] for step in range(1, count + 1) for i in (position + step, position - step)
                  if 0 <= i < len(ordered)]
        return [(item.segment.start, item.segment.end) for item in picked]

    # --- selection ----------------------------------------------------------------------------------

    def select_position(self, analysis: Analysis | None, cluster: int | None, position: int | None) -> tuple:
        """Inspect the segment the explorer just selected (its table position among the visible segments)."""
        if analysis is None or position is None:
            return (gr.skip(),) * 4
        shown = visible_segments(analysis, cluster)
        index, _ = shown[min(max(int(position), 0), len(shown) - 1)]
        return self.fast_outputs(analysis, f"r{index}")

    def inspect_position(self, analysis: Analysis | None, cluster: int | None, position: int | None, mode: str,
                         request: gr.Request):
        """:meth:`select_position`, then :meth:`views` of that segment, in one event: the fast outputs first
        (with the strips when they are cached: one update less), then the strips, then the curves."""
        fast = self.select_position(analysis, cluster, position)
        if analysis is None or position is None:
            yield (*fast, gr.skip(), gr.skip())
            return
        selection, unchanged = fast[0], (gr.skip(),) * len(fast)
        if not self._strips_cached(analysis, selection, mode, request):
            yield (*fast, gr.skip(), gr.skip())
            fast = unchanged
        for strips, curves in self.views(analysis, selection, mode, request):
            yield (*fast, strips, curves)
            fast = unchanged

    @staticmethod
    def _segment(analysis: Analysis | None, key: str | None) -> Segment | None:
        """The current state of the inspected segment, None when there is none."""
        if analysis is None or key is None or analysis.edits is None:
            return None
        try:
            return analysis.edits.segment(key)
        except UTALError:
            return None

    def _strips_cached(self, analysis: Analysis, selection: Selection | None, mode: str, request: gr.Request) -> bool:
        segment = self._segment(analysis, selection.key_in(analysis) if selection is not None else None)
        if segment is None or mode == EVERY_FRAME_MODE:
            return False
        return self.explorer.session(request).strips.cached(analysis.content_hash, [segment.start, segment.end],
                                                            analysis.duration, self._proxy(analysis))

    def _proxy(self, analysis: Analysis) -> ProxyVideo | None:
        """The analysed video's proxy in the pipeline's cache (the strips' frames come from it when it is written)."""
        return self.explorer.services.pipeline.extractor.proxy(analysis.content_hash)

    def _with_seek(self, analysis: Analysis | None, cluster: int | None, seek: tuple, mode: str, request: gr.Request):
        """The explorer's seek outputs (position first) with :meth:`inspect_position`'s outputs of that position."""
        for number, inspected in enumerate(self.inspect_position(analysis, cluster, seek[0], mode, request)):
            yield (*(seek if number == 0 else (gr.skip(),) * len(seek)), *inspected)

    def inspect_row(self, analysis: Analysis | None, cluster: int | None, mode: str, event: gr.SelectData,
                    request: gr.Request):
        """A click on a segment table row: seek there and inspect it (one event: seek, strips, curves)."""
        yield from self._with_seek(analysis, cluster, self.explorer.select_row(analysis, cluster, event), mode, request)

    def inspect_thumbnail(self, analysis: Analysis | None, cluster: int | None, positions: list[int], mode: str,
                          event: gr.SelectData, request: gr.Request):
        """A click on a segment thumbnail: seek there and inspect it."""
        seek = self.explorer.select_thumbnail(analysis, cluster, positions, event)
        yield from self._with_seek(analysis, cluster, seek, mode, request)

    def inspect_step(self, step: int) -> Callable:
        """Previous / Next segment: seek there and inspect it."""
        def step_handler(analysis: Analysis | None, cluster: int | None, position: int | None, mode: str,
                         request: gr.Request):
            seek = self.explorer.step_segment(step)(analysis, cluster, position)
            yield from self._with_seek(analysis, cluster, seek, mode, request)

        return step_handler

    def select_correction(self, analysis: Analysis | None, event: gr.SelectData) -> tuple:
        """Inspect the segment of a clicked corrections row."""
        row = event.row_value if event.row_value is not None else []
        key = analysis.edit_layer().key_of(str(row[0])) if analysis is not None and row and row[0] else None
        return self.fast_outputs(analysis, key)

    # --- editing ------------------------------------------------------------------------------------

    def edited(self, analysis: Analysis, cache: dict, key: str | Selection | None, note: str,
                request: gr.Request) -> tuple:
        """After an edit of ``analysis``'s layer: kept in the session's cache, saved for the visitor, and the fast
        outputs with ``key`` inspected and ``note`` on the info line."""
        cache[analysis.content_hash] = analysis  # the session's cache keeps the layer for the next Analyze
        with self.edit_lock:  # saved at once in the visitor's own store: a reload or a restart brings it back
            self.explorer.session(request).save_edits(analysis)
        return self.fast_outputs(analysis, key, note)

    def nudge(self, buttons: dict[str, tuple[Literal["start", "end"], int, str]]) -> Callable:
        """One handler for every nudge button (one event for them all: each event of the page costs its first
        visitor about 2 ms); ``buttons`` maps a button's ``elem_id`` to the bound it moves and by how many units."""
        def nudge_handler(analysis: Analysis | None, cache: dict, selection: Selection | None, event: gr.EventData,
                          request: gr.Request):
            bound, steps, unit = buttons[event.target.elem_id]
            layer = self.layer(analysis)
            key = self._checked_key(analysis, selection)
            with self.edit_lock:
                operation = layer.nudge(key, bound, steps, unit)
            moved = operation.start if bound == "start" else operation.end
            return self.edited(analysis, cache, key, f"{bound.capitalize()} moved to {moved:.3f} s.", request)

        return nudge_handler

    def set_bound(self, bound: Literal["start", "end"]) -> Callable:
        """A handler setting the inspected segment's ``bound`` to the playhead."""
        def set_handler(analysis: Analysis | None, cache: dict, selection: Selection | None, playhead: float | None,
                        request: gr.Request):
            layer = self.layer(analysis)
            key = self._checked_key(analysis, selection)
            seconds = round(float(playhead or 0.0), 6)
            with self.edit_lock:
                (layer.set_start if bound == "start" else layer.set_end)(key, seconds)
            return self.edited(analysis, cache, key, f"{bound.capitalize()} set to the playhead, {seconds:.3f} s.",
                                request)

        return set_handler

    def decide(self, verdict: Literal["accept", "reject"]) -> Callable:
        def decide_handler(analysis: Analysis | None, cache: dict, selection: Selection | None, request: gr.Request):
            layer = self.layer(analysis)
            key = self._checked_key(analysis, selection)
            with self.edit_lock:
                (layer.accept if verdict == "accept" else layer.reject)(key)
            return self.edited(analysis, cache, key, f"{'Accepted' if verdict == 'accept' else 'Rejected'}.", request)

        return decide_handler

    def relabel(self, analysis: Analysis | None, cache: dict, selection: Selection | None, label: str,
                request: gr.Request):
        layer = self.layer(analysis)
        key = self._checked_key(analysis, selection)
        with self.edit_lock:
            layer.relabel(key, label)
        return self.edited(analysis, cache, key, f"Relabelled “{markdown_text(layer.segment(key).label)}”.", request)

    def add(self, analysis: Analysis | None, cache: dict, playhead: float | None, label: str, request: gr.Request):
        """A new segment from the playhead, ADDED_LENGTH_S long (shorter at the video's end); it is inspected."""
        layer = self.layer(analysis)
        start = round(float(playhead or 0.0), 6)
        with self.edit_lock:
            operation = layer.add(start, round(min(start + ADDED_LENGTH_S, layer.duration), 6), label or "action")
        tag = segment_tag(layer.segment(operation.key))
        return self.edited(analysis, cache, operation.key, f"Added {tag} at the playhead.", request)

    def undo(self, analysis: Analysis | None, cache: dict, selection: Selection | None, request: gr.Request,
             redo: bool = False):
        layer = self.layer(analysis)
        with self.edit_lock:
            # the segment's number as it was before an undo (an undone add has none after) or is after a redo
            numbers = {item.key: item.tag for item in layer.segments()}
            operation = layer.redo() if redo else layer.undo()
            if operation is not None:
                numbers.update((item.key, item.tag) for item in layer.segments())
        if operation is None:
            return self.edited(analysis, cache, selection, f"Nothing to {'redo' if redo else 'undo'}.", request)
        verb = "Redone" if redo else "Undone"
        return self.edited(analysis, cache, operation.key,
                           f"{verb}: {operation.kind.replace('_', ' ')} {numbers[operation.key]}.", request)

    def redo(self, analysis: Analysis | None, cache: dict, selection: Selection | None, request: gr.Request):
        return self.undo(analysis, cache, selection, request, redo=True)
