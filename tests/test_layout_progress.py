"""Where the page's events show their progress (ui.layout.quiet_progress)."""

from __future__ import annotations

import gradio as gr
import pytest

from utal_core.pipeline import PipelineConfig


@pytest.fixture(scope="module")
def demo(tmp_path_factory):
    import app

    folder = tmp_path_factory.mktemp("layout_progress")
    config = app.AppConfig(library_dir=folder / "library", work_dir=folder / "work",
                           pipeline=PipelineConfig(cache_dir=str(folder / "features")))
    return app.build_demo(app.AppServices(config))


def progress_targets(demo: gr.Blocks) -> dict[int, list[dict]]:
    """Each backend event's progress targets as the page gets them (the config's components)."""
    config = demo.get_config_file()
    components = {component["id"]: component for component in config["components"]}
    return {event["id"]: [components[target] for target in event["show_progress_on"] or event["outputs"]]
            for event in config["dependencies"] if event["backend_fn"]}


def test_events_that_show_no_progress_report_it_to_one_state(demo):
    config = demo.get_config_file()
    hidden = {event["id"] for event in config["dependencies"]
              if event["backend_fn"] and event["show_progress"] == "hidden"}
    targets = progress_targets(demo)
    sinks = {tuple(target["id"] for target in targets[event]) for event in hidden}
    assert len(hidden) > 50 and len(sinks) == 1
    (sink,) = sinks
    assert len(sink) == 1 and targets[next(iter(hidden))][0]["type"] == "state"


def test_no_event_shows_its_progress_on_a_layout_block(demo):
    layouts = {"tabs", "tabitem", "column", "row", "accordion", "group", "form"}
    shown = {target["type"] for targets in progress_targets(demo).values() for target in targets}
    assert shown and not shown & layouts, shown & layouts
    # the page keeps a status on few components: each is copied on every status change of every event
    assert len({target["id"] for targets in progress_targets(demo).values() for target in targets}) < 40


def test_a_layout_target_is_refused():
    from ui.layout import quiet_progress

    with gr.Blocks() as blocks:
        with gr.Column() as column:
            text = gr.Textbox()
        gr.Button().click(lambda: "", None, [column, text])
        sink = gr.State(None)
    with pytest.raises(ValueError, match="layout block"):
        quiet_progress(blocks, sink)
