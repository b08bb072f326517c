"""The app's event handlers: each takes and returns plain values and ``gr.State`` contents.

Everything computed goes through ``utal_core``; per-session state stays in ``gr.State`` and in the
visitor's ``Session`` (``ui.sessions``), never in module globals.
"""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
import secrets
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable

import gradio as gr
from gradio.components.plot import PlotData

from utal_core import media
from utal_core.dataset.video import DatasetVideo
from utal_core.edits import segment_tag
from utal_core.errors import UTALError
from utal_core.evaluate import THUMOS_TIOUS, Prediction, evaluate_detection, ground_truth_durations, load_ground_truth
from utal_core.examples import example_path
from utal_core.export import EXPORT_FORMATS, AnalysisExport, atomic_write_text
from utal_core.features import content_hash
from utal_core.library import add_analysis_to_library
from utal_core.library.search import no_good_match, no_good_match_note
from utal_core.localize import LocalizeParams
from utal_core.pipeline import Analysis, NumClusters
from utal_core.text import check_query, reference_action_vectors
from utal_core.viz import (
    cluster_rows, detection_rows, ground_truth_for_video, lanes_timeline_json, runner_ups, segment_rows,
    timeline_base, timeline_json, visible_segments,
)

from .controls import Controls
from .diagnosis import DetectorRow, detector_rows
from .messages import error_message, markdown_text, plain_message, strip_paths, warn
from .player import CONVERTING, browser_video
from .saved_analyses import media_info, saved_analyses_for
from .services import AppServices
from .sessions import AnalysisRun, AnalysisStopped, Session
from .threshold_bands import BASE_TOKEN, bands_key, drawn_by_page, kept_cluster, meta_only, threshold_bands

if TYPE_CHECKING:
    from .opening_view import OpeningViewSlot

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
#: Redraws the timeline in place from a re-segmentation's ``{"threshold", "figure"}`` (Plotly JSON): one ``Plotly.react``
#: (zoom kept by the figure's ``uirevision``). Handing the figure to the gr.Plot instead costs two full draws and two
#: resizes per update. Empty: the page drew the segments itself (ui/threshold_bands.py); a figure of a threshold the
#: slider has left since is not drawn (the later release draws its own).
REDRAW_TIMELINE_JS = """
(redraw) => {
  const plot = document.querySelector('#timeline .js-plotly-plot');
  if (!plot || !redraw || !window.Plotly) return;
  const {threshold, figure} = JSON.parse(redraw);
  const slider = document.querySelector('#threshold input[type=range]');
  if (slider && Number(slider.value) !== threshold) return;
  const {data, layout} = figure;
  layout.autosize = true;
  layout.margin = {...layout.margin, autoexpand: true};
  window.Plotly.react(plot, data, layout);
}
"""
#: Downloads of the corrected annotations (the edits layer's kept segments), beside the raw exports.
CORRECTED_FORMATS = ("anet-gt", "csv", "eaf")
#: Timeline height in pixels (under the player, see ``ui.layout.PLAYER_HEIGHT``).
TIMELINE_HEIGHT = 320
#: The segment gallery shows the best-scoring visible segments, at most this many (in time order).
MAX_THUMBNAILS = 24
CLUSTER_CHOICES = ["auto", *[str(k) for k in range(1, 11)]]
CLIP_HELP = ("CLIP weights are missing, so the CLIP view is off and text search uses the offline label "
             "bridge. To add them, put `ViT-B-32_laion2b_s34b_b79k.safetensors` in `checkpoints/` "
             "(or pass `clip` weights in the pipeline config) and restart; `python -m utal_core doctor` "
             "shows what is found.")


#: What the Analyze tab says of a dataset's video (no analysis of its own: ``utal_core.dataset.video``), on the
#: timeline and where a control needs the analysis.
NO_ANALYSIS = ("No analysis of this video (the localizer did not run): its ground truth, with your corrections in the "
               "edits lane, and the detectors' results.")
NEEDS_ANALYSIS = ("This needs an analysis of the video, and a dataset's video has none: the segments, their "
                  "thresholds, clusters and downloads come from Analyze. Its corrected ground truth is exported "
                  "from the Dataset tab.")


def analysed(video: Analysis | DatasetVideo | None) -> Analysis:
    """``video`` when it is an analysis; a plain message when it is a dataset's video or nothing."""
    if isinstance(video, DatasetVideo):
        raise UTALError(NEEDS_ANALYSIS)
    if video is None:
        raise UTALError("Analyse a video first.")
    return video


#: The status after Cancel (the previous video, if any, stays on screen).
CANCELLED = "Analysis cancelled; nothing of it was kept."
#: The status's note for an analysis loaded from disk.
LOADED_NOTE = "Loaded the saved analysis of this video (no model run)."
#: The page load's answer after the visitor's token (``Explorer.preload``), part by part.
PRELOAD_PARTS = ("upload", "truth_upload", "analysis", "cache", "truth", "cluster", "position", "status", "player",
                 "table", "timeline", "segment_count", "downloads")
#: What to do after an analysis failed for a reason the message does not fix.
RETRY = "Try again, or try another video."
#: The containers the app's ffmpeg reads that browsers and cameras write.
VIDEO_FORMATS = "MP4, MOV, AVI, MKV or WebM"


def not_a_video_message(video: Path) -> str | None:
    """What to say when ``video`` is not a video ffmpeg can read (which file, what was found, what to do);
    None when it is one (the analysis failed for another reason)."""
    try:
        media.probe(video)
    except UTALError as error:
        return f"Not a video: {plain_message(str(error)).rstrip('.')}. Upload a video file ffmpeg can read: {VIDEO_FORMATS}."
    return None


def _file_path(upload: Any) -> str | None:
    """The local path of a gr.File value (a path string or an object with ``.name``)."""
    if upload is None:
        return None
    return str(getattr(upload, "name", upload))


def status_markdown(services: AppServices, analysis: Analysis, note: str) -> str:
    pipeline = services.pipeline
    absent = "; ".join(f"{view}: {reason}" for view, reason in analysis.absent.items()) or "none"
    return (f"**{markdown_text(Path(analysis.video_path).name)}** — {analysis.duration:.1f} s, {analysis.grid.num_snippets} snippets. "
            f"{note}  \nAbsent views: {absent}.  \n"
            f"Model runs (this server): <span id='model-runs'>{pipeline.model_runs}</span>; "
            f"device {pipeline.extractor.device}.")


def remember(cache: dict, key: str, analysis: Analysis) -> None:
    """Keep ``analysis`` in the session's cache under its content hash (the oldest go past ``SESSION_CACHE_SIZE``)."""
    cache[key] = analysis
    while len(cache) > SESSION_CACHE_SIZE:
        cache.pop(next(iter(cache)))


def _segment_count(services: AppServices, analysis: Analysis, cluster: int | None) -> str:
    shown = len(visible_segments(analysis, cluster))
    scope = f" in cluster {cluster}" if cluster is not None else ""
    return (f"<span id='segment-count-value'>{shown}</span> segments{scope} (of {len(analysis.segments)}) · "
            f"model runs: <span id='segment-model-runs'>{services.pipeline.model_runs}</span>")


def _params(threshold: float, min_duration: float, merge_gap: float, nms_iou: float) -> LocalizeParams:
    return Controls(threshold, min_duration, merge_gap, nms_iou).params()


def _num_clusters(choice: str) -> NumClusters:
    return Controls(clusters=choice).num_clusters()


class Explorer:
    """The event handlers; each takes and returns plain values and ``gr.State`` contents."""

    def __init__(self, services: AppServices) -> None:
        self.services = services
        #: The page's opening view of the bundled example, once the page has one (``ui.opening_view``).
        self.opening: OpeningViewSlot | None = None

    def session(self, request: gr.Request) -> Session:
        """The visitor's session (its folders, stored videos and library)."""
        return self.services.sessions.get(request.session_hash)

    def attach_visitor(self, token: str | None, request: gr.Request) -> str:
        """On page load: this session keeps its corrections where the browser's visitor token says (a new token
        for a new browser); the token goes back into the browser's local storage."""
        return self.services.sessions.attach_visitor(request.session_hash, token)

    def end_session(self, request: gr.Request) -> None:
        """The tab was closed: delete the session's files."""
        self.services.sessions.close(request.session_hash, tab_closed=True)

    # --- analysis ---------------------------------------------------------------------------

    def use_example(self, name: str) -> tuple[str, str | None]:
        """The bundled example's video and ground-truth files, written on first use."""
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
        session = self.session(request)
        session.last_failure = None
        try:
            return await asyncio.to_thread(self.analyze_in_worker, session, run, upload, truth_upload,
                                           cache, threshold, min_duration, merge_gap, nms_iou, clusters_choice,
                                           progress)
        except asyncio.CancelledError:
            run.cancel()
            session.last_failure = CANCELLED  # Gradio then runs the failure handler too
            raise
        except Exception as error:  # the toast says it; the status line says it again (``after_failure``)
            session.last_failure = error_message(error)
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
        # Written beside the analysis at the lowest priority (it takes the cores the analysis leaves idle).
        self.services.request_proxy(video, key)
        cache = dict(cache or {})
        note = "Reused this session's analysis (no model run)."
        analysis = cache.get(key)
        saved = saved_analyses_for(self.services.config.work_dir, session, video, self.services.config.shared_library)
        if analysis is None:
            progress(0.0, desc="looking for a saved analysis")
            analysis = saved.load(video, key, self.services.pipeline)
            note = LOADED_NOTE
        if analysis is None:
            if self.services.running_analyses >= self.services.config.max_concurrent_analyses:
                progress(0.0, desc="waiting for the analysis before this one to finish")
            try:
                with self.services.analysis_slot(run):
                    # saved while this one waited for its turn: the example prepared at server start, another tab's
                    analysis = saved.load(video, key, self.services.pipeline)
                    fresh = analysis is None
                    if analysis is None:
                        analysis = run_heavy(self, str(video), progress, run)
            except AnalysisStopped:
                raise
            except UTALError as error:
                raise UTALError(not_a_video_message(video) or f"The analysis of {video.name} failed: "
                                f"{plain_message(str(error)).rstrip('.')}. {RETRY}") from error
            if fresh:
                run.begin_keeping()
                note = "Analysed."
                saved.save(analysis, self.services.pipeline)
        analysis = self.with_controls(analysis, threshold, min_duration, merge_gap, nms_iou, clusters_choice)
        restored = session.restore_edits(analysis)
        note = f"{note} {restored}".strip()
        if key not in cache:  # the segments as the page's controls cut them: a search hit is a band on the timeline
            try:
                add_analysis_to_library(session.library, analysis)
            except UTALError as error:
                warn(f"Not added to the library: {error}")
        remember(cache, key, analysis)
        truth = self.ground_truth(truth_upload, analysis)
        playable = browser_video(session, video, lambda fraction: progress(fraction, desc=CONVERTING),
                                 media_info(analysis, video))
        figure, rows, count = self.render(analysis, truth, None)
        return (analysis, cache, truth, None, None, status_markdown(self.services, analysis, note),
                gr.update(value=playable, playback_position=0.0), rows, figure, count, None)

    def with_controls(self, analysis: Analysis, threshold: float, min_duration: float, merge_gap: float,
                      nms_iou: float, clusters_choice: str) -> Analysis:
        """``analysis`` segmented as the page's controls say (re-segmented from its curves when they differ)."""
        params, num_clusters = _params(threshold, min_duration, merge_gap, nms_iou), _num_clusters(clusters_choice)
        if analysis.params != params or analysis.num_clusters != num_clusters:
            analysis = self.services.pipeline.resegment(analysis, params, num_clusters)
        return analysis

    @staticmethod
    def starting() -> str:
        """The status while an analysis starts: empty, so the progress bar is not drawn over the last video's."""
        return ""

    def after_failure(self, analysis: Analysis | None, request: gr.Request) -> str:
        """The status after an analysis failed: what went wrong and what to do (as its toast said), over the
        video still on screen."""
        failure = self.session(request).last_failure or "The last analysis did not finish."
        return self.previous_video_status(analysis, markdown_text(failure))

    def after_cancel(self, analysis: Analysis | None, request: gr.Request) -> str:
        """The status after Cancel: the analysis was stopped and kept nothing; the previous video stays."""
        self.session(request).last_failure = CANCELLED  # what the failure handler of the cancelled run says too
        return self.previous_video_status(analysis, CANCELLED)

    def previous_video_status(self, analysis: Analysis | None, note: str) -> str:
        """``note`` first, in bold, then the status of the video still on screen (or what to do without one)."""
        if analysis is None:
            return f"**{note}** Upload a video or pick a bundled example."
        return f"**{note}**  \n" + status_markdown(self.services, analysis, "This is still the previous video, with its edits.")

    def ground_truth(self, truth_upload: Any, analysis: Analysis | DatasetVideo | None) -> list | None:
        """The ground truth of the analysed video from an ActivityNet JSON file (matched by video id, file
        stem or duration), or None without a file or without an entry for this video (then one warning). A
        dataset's video keeps its dataset's."""
        if isinstance(analysis, DatasetVideo):
            return analysis.ground_truth
        path = _file_path(truth_upload)
        if path is None or analysis is None:
            return None
        truth = ground_truth_for_video(load_ground_truth(path), analysis.video_id, analysis.duration,
                                       ground_truth_durations(path))
        if truth is None:
            warn(f"The ground-truth file has no entry for {analysis.video_id} (matched by video id, file name "
                 f"or a duration of {analysis.duration:.1f} s), so no ground truth or mAP is shown.")
        return truth

    def resegment(self, analysis: Analysis | None, truth: list | None, cluster: int | None,
                  detector: list[DetectorRow] | None, threshold: float, min_duration: float, merge_gap: float,
                  nms_iou: float, clusters_choice: str, drawn: str | None = None):
        """Re-segment from the cached curves (no model run): the new timeline (``{"threshold", "figure"}`` with its
        Plotly JSON: the page redraws the plot in place with it, ``REDRAW_TIMELINE_JS``), the table and the count.
        The timeline is "" when the page drew this threshold's segments itself (``drawn``: what
        ``DRAW_BANDS_JS`` answered on the slider's release)."""
        if analysis is None:
            return gr.skip(), gr.skip(), gr.skip(), gr.skip(), gr.skip()
        analysis = analysed(analysis)
        params, num_clusters = _params(threshold, min_duration, merge_gap, nms_iou), _num_clusters(clusters_choice)
        rows = detector_rows(detector, analysis)
        key = bands_key(analysis, params, num_clusters, cluster, self.timeline_token(analysis, truth, rows))
        analysis = self.services.pipeline.resegment(analysis, params, num_clusters)
        cluster = kept_cluster(analysis, cluster)
        _, table, count = self.render(analysis, truth, cluster, detector, with_figure=False)
        if drawn_by_page(drawn, key, float(threshold)):
            return analysis, cluster, "", table, count
        figure = self.timeline(analysis, truth, cluster, rows)
        return analysis, cluster, f'{{"threshold": {json.dumps(float(threshold))}, "figure": {figure}}}', table, count

    def render(self, analysis: Analysis | DatasetVideo | None, truth: list | None, cluster: int | None,
               detector: list[DetectorRow] | None = None, with_figure: bool = True):
        """Timeline figure (with the other detectors' rows, when there are some; None without ``with_figure``),
        segments table and segment count (all cleared without a video; a dataset's video: its lanes alone)."""
        if analysis is None:
            return None, [], ""
        if isinstance(analysis, DatasetVideo):
            plot = lanes_timeline_json(analysis.content_hash, analysis.duration, analysis.edit_layer(), truth,
                                       NO_ANALYSIS, detector_rows(detector, analysis))
            return (PlotData(type="plotly", plot=plot) if with_figure else None), [], \
                "No segments: this dataset video has no analysis."
        figure = None
        if with_figure:
            figure = PlotData(type="plotly", plot=self.timeline(analysis, truth, cluster, detector_rows(detector, analysis)))
        return figure, segment_rows(analysis, cluster), _segment_count(self.services, analysis, cluster)

    @staticmethod
    def timeline_base(analysis: Analysis, truth: list | None, rows: list) -> dict:
        """What no re-segmentation changes in the timeline, drawn with Plotly once per analysis, ground truth and
        rows (hundreds of ms; each segmentation adds its own parts as plain data: a re-threshold must follow the
        hand). Its layout carries a token of its own (``layout.meta``), so the page can tell which base it shows."""
        kept = analysis.reusable.get("timeline")
        if kept is None or kept[0] != truth or kept[1] != rows:
            base = timeline_base(analysis, truth, TIMELINE_HEIGHT, rows)
            meta = base["layout"].get("meta")
            base["layout"]["meta"] = (meta if isinstance(meta, dict) else {}) | {BASE_TOKEN: secrets.token_hex(8)}
            kept = analysis.reusable["timeline"] = (truth, rows, base)
        return kept[2]

    def timeline_token(self, analysis: Analysis, truth: list | None, rows: list) -> str:
        return self.timeline_base(analysis, truth, rows)["layout"]["meta"][BASE_TOKEN]

    def timeline(self, analysis: Analysis, truth: list | None, cluster: int | None, rows: list) -> str:
        """The timeline of this segmentation as Plotly JSON."""
        return timeline_json(analysis, truth, cluster, TIMELINE_HEIGHT, rows, self.timeline_base(analysis, truth, rows))

    def threshold_bands(self, analysis: Analysis | DatasetVideo | None, truth: list | None, cluster: int | None,
                        detector: list[DetectorRow] | None, sent: str | None):
        """The threshold's segments at every slider position for the page (ui/threshold_bands.py; JSON text) and
        their key, or no change when the page has them already (``sent``: the key of the last ones sent); none
        without an analysis."""
        if not isinstance(analysis, Analysis):
            return None, None
        rows = detector_rows(detector, analysis)
        token = self.timeline_token(analysis, truth, rows)
        if sent == bands_key(analysis, analysis.params, analysis.num_clusters, cluster, token):
            return gr.skip(), gr.skip()
        base = meta_only(self.timeline_base(analysis, truth, rows))
        bands = threshold_bands(self.services.pipeline, analysis, cluster, token,
                                lambda cut, shown: timeline_json(cut, truth, shown, TIMELINE_HEIGHT, rows, base))
        return json.dumps(bands, separators=(",", ":")), bands["key"]

    def render_media(self, analysis: Analysis | DatasetVideo | None, truth: list | None, cluster: int | None,
                     request: gr.Request):
        """Thumbnails, clusters view, subtitles and mAP (the slower, second half of a refresh); all cleared without
        an analysis."""
        if not isinstance(analysis, Analysis):
            return [], [], [], [], gr.skip(), gr.Dataframe(visible=False)
        session = self.session(request)
        shown = visible_segments(analysis, cluster)
        best = sorted(sorted(range(len(shown)), key=lambda p: -shown[p][1].score)[:MAX_THUMBNAILS])
        segments = [shown[p][1] for p in best]
        thumbs = session.thumbnails.for_segments(analysis.video_path, segments)
        gallery = [(str(path), f"{segment_tag(s)} · {s.start:.1f}–{s.end:.1f} s · {s.label or s.cluster}")
                   for path, s in zip(thumbs, segments)]
        (subtitles,) = self.write_exports(session, analysis, ("vtt",), versioned=True)
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
    def write_exports(session: Session, analysis: Analysis, formats: tuple[str, ...] = tuple(EXPORT_FORMATS),
                      versioned: bool = False, corrected: bool = False) -> list[str]:
        """The given export formats, written atomically to this session's export folder of the analysis.

        ``versioned`` puts a hash of the content in the file name: the player's subtitles, so that the
        browser loads the new cues after re-segmenting instead of the cached ones of the same URL.
        ``corrected``: the edits layer's accepted, edited and added segments, in ``<video>.corrected.*`` files."""
        folder = session.export_dir(analysis.content_hash)
        segments = analysis.edit_layer().kept_segments() if corrected else analysis.segments
        exported = AnalysisExport(video=analysis.video_id, duration=analysis.duration, segments=segments,
                                  media_name=Path(analysis.video_path).name)
        written = []
        for name in formats:
            suffix, render = EXPORT_FORMATS[name]
            text = render(exported)
            version = f".{hashlib.sha256(text.encode()).hexdigest()[:12]}" if versioned else ""
            version += ".corrected" if corrected else ""
            written.append(str(atomic_write_text(folder / f"{analysis.video_id}{version}{suffix}", text)))
        return written

    def downloads(self, analysis: Analysis | DatasetVideo | None, request: gr.Request) -> list[str]:
        """Analysis JSON (server paths reduced to file names, with its edits layer), every export format of the
        current segments, and the corrected ones (CORRECTED_FORMATS) once there are edits."""
        analysis = analysed(analysis)
        session = self.session(request)
        data = strip_paths(analysis.to_dict())
        analysis_json = atomic_write_text(session.export_dir(analysis.content_hash) / f"{analysis.video_id}.analysis.json",
                                          json.dumps(data))
        corrected = self.write_exports(session, analysis, CORRECTED_FORMATS, corrected=True) \
            if analysis.edits is not None and analysis.edits.operations else []
        return [str(analysis_json), *self.write_exports(session, analysis), *corrected]

    @staticmethod
    def detection(analysis: Analysis, truth: list | None):
        """Class-agnostic mAP at THUMOS tIoUs against the supplied ground truth (hidden without one)."""
        if truth is None:
            return gr.Dataframe(visible=False)
        predictions = {analysis.video_id: [Prediction.from_segment(s) for s in analysis.segments]}
        result = evaluate_detection({analysis.video_id: truth}, predictions, THUMOS_TIOUS, class_agnostic=True)
        return gr.Dataframe(value=detection_rows(result), visible=True)

    # --- selection and playback ---------------------------------------------------------------

    def select_segment(self, analysis: Analysis | DatasetVideo | None, cluster: int | None, position: int):
        """Seek the player to the ``position``-th visible segment; returns its index, start and end."""
        shown = visible_segments(analysed(analysis), cluster) if analysis is not None else []
        if not shown:
            raise UTALError("There is no segment to show.")
        position = min(max(position, 0), len(shown) - 1)
        _, segment = shown[position]
        info = (f"Segment {segment_tag(segment)}: {segment.start:.2f}–{segment.end:.2f} s, score {segment.score:.3f}, "
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
        if not isinstance(analysis, Analysis):
            return None
        with_members = [c.id for c in analysis.clusters if any(s.cluster == c.id for s in analysis.segments)]
        return with_members[int(event.index)]

    # --- search -------------------------------------------------------------------------------

    def search(self, query: str, count: int, request: gr.Request):
        """Text search over the session's library (every visitor's in shared mode); says which text
        encoder answered. Hits below their bar are hidden; when no hit reaches its bar, the closest ones are
        listed folded under "No good match". A hit whose video is missing or unreadable is listed without a
        thumbnail. Returns the listed hits, the gallery's positions among them, gallery, rows, info, results box."""
        session = self.session(request)
        query = check_query(query)
        library = session.library
        if not library.spaces():
            raise UTALError("Nothing to search yet: analyse a video first.")
        scorer = self.services.pipeline.text_scorer
        found = library.search_text(query, scorer, k=int(count), confidence_weight=library.config.confidence_weight,
                                    match_bars=True)
        unmatched = no_good_match(found)
        hits = found if unmatched else [hit for hit in found if hit.good_match is not False]
        gallery, shown, rows = [], [], []
        for position, hit in enumerate(hits):
            rows.append([hit.video_name, round(hit.start, 2), round(hit.end, 2), round(hit.rank_score, 3),
                         round(hit.score, 3), "" if hit.match_bar is None else round(hit.match_bar, 3),
                         round(hit.confidence, 3), hit.label or ""])
            try:
                thumbnail = session.thumbnails(hit.video_path, (hit.start + hit.end) / 2)
            except (UTALError, OSError) as error:
                LOG.info("search hit %s shown without a thumbnail: %s", hit.segment_id, error)
                continue
            gallery.append((str(thumbnail), f"{hit.video_name} · {hit.start:.1f}–{hit.end:.1f} s · {hit.rank_score:.2f}"))
            shown.append(position)
        kind = f"{scorer.label} text tower" if scorer.space == "clip" else "offline label bridge (CLIP weights missing)"
        info = f"{len(hits)} result(s) for “{markdown_text(query)}”, answered by **{scorer.name}** — {kind}."
        if unmatched:
            info = f"**{no_good_match_note(found, len(reference_action_vectors(scorer)))}** {info}"
        elif len(hits) < len(found):
            info += f" {len(found) - len(hits)} weaker result(s) below their bar left out."
        if len(shown) < len(hits):
            info += f" {len(hits) - len(shown)} without a thumbnail (their video is missing or unreadable)."
        box = gr.Accordion(label=f"No good match: the {len(hits)} closest result(s)" if unmatched
                           else "Results (click one to open)", open=not unmatched)
        return hits, shown, gallery, rows, info, box

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

    async def preload(self, token: str | None, upload: Any, cache: dict, threshold: float, min_duration: float,
                      merge_gap: float, nms_iou: float, clusters_choice: str, request: gr.Request,
                      progress: gr.Progress = gr.Progress()):
        """When the page loads, in one request: the visitor's saved corrections attached (:meth:`attach_visitor`:
        the token for the browser first), then with ``--example`` the bundled example filled in and analysed (its
        saved copy, with those corrections). A page that opened on the example (``upload``: its config had the
        opening view) gets only the parts it does not show already."""
        token = self.attach_visitor(token, request)
        if not self.services.config.example:
            return (token, *(gr.skip(),) * len(PRELOAD_PARTS))
        video, truth = self.use_example(self.services.config.example)
        answer = dict(zip(PRELOAD_PARTS, (video, truth, *(await self.analyze(
            video, truth, cache, threshold, min_duration, merge_gap, nms_iou, clusters_choice, request, progress)))))
        opening = self.opening.view if self.opening is not None else None
        if upload is not None and opening is not None:
            answer = opening.unshown(answer)
        return (token, *answer.values())


def run_heavy(explorer: Explorer, path: str, progress: gr.Progress, run: AnalysisRun) -> Analysis:
    """The model-running step (a GPU request on Hugging Face Spaces)."""
    return explorer.run_pipeline(path, progress, run)


if spaces is not None:
    run_heavy = spaces.GPU(run_heavy)
