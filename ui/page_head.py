"""Markup for the page's ``<head>``: Gradio's Plotly chunk fetched while the page starts.

Gradio imports its Plotly chunk (about 1.3 MB compressed, 4.6 MB of JavaScript) only when a plot first
gets a value, so a first visitor's timeline waited for the example's answer, then for that download. A
``modulepreload`` link starts the download (and the browser's compilation) with the page's own chunks;
the plot's import then finds it loaded. It evaluates nothing early, so the page's start is not held up.
"""

from __future__ import annotations

from pathlib import Path

import gradio

#: Gradio's built front-end chunks, served under ``assets/`` of the page.
FRONTEND_ASSETS = Path(gradio.__file__).parent / "templates" / "frontend" / "assets"
#: The file names of Gradio's Plotly chunk.
PLOTLY_CHUNK = "PlotlyPlot-*.js"


def plotly_chunk(assets: Path = FRONTEND_ASSETS) -> str | None:
    """The file name of Gradio's Plotly chunk (``PlotlyPlot-<hash>.js``) in ``assets``, or None when there is
    not exactly one (another Gradio build: then nothing is preloaded)."""
    found = list(assets.glob(PLOTLY_CHUNK))
    return found[0].name if len(found) == 1 else None


def page_head(assets: Path = FRONTEND_ASSETS) -> str:
    """The ``<head>`` markup: a ``modulepreload`` of the Plotly chunk (empty without one). The URL is the one
    Gradio's plot imports it from (``assets/`` beside its other chunks), so the browser fetches it once."""
    chunk = plotly_chunk(assets)
    return f'<link rel="modulepreload" href="assets/{chunk}" crossorigin>' if chunk else ""
