"""CLIP-AE Explorer: the Gradio app. UI only; every computation goes through ``utal_core``.

Run ``python app.py [--example] [--port N] [--shared-library]``. Per-session state (the current
``Analysis``, the session's analysis cache, the selected cluster and segment) lives in ``gr.State``;
each session's files and library live in its own folders, found by Gradio's session hash
(``ui.sessions``: the server sends a visitor only their own session's public files and the
bundled examples); the process holds only shared resources (``ui.services``: the pipeline, the
analysis slots, the shared library when there is one).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import os
from pathlib import Path
from typing import Any, Callable

os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")
os.environ.setdefault("HF_HUB_DISABLE_TELEMETRY", "1")

import gradio as gr  # noqa: E402

from starlette.middleware import Middleware  # noqa: E402

from ui.limits import BodySizeLimit  # noqa: E402
from ui.messages import plain_message, strip_paths, user_errors, warn  # noqa: E402
from ui.services import AppConfig, AppServices  # noqa: E402
from ui.sessions import AnalysisRun, Session  # noqa: E402
from utal_core.errors import UTALError  # noqa: E402
from utal_core.evaluate import THUMOS_TIOUS, Prediction, evaluate_detection, load_ground_truth  # noqa: E402
from utal_core.examples import EXAMPLE_SPECS, example_path  # noqa: E402
from utal_core.export import EXPORT_FORMATS, AnalysisExport, atomic_write_text  # noqa: E402
from utal_core.features import content_hash  # noqa: E402
from utal_core.library import add_analysis_to_library  # noqa: E402
from utal_core.localize import LocalizeParams  # noqa: E402
from utal_core.pipeline import Analysis  # noqa: E402
from utal_core.text import check_query  # noqa: E402
from utal_core.viz import (  # noqa: E402
    CLUSTER_COLUMNS, SEGMENT_COLUMNS, cluster_rows, detection_rows, ground_truth_for_video,
    runner_ups, segment_rows, timeline_figure, visible_segments,
)

try:  # Hugging Face Spaces (ZeroGPU): the heavy step asks for a GPU while it runs.
    import spaces
except ImportError:
    spaces = None

LOG = logging.getLogger("utal_app")
#: Overall progress fraction at which each pipeline stage starts and ends, and what the bar says.
STAGES: dict[str, tuple[float, float, str]] = {
    "probe": (0.00, 0.02, "reading the file"),
    "frames": (0.02, 0.55, "decoding frames + visual views (CBP, motion, CLIP)"),
    "audio": (0.55, 0.70, "audio view"),
    "video": (0.70, 0.72, "precomputed features"),
    "done": (0.72, 0.72, "features ready"),
    "model": (0.72, 0.95, "CLIP-AE model"),
    "segments": (0.95, 1.00, "segments and clusters"),
}
SESSION_CACHE_SIZE = 8
#: The segment gallery shows the best-scoring visible segments, at most this many (in time order).
MAX_THUMBNAILS = 24
CLUSTER_CHOICES = ["auto", *[str(k) for k in range(1, 11)]]
CLIP_HELP = ("CLIP weights are missing, so the CLIP view is off and text search uses the offline label "
             "bridge. To add them, put `ViT-B-32_laion2b_s34b_b79k.safetensors` in `checkpoints/` "
             "(or pass `clip` weights in the pipeline config) and restart; `python -m utal_core doctor` "
             "shows what is found.")


def _file_path(upload: Any) -> str | None:
    """The local path of a gr.File value (a path string or an object with ``.name``)."""
    if upload is None:
        return None
    return str(getattr(upload, "name", upload))


def _status(services: AppServices, analysis: Analysis, note: str) -> str:
    pipeline = services.pipeline
    absent = "; ".join(f"{view}: {reason}" for view, reason in analysis.absent.items()) or "none"
    return (f"**{Path(analysis.video_path).name}** — {analysis.duration:.1f} s, {analysis.grid.num_snippets} snippets. "
            f"{note}  \nAbsent views: {absent}.  \n"
            f"Model runs (this server): <span id='model-runs'>{pipeline.model_runs}</span>; "
            f"device {pipeline.extractor.device}.")


def _segment_count(services: AppServices, analysis: Analysis, cluster: int | None) -> str:
    shown = len(visible_segments(analysis, cluster))
    scope = f" in cluster {cluster}" if cluster is not None else ""
    return (f"<span id='segment-count-value'>{shown}</span> segments{scope} (of {len(analysis.segments)}) · "
            f"model runs: <span id='segment-model-runs'>{services.pipeline.model_runs}</span>")


def _params(threshold: float, min_duration: float, merge_gap: float, nms_iou: float) -> LocalizeParams:
    return LocalizeParams(thresholds=(float(threshold),), min_duration_s=float(min_duration),
                          merge_gap_s=float(merge_gap), nms_iou=float(nms_iou))


def _num_clusters(choice: str) -> int | str:
    return "auto" if choice in (None, "auto") else int(choice)


class Explorer:
    """The event handlers; each takes and returns plain values and ``gr.State`` contents."""

    def __init__(self, services: AppServices) -> None:
        self.services = services

    def session(self, request: gr.Request) -> Session:
        """The visitor's session (its folders, stored videos and library)."""
        return self.services.sessions.get(request.session_hash)

    def end_session(self, request: gr.Request) -> None:
        """The tab was closed: delete the session's files."""
        self.services.sessions.close(request.session_hash)

    # --- analysis ---------------------------------------------------------------------------

    def use_example(self, name: str) -> tuple[str, str | None]:
        """The bundled example's video and ground-truth files, written on first use."""
        if name not in EXAMPLE_SPECS:
            raise UTALError(f"Unknown example {name!r}.")
        video = example_path(name)
        truth = video.with_suffix(".gt.json")
        return str(video), (str(truth) if truth.exists() else None)

    def run_pipeline(self, path: str, progress: gr.Progress, run: AnalysisRun) -> Analysis:
        """The pipeline on ``path``; every progress report first checks ``run`` (Cancel, time budget)."""
        def report(stage: str, fraction: float) -> None:
            run.check()
            start, end, text = STAGES.get(stage, (0.0, 1.0, stage))
            progress(start + (end - start) * min(max(fraction, 0.0), 1.0), desc=text)

        return self.services.pipeline.analyze(path, progress=report)

    async def analyze(self, upload: Any, truth_upload: Any, cache: dict, threshold: float, min_duration: float,
                      merge_gap: float, nms_iou: float, clusters_choice: str, request: gr.Request,
                      progress: gr.Progress = gr.Progress()):
        """Analyse the uploaded video (or reuse this session's analysis of the same content).

        The work runs in a thread; when Gradio cancels this event (the Cancel button, an API
        client's cancel) the thread is told to stop at its next progress report, and keeps nothing.
        """
        run = AnalysisRun(self.services.config.analysis_time_limit_s)
        try:
            return await asyncio.to_thread(self.analyze_in_worker, self.session(request), run, upload, truth_upload,
                                           cache, threshold, min_duration, merge_gap, nms_iou, clusters_choice,
                                           progress)
        except asyncio.CancelledError:
            run.cancel()
            raise

    def analyze_in_worker(self, session: Session, run: AnalysisRun, upload: Any, truth_upload: Any, cache: dict,
                          threshold: float, min_duration: float, merge_gap: float, nms_iou: float,
                          clusters_choice: str, progress: gr.Progress):
        """The body of :meth:`analyze`; the library entry is added only if ``run`` was not stopped."""
        path = _file_path(upload)
        if path is None:
            raise UTALError("Upload a video or pick a bundled example first.")
        progress(0.0, desc="hashing the file")
        video = session.video_for(path)
        key = content_hash(video)
        cache = dict(cache or {})
        note = "Reused this session's analysis (no model run)."
        analysis = cache.get(key)
        if analysis is None:
            with self.services.analysis_slot(run):
                analysis = run_heavy(self, str(video), progress, run)
            run.begin_keeping()
            note = "Analysed."
            try:
                add_analysis_to_library(session.library, analysis)
            except UTALError as error:
                warn(f"Not added to the library: {error}")
        params, num_clusters = _params(threshold, min_duration, merge_gap, nms_iou), _num_clusters(clusters_choice)
        if analysis.params != params or num_clusters != self.services.pipeline.config.num_clusters:
            analysis = self.services.pipeline.resegment(analysis, params, num_clusters)
        cache[key] = analysis
        while len(cache) > SESSION_CACHE_SIZE:
            cache.pop(next(iter(cache)))
        truth = self.ground_truth(truth_upload, analysis)
        return (analysis, cache, truth, None, None, _status(self.services, analysis, note),
                gr.Video(value=session.publish(analysis.video_path), playback_position=0.0), segment_rows(analysis))

    def ground_truth(self, truth_upload: Any, analysis: Analysis | None) -> list | None:
        """The ground truth of the analysed video from an ActivityNet JSON file, or None without one."""
        path = _file_path(truth_upload)
        if path is None or analysis is None:
            return None
        return ground_truth_for_video(load_ground_truth(path), analysis.video_id)

    def resegment(self, analysis: Analysis | None, truth: list | None, cluster: int | None, threshold: float,
                  min_duration: float, merge_gap: float, nms_iou: float, clusters_choice: str):
        """Re-segment from the cached curves (no model run) and redraw the timeline and the table."""
        if analysis is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        analysis = self.services.pipeline.resegment(
            analysis, _params(threshold, min_duration, merge_gap, nms_iou), _num_clusters(clusters_choice))
        if cluster is not None and all(c.id != cluster for c in analysis.clusters):
            cluster = None
        return (analysis, cluster, *self.render(analysis, truth, cluster))

    def render(self, analysis: Analysis | None, truth: list | None, cluster: int | None):
        """Timeline figure, segments table and segment count."""
        if analysis is None:
            return gr.skip(), gr.skip(), gr.skip()
        return (timeline_figure(analysis, truth, cluster), segment_rows(analysis, cluster),
                _segment_count(self.services, analysis, cluster))

    def render_media(self, analysis: Analysis | None, truth: list | None, cluster: int | None,
                     request: gr.Request):
        """Thumbnails, clusters view, subtitles and mAP (the slower, second half of a refresh)."""
        if analysis is None:
            return (gr.skip(),) * 6
        session = self.session(request)
        shown = visible_segments(analysis, cluster)
        best = sorted(sorted(range(len(shown)), key=lambda p: -shown[p][1].score)[:MAX_THUMBNAILS])
        segments = [shown[p][1] for p in best]
        thumbs = session.thumbnails.for_segments(analysis.video_path, segments)
        gallery = [(str(path), f"{s.start:.1f}–{s.end:.1f} s · {s.label or s.cluster}")
                   for path, s in zip(thumbs, segments)]
        (subtitles,) = self.write_exports(session, analysis, ("vtt",))
        return (gallery, best, self.cluster_gallery(session, analysis), cluster_rows(analysis),
                gr.Video(subtitles=subtitles), self.detection(analysis, truth))

    @staticmethod
    def cluster_gallery(session: Session, analysis: Analysis) -> list[tuple[str, str]]:
        """One representative thumbnail per cluster: its best-scoring segment."""
        items = []
        for info in analysis.clusters:
            members = [s for s in analysis.segments if s.cluster == info.id]
            if members:
                best = max(members, key=lambda s: s.score)
                path = session.thumbnails(analysis.video_path, (best.start + best.end) / 2)
                others = f" · or {runner_ups(info.alternatives)}" if info.alternatives else ""
                items.append((str(path), f"{info.id}: {info.name} ({info.size}){others}"))
        return items

    @staticmethod
    def write_exports(session: Session, analysis: Analysis,
                      formats: tuple[str, ...] = tuple(EXPORT_FORMATS)) -> list[str]:
        """The given export formats, written atomically to this session's export folder of the analysis."""
        folder = session.export_dir(analysis.content_hash)
        exported = AnalysisExport(video=analysis.video_id, duration=analysis.duration, segments=analysis.segments)
        return [str(atomic_write_text(folder / f"{analysis.video_id}{EXPORT_FORMATS[name][0]}",
                                      EXPORT_FORMATS[name][1](exported))) for name in formats]

    def downloads(self, analysis: Analysis | None, request: gr.Request) -> list[str]:
        """Analysis JSON (server paths reduced to file names) plus every export format of the current segments."""
        if analysis is None:
            raise UTALError("Analyse a video first.")
        session = self.session(request)
        data = strip_paths(analysis.to_dict())
        analysis_json = atomic_write_text(session.export_dir(analysis.content_hash) / f"{analysis.video_id}.analysis.json",
                                          json.dumps(data))
        return [str(analysis_json), *self.write_exports(session, analysis)]

    @staticmethod
    def detection(analysis: Analysis, truth: list | None):
        """Class-agnostic mAP at THUMOS tIoUs against the supplied ground truth (hidden without one)."""
        if truth is None:
            return gr.Dataframe(visible=False)
        predictions = {analysis.video_id: [Prediction.from_segment(s) for s in analysis.segments]}
        result = evaluate_detection({analysis.video_id: truth}, predictions, THUMOS_TIOUS, class_agnostic=True)
        return gr.Dataframe(value=detection_rows(result), visible=True)

    # --- selection and playback ---------------------------------------------------------------

    def select_segment(self, analysis: Analysis | None, cluster: int | None, position: int):
        """Seek the player to the ``position``-th visible segment; returns its index, start and end."""
        shown = visible_segments(analysis, cluster) if analysis is not None else []
        if not shown:
            raise UTALError("There is no segment to show.")
        position = min(max(position, 0), len(shown) - 1)
        index, segment = shown[position]
        info = (f"Segment {index}: {segment.start:.2f}–{segment.end:.2f} s, score {segment.score:.3f}, "
                f"{segment.label or 'cluster ' + str(segment.cluster)}")
        return position, segment.start, segment.end, info, gr.Video(playback_position=float(segment.start))

    def select_row(self, analysis: Analysis | None, cluster: int | None, event: gr.SelectData):
        return self.select_segment(analysis, cluster, int(event.index[0]))

    def select_thumbnail(self, analysis: Analysis | None, cluster: int | None, positions: list[int],
                         event: gr.SelectData):
        return self.select_segment(analysis, cluster, positions[int(event.index)])

    def step_segment(self, step: int) -> Callable:
        def step_handler(analysis: Analysis | None, cluster: int | None, position: int | None):
            return self.select_segment(analysis, cluster, (-1 if position is None and step > 0 else position or 0) + step)

        return step_handler

    def select_cluster(self, analysis: Analysis | None, event: gr.SelectData) -> int | None:
        """The cluster of the clicked cluster thumbnail (galleries list clusters in id order)."""
        if analysis is None:
            return None
        with_members = [c.id for c in analysis.clusters if any(s.cluster == c.id for s in analysis.segments)]
        return with_members[int(event.index)]

    # --- search -------------------------------------------------------------------------------

    def search(self, query: str, count: int, request: gr.Request):
        """Text search over the session's library (every visitor's in shared mode); says which text
        encoder answered. A hit whose video is missing or unreadable is listed without a thumbnail."""
        session = self.session(request)
        query = check_query(query)
        library = session.library
        if not library.spaces():
            raise UTALError("Nothing to search yet: analyse a video first.")
        scorer = self.services.pipeline.text_scorer
        hits = library.search_text(query, scorer, k=int(count))
        gallery, shown, rows = [], [], []
        for position, hit in enumerate(hits):
            rows.append([hit.video_name, round(hit.start, 2), round(hit.end, 2), round(hit.score, 3), hit.label or ""])
            try:
                thumbnail = session.thumbnails(hit.video_path, (hit.start + hit.end) / 2)
            except (UTALError, OSError) as error:
                LOG.info("search hit %s shown without a thumbnail: %s", hit.segment_id, error)
                continue
            gallery.append((str(thumbnail), f"{hit.video_name} · {hit.start:.1f}–{hit.end:.1f} s · {hit.score:.2f}"))
            shown.append(position)
        kind = f"{scorer.label} text tower" if scorer.space == "clip" else "offline label bridge (CLIP weights missing)"
        info = f"{len(hits)} result(s) for “{query}”, answered by **{scorer.name}** — {kind}."
        if len(shown) < len(hits):
            info += f" {len(hits) - len(shown)} without a thumbnail (their video is missing or unreadable)."
        return hits, shown, gallery, rows, info

    def open_gallery_hit(self, hits: list, shown: list[int], cache: dict, event: gr.SelectData, request: gr.Request):
        """Open the clicked thumbnail's video (the gallery lists only the hits that have one)."""
        return self.open_hit(hits[shown[int(event.index)]], cache, request)

    def open_table_hit(self, hits: list, cache: dict, event: gr.SelectData, request: gr.Request):
        """Open the clicked row's video."""
        return self.open_hit(hits[int(event.index[0])], cache, request)

    def open_hit(self, hit: Any, cache: dict, request: gr.Request):
        """Open a result's video at its start, with its analysis when this session has one."""
        session = self.session(request)
        if not Path(hit.video_path).is_file():
            raise UTALError(f"{hit.video_name} is no longer on disk.")
        video = session.publish(hit.video_path)
        analysis = next((a for a in (cache or {}).values() if Path(a.video_path).resolve() == Path(hit.video_path)),
                        None)
        note = f"Opened {hit.video_name} at {hit.start:.1f} s from search."
        player = gr.Video(value=video, playback_position=float(hit.start))
        if analysis is None:
            return gr.Tabs(selected="analyze"), gr.skip(), video, f"{note} Press **Analyze** for its timeline.", player
        return gr.Tabs(selected="analyze"), analysis, video, _status(self.services, analysis, note), player

    # --- settings -----------------------------------------------------------------------------

    def settings(self):
        """Doctor report and the banner for missing or unverified CLIP weights."""
        report = self.services.pipeline.doctor()
        rows = [[e.get("label", e["name"]), e["view"], "yes" if e["available"] else "no",
                 plain_message(e["weights"] or e["reason"] or "")] for e in report["encoders"]]
        clip = next((e for e in report["encoders"] if e["view"] == "clip" and e["available"]), None)
        checkpoint = Path(report["checkpoint"]).name if report.get("checkpoint") else None
        summary = (f"Device: **{report['device']}** · checkpoint: {checkpoint or 'none (per-video refinement from scratch)'}"
                   f" · text search: **{self.services.pipeline.text_scorer.name}**")
        warning = CLIP_HELP if clip is None else clip.get("warning")
        banner = gr.Markdown(f"⚠️ {warning}", visible=warning is not None)
        return rows, summary, banner

    async def preload(self, cache: dict, threshold: float, min_duration: float, merge_gap: float, nms_iou: float,
                      clusters_choice: str, request: gr.Request, progress: gr.Progress = gr.Progress()):
        """With ``--example``: fill in and analyse the bundled example when the page loads."""
        if not self.services.config.example:
            return (gr.skip(),) * 10
        video, truth = self.use_example(self.services.config.example)
        return (video, truth, *(await self.analyze(video, truth, cache, threshold, min_duration, merge_gap, nms_iou,
                                                   clusters_choice, request, progress)))


def run_heavy(explorer: Explorer, path: str, progress: gr.Progress, run: AnalysisRun) -> Analysis:
    """The model-running step (a GPU request on Hugging Face Spaces)."""
    return explorer.run_pipeline(path, progress, run)


if spaces is not None:
    run_heavy = spaces.GPU(run_heavy)


def build_demo(services: AppServices) -> gr.Blocks:
    """The whole UI; ``services`` supplies the pipeline, the library and the file folders."""
    explorer = Explorer(services)
    handle = user_errors
    with gr.Blocks(title="CLIP-AE Explorer") as demo:
        analysis = gr.State(None)
        cache = gr.State({})
        truth = gr.State(None)
        cluster = gr.State(None)
        position = gr.State(None)
        hits = gr.State([])
        gallery_hits = gr.State([])
        thumbnail_positions = gr.State([])
        gr.Markdown("# CLIP-AE Explorer\nFind actions in a video without annotations: upload it, press **Analyze**, "
                    "then explore the timeline, segments and pseudo-action clusters, or search every analysed video.")
        banner = gr.Markdown(visible=False, elem_id="clip-banner")
        with gr.Tabs() as tabs:
            with gr.Tab("Analyze", id="analyze"):
                with gr.Row():
                    with gr.Column(scale=1, min_width=300):
                        upload = gr.File(label="Video", file_types=["video"], elem_id="upload")
                        with gr.Row():
                            example = gr.Dropdown(list(EXAMPLE_SPECS), value=next(iter(EXAMPLE_SPECS)),
                                                  label="Bundled example", scale=3)
                            use_example = gr.Button("Use example", scale=1, elem_id="use-example")
                        truth_upload = gr.File(label="Ground truth (optional, ActivityNet JSON)",
                                               file_types=[".json"], elem_id="gt-upload")
                        with gr.Row():
                            analyze_button = gr.Button("Analyze", variant="primary", elem_id="analyze-btn")
                            cancel_button = gr.Button("Cancel", variant="stop", elem_id="cancel-btn")
                        status = gr.Markdown("Upload a video or pick the bundled example.", elem_id="status")
                        gr.Markdown("### Segmentation (instant, no model rerun)")
                        threshold = gr.Slider(0.0, 1.0, value=0.5, step=0.01, label="Threshold",
                                              elem_id="threshold")
                        min_duration = gr.Slider(0, 30, value=0, step=0.5, label="Minimum duration (s)",
                                                 elem_id="min-duration")
                        merge_gap = gr.Slider(0, 30, value=0, step=0.5, label="Merge gap (s)", elem_id="merge-gap")
                        nms_iou = gr.Slider(0.05, 1.0, value=0.6, step=0.05, label="NMS IoU", elem_id="nms-iou")
                        num_clusters = gr.Dropdown(CLUSTER_CHOICES, value="auto", label="Number of clusters",
                                                   elem_id="num-clusters")
                    with gr.Column(scale=2):
                        player = gr.Video(label="Player", interactive=False, elem_id="player", height=360)
                        with gr.Row():
                            previous_button = gr.Button("◀ Previous segment", elem_id="prev-btn")
                            play_button = gr.Button("▶ Play segment", elem_id="play-segment-btn")
                            next_button = gr.Button("Next segment ▶", elem_id="next-btn")
                        segment_info = gr.Markdown(elem_id="segment-info")
                        segment_start = gr.Number(visible=False)
                        segment_end = gr.Number(visible=False)
                timeline = gr.Plot(label="Timeline", elem_id="timeline")
                segment_count = gr.Markdown(elem_id="segment-count")
                with gr.Row():
                    with gr.Column(scale=3):
                        table = gr.Dataframe(headers=list(SEGMENT_COLUMNS), label="Segments (click a row to seek)",
                                             interactive=False, elem_id="segments-table", max_height=320)
                    with gr.Column(scale=2):
                        segment_gallery = gr.Gallery(label="Segment thumbnails", columns=4, height=320,
                                                     allow_preview=False, elem_id="segment-gallery")
                gr.Markdown("### Pseudo-action clusters (click one to filter)")
                with gr.Row():
                    cluster_gallery = gr.Gallery(label="Clusters", columns=5, height=220, allow_preview=False,
                                                 elem_id="clusters-gallery", scale=3)
                    with gr.Column(scale=2):
                        cluster_table = gr.Dataframe(headers=list(CLUSTER_COLUMNS), interactive=False,
                                                     elem_id="clusters-table")
                        show_all = gr.Button("Show all clusters", elem_id="show-all-clusters")
                with gr.Row():
                    prepare_downloads = gr.Button("Prepare downloads", elem_id="prepare-downloads", scale=0)
                    downloads = gr.File(label="Downloads (analysis JSON, ActivityNet JSON, CSV, VTT, SRT)",
                                        file_count="multiple", interactive=False, elem_id="downloads")
                    detection = gr.Dataframe(headers=["tIoU", "mAP (class-agnostic)"], visible=False,
                                             label="mAP against the ground truth", elem_id="map-table")
            with gr.Tab("Search", id="search"):
                with gr.Row():
                    query = gr.Textbox(label="Search every analysed video", placeholder="e.g. a person waving",
                                       scale=4, elem_id="search-box")
                    result_count = gr.Slider(1, 50, value=12, step=1, label="Results", scale=1)
                    search_button = gr.Button("Search", variant="primary", scale=1, elem_id="search-btn")
                search_info = gr.Markdown(elem_id="search-info")
                search_gallery = gr.Gallery(label="Results (click to open)", columns=4, height=360,
                                            allow_preview=False, elem_id="search-results")
                search_table = gr.Dataframe(headers=["video", "start (s)", "end (s)", "score", "label"],
                                            interactive=False, elem_id="search-table")
            with gr.Tab("Settings", id="settings"):
                settings_summary = gr.Markdown(elem_id="settings-summary")
                encoders = gr.Dataframe(headers=["encoder", "view", "available", "weights / reason"],
                                        interactive=False, elem_id="doctor")
                gr.Markdown(CLIP_HELP)

        controls = [threshold, min_duration, merge_gap, nms_iou, num_clusters]
        analysis_outputs = [analysis, cache, truth, cluster, position, status, player, table]
        view_outputs = [timeline, table, segment_count]
        media_outputs = [segment_gallery, thumbnail_positions, cluster_gallery, cluster_table, player, detection]
        view_inputs = [analysis, truth, cluster]

        use_example.click(handle(explorer.use_example), example, [upload, truth_upload])
        analyzing = analyze_button.click(
            handle(explorer.analyze), [upload, truth_upload, cache, *controls], analysis_outputs,
            concurrency_limit=services.config.max_concurrent_analyses, concurrency_id="heavy", api_name="analyze",
        )
        refreshed = analyzing.success(handle(explorer.render), view_inputs, view_outputs, show_progress="hidden")
        refreshed.success(handle(explorer.render_media), view_inputs, media_outputs, show_progress="hidden")
        cancel_button.click(None, cancels=[analyzing])
        truth_upload.change(handle(explorer.ground_truth), [truth_upload, analysis], truth).success(
            handle(explorer.render), view_inputs, view_outputs).success(
            handle(explorer.render_media), view_inputs, media_outputs)

        resegment_inputs = [analysis, truth, cluster, *controls]
        resegment_outputs = [analysis, cluster, *view_outputs]
        for control in controls:
            event = control.input if isinstance(control, gr.Dropdown) else control.release
            event(handle(explorer.resegment), resegment_inputs, resegment_outputs, show_progress="hidden",
                  trigger_mode="always_last", api_name=False).success(
                handle(explorer.render_media), view_inputs, media_outputs, show_progress="hidden",
                trigger_mode="always_last")

        seek_outputs = [position, segment_start, segment_end, segment_info, player]
        table.select(handle(explorer.select_row), [analysis, cluster], seek_outputs)
        segment_gallery.select(handle(explorer.select_thumbnail), [analysis, cluster, thumbnail_positions],
                               seek_outputs)
        prepare_downloads.click(handle(explorer.downloads), analysis, downloads)
        previous_button.click(handle(explorer.step_segment(-1)), [analysis, cluster, position], seek_outputs)
        next_button.click(handle(explorer.step_segment(+1)), [analysis, cluster, position], seek_outputs)
        play_button.click(None, [segment_start, segment_end], None, js=PLAY_SEGMENT_JS)

        for event in (cluster_gallery.select(handle(explorer.select_cluster), analysis, cluster),
                      show_all.click(lambda: None, None, cluster)):
            event.then(handle(explorer.render), view_inputs, view_outputs).then(
                handle(explorer.render_media), view_inputs, media_outputs)

        gr.on([search_button.click, query.submit], handle(explorer.search), [query, result_count],
              [hits, gallery_hits, search_gallery, search_table, search_info], api_name="search")
        hit_outputs = [tabs, analysis, upload, status, player]
        for opened in (search_gallery.select(handle(explorer.open_gallery_hit), [hits, gallery_hits, cache], hit_outputs),
                       search_table.select(handle(explorer.open_table_hit), [hits, cache], hit_outputs)):
            opened.then(
                handle(explorer.render), view_inputs, view_outputs).then(
                handle(explorer.render_media), view_inputs, media_outputs)

        demo.load(handle(explorer.settings), None, [encoders, settings_summary, banner])
        demo.unload(explorer.end_session)
        demo.load(handle(explorer.preload), [cache, *controls], [upload, truth_upload, *analysis_outputs],
                  concurrency_limit=services.config.max_concurrent_analyses, concurrency_id="heavy").success(
            handle(explorer.render), view_inputs, view_outputs).success(
            handle(explorer.render_media), view_inputs, media_outputs)
    demo.queue(default_concurrency_limit=4)
    return demo


#: Plays the selected segment from its start and pauses at its end (runs in the browser).
PLAY_SEGMENT_JS = """
(start, end) => {
  const video = document.querySelector('#player video');
  if (!video || start === null || end === null) return;
  if (video._segmentStop) video.removeEventListener('timeupdate', video._segmentStop);
  video._segmentStop = () => {
    if (video.currentTime >= end) { video.pause(); video.removeEventListener('timeupdate', video._segmentStop); }
  };
  video.addEventListener('timeupdate', video._segmentStop);
  video.currentTime = start;
  video.play();
}
"""

services = AppServices(AppConfig.from_env())
demo = build_demo(services)


def launch(blocks: gr.Blocks, config: AppConfig, port: int | None = None, host: str = "127.0.0.1", **kwargs) -> Any:
    """Launch with the app's limits: upload size, the folders files may be sent from, no share link.

    ``show_error=False``: only our plain ``gr.Error`` messages reach the page, never Gradio's own
    exception text (which can name server paths)."""
    config.check_private_folders()
    for folder in (config.library_dir, config.work_dir):
        folder.mkdir(parents=True, exist_ok=True)
    too_large = (f"This file is larger than the server's upload limit of {config.max_file_size} "
                 "(UTAL_MAX_UPLOAD); try a shorter or smaller video.")
    body_limit = Middleware(BodySizeLimit, limit_bytes=config.max_upload_bytes, message=too_large)
    return blocks.launch(server_name=host, server_port=port, share=False, max_file_size=config.max_file_size,
                         allowed_paths=config.allowed_paths, show_error=False, ssr_mode=False,
                         app_kwargs={"middleware": [body_limit]}, **kwargs)


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="CLIP-AE Explorer web app")
    parser.add_argument("--example", nargs="?", const=next(iter(EXAMPLE_SPECS)), default=None,
                        choices=list(EXAMPLE_SPECS), help="analyse the bundled example when the page loads")
    parser.add_argument("--port", type=int, default=None, help="port (default: Gradio's, 7860 or the next free one)")
    parser.add_argument("--host", default=os.environ.get("GRADIO_SERVER_NAME", "127.0.0.1"))
    parser.add_argument("--shared-library", action="store_true",
                        help="one library for every visitor and every run (a personal machine; "
                             "default: each session has its own; also UTAL_SHARED_LIBRARY=1)")
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.INFO, format="%(levelname)s %(name)s: %(message)s")
    services.config.example = args.example
    services.config.shared_library = services.config.shared_library or args.shared_library
    launch(demo, services.config, port=args.port, host=args.host)


if __name__ == "__main__":
    main()
