"""Opening a search result: its video's analysis (this session's, or the saved one) on screen, the player at the hit.

A hit names a library video; its analysis is found by content hash in the session's analyses
(``gr.State``), else among the saved analyses (``ui.saved_analyses``: no model run). The timeline,
table, thumbnails and ground truth then all belong to the hit's video, and the player seeks to the
hit in the browser once the new video can seek (``ui.player.SEEK_JS``).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import gradio as gr

from utal_core.errors import UTALError
from utal_core.features import content_hash

from .explorer import Explorer, remember, status_markdown
from .messages import markdown_text
from .player import browser_video
from .saved_analyses import saved_analyses_for


class SearchResults:
    """The handlers that open a result (thumbnail or table row) of the Search tab."""

    def __init__(self, explorer: Explorer) -> None:
        self.explorer = explorer

    def open_gallery_hit(self, hits: list, shown: list[int], cache: dict, truth_upload: Any, threshold: float,
                         min_duration: float, merge_gap: float, nms_iou: float, clusters_choice: str,
                         event: gr.SelectData, request: gr.Request):
        """Open the clicked thumbnail's video (the gallery lists only the hits that have one)."""
        return self.open_hit(hits[shown[int(event.index)]], cache, truth_upload,
                             (threshold, min_duration, merge_gap, nms_iou, clusters_choice), request)

    def open_table_hit(self, hits: list, cache: dict, truth_upload: Any, threshold: float, min_duration: float,
                       merge_gap: float, nms_iou: float, clusters_choice: str, event: gr.SelectData,
                       request: gr.Request):
        """Open the clicked row's video."""
        return self.open_hit(hits[int(event.index[0])], cache, truth_upload,
                             (threshold, min_duration, merge_gap, nms_iou, clusters_choice), request)

    def open_hit(self, hit: Any, cache: dict, truth_upload: Any, controls: tuple, request: gr.Request):
        """The Analyze tab with the hit's video and analysis; returns the outputs of ``OUTPUTS`` order:
        tabs, analysis, cache, truth, cluster, position, upload, status, player, seek time, downloads (cleared)."""
        explorer, session = self.explorer, self.explorer.session(request)
        video = Path(hit.video_path)
        if not video.is_file():
            raise UTALError(f"{hit.video_name} is no longer on disk.")
        record = next((v for v in session.library.list_videos() if v.id == hit.video_id), None)
        key = record.content_hash if record is not None else content_hash(video)
        cache = dict(cache or {})
        config = explorer.services.config
        analysis = cache.get(key) or saved_analyses_for(config.work_dir, session, video, config.shared_library).load(
            video, key, explorer.services.pipeline)
        note = f"Opened {markdown_text(hit.video_name)} at {hit.start:.1f} s from search."
        if analysis is None:
            status = f"{note} Its analysis was not kept: press **Analyze** for its timeline."
        else:
            analysis = explorer.with_controls(analysis, *controls)
            note = f"{note} {session.restore_edits(analysis)}".strip()
            remember(cache, key, analysis)
            status = status_markdown(explorer.services, analysis, note)
        truth = explorer.ground_truth(truth_upload, analysis)
        player = gr.Video(value=browser_video(session, video), playback_position=float(hit.start))
        return (gr.Tabs(selected="analyze"), analysis, cache, truth, None, None, session.publish(video), status,
                player, float(hit.start), None)
