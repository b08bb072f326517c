"""Issue 24: the first visitor of a freshly started server gets the bundled example's analysis from disk.

``python app.py --example`` (as a Space or ``make demo`` starts it) analyses the example in the background
when it starts; a visitor who comes before that has finished waits for it and then loads the saved copy,
so the server runs the model once, for the preparation, never for a visitor. A page served after that opens
on the example (its config carries the opening view, ``ui.opening_view``). Timings:
``benchmarks/first_visit.py``.
"""

from __future__ import annotations

import urllib.request

from utal_core.examples import DEFAULT_EXAMPLE
from utal_core.viz import TRACE_TYPES

from .app_harness import app_process, chromium_page, running_app
from .test_app_browser import pytestmark  # noqa: F401 - the browser marks
from .test_app_defects import model_runs_shown, wait_for_status


def test_the_first_visitor_of_a_fresh_server_gets_the_example_from_disk(tmp_path):
    folders = {"UTAL_APP_DIR": str(tmp_path / "app"), "UTAL_LIBRARY_DIR": str(tmp_path / "library")}
    with app_process(tmp_path, "--example", **folders) as (url, _), chromium_page(tmp_path / "profile") as page:
        page.set_default_timeout(300_000)
        page.goto(url)  # at once: the preparation has only started
        wait_for_status(page, f"{DEFAULT_EXAMPLE}.mp4 —", timeout=300_000)
        page.wait_for_selector("#segments-table [data-testid^='cell-0-']")
        assert "Loaded the saved analysis" in page.inner_text("#status")
        assert model_runs_shown(page) == 1  # the preparation's run; none for the visitor
        assert f"the example {DEFAULT_EXAMPLE} is ready" in (tmp_path / "server.log").read_text()

        # a page served now opens on the example: its config has the status, and its first answer only attaches
        # the analysis (the player keeps the config's file, not the session's copy an answer would bring)
        with urllib.request.urlopen(url) as served:
            assert "Loaded the saved analysis" in served.read().decode()
        tab = page.context.new_page()
        tab.goto(url)
        wait_for_status(tab, f"{DEFAULT_EXAMPLE}.mp4 —", timeout=60_000)
        tab.wait_for_function("() => document.querySelector('#timeline .js-plotly-plot')?._fullLayout", timeout=60_000)
        opening_player = tab.eval_on_selector("#player video", "video => video.src")
        # the segments shown before the load answer attached the session take no clicks until then (a click would
        # find no analysis); the click below waits for that
        inert = tab.evaluate("""() => { const attached = document.body.classList.contains('utal-attached');
            document.body.classList.remove('utal-attached');
            const before = getComputedStyle(document.querySelector('#segments-table')).pointerEvents;
            if (attached) document.body.classList.add('utal-attached');
            return before; }""")
        assert inert == "none"
        tab.click("#segments-table [data-testid='cell-0-0']")
        assert tab.evaluate("() => document.body.classList.contains('utal-attached')")
        tab.wait_for_function("() => document.querySelector('#segment-info').innerText.includes('Segment #1')",
                              timeout=60_000)  # the session has the analysis
        assert tab.eval_on_selector("#player video", "video => video.src") == opening_player
        # the margins hold the legend and the lane names, so Plotly drew the timeline once, without growing them
        grown = tab.evaluate("""() => { const plot = document.querySelector('#timeline .js-plotly-plot');
            return ['l', 'r', 'b'].filter(side => plot._fullLayout._size[side] > plot.layout.margin[side]); }""")
        assert grown == []
        # the page's Plotly knows the app's trace types only (ui.plotly_bundle), and each trace drew with its own
        assert sorted(tab.evaluate("() => Object.keys(window.Plotly.PlotSchema.get().traces)")) == sorted(TRACE_TYPES)
        drawn = tab.evaluate("""() => document.querySelector('#timeline .js-plotly-plot')._fullData
            .map(trace => [trace.type, trace._module && trace._module.name])""")
        assert drawn and all(kind == module for kind, module in drawn)
    assert len(list((tmp_path / "app" / "analyses").glob("*.analysis.json"))) == 1


def test_plotly_is_fetched_while_the_page_starts_not_after_its_first_answer(tmp_path):
    """The timeline's Plotly chunk is requested before the page's first request to the server (its load
    events), so a first visitor's timeline does not wait for that download after the example's answer."""
    with running_app(tmp_path) as server, chromium_page(tmp_path / "profile") as page:
        requested: list[str] = []
        page.on("request", lambda request: requested.append(request.url))
        page.goto(server.url)
        page.wait_for_selector("#analyze-btn", timeout=120_000)
        page.wait_for_function("() => performance.getEntriesByType('resource').some(e => e.name.includes('/queue/join'))",
                               timeout=120_000)
    first_join = next(n for n, url in enumerate(requested) if "/queue/join" in url)
    assert [url for url in requested[:first_join] if "/PlotlyPlot-" in url]
