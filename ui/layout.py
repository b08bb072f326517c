"""The page: tabs, components and the wiring of their events to ``ui.explorer.Explorer``."""

from __future__ import annotations

from pathlib import Path

import gradio as gr

from utal_core.examples import DEFAULT_EXAMPLE, EXAMPLES
from utal_core.viz import CLUSTER_COLUMNS, SEGMENT_COLUMNS

from .controls import PAGE_CONTROLS
from .explorer import CLIP_HELP, CLUSTER_CHOICES, REDRAW_TIMELINE_JS, Explorer
from .dataset_tab import DatasetBar, build_dataset_bar, build_dataset_tab
from .diagnosis import DetectorPanel
from .inspector import STRIP_CSS, Inspector
from .inspector_view import INSPECTOR_JS, build_inspector
from .messages import user_errors
from .opening_view import OpeningViewSlot
from .playable_video import PlayableVideo
from .player import PLAY_SEGMENT_JS, SEEK_JS, build_player_controls
from .search_tab import SearchResults
from .services import AppServices
from .threshold_bands import DRAW_BANDS_JS, STORE_BANDS_JS, THRESHOLD_RANGE, THRESHOLD_STEP
from .timeline_edits import build_timeline_edits

#: The app's API (gradio_client): an analysis, a search and an analysis's downloads.
PUBLIC_API = ("analyze", "search", "downloads")
#: Player height in pixels; with the timeline's (``ui.explorer.TIMELINE_HEIGHT``) both fit a 1440x900 window.
PLAYER_HEIGHT = 330
#: Runs once in the page: click-to-seek on the timeline and the playhead that follows the player, then the
#: boundary inspector's shortcuts and edits-row redraw (ui/inspector.js).
INSTRUMENT_JS = "() => { (" + Path(__file__).with_name("instrument.js").read_text(encoding="utf-8") + \
    ")(); (" + INSPECTOR_JS + ")(); }"
#: The inspector and the controls beside the player are as high as the player and scroll on their own, so the
#: timeline sits directly under the player.
PANEL_CSS = f"#analyze-controls, #inspector-panel {{ max-height: {PLAYER_HEIGHT}px; }}"
#: Marks the page as its visitor's once the page-load answer attached the session (its analysis, corrections and
#: library): a page that opens on the example shows its segments before that, and until then the parts that act on
#: them take no clicks (``SESSION_PARTS``, app.css), so no click goes to a session that has no analysis yet.
SESSION_ATTACHED_JS = "() => { document.body.classList.add('utal-attached'); }"
#: The class of the parts of the Analyze tab that act on the session's analysis.
SESSION_PARTS = ["needs-session"]
#: Resolves once the page shows a timeline (at most 3 s): a first visitor's page fetches and starts Plotly (a second
#: of its two cores) while the server would otherwise compute the thumbnails and every threshold's segments.
TIMELINE_SHOWN_JS = """() => new Promise((done) => {
  const started = performance.now();
  const check = () => {
    const plot = document.querySelector('#timeline .js-plotly-plot');
    if ((plot && plot._fullLayout && plot.data && plot.data.length) || performance.now() - started > 3000) {
      requestAnimationFrame(() => setTimeout(done, 0));  // once it is painted
      setTimeout(done, 200);  // a page in the background paints no frame
    } else {
      setTimeout(check, 20);
    }
  };
  check();
})"""
#: The page's own style rules (the status line, the cluster captions, the Analyze tab's top row, the strips).
APP_CSS = (Path(__file__).with_name("app.css")).read_text(encoding="utf-8") + PANEL_CSS + STRIP_CSS


def quiet_progress(demo: gr.Blocks, sink: gr.State) -> None:
    """Every event of ``demo`` that shows no progress reports it to ``sink`` instead of its outputs.

    On each status change of any event, Gradio's page copies the value of every component that was ever a progress
    target, and of every component inside a layout target (``update_loading_stati_state``): a session's outputs
    (timeline, tables, the inspector's curves, which Plotly then draws again) made each click pay for all of them.
    A state shows nothing, so a hidden progress loses nothing there; no event shows its progress on a layout block.
    """
    for function in demo.fns.values():
        if function.show_progress == "hidden":
            function.show_progress_on = [sink]
        targets = function.show_progress_on or function.outputs
        layouts = [target for target in targets if isinstance(target, gr.blocks.BlockContext)]
        if layouts:
            raise ValueError(f"{function.name} shows its progress on a layout block: {layouts}")


def build_demo(services: AppServices) -> gr.Blocks:
    """The whole UI; ``services`` supplies the pipeline, the library and the file folders."""
    explorer = Explorer(services)
    handle = user_errors
    with gr.Blocks(title="CLIP-AE Explorer", fill_width=True) as demo:
        analysis = gr.State(None)
        cache = gr.State({})
        truth = gr.State(None)
        cluster = gr.State(None)
        position = gr.State(None)
        hits = gr.State([])
        gallery_hits = gr.State([])
        thumbnail_positions = gr.State([])
        progress_sink = gr.State(None)  # where the events that show no progress report it (quiet_progress)
        #: The visitor's token, kept in the browser's local storage: it names the folder of their saved corrections.
        visitor = gr.BrowserState(None, storage_key="utal-visitor", secret=services.visitor_secret)
        gr.Markdown("# CLIP-AE Explorer\nFind actions in a video without annotations: upload it, press **Analyze**, "
                    "then explore the timeline, segments and pseudo-action clusters, or search every analysed video.")
        banner = gr.Markdown(visible=False, elem_id="clip-banner")
        with gr.Tabs() as tabs:
            with gr.Tab("Analyze", id="analyze"):
                dataset_bar = build_dataset_bar()  # a dataset's video: which of the table's order, J / K / B
                # Player and inspector side by side, the timeline full width directly under them: the three fit a
                # 1440x900 window together (the inspector and the controls scroll in their own columns, as high as
                # the player: PANEL_CSS).
                with gr.Row(elem_id="analyze-top"):
                    with gr.Column(scale=4, min_width=420, elem_id="player-column"):
                        player = PlayableVideo(show_label=False, interactive=False, elem_id="player",
                                               height=PLAYER_HEIGHT)
                    with gr.Column(scale=5, min_width=480, elem_id="inspector-panel", elem_classes=SESSION_PARTS):
                        with gr.Row(equal_height=True, elem_id="player-controls"):
                            build_player_controls()
                            previous_button = gr.Button("◀ Previous", size="sm", min_width=60, elem_id="prev-btn")
                            play_button = gr.Button("▶ Play segment", size="sm", min_width=60,
                                                    elem_id="play-segment-btn")
                            next_button = gr.Button("Next ▶", size="sm", min_width=60, elem_id="next-btn")
                        inspector = build_inspector(Inspector(explorer), analysis, cache, truth, handle)
                        segment_info = gr.Markdown(elem_id="segment-info")
                    with gr.Column(scale=2, min_width=240, elem_id="analyze-controls"):
                        upload = gr.File(label="Video", file_types=["video"], elem_id="upload", height=100)
                        with gr.Row():
                            example = gr.Dropdown(list(EXAMPLES), value=DEFAULT_EXAMPLE,
                                                  label="Bundled example", scale=3)
                            use_example = gr.Button("Use example", scale=1, elem_id="use-example")
                        truth_upload = gr.File(label="Ground truth (optional, ActivityNet JSON)",
                                               file_types=[".json"], elem_id="gt-upload", height=90)
                        with gr.Row():
                            analyze_button = gr.Button("Analyze", variant="primary", elem_id="analyze-btn")
                            cancel_button = gr.Button("Cancel", variant="stop", elem_id="cancel-btn")
                        status = gr.Markdown("Upload a video or pick the bundled example.", elem_id="status")
                # The timeline sits directly under the player, full width: one instrument (ui/instrument.js).
                timeline = gr.Plot(show_label=False, elem_id="timeline", elem_classes=SESSION_PARTS)
                segment_count = gr.Markdown(elem_id="segment-count")
                segment_start = gr.Number(visible=False)
                segment_end = gr.Number(visible=False)
                seek_time = gr.Number(visible=False)
                #: A re-segmentation's timeline (Plotly JSON), drawn in place by REDRAW_TIMELINE_JS.
                timeline_redraw = gr.Textbox(visible=False)
                #: The threshold's segments at every slider position (ui/threshold_bands.py), the key of the
                #: last ones sent, and what the page drew itself on the slider's last release.
                threshold_bands = gr.Textbox(visible=False)
                bands_sent = gr.State(None)
                drawn_by_page = gr.Textbox(visible=False)
                build_timeline_edits(inspector, cache, handle)  # drags on the timeline's edits lane
                gr.Markdown("### Segmentation (instant, no model rerun)")
                with gr.Row(elem_classes=SESSION_PARTS):
                    threshold = gr.Slider(*THRESHOLD_RANGE, value=PAGE_CONTROLS.threshold, step=THRESHOLD_STEP,
                                          label="Threshold", elem_id="threshold")
                    min_duration = gr.Slider(0, 30, value=PAGE_CONTROLS.min_duration, step=0.5,
                                             label="Minimum duration (s)", elem_id="min-duration")
                    merge_gap = gr.Slider(0, 30, value=PAGE_CONTROLS.merge_gap, step=0.5, label="Merge gap (s)",
                                          elem_id="merge-gap")
                    nms_iou = gr.Slider(0.05, 1.0, value=PAGE_CONTROLS.nms_iou, step=0.05, label="NMS IoU",
                                        elem_id="nms-iou")
                    num_clusters = gr.Dropdown(CLUSTER_CHOICES, value=PAGE_CONTROLS.clusters,
                                               label="Number of clusters", elem_id="num-clusters")
                with gr.Row(elem_classes=SESSION_PARTS):
                    with gr.Column(scale=3):
                        table = gr.Dataframe(headers=list(SEGMENT_COLUMNS), label="Segments (click a row to seek)",
                                             interactive=False, elem_id="segments-table", max_height=320)
                    with gr.Column(scale=2):
                        segment_gallery = gr.Gallery(label="Segment thumbnails", columns=4, height=320,
                                                     allow_preview=False, elem_id="segment-gallery")
                gr.Markdown("### Pseudo-action clusters (click one to filter)")
                with gr.Row(elem_classes=SESSION_PARTS):
                    cluster_gallery = gr.Gallery(label="Clusters", columns=5, height=340, allow_preview=False,
                                                 elem_id="clusters-gallery", scale=3)
                    with gr.Column(scale=2):
                        cluster_table = gr.Dataframe(headers=list(CLUSTER_COLUMNS), interactive=False,
                                                     elem_id="clusters-table")
                        show_all = gr.Button("Show all clusters", elem_id="show-all-clusters")
                with gr.Row(elem_classes=SESSION_PARTS):
                    prepare_downloads = gr.Button("Prepare downloads", elem_id="prepare-downloads", scale=0)
                    downloads = gr.File(label="Downloads (analysis JSON with the edits layer, ActivityNet JSON, CSV, VTT, "
                                              "SRT; corrected ActivityNet GT, CSV, EAF)",
                                        file_count="multiple", interactive=False, elem_id="downloads")
                    detection = gr.Dataframe(headers=["tIoU", "mAP (class-agnostic)"], visible=False,
                                             label="mAP against the ground truth", elem_id="map-table")
                detector_panel = DetectorPanel(handle)
            with gr.Tab("Search", id="search"):
                with gr.Row():
                    query = gr.Textbox(label="Search every analysed video", placeholder="e.g. a person waving",
                                       scale=4, elem_id="search-box")
                    result_count = gr.Slider(1, 50, value=12, step=1, label="Results", scale=1,
                                             elem_id="result-count")
                    search_button = gr.Button("Search", variant="primary", scale=1, elem_id="search-btn")
                search_info = gr.Markdown(elem_id="search-info")
                # Folded under "No good match" when no hit reaches its bar (ui.explorer.Explorer.search).
                with gr.Accordion("Results (click one to open)", elem_id="search-results-box") as search_box:
                    search_gallery = gr.Gallery(show_label=False, columns=4, height=360, allow_preview=False,
                                                elem_id="search-results")
                    search_table = gr.Dataframe(headers=["video", "start (s)", "end (s)", "match", "text", "bar",
                                                         "segment", "label"],
                                                interactive=False, elem_id="search-table")
            with gr.Tab("Dataset", id="dataset"):
                dataset = build_dataset_tab(demo, explorer, cache, handle)
            with gr.Tab("Settings", id="settings"):
                settings_summary = gr.Markdown(elem_id="settings-summary")
                encoders = gr.Dataframe(headers=["encoder", "view", "available", "weights / reason"],
                                        interactive=False, elem_id="doctor")
                gr.Markdown(CLIP_HELP)

        controls = [threshold, min_duration, merge_gap, nms_iou, num_clusters]
        # The status, the timeline, the table and the downloads change in one update: "Analysed" never names a video
        # the page does not show yet, and no download of the video before stays offered.
        analysis_outputs = [analysis, cache, truth, cluster, position, status, player, table, timeline, segment_count,
                            downloads]
        view_outputs = [timeline, table, segment_count]
        media_outputs = [segment_gallery, thumbnail_positions, cluster_gallery, cluster_table, player, detection]
        view_inputs = [analysis, truth, cluster]
        render_inputs = [*view_inputs, detector_panel.rows]
        render = handle(explorer.render)
        detector_panel.wire(analysis, truth, render, render_inputs, view_outputs, seek_time, SEEK_JS,
                            inspector.open_span, services.config.max_concurrent_analyses)

        def redraw(event: gr.events.Dependency, drawn_without_rows: bool = False,
                   new_video: bool = True) -> gr.events.Dependency:
            """After ``event`` replaced the video on screen (or, not ``new_video``, its ground truth): the dataset bar
            and the player as that video wants them, the last video's selected segment forgotten (its line, and the
            bounds Play segment would play), then the detectors' rows and the timeline (``DetectorPanel.redraw``)."""
            event.success(DatasetBar.follow, analysis, [dataset_bar.row, dataset_bar.place, player], queue=False,
                          show_progress="hidden", api_visibility="private")
            if new_video:
                event.success(lambda: ("", None, None), None, [segment_info, segment_start, segment_end], queue=False,
                              show_progress="hidden")
            return detector_panel.redraw(event, drawn_without_rows)

        def follow_up(event: gr.events.Dependency, **options) -> gr.events.Dependency:
            """After ``event`` drew a segmentation, once the page shows a timeline: thumbnails, clusters and subtitles
            (``options``), and beside them the threshold's segments at every slider position for the page."""
            drawn = event.success(None, None, None, js=TIMELINE_SHOWN_JS, show_progress="hidden")
            drawn.success(handle(explorer.threshold_bands), [*render_inputs, bands_sent], [threshold_bands, bands_sent],
                          show_progress="hidden", trigger_mode="always_last").success(
                None, threshold_bands, None, js=STORE_BANDS_JS)
            return drawn.success(handle(explorer.render_media), view_inputs, media_outputs,
                                 show_progress_on=[segment_gallery, cluster_gallery], **options)

        use_example.click(handle(explorer.use_example), example, [upload, truth_upload])
        analyzing = analyze_button.click(explorer.starting, None, status, queue=False, show_progress="hidden").then(
            handle(explorer.analyze), [upload, truth_upload, cache, *controls], analysis_outputs,
            concurrency_limit=services.config.max_concurrent_analyses, concurrency_id="heavy", api_name="analyze",
            show_progress_on=status,
        )
        analyzing.failure(handle(explorer.after_failure), analysis, status, show_progress="hidden")
        inspector.follow_video(analyzing)
        follow_up(redraw(analyzing, drawn_without_rows=True), show_progress="hidden")
        cancel_button.click(handle(explorer.after_cancel), analysis, status, cancels=[analyzing])
        truth_changed = truth_upload.change(handle(explorer.ground_truth), [truth_upload, analysis], truth)
        inspector.refresh_labels(truth_changed)
        follow_up(redraw(truth_changed, new_video=False))

        resegment_inputs = [analysis, truth, cluster, detector_panel.rows, *controls]
        resegment_outputs = [analysis, cluster, timeline_redraw, table, segment_count]
        for control in controls:
            event, inputs = control.input if isinstance(control, gr.Dropdown) else control.release, resegment_inputs
            if control is threshold:  # the page draws the new segments at once; the server's answer follows
                event = threshold.release(None, controls, drawn_by_page, js=DRAW_BANDS_JS, trigger_mode="multiple").then
                inputs = [*resegment_inputs, drawn_by_page]
            resegmented = event(handle(explorer.resegment), inputs, resegment_outputs, show_progress="hidden",
                                trigger_mode="always_last", api_name=False)
            resegmented.success(None, timeline_redraw, None, js=REDRAW_TIMELINE_JS)
            inspector.follow_video(resegmented)
            follow_up(resegmented, show_progress="hidden", trigger_mode="always_last")

        seek_outputs = [position, segment_start, segment_end, segment_info, player]
        inspecting = inspector.inspector
        for event, handler, inputs in (
                (table.select, inspecting.inspect_row, [analysis, cluster]),
                (segment_gallery.select, inspecting.inspect_thumbnail, [analysis, cluster, thumbnail_positions]),
                (previous_button.click, inspecting.inspect_step(-1), [analysis, cluster, position]),
                (next_button.click, inspecting.inspect_step(+1), [analysis, cluster, position])):
            inspector.wire_selection(event, handler, inputs, seek_outputs)
        prepare_downloads.click(handle(explorer.downloads), analysis, downloads, api_name="downloads")
        play_button.click(None, [segment_start, segment_end], None, js=PLAY_SEGMENT_JS)

        for event in (cluster_gallery.select(handle(explorer.select_cluster), analysis, cluster),
                      show_all.click(lambda: None, None, cluster)):
            follow_up(event.then(render, render_inputs, view_outputs))

        gr.on([search_button.click, query.submit], handle(explorer.search), [query, result_count],
              [hits, gallery_hits, search_gallery, search_table, search_info, search_box], api_name="search",
              show_progress_on=[search_gallery, search_table])
        results = SearchResults(explorer)
        hit_outputs = [tabs, analysis, cache, truth, cluster, position, upload, status, player, seek_time, downloads]
        hit_inputs = [cache, truth_upload, *controls]
        for opened in (search_gallery.select(handle(results.open_gallery_hit), [hits, gallery_hits, *hit_inputs],
                                             hit_outputs, show_progress_on=status),
                       search_table.select(handle(results.open_table_hit), [hits, *hit_inputs], hit_outputs,
                                           show_progress_on=status)):
            inspector.follow_video(opened)
            follow_up(redraw(opened)).success(None, seek_time, None, js=SEEK_JS)

        for opened in dataset.wire_opening(dataset_bar, tabs, analysis, cache, analysis_outputs, handle):
            inspector.follow_video(opened)
            follow_up(redraw(opened))

        demo.load(handle(explorer.settings), None, [encoders, settings_summary, banner], show_progress="hidden")
        demo.unload(explorer.end_session)
        # one request: the visitor's saved corrections attached, then the example preloaded with them (an analysis it
        # has to run waits for its slot: AppServices.analysis_slot); a page that opened on the example's view (its
        # config, ui.opening_view) gets only what it does not show yet
        preloaded = demo.load(handle(explorer.preload), [visitor, upload, cache, *controls],
                              [visitor, upload, truth_upload, *analysis_outputs], show_progress_on=status)
        inspector.follow_video(preloaded)
        follow_up(redraw(preloaded, drawn_without_rows=True))
        preloaded.then(None, None, None, js=SESSION_ATTACHED_JS, show_progress="hidden")
    # Every other event is the page's own: out of the API description that each page load carries (300 KB of the
    # first visitor's HTML when the follow-ups were named endpoints too).
    for function in demo.fns.values():
        if function.api_name not in PUBLIC_API:
            function.api_visibility = "private"
    quiet_progress(demo, progress_sink)
    demo.queue(default_concurrency_limit=4)
    opening = OpeningViewSlot(demo, explorer, {"upload": upload, "truth_upload": truth_upload, "status": status,
                                               "player": player, "table": table, "timeline": timeline,
                                               "segment_count": segment_count})
    services.example_ready.append(opening.example_ready)
    return demo

