"""Other detectors' results on the video on screen: a prediction lane each on the timeline and, with ground
truth, the error analysis of ``python -m utal_core diagnose`` (the same function) with a clickable list of their
errors.

The detectors are the uploaded results file's on an analysed video, or, on a dataset's video opened from the
Dataset tab (:class:`~utal_core.dataset.video.DatasetVideo`), every results file of that dataset. A results file is
ActivityNet's (``{"results": {video: [{"segment", "score", "label"}]}}``, as ActionFormer, OpenTAD and the like
write it); the analysed video's entry is found by its id (the file stem, with or without ActivityNet's ``v_``
prefix).
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import gradio as gr

from utal_core.dataset.video import DatasetVideo
from utal_core.diagnose import (
    OUTCOME_COLOURS, OUTCOMES, TRUE_POSITIVE, Diagnosis, diagnose_detection, histogram_svg,
)
from utal_core.evaluate import GroundTruth, Prediction, load_predictions
from utal_core.pipeline import Analysis
from utal_core.viz import BandRow

from .messages import markdown_text, warn

#: The row's colour when there is no ground truth to judge the predictions against.
DETECTOR_COLOUR = "#6a3d9a"
#: The breakdown's columns for one detector; with more, one column per detector ("count · share").
BREAKDOWN_COLUMNS = ("outcome", "count", "share")
ERROR_COLUMNS = ("error", "start (s)", "end (s)", "detector", "label", "score", "ground truth", "tIoU",
                 "start offset (s)", "end offset (s)")
MISSED = "missed ground truth"
#: After a click on an error: the timeline shows the error's range (kept as the user's zoom by ui/instrument.js),
#: then the player seeks (``SEEK_JS``, the player's own).
FOCUS_ERROR_JS = """(time, view) => {
  const plot = document.querySelector('#timeline .js-plotly-plot');
  if (plot && window.Plotly && view) window.Plotly.relayout(plot, {'xaxis.range': JSON.parse(view)});
  (SEEK_JS)(time);
}"""


@dataclass(frozen=True)
class DetectorResults:
    """An uploaded results file: its name and its predictions by video id."""

    name: str
    predictions: dict[str, list[Prediction]]

    def for_video(self, video_id: str) -> list[Prediction] | None:
        """The predictions on ``video_id`` (ids compared with and without the ``v_`` prefix), None if absent."""
        bare = video_id.removeprefix("v_")
        return next((list(items) for key, items in self.predictions.items() if key.removeprefix("v_") == bare), None)


@dataclass(frozen=True)
class DetectorRow:
    """The detector's predictions on one analysed video, each with its outcome when there is ground truth."""

    content_hash: str
    name: str
    predictions: list[Prediction]
    outcomes: list[str] | None

    def band_row(self) -> BandRow:
        """The timeline's lane: one bar per prediction (overlapping ones stacked), coloured by its outcome, with
        the outcomes in the legend, when judged."""
        outcomes = self.outcomes or [None] * len(self.predictions)
        hover = [f"{html.escape(self.name)}: {html.escape(p.label)} · score {p.score:.2f}<br>{p.start:.2f}–{p.end:.2f} s"
                 + (f"<br>{outcome}" if outcome else "") for p, outcome in zip(self.predictions, outcomes)]
        return BandRow(f"detector: {self.name}", [(p.start, p.end) for p in self.predictions], hover, DETECTOR_COLOUR,
                       {"detector": self.name}, self.outcomes, OUTCOME_COLOURS if self.outcomes else None)


def load_detector(upload: Any) -> DetectorResults | None:
    """The results file of a gr.File value (None when cleared); a bad file is one plain UTALError."""
    if upload is None:
        return None
    path = Path(str(getattr(upload, "name", upload)))
    return DetectorResults(path.name, load_predictions(path))


def detector_rows(rows: list[DetectorRow] | None, video: Analysis | DatasetVideo | None) -> list[BandRow]:
    """The timeline's extra lanes: the detectors' rows that belong to the video on screen."""
    if not rows or video is None:
        return []
    return [row.band_row() for row in rows if row.content_hash == video.content_hash]


@dataclass(frozen=True)
class ErrorSpan:
    """A listed error on the timeline: the prediction's (or the missed ground truth's) span, and the ground
    truth it was judged against when there is one."""

    start: float
    end: float
    gt_start: float | None = None
    gt_end: float | None = None

    def view(self, margin: float = 1.0) -> tuple[float, float]:
        """The time range that shows the prediction and its ground truth side by side, with ``margin`` around."""
        low = min(self.start, self.gt_start if self.gt_start is not None else self.start)
        high = max(self.end, self.gt_end if self.gt_end is not None else self.end)
        return max(low - margin, 0.0), high + margin


def _offset(value: float | None) -> float | str:
    return "" if value is None else round(value, 2)


def _error_rows(diagnosis: Diagnosis, detector: str) -> list[tuple[list, ErrorSpan]]:
    """The error list of one detector (false positives by type and missed ground truth) with the offsets of each
    prediction from its ground truth (prediction minus ground truth, as ``diagnose`` reports them), each row with
    its span."""
    listed: list[tuple[list, ErrorSpan]] = []
    for item in diagnosis.predictions:
        if item.outcome != TRUE_POSITIVE:
            matched = f"{item.gt_label} {item.gt_start:.2f}–{item.gt_end:.2f}" if item.gt_start is not None else ""
            listed.append(([item.outcome, round(item.start, 2), round(item.end, 2), detector, item.label,
                            round(item.score, 3), matched, round(item.tiou, 3), _offset(item.start_offset),
                            _offset(item.end_offset)], ErrorSpan(item.start, item.end, item.gt_start, item.gt_end)))
    for _, _, gt in diagnosis.missed:
        listed.append(([MISSED, round(gt.start, 2), round(gt.end, 2), detector, gt.label, "", "", "", "", ""],
                       ErrorSpan(gt.start, gt.end, gt.start, gt.end)))
    return listed


def offset_histograms(diagnosis: Diagnosis, detector: str = "") -> str:
    """The start and end offset histograms of the true positives and localization errors, as ``diagnose``'s
    HTML report draws them (inline SVG), under the ``detector``'s name when given."""
    title = f"<div style='width:100%;font-weight:600'>{html.escape(detector)}</div>" if detector else ""
    return (f"<div class='offset-histograms' style='display:flex;gap:12px;flex-wrap:wrap'>{title}"
            f"{histogram_svg('start offset (prediction − ground truth)', diagnosis.start_offsets)}"
            f"{histogram_svg('end offset (prediction − ground truth)', diagnosis.end_offsets)}</div>")


def shown_detectors(results: DetectorResults | None,
                    video: Analysis | DatasetVideo) -> tuple[list[tuple[str, list[Prediction]]], str]:
    """The detectors shown with the video on screen, each its name and predictions on it: a dataset's video has its
    dataset's; an analysed one the uploaded file's entry for it (none, with a line saying so, when it has none)."""
    if isinstance(video, DatasetVideo):
        ignored = f" (the uploaded {markdown_text(results.name)} is for analysed videos)" if results is not None else ""
        return video.detectors, f"The dataset's results files{ignored}:"
    if results is None:
        return [], ""
    predictions = results.for_video(video.video_id)
    if predictions is None:
        videos = ", ".join(list(results.predictions)[:5]) or "none"
        return [], (f"{markdown_text(results.name)} has no results for {markdown_text(video.video_id)} (it has: "
                    f"{markdown_text(videos)}), so no second lane is drawn.")
    return [(results.name, predictions)], ""


def show_detector(results: DetectorResults | None, video: Analysis | DatasetVideo | None,
                  truth: list[GroundTruth] | None, tiou: float, class_agnostic: bool):
    """The detectors' lanes for the video on screen (:func:`shown_detectors`), a line saying what each holds, the
    outcome breakdown, the list of errors (false positives by type and missed ground truth, every detector's in
    time order; with ground truth only) with their offsets, the span of each listed error (what a click on it
    shows), and the offset histograms."""
    hidden = gr.Dataframe(visible=False)
    if video is None:
        return [], "", hidden, hidden, [], ""
    sources, note = shown_detectors(results, video)
    rows, lines, counted, histograms = [], [note] if note else [], [], []
    listed: list[tuple[list, ErrorSpan]] = []
    for number, (name, predictions) in enumerate(sources, 1):
        line = (f"**{f'{number}. ' if len(sources) > 1 else ''}{markdown_text(name)}**: {len(predictions)} prediction(s) on {markdown_text(video.video_id)}, "
                "drawn in its own lane of the timeline.")
        beyond = sum(p.end > video.duration + 1e-3 for p in predictions)
        if beyond:
            outside = (f"{beyond} of them end after the video does ({video.duration:.1f} s): they are drawn and "
                       "judged as they are; is it the right results file?")
            warn(f"{name}: {outside}")
            line += f" {outside}"
        if truth is None:
            rows.append(DetectorRow(video.content_hash, name, predictions, None))
            lines.append(line + " Add a ground-truth file for its error analysis.")
            continue
        diagnosis = diagnose_detection({video.video_id: truth}, {video.video_id: predictions}, float(tiou),
                                       class_agnostic=bool(class_agnostic))
        counts = diagnosis.counts
        total = max(len(predictions), 1)
        counted.append([[counts[outcome], f"{100 * counts[outcome] / total:.0f}%"] for outcome in OUTCOMES]
                       + [[len(diagnosis.missed), f"of {len(truth)} ground truth"]])
        errors = _error_rows(diagnosis, name)
        listed += errors
        rows.append(DetectorRow(video.content_hash, name, predictions, [item.outcome for item in diagnosis.predictions]))
        lines.append(line + f" At tIoU {float(tiou):g}: {counts[TRUE_POSITIVE]} true positive(s), {len(errors)} "
                            "error(s) listed below.")
        histograms.append(offset_histograms(diagnosis, name if len(sources) > 1 else ""))
    if truth is None or not sources:
        return rows, "  \n".join(lines), hidden, hidden, [], ""
    listed.sort(key=lambda pair: pair[1].start)
    outcomes = [*OUTCOMES, MISSED]
    if len(counted) == 1:
        headers, breakdown = list(BREAKDOWN_COLUMNS), [[outcome, *counted[0][k]] for k, outcome in enumerate(outcomes)]
    else:  # one column per detector (numbered as the lines above), its count and share in one cell
        headers = ["outcome", *(f"detector {number}" for number in range(1, len(counted) + 1))]
        breakdown = [[outcome, *(f"{each[k][0]} · {each[k][1]}" for each in counted)] for k, outcome in enumerate(outcomes)]
    return (rows, "  \n".join(lines), gr.Dataframe(value=breakdown, headers=headers, visible=True),
            gr.Dataframe(value=[row for row, _ in listed], visible=True), [span for _, span in listed],
            f"<div id='offset-histograms'>{''.join(histograms)}</div>")


def error_focus(spans: list[ErrorSpan], event: gr.SelectData) -> tuple[float, str, float, float]:
    """The clicked error: its start (where the player seeks), the timeline's range that shows it beside its
    ground truth (JSON ``[from, to]``), and its span again for the inspector."""
    span = spans[int(event.index[0])]
    return span.start, json.dumps(span.view()), span.start, span.end


class DetectorPanel:
    """The page's section for other detectors' results (the uploaded file's, or a dataset video's own): its
    components and their events.

    ``redraw`` chains, after an event that changes the video on screen or its ground truth, the detectors' rows
    and error analysis and then ``render`` (the timeline), so that both follow the video on screen.
    """

    def __init__(self, handle: Callable[[Callable], Callable]) -> None:
        self.handle = handle
        gr.Markdown("### Another detector's results (optional)")
        with gr.Row():
            self.upload = gr.File(label="Results JSON in ActivityNet format (ActionFormer, OpenTAD, ...)",
                                  file_types=[".json"], elem_id="detector-upload", scale=2)
            with gr.Column(scale=1):
                self.tiou = gr.Slider(0.1, 0.95, value=0.5, step=0.05, label="tIoU of a true positive",
                                      elem_id="diagnosis-tiou")
                self.class_agnostic = gr.Checkbox(False, label="Class-agnostic (ignore the labels)",
                                                  elem_id="diagnosis-agnostic")
        self.info = gr.Markdown(elem_id="detector-info")
        with gr.Row():
            self.breakdown = gr.Dataframe(headers=list(BREAKDOWN_COLUMNS), visible=False, interactive=False,
                                          label="Outcome of each prediction (DETAD)", elem_id="diagnosis-table",
                                          scale=1)
            self.errors = gr.Dataframe(headers=list(ERROR_COLUMNS), visible=False, interactive=False,
                                       label="Errors (click one to see it on the timeline, beside its ground "
                                             "truth, and in the player)", elem_id="errors-table", scale=2)
        self.histograms = gr.HTML(elem_id="diagnosis-offsets", padding=False)
        self.results = gr.State(None)
        self.rows = gr.State([])
        self.error_spans = gr.State([])
        self.focus = gr.Textbox(visible=False)
        self.error_start = gr.Number(visible=False)
        self.error_end = gr.Number(visible=False)

    def wire(self, analysis: gr.State, truth: gr.State, render: Callable, render_inputs: list,
             view_outputs: list, seek_time: gr.Number, seek_js: str, open_span: Callable, heavy_limit: int = 1) -> None:
        """The section's own events: a new file or setting redraws; a click on an error zooms the timeline onto it
        and its ground truth, seeks the player (``seek_js``, given the time) to its start and opens the inspector on
        it (``open_span(event, start, end)``: ``ui.inspector_view.InspectorView.open_span``). Reading
        a results file and judging it again at another setting take the analyses' slots (``heavy_limit`` at a
        time, with the analyses), so one visitor's million predictions cannot hold the others' analyses up."""
        self.inputs = [self.results, analysis, truth, self.tiou, self.class_agnostic]
        self.outputs = [self.rows, self.info, self.breakdown, self.errors, self.error_spans, self.histograms]
        self.render, self.render_inputs, self.view_outputs = render, render_inputs, view_outputs
        heavy = {"concurrency_id": "heavy", "concurrency_limit": heavy_limit}
        self.redraw(self.upload.change(self.handle(load_detector), self.upload, self.results, **heavy))
        gr.on([self.tiou.release, self.class_agnostic.input], self.handle(show_detector), self.inputs, self.outputs,
              show_progress="hidden", **heavy).success(render, render_inputs, view_outputs, show_progress="hidden")
        focused = self.errors.select(self.handle(error_focus), self.error_spans,
                                     [seek_time, self.focus, self.error_start, self.error_end])
        focused.success(None, [seek_time, self.focus], None, js=FOCUS_ERROR_JS.replace("SEEK_JS", seek_js))
        open_span(focused, self.error_start, self.error_end)

    def redraw(self, event: Any, drawn_without_rows: bool = False) -> Any:
        """``event`` followed by the detector's row and error analysis, then the timeline. When ``event`` drew the
        timeline itself without detectors' lanes (``drawn_without_rows``, an analysis), the timeline is drawn again
        only if the video has some: a first visit's page does not plot the same figure twice."""
        render = self.render
        if drawn_without_rows:
            def render(*inputs: Any) -> tuple:
                return self.render(*inputs) if inputs[-1] else (gr.skip(),) * len(self.view_outputs)
        return event.success(self.handle(show_detector), self.inputs, self.outputs, show_progress="hidden").success(
            render, self.render_inputs, self.view_outputs, show_progress="hidden")
