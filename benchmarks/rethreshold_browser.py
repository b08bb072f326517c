"""Re-thresholding round trip in the browser: slider change -> re-segmented timeline and table, for a 10-min video.

The app runs in this process; Debian chromium (playwright) uploads the 10-minute benchmark video,
analyses it, then moves the threshold and measures, in the page, the time from the change to the
redrawn timeline (the plot's threshold label shows the new value; table and count come in the same
response). The analysis comes from the real pipeline on .cache/benchmarks' 10-minute video when
it is there (features are cached after the first run), else from synthetic curves and features on
a small 10-minute video (``--source`` chooses). Prints a table; target: median under 300 ms.

    .venv/bin/python benchmarks/rethreshold_browser.py [--source real|synthetic] [--moves 12]
"""

from __future__ import annotations

import argparse
import dataclasses
import statistics
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(ROOT), str(ROOT / "tests"), str(ROOT / "benchmarks")]

import numpy as np  # noqa: E402

from common import CACHE, long_video  # noqa: E402
from app_harness import chromium_page, running_app  # noqa: E402
from utal_core.features import content_hash  # noqa: E402
from utal_core.grid import SnippetGrid  # noqa: E402
from utal_core.pipeline import Analysis, Pipeline, PipelineConfig  # noqa: E402
from utal_core.types import ViewFeatures  # noqa: E402

#: Pause before each move, as a user's: the previous move's thumbnails and subtitles finish first.
PAUSE_MS = 1500
REAL_VIDEO = CACHE / "synthetic_10min_720p_25fps.mp4"
MEASURE_JS = """
async (threshold) => {
  const box = document.querySelector('#threshold input[type=number]');
  const wanted = 'threshold ' + threshold.toFixed(2);
  const redrawn = () => [...document.querySelectorAll('#timeline .annotation-text')]
    .some(a => a.textContent.includes(wanted));
  const start = performance.now();
  box.value = String(threshold);
  box.dispatchEvent(new Event('input', {bubbles: true}));
  box.dispatchEvent(new Event('blur'));
  while (!redrawn()) {
    if (performance.now() - start > 30000) return -1;
    await new Promise(resolve => requestAnimationFrame(resolve));
  }
  await new Promise(resolve => requestAnimationFrame(resolve));
  return performance.now() - start;
}
"""


class PreparedPipeline(Pipeline):
    """The real pipeline, except that ``analyze`` of the benchmark video returns the analysis made beforehand."""

    def __init__(self, base: Pipeline, prepared: Analysis) -> None:
        super().__init__(base.config, base.extractor, base.checkpoint_path, text_scorer=base.text_scorer)
        self.prepared = prepared

    def analyze(self, path, progress=None) -> Analysis:
        if content_hash(path) == self.prepared.content_hash:
            return self.prepared
        return super().analyze(path, progress)


def synthetic_analysis(pipeline: Pipeline, video: Path, seed: int = 0) -> Analysis:
    """Ten minutes of smooth random actionness and random per-view features with class probabilities."""
    rng = np.random.default_rng(seed)
    grid = SnippetGrid(600.0)
    count = grid.num_snippets
    bumps = np.convolve(rng.random(count) ** 6, np.hanning(15), mode="same")
    curves = {view: np.clip(bumps / bumps.max() + rng.normal(0, 0.05, count), 0, 1).astype(np.float32)
              for view in ("cbp", "audio", "fused")} | {"clip": None}
    features = ViewFeatures(
        times=grid.times,
        views={"cbp": rng.normal(size=(count, 1280)).astype(np.float32),
               "audio": rng.normal(size=(count, 1024)).astype(np.float32)},
        absent={"clip": "synthetic benchmark"},
        extras={"cbp_probs": rng.dirichlet(np.full(1000, 0.05), count).astype(np.float32),
                "audio_scores": rng.random((count, 521)).astype(np.float32)})
    empty = Analysis(video_path=str(video), video_id=video.stem, content_hash=content_hash(video), duration=600.0,
                     grid=grid, media={}, curves=curves, clip_prior=None, absent=dict(features.absent),
                     cas=np.zeros((count, 1), np.float32), video_scores=np.ones(1, np.float32),
                     params=pipeline.config.localize, segments=[], clusters=[], segment_embeddings={},
                     config=pipeline.config.to_dict(), versions={}, features=features)
    return pipeline.resegment(empty, pipeline.config.localize, pipeline.config.num_clusters)


def prepare(source: str, folder: Path) -> tuple[Path, PreparedPipeline]:
    pipeline = Pipeline.from_config(PipelineConfig())
    if source == "real":
        video = long_video()
        print(f"analysing {video.name} with the real pipeline (features cached after the first run) ...", flush=True)
        analysis = pipeline.analyze(video)
    else:
        video = long_video(width=160, height=90)
        analysis = synthetic_analysis(pipeline, video)
    return video, PreparedPipeline(pipeline, analysis)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", choices=["real", "synthetic"], default="real" if REAL_VIDEO.exists() else "synthetic")
    parser.add_argument("--moves", type=int, default=12)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="utal_rethreshold_") as tmp:
        folder = Path(tmp)
        video, pipeline = prepare(args.source, folder)
        analysis = pipeline.prepared
        timings_server = []
        for threshold in np.linspace(0.3, 0.7, 5):
            start = time.perf_counter()
            pipeline.resegment(analysis, dataclasses.replace(analysis.params, thresholds=(float(threshold),)))
            timings_server.append((time.perf_counter() - start) * 1000)
        runs_before = pipeline.model_runs
        with running_app(folder, pipeline_object=pipeline) as server, chromium_page(folder / "profile") as page:
            page.set_default_timeout(600_000)
            page.goto(server.url)
            page.set_input_files("#upload input[type=file]", str(video))
            page.wait_for_selector(f"#upload .file-preview td[aria-label='{video.name}']")
            page.click("#analyze-btn")
            page.wait_for_selector("#segment-count-value")
            thresholds = [0.3 + 0.4 * (i % 2) + 0.01 * i for i in range(args.moves)]
            round_trips = []
            for threshold in thresholds:
                page.wait_for_timeout(PAUSE_MS)
                round_trips.append(page.evaluate(MEASURE_JS, threshold))
            model_runs = server.services.pipeline.model_runs - runs_before
    if min(round_trips) < 0:
        raise SystemExit("a re-threshold did not redraw within 30 s")
    print(f"\nRe-threshold round trip, {args.source} analysis of a 10-min video "
          f"({analysis.grid.num_snippets} snippets, {len(analysis.segments)} segments at load), chromium headless")
    print(f"{'measure':<44}{'median ms':>10}{'p90 ms':>10}{'max ms':>10}")
    for name, values in (("browser: slider change -> plot + table", round_trips),
                         ("server only: pipeline.resegment", timings_server)):
        ordered = sorted(values)
        p90 = ordered[min(len(ordered) - 1, int(round(0.9 * (len(ordered) - 1))))]
        print(f"{name:<44}{statistics.median(values):>10.0f}{p90:>10.0f}{max(values):>10.0f}")
    print(f"model runs while in the browser: {model_runs}")


if __name__ == "__main__":
    main()
