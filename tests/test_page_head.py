"""The page's ``<head>`` preloads Gradio's Plotly chunk by the very URL Gradio's plot imports it from (issue 24)."""

from __future__ import annotations

import re

from ui.page_head import FRONTEND_ASSETS, page_head, plotly_chunk


def test_the_preloaded_chunk_is_the_one_gradios_plot_imports():
    (plot,) = FRONTEND_ASSETS.glob("Plot-*.js")
    imported = re.findall(r"import\(`\./(PlotlyPlot-[\w-]+\.js)`\)", plot.read_text(encoding="utf-8"))
    assert imported == [plotly_chunk()]
    assert page_head() == f'<link rel="modulepreload" href="assets/{imported[0]}" crossorigin>'


def test_nothing_is_preloaded_from_a_build_without_one_plotly_chunk(tmp_path):
    assert page_head(tmp_path) == ""
    for name in ("PlotlyPlot-a.js", "PlotlyPlot-b.js"):
        (tmp_path / name).write_text("")
    assert plotly_chunk(tmp_path) is None and page_head(tmp_path) == ""
