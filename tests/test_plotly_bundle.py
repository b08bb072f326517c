"""The page's Plotly registers only the trace types the app draws (ui.plotly_bundle), and every figure of the
app is made of those types only."""

from __future__ import annotations

from ui.compressed_assets import COMPILE_HINT, served_text
from ui.page_head import FRONTEND_ASSETS, plotly_chunk
from ui.plotly_bundle import CORE_TRACE_TYPES, REGISTER_CALL, registered_modules, registering_only
from utal_core.dataset import load_dataset
from utal_core.evaluate import GroundTruth
from utal_core.synth.detections import synthetic_ground_truth
from utal_core.viz import TRACE_TYPES, timeline_figure
from utal_core.viz_inspector import boundary_curves_figure
from utal_core.dataset.figures import class_ap_figure, outcomes_figure, sensitivity_figure

from .test_dataset import _write_set
from .test_viz import detector_row, synthetic_analysis

#: A minified chunk in the shape of Gradio's: lazy factories, re-exports, one registration call at the end.
CHUNK = ("var a=1,h=(e)=>e,ba=h((e,t)=>{t.exports={moduleType:`trace`,name:`bar`,plot:1}}),"
         "pi=h(e=>{e.name=`pie`}),bo=h((e,t)=>{t.exports=ba()}),po=h((e,t)=>{t.exports={moduleType:`trace`,"
         "name:`pie`,x:pi()}}),pp=h((e,t)=>{t.exports=po()});return h((e,t)=>{var n=G();"
         "n.register([bo(),pp()]),t.exports=n})")


def test_registration_is_cut_to_the_kept_types_and_nothing_else_changes():
    assert registered_modules(CHUNK) == [("bo", "bar"), ("pp", "pie")]
    served = registering_only(CHUNK, ["scatter", "bar"])
    assert served == CHUNK.replace("n.register([bo(),pp()])", "n.register([bo()])")
    assert registering_only(CHUNK, ["bar", "pie"]) == CHUNK


def test_a_chunk_without_the_call_or_without_a_kept_type_is_served_whole():
    assert registering_only(CHUNK, ["bar", "violin"]) == CHUNK  # another build: all of Plotly, never a lack
    assert registering_only(CHUNK.replace("n.register", "n.regist"), ["bar"]) == CHUNK.replace("n.register", "n.regist")
    assert registered_modules("no plotly here") == []


def test_gradios_plotly_chunk_is_served_with_the_apps_trace_types_only():
    path = FRONTEND_ASSETS / plotly_chunk()
    whole = path.read_text()
    modules = registered_modules(whole)
    names = [name for _, name in modules]
    assert len(names) == len(set(names)) >= 40 and None not in names  # every module read by its name
    assert {"bar", "pie", "scatter3d", "scattermapbox", "calendars"} <= set(names)
    kept = [factory for factory, name in modules if name in set(TRACE_TYPES) - set(CORE_TRACE_TYPES)]
    assert kept and len(kept) == len(set(TRACE_TYPES) - set(CORE_TRACE_TYPES))
    call = list(REGISTER_CALL.finditer(whole))[-1]
    cut = whole[:call.start(1)] + ",".join(f"{factory}()" for factory in kept) + whole[call.end(1):]
    assert served_text(path) == COMPILE_HINT + cut.encode()


def figure_types(figure) -> set[str]:
    return {trace.type for trace in figure.data}


def test_every_figure_of_the_app_is_made_of_the_registered_trace_types(tmp_path):
    analysis = synthetic_analysis(audio=True)
    timeline = timeline_figure(analysis, [GroundTruth(1.0, 3.3, "waving")], selected_cluster=None,
                               extra_rows=[detector_row()])
    figures = [timeline, boundary_curves_figure(analysis, analysis.segments[0], analysis.segments[1])]
    data = _write_set(tmp_path, synthetic_ground_truth(12, 3, layout="thumos14", seed=3), None)
    view = load_dataset(data["gt"], data["results"])
    figures += [outcomes_figure(view), class_ap_figure(view), sensitivity_figure(view)]
    used = set().union(*map(figure_types, figures))
    assert used == set(TRACE_TYPES)
