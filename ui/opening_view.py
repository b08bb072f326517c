"""The bundled example's opening view, served in the page itself.

With ``--example``, every new page opens on the example's analysis. Once the start-up preparation has it
(``ui.saved_analyses.prepare_example``), its status, player, timeline, segment table and count become the
page's initial values, so a visitor's page shows them as it starts, not a request later: the page's load
event still attaches the analysis, the visitor's saved corrections and the session's library, and its
answer leaves out each part the page shows already (``OpeningView.unshown``), so nothing is drawn twice.
A page served before the preparation ended starts empty and gets everything from that answer, as before.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from typing import Any, Mapping

import gradio as gr
from gradio.processing_utils import move_files_to_cache

from utal_core import media
from utal_core.pipeline import Analysis

from .explorer import LOADED_NOTE, Explorer, status_markdown
from .saved_analyses import media_info

LOG = logging.getLogger("utal_app")

#: The parts whose value is a file: the page shows the one in its config, which is the same video or JSON.
FILE_ROLES = ("upload", "truth_upload", "player")


@dataclass(frozen=True)
class OpeningView:
    """Each part's value (upload, truth_upload, status, player, table, timeline, segment_count: the load event's
    answer's names, ``ui.explorer.PRELOAD_PARTS``) as that answer has it for a visitor without saved corrections."""

    example: str
    values: Mapping[str, Any]

    def unshown(self, answer: Mapping[str, Any]) -> dict[str, Any]:
        """``answer`` (role -> value) for a page that opened on this view: each part it shows already skipped."""
        return {role: gr.skip() if role in self.values and (role in FILE_ROLES or _same(value, self.values[role]))
                else value for role, value in answer.items()}


def _same(value: Any, shown: Any) -> bool:
    return isinstance(value, type(shown)) and value == shown  # a timeline (PlotData) compares by its fields


def opening_view(explorer: Explorer, name: str, analysis: Analysis) -> OpeningView:
    """The example ``name``'s view from its prepared ``analysis`` (cut as the page's opening controls cut it), as
    :meth:`Explorer.preload` answers a visitor without saved corrections; without the player when a browser
    cannot play the file itself (the answer then brings the session's playable copy)."""
    video, truth_file = explorer.use_example(name)
    truth = explorer.ground_truth(truth_file, analysis)
    figure, rows, count = explorer.render(analysis, truth, None)
    values = {"upload": video, "truth_upload": truth_file, "status": status_markdown(explorer.services, analysis, LOADED_NOTE),
              "table": rows, "timeline": figure, "segment_count": count}
    info = media_info(analysis, video)
    if info is not None and media.browser_playable(info):
        values["player"] = video
    return OpeningView(name, values)


class OpeningViewSlot:
    """Where a page's opening view is written: the page's components for each role, and the view on them now."""

    def __init__(self, demo: gr.Blocks, explorer: Explorer, components: Mapping[str, gr.components.Component]) -> None:
        self.demo = demo
        self.explorer = explorer
        self.components = dict(components)
        self.view: OpeningView | None = None
        self._lock = threading.Lock()
        explorer.opening = self

    def example_ready(self, name: str, analysis: Analysis) -> None:
        """The start-up preparation has the example ``name``: new pages open on it when it is the page's example."""
        if name == self.explorer.services.config.example:
            self.show(opening_view(self.explorer, name, analysis))

    def show(self, view: OpeningView) -> None:
        """Make ``view`` every new page's initial values (the config each page load is served)."""
        with self._lock:
            for role, value in view.values.items():
                self.components[role].value = _initial_value(self.components[role], value)
            self.demo.config = self.demo.get_config_file()
            self.view = view
        LOG.info("new pages open on the example %s", view.example)


def _initial_value(component: gr.components.Component, value: Any) -> Any:
    """``value`` as a component's initial value in the config (what ``Component.__init__`` makes of ``value=``)."""
    value = component.postprocess(value)
    if hasattr(value, "model_dump"):
        value = value.model_dump()
    return move_files_to_cache(value, component, postprocess=True, keep_in_cache=True)
