"""How fast localization re-thresholds cached curves (the app reruns it on every slider move).

Run: .venv/bin/python benchmarks/localize_speed.py [--repeats 30]

A 10-minute video at 1 snippet/s (600 snippets) and at 0.25 s stride (2400 snippets), with a
smooth random actionness curve (the shape model outputs have) and a noisy one (worst case: many
short runs), with a single threshold and with the full 33-level sweep: `localize` on one curve,
with and without a 20-class CAS (features mode), and `localize_sources` on five such curves at
three time scales (an analysis: four views' evidence and the fused curve). Budgets: single
threshold < 50 ms, full sweep < 300 ms (median).
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from utal_core.grid import SnippetGrid  # noqa: E402
from utal_core.localize import LocalizeParams, localize, localize_sources  # noqa: E402

BUDGET_MS = {"single": 50.0, "sweep": 300.0}
NUM_CLASSES = 20


def _curves(num_snippets: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    kernel = np.hanning(21) / np.hanning(21).sum()
    smooth = np.convolve(rng.random(num_snippets + 40), kernel, mode="same")[20:-20]
    smooth = (smooth - smooth.min()) / (smooth.max() - smooth.min())
    return {"smooth": smooth, "noisy": rng.random(num_snippets)}


def _median_ms(repeats: int, run) -> tuple[float, int]:
    count = len(run())
    times = []
    for _ in range(repeats):
        begin = time.perf_counter()
        run()
        times.append(time.perf_counter() - begin)
    return 1000 * float(np.median(times)), count


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeats", type=int, default=30)
    args = parser.parse_args()
    rng = np.random.default_rng(0)
    print(f"{'snippets':>8}  {'curve':<6}  {'mode':<6}  {'cas / sources x scales':<4}  {'segments':>8}  {'median ms':>9}  budget")
    failures = 0
    for stride in (1.0, 0.25):
        grid = SnippetGrid(600.0, stride=stride, window=stride)
        cas = rng.random((grid.num_snippets, NUM_CLASSES))
        for curve_name, curve in _curves(grid.num_snippets, rng).items():
            for mode, params in (("single", LocalizeParams().with_threshold(0.5)), ("sweep", LocalizeParams())):
                sources = {f"source {i}": _curves(grid.num_snippets, rng)[curve_name] for i in range(5)}
                for kind in ("no", "yes", "5x3"):
                    def run(kind=kind, params=params):
                        if kind == "5x3":
                            return localize_sources(sources, grid, params)
                        return localize(curve, grid, params, cas=cas if kind == "yes" else None)

                    elapsed, count = _median_ms(args.repeats, run)
                    ok = elapsed < BUDGET_MS[mode]
                    failures += not ok
                    print(f"{grid.num_snippets:>8}  {curve_name:<6}  {mode:<6}  {kind:<4}  "
                          f"{count:>8}  {elapsed:>9.2f}  {'ok' if ok else 'OVER'} (< {BUDGET_MS[mode]:g})")
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
