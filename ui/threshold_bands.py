"""The threshold slider's segments at every slider position, sent to the page once and drawn there on release.

A release of the threshold slider must redraw the timeline's segments in the time of a click, so the server does
not draw them then. After each analysis or re-segmentation the page receives, once, what the threshold changes in
the timeline at each of the slider's positions, computed exactly as the release's own re-segmentation computes it
(``Pipeline.resegment``, then ``viz.timeline_json`` from the same base), and ``DRAW_BANDS_JS`` draws a position in
place on release. The server's re-segmentation follows as before (table, count, clusters, inspector) and redraws
the timeline itself only when the page could not draw it (:func:`drawn_by_page`).

What changes with the threshold is found by ``meta``, never by a trace's position, so the timeline may gain lanes:
the segment-band traces (``meta.segments``: one per cluster), the ``customdata`` of any other trace that changes
with the segments (the fused curve's hover names; traces named by their ``meta``), whole any other trace that
changes with them (the edits lane's outlines), and the layout's shapes and
annotations (the threshold's line and label). The page's timeline carries its base's token in
``layout.meta.timeline_base`` (:data:`BASE_TOKEN`): a payload made on another base (another video, ground truth or
detector row) is not drawn.
"""

from __future__ import annotations

import hashlib
import json
from typing import Callable

import numpy as np

from utal_core.localize import LocalizeParams
from utal_core.pipeline import Analysis, NumClusters, Pipeline

#: The threshold slider's range and step: its positions are ``round(i * THRESHOLD_STEP, 2)`` for i in 0..100.
THRESHOLD_RANGE = (0.0, 1.0)
THRESHOLD_STEP = 0.01
#: Key of the timeline base's token in the figure's ``layout.meta``.
BASE_TOKEN = "timeline_base"

#: Runs in the page on the threshold slider's release: draws the position's segments from the payload that
#: STORE_BANDS_JS kept (one Plotly.react that changes only the bands, the segment-dependent hover names and the
#: threshold's marks) and returns what it drew for the server (:func:`drawn_by_page`), or "" when it could not.
#: It answers only after the browser has painted the new timeline: Gradio goes on with the server's re-segmentation
#: (tens of ms of its own work in the page) once the function has answered, and would otherwise hold the paint back.
DRAW_BANDS_JS = """
async (threshold, minDuration, mergeGap, nmsIou, clusters) => {
  const bands = window.utalThresholdBands;
  const plot = document.querySelector('#timeline .js-plotly-plot');
  const settings = [Number(minDuration), Number(mergeGap), Number(nmsIou), String(clusters)];
  if (!bands || !plot || !plot.data || !plot.layout || !window.Plotly) return '';
  if ((plot.layout.meta || {}).%(token)s !== bands.base || bands.controls.some((value, i) => value !== settings[i])) return '';
  const position = bands.positions[Math.round(Number(threshold) / bands.step)];
  if (!position || position.threshold !== Number(threshold)) return '';
  const expand = (runs) => runs.flatMap(([count, value]) => Array(count).fill(value));
  const isBand = (trace) => trace.meta && trace.meta.segments !== undefined;
  try {
    const others = plot.data.filter((trace) => !isBand(trace)).map((trace) => {
      const key = trace.meta && JSON.stringify(trace.meta);
      if (key && position.traces[key]) return structuredClone(position.traces[key]);
      const runs = key && position.customdata[key];
      return runs ? {...trace, customdata: expand(runs)} : trace;
    });
    const marks = (indices) => indices.map((index) => structuredClone(bands.pool[index]));
    const layout = {...plot.layout, shapes: marks(position.shapes), annotations: marks(position.annotations)};
    window.Plotly.react(plot, [...structuredClone(position.bands), ...others], layout);
  } catch (error) {  // the server's answer redraws it
    console.warn('threshold bands not drawn in the page', error);
    return '';
  }
  plot.dataset.thresholdDrawn = String(threshold);
  await new Promise((painted) => {  // a message sent from the next frame's callbacks comes after its paint
    setTimeout(painted, 100);  // a hidden tab paints no frame
    requestAnimationFrame(() => {
      const channel = new MessageChannel();
      channel.port1.onmessage = painted;
      channel.port2.postMessage(null);
    });
  });
  return JSON.stringify({key: bands.key, threshold: Number(threshold)});
}
""" % {"token": BASE_TOKEN}
#: Keeps the payload the server sent (JSON text) in the page, parsed (the slider's release reads it there). It comes as
#: text, not as a gr.JSON value: Gradio copies the value of a JSON component (megabytes here) several times on every
#: event of the page, the slider's release included.
STORE_BANDS_JS = "(bands) => { window.utalThresholdBands = bands ? JSON.parse(bands) : null; }"


def slider_thresholds() -> list[float]:
    """The threshold slider's positions, as the page sends them."""
    low, high = THRESHOLD_RANGE
    return [round(low + i * THRESHOLD_STEP, 2) for i in range(int(round((high - low) / THRESHOLD_STEP)) + 1)]


def kept_cluster(analysis: Analysis, cluster: int | None) -> int | None:
    """The selected cluster after a re-segmentation: kept while it still has segments, else none (all shown)."""
    return cluster if cluster is not None and any(c.id == cluster for c in analysis.clusters) else None


def bands_key(analysis: Analysis, params: LocalizeParams, num_clusters: NumClusters, cluster: int | None,
              base_token: str) -> str:
    """What a re-segmentation of ``analysis`` at any threshold depends on, besides the threshold: its video and
    curves, the other settings, the kept cluster model, the selected cluster and the timeline's base."""
    model = analysis.cluster_model
    digest = hashlib.sha256()
    for part in (analysis.content_hash, json.dumps(analysis.config, sort_keys=True, default=str),
                 json.dumps(params.with_threshold(0.0).to_dict(), sort_keys=True), str(num_clusters), str(cluster),
                 base_token, "no model" if model is None else json.dumps([model.views, model.num_clusters,
                                                                          [n.name for n in model.names]])):
        digest.update(part.encode())
        digest.update(b"\0")
    digest.update(np.ascontiguousarray(analysis.curves["fused"], dtype=np.float32).tobytes())
    if model is not None:
        digest.update(np.ascontiguousarray(model.centroids, dtype=np.float32).tobytes())
    return digest.hexdigest()[:32]


def drawn_by_page(note: str | None, key: str, threshold: float) -> bool:
    """Whether the page drew the segments of ``threshold`` itself from a payload of ``key`` (``DRAW_BANDS_JS``'s
    answer, ``note``)."""
    try:
        drawn = json.loads(note or "")
    except ValueError:
        return False
    return isinstance(drawn, dict) and drawn.get("key") == key and drawn.get("threshold") == threshold


def _as_in_javascript(value: object) -> object:
    """``value`` with its whole floats as ints: JSON.stringify writes 16.0 as "16"."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    if isinstance(value, dict):
        return {name: _as_in_javascript(item) for name, item in value.items()}
    if isinstance(value, list):
        return [_as_in_javascript(item) for item in value]
    return value


def trace_key(trace: dict) -> str | None:
    """A trace's ``meta`` as the page's ``JSON.stringify(trace.meta)`` writes it (the payload's key for it)."""
    meta = trace.get("meta")
    return json.dumps(_as_in_javascript(meta), separators=(",", ":"), ensure_ascii=False) \
        if isinstance(meta, dict) else None


def _is_band(trace: dict) -> bool:
    meta = trace.get("meta")
    return isinstance(meta, dict) and "segments" in meta


def _runs(values: list) -> list[list]:
    """``values`` as ``[count, value]`` runs (the page expands them)."""
    runs: list[list] = []
    for value in values:
        if runs and runs[-1][1] == value:
            runs[-1][0] += 1
        else:
            runs.append([1, value])
    return runs


def meta_only(base: dict) -> dict:
    """A timeline base (``viz.timeline_base``) with each trace cut down to its ``meta``, for ``viz.timeline_json``:
    what a segmentation changes comes out whole, and the rest (the curves and lanes, which the page has already) as
    stubs, not written to JSON and read back at every position."""
    return {"data": [{"meta": trace["meta"]} if "meta" in trace else {} for trace in base["data"]],
            "layout": base["layout"]}


def threshold_bands(pipeline: Pipeline, analysis: Analysis, cluster: int | None, base_token: str,
                    figure: Callable[[Analysis, int | None], str]) -> dict:
    """The payload of ``DRAW_BANDS_JS``: for every slider position, what ``figure`` (the timeline JSON of a
    segmentation with a selected cluster, on the base of ``base_token``; its unchanging traces may be stubs:
    :func:`meta_only`) changes with the threshold, from ``analysis`` re-segmented there with its other settings
    (``Pipeline.resegment_thresholds``; no model run). Shapes and annotations are listed once in ``pool``; a
    per-snippet ``customdata`` as runs."""
    positions, figures = [], []
    thresholds = slider_thresholds()
    for threshold, cut in zip(thresholds, pipeline.resegment_thresholds(analysis, thresholds, analysis.num_clusters)):
        figures.append((threshold, json.loads(figure(cut, kept_cluster(cut, cluster)))))
    customdata: dict[str, list] = {}
    rest: dict[str, list] = {}
    for _, drawn in figures:
        for trace in drawn["data"]:
            key = trace_key(trace)
            if not _is_band(trace) and key is not None:
                rest.setdefault(key, []).append({name: value for name, value in trace.items() if name != "customdata"})
                if isinstance(trace.get("customdata"), list):
                    customdata.setdefault(key, []).append(trace["customdata"])
    # a trace that changes beyond its hover names (the edits lane's outlines of every segment) is sent whole
    whole = {key for key, values in rest.items() if any(v != values[0] for v in values)}
    changing = {key for key, values in customdata.items() if any(v != values[0] for v in values)} - whole
    pool: list[dict] = []
    pooled: dict[str, int] = {}

    def pooled_index(item: dict) -> int:
        text = json.dumps(item, sort_keys=True)
        if text not in pooled:
            pooled[text] = len(pool)
            pool.append(item)
        return pooled[text]

    for threshold, drawn in figures:
        layout = drawn["layout"]
        positions.append({
            "threshold": threshold, "bands": [trace for trace in drawn["data"] if _is_band(trace)],
            "customdata": {trace_key(trace): _runs(trace["customdata"]) for trace in drawn["data"]
                           if not _is_band(trace) and trace_key(trace) in changing},
            "traces": {trace_key(trace): trace for trace in drawn["data"]
                       if not _is_band(trace) and trace_key(trace) in whole},
            "shapes": [pooled_index(item) for item in layout.get("shapes", [])],
            "annotations": [pooled_index(item) for item in layout.get("annotations", [])]})
    params = analysis.params
    return {"key": bands_key(analysis, params, analysis.num_clusters, cluster, base_token), "base": base_token,
            "step": THRESHOLD_STEP, "controls": [params.min_duration_s, params.merge_gap_s, params.nms_iou,
                                                 str(analysis.num_clusters)],
            "pool": pool, "positions": positions}
