"""Text search on the real dev clips as the judge measures it, and the leave-one-group-out choice of
``LibraryConfig.confidence_weight`` (hits ranked by similarity + weight * the segment's localization score).

Every dev clip is analysed with the default pipeline and added to one fresh library (what
``library add`` does); every (clip, ground-truth label) pair of the judge (``../shared/tools/judge``,
imported) is a query made of the label's words. For each weight of :data:`WEIGHTS` it reports the
judge's recalls: clip R@1 (the first hit is on the right clip) and segment R@5 (a hit among the first
five is on the right clip with tIoU >= 0.3 to a ground-truth segment of that label). The weight is
chosen per held-out dataset group on the queries of the other groups (objective: the mean of the two
recalls); the held-out recalls of all groups together are the leave-one-group-out figures.

    .venv/bin/python benchmarks/retrieval_weight.py [--json OUT]

Exits cleanly (status 0, one line) when the clips or the judge are absent.
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from real_clips import dev_clips, label_queries  # noqa: E402
from utal_core.library import LibraryConfig, SegmentLibrary, add_analysis_to_library  # noqa: E402
from utal_core.library.search import rank_by_confidence  # noqa: E402
from utal_core.pipeline import Pipeline, PipelineConfig  # noqa: E402

WEIGHTS = (0.0, 0.1, 0.2, 0.3, 0.5, 1.0)
POOL = LibraryConfig.confidence_pool


def recalls(judge, ranked: dict, queries: dict, weight: float) -> tuple[float, float]:
    """Clip R@1 and segment R@5 of ``queries`` with hits re-ranked at ``weight``."""
    clip_at_1 = segment_at_5 = 0
    for (key, text), segments in queries.items():
        hits = rank_by_confidence(ranked[key, text], weight)[:10]
        on_clip = [i for i, hit in enumerate(hits) if Path(hit.video_path).name.startswith(key)]
        on_segment = [i for i in on_clip
                      if max(judge.ref_map.tiou(np.array([hits[i].start, hits[i].end]), np.array(segments))) >= 0.3]
        clip_at_1 += bool(on_clip and on_clip[0] == 0)
        segment_at_5 += bool(on_segment and on_segment[0] < 5)
    return clip_at_1 / max(1, len(queries)), segment_at_5 / max(1, len(queries))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--json", type=Path, help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    clips = dev_clips()
    if clips is None:
        return 0
    judge, vids, gt = clips
    pipeline = Pipeline.from_config(PipelineConfig())
    queries = label_queries(judge, gt)
    with tempfile.TemporaryDirectory() as folder, SegmentLibrary.open(folder) as library:
        for path in vids.values():
            add_analysis_to_library(library, pipeline.analyze(path))
        ranked = {query: library.search_text(query[1], pipeline.text_scorer, k=POOL) for query in queries}
    table = {weight: recalls(judge, ranked, queries, weight) for weight in WEIGHTS}
    groups = sorted({judge.group(key) for key, _ in queries})
    held_out, chosen = {}, {}
    for group in groups:
        train = {q: s for q, s in queries.items() if judge.group(q[0]) != group}
        test = {q: s for q, s in queries.items() if judge.group(q[0]) == group}
        weight = max(WEIGHTS, key=lambda w: sum(recalls(judge, ranked, train, w)))
        chosen[group] = weight
        held_out[group] = (recalls(judge, ranked, test, weight), len(test))
    n = len(queries)
    logo = tuple(sum(values[i] * count for values, count in held_out.values()) / n for i in range(2))
    print(f"{n} label queries over {len(vids)} clips, text encoder {pipeline.text_scorer.name}\n")
    print(f"{'weight':>8} {'clip R@1':>9} {'segment R@5':>12}")
    for weight, (clip, segment) in table.items():
        mark = "  <- LibraryConfig default" if weight == LibraryConfig.confidence_weight else ""
        print(f"{weight:8.2f} {clip:9.3f} {segment:12.3f}{mark}")
    print(f"\nleave-one-group-out: clip R@1 {logo[0]:.3f}, segment R@5 {logo[1]:.3f}")
    for group, weight in chosen.items():
        (clip, segment), count = held_out[group]
        print(f"  {group:12s} chosen {weight:.2f} on the other groups; held out ({count} queries): {clip:.3f} / {segment:.3f}")
    if args.json:
        args.json.write_text(json.dumps({"table": {str(w): v for w, v in table.items()}, "logo": logo,
                                         "chosen": chosen}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
