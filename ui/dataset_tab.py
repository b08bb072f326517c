"""The Dataset tab: a benchmark's ground truth and one or two detectors' results, from the summary down to one video.

Loading goes through :func:`utal_core.dataset.load_dataset` (cached on disk by the files' bytes). The table of
videos is a client-side table: the load sends the whole table once (:func:`table_payload`, column arrays), and
``ui/dataset_table.js`` sorts, filters and pages it in the page with no request, drawing only the visible page.
A click on a row sends the page's current order with it (the page is the one owner of the order) and opens that
video in the tab's own single-video view; the :class:`Cursor` (that order and the position in it) is the one owner
of the open video: every part of the view (title, timeline, errors, ground truth, player, strips) is drawn from it
in one answer, so nothing of the previous video stays on screen. Next / previous walk the order (keys J / K), B
goes back to the table, whose sort, filter and page the page kept.

Corrections of the ground truth are an :class:`~utal_core.edits.EditLayer` per video over its instances, kept in
the page and saved at once in the visitor's own store (the Analyze tab's, ``ui.sessions``) under a key made of the
ground-truth file's sha256 and the video id; the export writes the whole corrected dataset as one ActivityNet
ground-truth file, which ``python -m utal_core eval`` reads.

A videos folder is a server-side path: a visitor may only name a folder inside the app's data folder
(:data:`DATASET_ROOT_ENV`); without that setting the field is off.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Literal

import gradio as gr
import numpy as np

from utal_core.dataset import DatasetView, load_dataset
from utal_core.dataset.load import file_digest
from utal_core.dataset.figures import class_ap_figure, outcomes_figure, sensitivity_figure, video_timeline
from utal_core.dataset.report import summary_tables, video_columns
from utal_core.dataset.view import COMPARE_DECIMALS, TEXT_COLUMNS
from utal_core.diagnose import TRUE_POSITIVE
from utal_core.edits import EditLayer
from utal_core.errors import UTALError
from utal_core.export import GT_SUBSET, activitynet_ground_truth, atomic_write_text
from utal_core.identity import content_hash
from utal_core.media import probe
from utal_core.types import Segment

from .explorer import Explorer
from .inspector import STRIP_CSS, strip_html
from .messages import markdown_text
from .sessions import Session, is_inside

#: The folder under which a visitor may name a videos folder (unset: no videos folder can be named).
DATASET_ROOT_ENV = "UTAL_DATASET_ROOT"
PAGE_SIZE = 20
#: Most results files compared at once.
MAX_RESULTS = 2
ERROR_COLUMNS = ["detector", "outcome", "start (s)", "end (s)", "label", "score", "ground truth", "tIoU"]
TRUTH_COLUMNS = ["key", "status", "start (s)", "end (s)", "label", "missed by"]
#: Nudge of a ground-truth bound by a button (s).
NUDGE_S = 0.1
#: The chosen row and the page's order of the table, for the server (the hidden open button's first, in-page step).
CHOSEN_ROW_JS = "() => window.utalDatasetTable.chosen()"
#: The video table's page: sorting, filtering, paging and drawing (see the module docstring).
TABLE_JS = Path(__file__).with_name("dataset_table.js").read_text(encoding="utf-8")
#: What the table's HTML holds; ui/dataset_table.js draws the line and the rows into it.
TABLE_SHELL = ("<p id='dataset-page-info'></p><div class='utal-scroll'><table class='utal-videos'><thead></thead>"
               "<tbody></tbody></table></div>")
#: The video table's look, and the hidden button that a click on a row presses.
TABLE_CSS = """
#dataset-open{display:none}
#dataset-table .utal-scroll{max-height:600px;overflow:auto}
#dataset-page-info{margin:4px 0}
#dataset-table table.utal-videos{border-collapse:collapse;font-size:13px;width:100%}
#dataset-table .utal-videos th{position:sticky;top:0;background:var(--background-fill-secondary);text-align:left}
#dataset-table .utal-videos th,#dataset-table .utal-videos td{padding:3px 6px;border-bottom:1px solid #ddd;white-space:nowrap}
#dataset-table .utal-videos tbody tr{cursor:pointer}
#dataset-table .utal-videos tbody tr:hover{background:#eef4fb}
"""
KEYS_HELP = "Keys (not while typing): **J** next video · **K** previous video · **B** back to the table"
#: Next / previous video and back to the table by key, while the video view is on screen; a click on a row.
KEYS_JS = """
() => {
  const KEYS = {KeyJ: 'dataset-next', KeyK: 'dataset-previous', KeyB: 'dataset-back'};
  document.addEventListener('click', (event) => {
    const row = event.target.closest && event.target.closest('#dataset-table tr[data-row]');
    if (!row) return;
    window.utalDatasetRow = row.dataset.row;
    document.getElementById('dataset-open').click();
  });
  // While the tab is shown its keys are its own: they stop at the body, so the Analyze tab's shortcuts (listening
  // on the document, ui/inspector.js) never act on its inspector from here.
  document.body.addEventListener('keydown', (event) => {
    const target = event.target;
    const tab = document.getElementById('dataset-load');
    if (!tab || tab.offsetParent === null) return;
    if (target && (target.isContentEditable || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName))) return;
    event.stopPropagation();
    if (event.ctrlKey || event.metaKey || event.altKey || !KEYS[event.code]) return;
    const panel = document.getElementById('dataset-video-panel');
    const button = document.getElementById(KEYS[event.code]);
    if (!panel || panel.offsetParent === null || !button) return;
    event.preventDefault();
    button.click();
  });
}
"""


def dataset_root() -> Path | None:
    """The folder a videos folder must lie in (:data:`DATASET_ROOT_ENV`), None when unset."""
    value = os.environ.get(DATASET_ROOT_ENV, "").strip()
    return Path(value).resolve() if value else None


def videos_folder(text: str) -> Path | None:
    """The videos folder a visitor named (relative to the data folder, or absolute inside it); None when empty."""
    text = (text or "").strip()
    if not text:
        return None
    root = dataset_root()
    if root is None:
        raise UTALError(f"This server has no data folder for videos ({DATASET_ROOT_ENV} is not set); "
                        "leave the videos folder empty.")
    folder = (root / text).resolve()
    if not is_inside(folder, root) or not folder.is_dir():
        raise UTALError(f"{text} is not a folder inside the server's data folder.")
    return folder


def _file_path(upload: Any) -> Path:
    return Path(str(getattr(upload, "name", upload)))


@dataclass
class LoadedDataset:
    """A loaded view and the sha256 of its ground-truth file (the key of its saved corrections)."""

    view: DatasetView
    truth_digest: str

    def edits_key(self, video: str) -> str:
        """The visitor's store key of ``video``'s corrections (hex, as the store wants)."""
        return hashlib.sha256(f"dataset\0{self.truth_digest}\0{video}".encode()).hexdigest()

    def duration(self, video: str) -> float:
        """The video's duration from the ground truth, else the end of its last instance (at least 1 s)."""
        duration = self.view.durations.get(video, float("nan"))
        if np.isfinite(duration) and duration > 0:
            return float(duration)
        return max([g.end for g in self.view.ground_truth[video]] + [1.0])

    def raw_segments(self, video: str) -> list[Segment]:
        return [Segment(g.start, g.end, 1.0, label=g.label) for g in self.view.ground_truth[video]]


@dataclass(frozen=True)
class Cursor:
    """The open video: the table's row order when it was opened (``order``: row indices) and the position in it."""

    order: tuple[int, ...]
    position: int

    def video(self, view: DatasetView) -> str:
        return view.videos[self.order[self.position]]

    def moved(self, step: int) -> "Cursor":
        return Cursor(self.order, min(max(self.position + step, 0), len(self.order) - 1))


def table_payload(view: DatasetView) -> str:
    """The whole video table for the page, as compact JSON: every sortable column as one array (numbers rounded to
    the decimals DatasetView compares them at, so the page sorts and filters the same numbers; NaN as null), each
    column's kind, the columns drawn, the classes and each video's classes (indices), and the page size."""
    columns = [c for c in video_columns(view) if c != "has_video"] + ["has_video"]
    data, kinds = {}, {}
    for column in columns:
        values = view.table[column]
        if column in TEXT_COLUMNS:
            kinds[column], data[column] = "text", [str(v) for v in values]
        elif values.dtype == bool:
            kinds[column], data[column] = "bool", [int(v) for v in values]
        elif np.issubdtype(values.dtype, np.integer):
            kinds[column], data[column] = "int", values.tolist()
        else:
            kinds[column] = "float"
            data[column] = [None if np.isnan(v) else v for v in np.round(values.astype(np.float64), COMPARE_DECIMALS).tolist()]
    labels = sorted({g.label for items in view.ground_truth.values() for g in items})
    index = {label: k for k, label in enumerate(labels)}
    video_labels = [sorted({index[g.label] for g in view.ground_truth[video]}) for video in view.videos]
    return json.dumps({"columns": data, "kinds": kinds, "shown": video_columns(view, compact=True), "labels": labels,
                       "video_labels": video_labels, "page_size": PAGE_SIZE}, separators=(",", ":"), allow_nan=False)


def chosen_cursor(view: DatasetView, chosen: str) -> Cursor:
    """The cursor of a click on a row: ``chosen`` is the page's ``{"row": index, "order": [indices]}`` (the table's
    order as the page sorted and filtered it), checked to be distinct rows of the table holding the clicked one."""
    try:
        value = json.loads(chosen or "")
        row, order = value["row"], value["order"]
    except (ValueError, TypeError, KeyError):
        raise UTALError("The table's choice did not come through; click the row again.") from None
    count = len(view.videos)
    if not (isinstance(order, list) and all(type(i) is int and 0 <= i < count for i in order)
            and len(set(order)) == len(order) and type(row) is int and row in order):
        raise UTALError("The table's choice did not come through; click the row again.")
    return Cursor(tuple(order), order.index(row))


class DatasetTab:
    """The tab's handlers (per-visitor state comes in as arguments: the loaded set, the cursor, the corrections)."""

    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer
        #: A video file's length and content hash (the strips' cache key), probed and hashed once.
        self._files: dict[Path, tuple[float, str]] = {}

    def session(self, request: gr.Request) -> Session:
        return self.explorer.session(request)

    # --- loading and the summary ----------------------------------------------------------------------

    def load(self, truth_upload: Any, results_uploads: Any, subset: str, folder_text: str):
        """Read the files and answer the summary, the table's choices and the whole table for the page."""
        if truth_upload is None:
            raise UTALError("Give a ground-truth file (ActivityNet or THUMOS14 JSON).")
        results = [_file_path(item) for item in (results_uploads or [])]
        if not 1 <= len(results) <= MAX_RESULTS:
            raise UTALError(f"Give one or two results files (ActivityNet results JSON), not {len(results)}.")
        truth_path = _file_path(truth_upload)
        view = load_dataset(truth_path, results, subset=(subset or "").strip() or None,
                            videos=videos_folder(folder_text),
                            cache_dir=self.explorer.services.config.work_dir / "datasets")
        loaded = LoadedDataset(view, file_digest(truth_path))
        summary = view.summary()
        names = ", ".join(markdown_text(d.name) for d in view.detectors)
        info = (f"**{summary['videos']} videos**, {summary['instances']} ground-truth instances, {summary['classes']} "
                f"classes; detectors: {names}." + (f" {summary['videos_with_files']} video file(s) matched."
                                                    if view.video_files else " No video files: timelines only."))
        _, header, rows = summary_tables(view)[0]
        sortable = [c for c in video_columns(view) if c != "has_video"]
        numeric = [c for c in sortable if c not in TEXT_COLUMNS]
        labels = sorted({g.label for items in view.ground_truth.values() for g in items})
        return (loaded, {}, info, gr.Dataframe(value=rows, headers=header), outcomes_figure(view),
                sensitivity_figure(view), class_ap_figure(view), gr.Dropdown(choices=sortable, value="ap"),
                gr.Dropdown(choices=labels, value=None), gr.Dropdown(choices=numeric, value=None),
                gr.Column(visible=True), gr.Column(visible=False), None, table_payload(view))

    # --- one video ------------------------------------------------------------------------------------

    def open_row(self, loaded: LoadedDataset | None, corrections: dict, chosen: str, request: gr.Request):
        """A click on a table row (``chosen``: the row and the page's order, see :func:`chosen_cursor`): that video,
        in the table's order as the page sorted and filtered it."""
        if loaded is None:
            raise UTALError("Load a dataset first.")
        cursor = chosen_cursor(loaded.view, chosen)
        return (cursor, gr.Column(visible=False), gr.Column(visible=True),
                *self.show(loaded, cursor, corrections, None, request))

    def step(self, step: int) -> Callable:
        """A handler for the next / previous video of the order the cursor holds."""
        def stepped(loaded: LoadedDataset | None, cursor: Cursor | None, corrections: dict, request: gr.Request):
            if loaded is None or cursor is None:
                raise UTALError("Open a video from the table first.")
            cursor = cursor.moved(step)
            return (cursor, *self.show(loaded, cursor, corrections, None, request))
        return stepped

    @staticmethod
    def back():
        """Back to the table (as it was: its sort, filter and page are untouched)."""
        return gr.Column(visible=True), gr.Column(visible=False)

    @staticmethod
    def _saved(loaded: LoadedDataset, video: str, session: Session) -> EditLayer | None:
        """The visitor's saved corrections of ``video`` (their revision noted for the next save), None without."""
        if session.edit_store is None:
            return None
        key = loaded.edits_key(video)
        saved, session.edit_revisions[key] = session.edit_store.load(key)
        return saved.rebased(loaded.raw_segments(video)) if saved is not None else None

    def layer(self, loaded: LoadedDataset, video: str, corrections: dict, session: Session) -> EditLayer:
        """``video``'s corrections: this page's, else the visitor's saved ones, else a fresh layer."""
        if video not in corrections:
            corrections[video] = self._saved(loaded, video, session) or EditLayer(
                tuple(loaded.raw_segments(video)), loaded.duration(video))
        return corrections[video]

    def _default_selection(self, loaded: LoadedDataset, video: str) -> str | None:
        """The first instance the first detector missed, else the first instance."""
        missed = loaded.view.missed(video, 0)
        if missed:
            return f"r{min(missed)}"
        return "r0" if loaded.view.ground_truth[video] else None

    def show(self, loaded: LoadedDataset, cursor: Cursor, corrections: dict, selected: str | None,
             request: gr.Request, player: bool = True) -> tuple:
        """Every part of the video view, from ``cursor`` alone: position line, title, timeline, errors, ground
        truth with corrections, the selected key, the player and the strips (empty without a video file)."""
        view, session = loaded.view, self.session(request)
        video = cursor.video(view)
        layer = self.layer(loaded, video, corrections, session)
        keys = [item.key for item in layer.segments()]
        selected = selected if selected in keys else self._default_selection(loaded, video)
        row = view.row(cursor.order[cursor.position])
        aps = " · ".join(f"AP {markdown_text(d.name)} {row[c]:.3f}" if row[c] is not None else f"AP {markdown_text(d.name)} –"
                         for d, c in zip(view.detectors, ("ap", "ap_2")))
        file = view.video_files.get(video)
        title = (f"### {markdown_text(video)}\n{loaded.duration(video):.1f} s · {row['instances']} instance(s) · "
                 f"{markdown_text(row['classes'])} · {aps} · "
                 + ("video file found" if file else "no video file: the timeline alone"))
        position = f"Video {cursor.position + 1} of {len(cursor.order)} in the table's order. {KEYS_HELP}"
        timeline = video_timeline(view, video, layer, selected)
        strips = self._strips(loaded, video, layer, selected, file, session) if file else ""
        video_update = (gr.Video(value=session.publish(file) if file else None, visible=file is not None)
                        if player else gr.skip())
        return (position, title, timeline, self._errors(view, video), self._truth_rows(view, video, layer), selected,
                video_update, gr.HTML(value=strips, visible=file is not None))

    @staticmethod
    def _errors(view: DatasetView, video: str) -> list[list]:
        """Every detector's false positives and missed instances on ``video``, in time order."""
        rows = []
        truth = view.ground_truth[video]
        for k, detector in enumerate(view.detectors):
            for item in view.outcomes(video, k):
                if item.outcome != TRUE_POSITIVE:
                    rows.append([detector.name, item.outcome, round(item.start, 2), round(item.end, 2), item.label,
                                 round(item.score, 3), "" if item.gt_index is None else f"r{item.gt_index}",
                                 round(item.tiou, 3)])
            for j in view.missed(video, k):
                rows.append([detector.name, "missed ground truth", round(truth[j].start, 2), round(truth[j].end, 2),
                             truth[j].label, "", f"r{j}", ""])
        return sorted(rows, key=lambda r: (r[2], r[0]))

    @staticmethod
    def _truth_rows(view: DatasetView, video: str, layer: EditLayer) -> list[list]:
        missed_by = {}
        for k, detector in enumerate(view.detectors):
            for j in view.missed(video, k):
                missed_by.setdefault(f"r{j}", []).append(detector.name)
        return [[item.key, item.status, round(item.segment.start, 3), round(item.segment.end, 3),
                 item.segment.label or "", ", ".join(missed_by.get(item.key, []))] for item in layer.segments()]

    def _strips(self, loaded: LoadedDataset, video: str, layer: EditLayer, selected: str | None, file: Path,
                session: Session) -> str:
        """The frame strips around the selected instance's start and end (within the video file's length)."""
        if selected is None:
            return "<p>No instance selected.</p>"
        segment = layer.segment(selected)
        if file not in self._files:
            self._files[file] = (probe(file).duration, content_hash(file))
        duration, video_hash = self._files[file]
        bounds = [min(max(segment.start, 0.0), duration), min(segment.end, duration)]
        strips = session.strips.strips(file, video_hash, bounds, duration)
        return "".join(strip_html(frames, bound, boundary, segment.start, segment.end)
                       for frames, bound, boundary in zip(strips, ("start", "end"), bounds))

    def select_error(self, loaded: LoadedDataset | None, cursor: Cursor | None, corrections: dict,
                     event: gr.SelectData, request: gr.Request):
        """A click on an error: its ground-truth instance is selected and the player seeks to its start."""
        if loaded is None or cursor is None:
            raise UTALError("Open a video from the table first.")
        row = event.row_value or []
        shown = self.show(loaded, cursor, corrections, str(row[6]) if len(row) > 6 and row[6] else None, request,
                          player=False)
        seek = gr.Video(playback_position=float(row[2])) if loaded.view.video_files.get(cursor.video(loaded.view)) \
            else gr.skip()
        return (*shown[:-2], seek, shown[-1])

    def select_truth(self, loaded: LoadedDataset | None, cursor: Cursor | None, corrections: dict,
                     event: gr.SelectData, request: gr.Request):
        """A click on a ground-truth row selects that instance for corrections."""
        if loaded is None or cursor is None:
            raise UTALError("Open a video from the table first.")
        row = event.row_value or []
        return self.show(loaded, cursor, corrections, str(row[0]) if row else None, request, player=False)

    # --- corrections and the export -------------------------------------------------------------------

    def edit(self, action: Literal["start-", "start+", "end-", "end+", "accept", "reject", "relabel", "undo"]
             ) -> Callable:
        """A handler applying ``action`` to the selected instance of the open video; saved at once."""
        def edited(loaded: LoadedDataset | None, cursor: Cursor | None, corrections: dict, selected: str | None,
                   label: str, request: gr.Request):
            if loaded is None or cursor is None:
                raise UTALError("Open a video from the table first.")
            session = self.session(request)
            video = cursor.video(loaded.view)
            layer = self.layer(loaded, video, corrections, session)
            if action == "undo":
                layer.undo()
            elif selected is None:
                raise UTALError("Select a ground-truth instance first (click its row).")
            elif action in ("start-", "start+", "end-", "end+"):
                bound = "start" if action.startswith("start") else "end"
                segment = layer.segment(selected)
                moved = getattr(segment, bound) + (NUDGE_S if action.endswith("+") else -NUDGE_S)
                (layer.set_start if bound == "start" else layer.set_end)(selected, round(moved, 6))
            elif action == "relabel":
                layer.relabel(selected, label)
            else:
                (layer.accept if action == "accept" else layer.reject)(selected)
            if session.edit_store is not None:
                key = loaded.edits_key(video)
                session.edit_revisions[key] = session.edit_store.save(key, layer, session.edit_revisions.get(key, 0))
            return self.show(loaded, cursor, corrections, selected, request, player=False)
        return edited

    def export(self, loaded: LoadedDataset | None, corrections: dict, request: gr.Request) -> str:
        """The whole dataset's ground truth with every video's corrections (untouched instances kept, rejected
        ones dropped), as one ActivityNet ground-truth JSON."""
        if loaded is None:
            raise UTALError("Load a dataset first.")
        session = self.session(request)
        view = loaded.view
        videos = {}
        for video in view.videos:
            layer = corrections.get(video) or self._saved(loaded, video, session)
            segments = layer.kept_segments(untouched="keep") if layer is not None else loaded.raw_segments(video)
            videos[video] = (loaded.duration(video), segments)
        data = activitynet_ground_truth(videos, subset=view.subset or GT_SUBSET)
        name = f"{Path(view.ground_truth_path).stem}.corrected.json"
        return str(atomic_write_text(session.export_dir(loaded.truth_digest) / name, json.dumps(data)))


def build_dataset_tab(demo: gr.Blocks, explorer: Explorer, handle: Callable) -> None:
    """The Dataset tab's components and events, inside the current ``gr.Tab`` of ``demo`` (which gets the keys)."""
    tab = DatasetTab(explorer)
    root = dataset_root()
    gr.HTML(f"<style>{STRIP_CSS.replace('#inspector-strips', '#dataset-strips')}{TABLE_CSS}</style>", padding=False)
    loaded, corrections, cursor, selected = gr.State(None), gr.State({}), gr.State(None), gr.State(None)
    with gr.Row():
        truth_upload = gr.File(label="Ground truth (ActivityNet or THUMOS14 JSON)", file_types=[".json"],
                               elem_id="dataset-gt")
        results_upload = gr.File(label="Results (one or two ActivityNet results JSON)", file_types=[".json"],
                                 file_count="multiple", elem_id="dataset-results")
        with gr.Column():
            subset = gr.Textbox(label="Subset (empty: every video)", elem_id="dataset-subset", max_lines=1)
            folder = gr.Textbox(label="Videos folder (optional; inside the server's data folder)" if root else
                                f"Videos folder (off: the server has no data folder, {DATASET_ROOT_ENV})",
                                interactive=root is not None, elem_id="dataset-videos", max_lines=1)
            load_button = gr.Button("Load dataset", variant="primary", elem_id="dataset-load")
    info = gr.Markdown(elem_id="dataset-info")
    with gr.Column(visible=False, elem_id="dataset-table-panel") as table_panel:
        map_table = gr.Dataframe(label="mAP (%) at each tIoU", interactive=False, elem_id="dataset-map")
        with gr.Row():
            outcomes_plot = gr.Plot(show_label=False, elem_id="dataset-outcomes")
            sensitivity_plot = gr.Plot(show_label=False, elem_id="dataset-sensitivity")
        class_plot = gr.Plot(show_label=False, elem_id="dataset-classes")
        with gr.Row():
            sort_by = gr.Dropdown(["ap"], value="ap", label="Sort by", elem_id="dataset-sort", scale=2)
            descending = gr.Checkbox(False, label="Descending", elem_id="dataset-descending", scale=1)
            text = gr.Textbox(label="Video id contains", elem_id="dataset-text", max_lines=1, scale=2)
            label = gr.Dropdown([], value=None, label="Class", elem_id="dataset-class", scale=2)
            with_video = gr.Checkbox(False, label="With a video file", elem_id="dataset-with-video", scale=1)
        with gr.Row():
            column = gr.Dropdown([], value=None, label="Range of", elem_id="dataset-range-column", scale=2)
            low = gr.Textbox(label="from (Enter)", elem_id="dataset-low", scale=1, max_lines=1)
            high = gr.Textbox(label="to (Enter)", elem_id="dataset-high", scale=1, max_lines=1)
        gr.HTML(TABLE_SHELL, elem_id="dataset-table", padding=False)
        table_data = gr.Textbox(visible=False)
        open_button = gr.Button("open", elem_id="dataset-open")
        chosen = gr.Textbox(visible=False)
        with gr.Row():
            previous_page = gr.Button("◀ Page", elem_id="dataset-previous-page", scale=0)
            next_page = gr.Button("Page ▶", elem_id="dataset-next-page", scale=0)
        with gr.Row():
            export_button = gr.Button("Export the corrected ground truth", elem_id="dataset-export", scale=0)
            exported = gr.File(label="Corrected ground truth (ActivityNet JSON)", interactive=False,
                               elem_id="dataset-exported")
    with gr.Column(visible=False, elem_id="dataset-video-panel") as video_panel:
        with gr.Row():
            back = gr.Button("⇦ Back to the table (B)", elem_id="dataset-back", scale=0, size="sm")
            previous_video = gr.Button("◀ Previous video (K)", elem_id="dataset-previous", scale=0, size="sm")
            next_video = gr.Button("Next video (J) ▶", elem_id="dataset-next", scale=0, size="sm")
            position = gr.Markdown(elem_id="dataset-position")
        title = gr.Markdown(elem_id="dataset-title")
        timeline = gr.Plot(show_label=False, elem_id="dataset-timeline")
        with gr.Row():
            player = gr.Video(show_label=False, interactive=False, elem_id="dataset-player", height=260, visible=False)
            errors = gr.Dataframe(headers=ERROR_COLUMNS, label="Errors (click one: its instance, and the player seeks)",
                                  interactive=False, elem_id="dataset-errors", max_height=300)
        strips = gr.HTML(elem_id="dataset-strips", padding=False, visible=False)
        with gr.Row():
            truth_table = gr.Dataframe(headers=TRUTH_COLUMNS, label="Ground truth (click an instance to correct it)",
                                       interactive=False, elem_id="dataset-truth", max_height=260, scale=3)
            with gr.Column(scale=2):
                with gr.Row():
                    edit_buttons = {action: gr.Button(text, size="sm", elem_id=f"dataset-edit-{name}")
                                    for action, text, name in (
                                        ("start-", f"start −{NUDGE_S:g} s", "start-minus"),
                                        ("start+", f"start +{NUDGE_S:g} s", "start-plus"),
                                        ("end-", f"end −{NUDGE_S:g} s", "end-minus"),
                                        ("end+", f"end +{NUDGE_S:g} s", "end-plus"))}
                with gr.Row():
                    edit_buttons |= {action: gr.Button(text, size="sm", elem_id=f"dataset-edit-{action}")
                                     for action, text in (("accept", "✓ Accept"), ("reject", "✗ Reject"),
                                                          ("undo", "↶ Undo"))}
                with gr.Row():
                    new_label = gr.Textbox(show_label=False, placeholder="label", elem_id="dataset-label", max_lines=1)
                    edit_buttons["relabel"] = gr.Button("Relabel", size="sm", elem_id="dataset-edit-relabel")

    query = [sort_by, descending, text, label, with_video, column, low, high]
    shown = [position, title, timeline, errors, truth_table, selected, player, strips]
    quiet = {"show_progress": "hidden", "api_visibility": "private"}  # none of the tab's events is the app's API
    heavy = {"concurrency_id": "heavy", "concurrency_limit": explorer.services.config.max_concurrent_analyses}
    load_button.click(handle(tab.load), [truth_upload, results_upload, subset, folder],
                      [loaded, corrections, info, map_table, outcomes_plot, sensitivity_plot, class_plot, sort_by,
                       label, column, table_panel, video_panel, exported, table_data], api_visibility="private",
                      **heavy).success(None, [table_data, *query], None, queue=False,
                                       js="(data, ...query) => window.utalDatasetTable.load(data, query)", **quiet)
    # the table's sort, filter and pages: in the page alone (ui/dataset_table.js), no request
    gr.on([sort_by.change, descending.input, text.submit, label.change, with_video.input, column.change, low.submit,
           high.submit], None, query, None, js="(...query) => window.utalDatasetTable.query(query)", queue=False,
          **quiet)
    for button, step in ((previous_page, -1), (next_page, +1)):
        button.click(None, None, None, js=f"() => window.utalDatasetTable.turn({step})", queue=False, **quiet)
    open_button.click(None, None, chosen, js=CHOSEN_ROW_JS, queue=False, **quiet).then(
        handle(tab.open_row), [loaded, corrections, chosen], [cursor, table_panel, video_panel, *shown], **quiet)
    for button, step in ((previous_video, -1), (next_video, +1)):
        button.click(handle(tab.step(step)), [loaded, cursor, corrections], [cursor, *shown],
                     trigger_mode="always_last", **quiet)
    back.click(tab.back, None, [table_panel, video_panel], queue=False, **quiet).then(
        None, None, None, js="() => window.utalDatasetTable.draw()", queue=False, **quiet)
    errors.select(handle(tab.select_error), [loaded, cursor, corrections], shown, **quiet)
    truth_table.select(handle(tab.select_truth), [loaded, cursor, corrections], shown, **quiet)
    for action, button in edit_buttons.items():  # one edit at a time, in the order they were made
        button.click(handle(tab.edit(action)), [loaded, cursor, corrections, selected, new_label], shown,  # type: ignore[arg-type]
                     concurrency_id="dataset-edits", concurrency_limit=1, **quiet)
    export_button.click(handle(tab.export), [loaded, corrections], exported, api_visibility="private")
    demo.load(None, None, None, js=f"() => {{ ({KEYS_JS})(); ({TABLE_JS})(); }}", api_visibility="private")
