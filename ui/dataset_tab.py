"""The Dataset tab: a benchmark's ground truth and one or two detectors' results, from the summary down to one video.

Loading goes through :func:`utal_core.dataset.load_dataset` (cached on disk by the files' bytes). The table of
videos is a client-side table: the load sends the whole table once (:func:`table_payload`, column arrays), and
``ui/dataset_table.js`` sorts, filters and pages it in the page with no request, drawing only the visible page.
A click on a row sends the page's current order with it (the page is the one owner of the order) and opens that
video in the Analyze tab's single-video view: the video on screen there becomes a
:class:`~utal_core.dataset.video.DatasetVideo` (its ground truth, every detector's predictions on it, its file when
there is one, and its :class:`~utal_core.dataset.video.Cursor`: that order and the position in it), replacing the
whole view at once as an analysis does, so nothing of the previous video stays. While it is on screen a bar over
the player (:class:`DatasetBar`) says which video of the order it is; J / K open the next / previous one, B goes back
to this tab, whose sort, filter and page the page kept.

Corrections of the ground truth are the Analyze tab's: its inspector and timeline drags edit the dataset video's
:class:`~utal_core.edits.EditLayer` over its instances, saved at once in the visitor's own store (``ui.sessions``)
under :meth:`LoadedDataset.edits_key` (the ground-truth file's sha256 and the video id); the export writes the whole
corrected dataset as one ActivityNet ground-truth file, which ``python -m utal_core eval`` reads.

A videos folder is a server-side path: a visitor may only name a folder inside the app's data folder
(:data:`DATASET_ROOT_ENV`); without that setting the field is off.
"""

from __future__ import annotations

import hashlib
import json
import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

import gradio as gr
import numpy as np

from utal_core.dataset import DatasetView, load_dataset
from utal_core.dataset.load import file_digest
from utal_core.dataset.figures import class_ap_figure, outcomes_figure, sensitivity_figure
from utal_core.dataset.report import summary_tables, video_columns
from utal_core.dataset.video import Cursor, DatasetVideo, dataset_video, truth_segments, video_duration
from utal_core.dataset.view import COMPARE_DECIMALS, TEXT_COLUMNS
from utal_core.errors import UTALError
from utal_core.export import GT_SUBSET, activitynet_ground_truth, atomic_write_text
from utal_core.media import probe

from .explorer import NO_ANALYSIS, Explorer, remember
from .messages import markdown_text
from .sessions import Session, is_inside

#: The folder under which a visitor may name a videos folder (unset: no videos folder can be named).
DATASET_ROOT_ENV = "UTAL_DATASET_ROOT"
PAGE_SIZE = 20
#: Most results files compared at once.
MAX_RESULTS = 2
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
#: A click on a row of the table presses the hidden open button. While the Dataset tab is shown its keys are its
#: own: they stop at the body, so the Analyze tab's shortcuts (listening on the document, ui/inspector.js) never
#: act on its inspector from here. J / K / B press the dataset bar's buttons while the bar is on screen (the
#: Analyze tab, a dataset's video open), never while typing.
KEYS_JS = """
() => {
  const KEYS = {KeyJ: 'dataset-next', KeyK: 'dataset-previous', KeyB: 'dataset-back'};
  const typing = (target) => target && (target.isContentEditable
    || ['INPUT', 'TEXTAREA', 'SELECT'].includes(target.tagName));
  document.addEventListener('click', (event) => {
    const row = event.target.closest && event.target.closest('#dataset-table tr[data-row]');
    if (!row) return;
    window.utalDatasetRow = row.dataset.row;
    document.getElementById('dataset-open').click();
  });
  document.body.addEventListener('keydown', (event) => {
    const tab = document.getElementById('dataset-load');
    if (tab && tab.offsetParent !== null && !typing(event.target)) event.stopPropagation();
  });
  document.addEventListener('keydown', (event) => {
    const bar = document.getElementById('dataset-bar');
    if (!bar || bar.offsetParent === null || typing(event.target)) return;
    if (event.ctrlKey || event.metaKey || event.altKey || event.shiftKey || !KEYS[event.code]) return;
    event.preventDefault();
    document.getElementById(KEYS[event.code]).click();
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
    """The tab's handlers (per-visitor state comes in as arguments: the loaded set, the video on screen, the Analyze
    tab's cache of videos, which keeps each dataset video's corrections of this page)."""

    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer
        #: A video file's probe (its frame rate makes a frame nudge one frame), read once.
        self._media: dict[Path, dict] = {}

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
        return (loaded, info, gr.Dataframe(value=rows, headers=header), outcomes_figure(view),
                sensitivity_figure(view), class_ap_figure(view), gr.Dropdown(choices=sortable, value="ap"),
                gr.Dropdown(choices=labels, value=None), gr.Dropdown(choices=numeric, value=None),
                gr.Column(visible=True), None, table_payload(view))

    # --- one video, in the Analyze tab ----------------------------------------------------------------

    def open_row(self, loaded: LoadedDataset | None, chosen: str, cache: dict, request: gr.Request):
        """A click on a table row (``chosen``: the row and the page's order, see :func:`chosen_cursor`): that video
        in the Analyze tab, in the table's order as the page sorted and filtered it."""
        if loaded is None:
            raise UTALError("Load a dataset first.")
        return self.open_video(loaded, chosen_cursor(loaded.view, chosen), cache, request)

    def step(self, step: int) -> Callable:
        """A handler for the next / previous video of the order the dataset video on screen was opened in."""
        def stepped(loaded: LoadedDataset | None, on_screen: Any, cache: dict, request: gr.Request):
            if loaded is None or not isinstance(on_screen, DatasetVideo) or \
                    on_screen.content_hash != loaded.edits_key(on_screen.video_id):
                raise UTALError("Open a video from the Dataset tab's table first.")
            return self.open_video(loaded, on_screen.cursor.moved(step), cache, request)
        return stepped

    def open_video(self, loaded: LoadedDataset, cursor: Cursor, cache: dict, request: gr.Request) -> tuple:
        """The Analyze tab shown, with the video at ``cursor`` as the video on screen (its corrections: this page's,
        else the visitor's saved ones), in the outputs of an analysis (``ui.layout``'s ``analysis_outputs``): the
        video, the cache, its ground truth, no cluster or segment, the status, the player, the segments table,
        the timeline, the count and no downloads."""
        view, session = loaded.view, self.session(request)
        video = cursor.video(view)
        key = loaded.edits_key(video)
        file = view.video_files.get(video)
        if file is not None and file not in self._media:
            self._media[file] = probe(file).to_dict()
        on_screen = dataset_video(view, cursor, key, self._media.get(file) if file is not None else None)
        before = (cache or {}).get(key)
        if isinstance(before, DatasetVideo):
            on_screen.edits = before.edits
            note = ""
        else:
            note = session.restore_edits(on_screen)
        cache = dict(cache or {})
        remember(cache, key, on_screen)
        truth = on_screen.ground_truth
        figure, rows, count = self.explorer.render(on_screen, truth, None)
        player = gr.update(value=session.publish(file), playback_position=0.0) if file is not None else \
            gr.update(value=None)
        return (gr.Tabs(selected="analyze"), on_screen, cache, truth, None, None,
                self.status(loaded, on_screen, note), player, rows, figure, count, None)

    @staticmethod
    def status(loaded: LoadedDataset, on_screen: DatasetVideo, note: str) -> str:
        """The Analyze tab's status line for a dataset's video: what it holds, each detector's AP on it, whether
        its file is there."""
        view = loaded.view
        row = view.row(on_screen.cursor.order[on_screen.cursor.position])
        aps = " · ".join(f"AP {markdown_text(d.name)} " + (f"{row[c]:.3f}" if row[c] is not None else "–")
                         for d, c in zip(view.detectors, ("ap", "ap_2")))
        return (f"**{markdown_text(on_screen.video_id)}** (dataset video) — {on_screen.duration:.1f} s · "
                f"{row['instances']} instance(s) · {markdown_text(row['classes'])} · {aps} · "
                + ("video file found." if on_screen.video_path else "no video file: the timeline alone.")
                + f"  \n{NO_ANALYSIS} {note}".rstrip())

    @staticmethod
    def back():
        """Back to the Dataset tab (the table as it was: its sort, filter and page are the page's, untouched)."""
        return gr.Tabs(selected="dataset")

    # --- the export -----------------------------------------------------------------------------------

    def export(self, loaded: LoadedDataset | None, cache: dict, request: gr.Request) -> str:
        """The whole dataset's ground truth with every video's corrections (this page's, else the visitor's saved
        ones; untouched instances kept, rejected ones dropped), as one ActivityNet ground-truth JSON."""
        if loaded is None:
            raise UTALError("Load a dataset first.")
        session = self.session(request)
        view = loaded.view
        videos = {}
        for video in view.videos:
            key = loaded.edits_key(video)
            raw = truth_segments(view.ground_truth[video])
            on_page = (cache or {}).get(key)
            layer = on_page.edits if isinstance(on_page, DatasetVideo) else None
            if layer is None and session.edit_store is not None:
                saved, _ = session.edit_store.load(key)
                layer = saved.rebased(raw) if saved is not None else None
            videos[video] = (video_duration(view, video), layer.kept_segments(untouched="keep") if layer else raw)
        data = activitynet_ground_truth(videos, subset=view.subset or GT_SUBSET)
        name = f"{Path(view.ground_truth_path).stem}.corrected.json"
        return str(atomic_write_text(session.export_dir(loaded.truth_digest) / name, json.dumps(data)))


@dataclass
class DatasetBar:
    """The Analyze tab's bar of a dataset's video: which video of the table's order it is, previous / next, and back
    to the table. Shown only while a dataset's video is on screen (:meth:`follow`)."""

    row: gr.Row
    place: gr.Markdown
    previous: gr.Button
    next: gr.Button
    back: gr.Button

    @staticmethod
    def follow(on_screen: Any) -> tuple:
        """After the video on screen changed: the bar (shown for a dataset's video, with its place in the order),
        and the player (hidden for a dataset's video without its file: the timeline alone)."""
        if not isinstance(on_screen, DatasetVideo):
            return gr.Row(visible=False), "", gr.update(visible=True)
        cursor = on_screen.cursor
        place = (f"**Dataset**: video {cursor.position + 1} of {len(cursor.order)} · **K** previous · **J** next · "
                 f"**B** back to the table — {markdown_text(on_screen.video_id)}")
        return gr.Row(visible=True), place, gr.update(visible=bool(on_screen.video_path))


def build_dataset_bar() -> DatasetBar:
    """The bar's components, inside the current Blocks (the Analyze tab, over the player)."""
    with gr.Row(visible=False, elem_id="dataset-bar", equal_height=True) as row:
        place = gr.Markdown(elem_id="dataset-place")
        previous = gr.Button("◀ Previous video (K)", elem_id="dataset-previous", scale=0, size="sm")
        following = gr.Button("Next video (J) ▶", elem_id="dataset-next", scale=0, size="sm")
        back = gr.Button("⇦ Back to the table (B)", elem_id="dataset-back", scale=0, size="sm")
    return DatasetBar(row, place, previous, following, back)


@dataclass
class DatasetTabView:
    """The tab's handlers, its loaded set and the hidden open button's steps, for the wiring to the Analyze tab."""

    tab: DatasetTab
    loaded: gr.State
    chosen: gr.Textbox
    open_button: gr.Button

    def wire_opening(self, bar: DatasetBar, tabs: gr.Tabs, analysis: gr.State, cache: gr.State,
                     analysis_outputs: list, handle: Callable) -> list:
        """A click on a row, and the bar's previous / next, open a video in the Analyze tab (``analysis_outputs``:
        what an analysis answers, see :meth:`DatasetTab.open_video`); B goes back to the table. Returns the
        opening events, for the Analyze tab's follow-ups (detectors, inspector)."""
        quiet = {"show_progress": "hidden", "api_visibility": "private"}  # none of these is the app's API
        outputs = [tabs, *analysis_outputs]
        opened = [self.open_button.click(None, None, self.chosen, js=CHOSEN_ROW_JS, queue=False, **quiet).then(
            handle(self.tab.open_row), [self.loaded, self.chosen, cache], outputs, **quiet)]
        for button, step in ((bar.previous, -1), (bar.next, +1)):
            opened.append(button.click(handle(self.tab.step(step)), [self.loaded, analysis, cache], outputs,
                                       trigger_mode="always_last", **quiet))
        bar.back.click(self.tab.back, None, tabs, queue=False, **quiet).then(
            None, None, None, js="() => window.utalDatasetTable.draw()", queue=False, **quiet)
        return opened


def build_dataset_tab(demo: gr.Blocks, explorer: Explorer, cache: gr.State, handle: Callable) -> DatasetTabView:
    """The Dataset tab's components and events, inside the current ``gr.Tab`` of ``demo`` (which gets the keys);
    ``cache`` is the Analyze tab's (the export reads this page's corrections there)."""
    tab = DatasetTab(explorer)
    root = dataset_root()
    gr.HTML(f"<style>{TABLE_CSS}</style>", padding=False)
    loaded = gr.State(None)
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
        gr.Markdown("Click a video to open it in the **Analyze** tab (there: **J** / **K** next / previous video of "
                    "this order, **B** back here).")
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

    query = [sort_by, descending, text, label, with_video, column, low, high]
    quiet = {"show_progress": "hidden", "api_visibility": "private"}  # none of the tab's events is the app's API
    heavy = {"concurrency_id": "heavy", "concurrency_limit": explorer.services.config.max_concurrent_analyses}
    load_button.click(handle(tab.load), [truth_upload, results_upload, subset, folder],
                      [loaded, info, map_table, outcomes_plot, sensitivity_plot, class_plot, sort_by,
                       label, column, table_panel, exported, table_data], api_visibility="private",
                      show_progress_on=[info, map_table], **heavy).success(None, [table_data, *query], None, queue=False,
                                       js="(data, ...query) => window.utalDatasetTable.load(data, query)", **quiet)
    # the table's sort, filter and pages: in the page alone (ui/dataset_table.js), no request
    gr.on([sort_by.change, descending.input, text.submit, label.change, with_video.input, column.change, low.submit,
           high.submit], None, query, None, js="(...query) => window.utalDatasetTable.query(query)", queue=False,
          **quiet)
    for button, step in ((previous_page, -1), (next_page, +1)):
        button.click(None, None, None, js=f"() => window.utalDatasetTable.turn({step})", queue=False, **quiet)
    export_button.click(handle(tab.export), [loaded, cache], exported, api_visibility="private")
    demo.load(None, None, None, js=f"() => {{ ({KEYS_JS})(); ({TABLE_JS})(); }}", api_visibility="private")
    return DatasetTabView(tab, loaded, chosen, open_button)
