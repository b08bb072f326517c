"""Cluster names of analysed videos: what each cluster is called, how far its names stand out, and whether
the names stay when the threshold moves.

For every video: each cluster's size, its name (or "unnamed cluster k"), the z-score of that name and of the
cluster's own best name over the action vocabulary (the level a name must reach is printed), the runner-ups;
then the names of the clusters that have segments at the app's thresholds 0.5 and 0.6, and how many changed.

    .venv/bin/python benchmarks/cluster_names.py VIDEO... [--clip-weights PATH]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from utal_core.cluster import (ACTION_VOCABULARY, ClusterResult, NamingConfig, cluster_means,  # noqa: E402
                               name_z_scores, vocabulary_embeddings)
from utal_core.pipeline import Pipeline, PipelineConfig  # noqa: E402
from utal_core.text import load_vocabulary  # noqa: E402

#: The thresholds of the issue's example (the baseball clip's names changed between them).
THRESHOLDS = (0.5, 0.6)


def report(pipeline: Pipeline, video: str) -> tuple[int, int, int]:
    """Print one video's clusters; returns (clusters, named clusters, names changed between THRESHOLDS)."""
    analysis = pipeline.analyze(video)
    model = analysis.cluster_model
    if model is None:
        print(f"{Path(video).name}: no clusters")
        return 0, 0, 0
    names = load_vocabulary(ACTION_VOCABULARY)
    scorer = pipeline.text_scorer
    labels = np.array([s.cluster for s in analysis.segments])
    result = ClusterResult(labels=labels, k=len(model.names), centroids=model.centroids, quality=None)
    z = name_z_scores(cluster_means(analysis.segment_embeddings, result, scorer.segment_vectors)
                      @ vocabulary_embeddings(scorer, names).T)
    print(f"{Path(video).name}: {len(analysis.segments)} segments, {len(model.names)} clusters, named by "
          f"{scorer.name}; a name must reach z >= {NamingConfig().level(len(names)):.2f} ({len(names)} names)")
    for c, name in enumerate(model.names):
        best = int(z[c].argmax())
        given = f"z {z[c, names.index(name.name)]:.2f}" if name.named else "-"
        others = ", ".join(f"{other} {score:.3f}" for other, score in name.alternatives)
        print(f"  {c}: {int((labels == c).sum()):>3} segments  {name.name!r} {given}  own best {names[best]!r} "
              f"z {z[c, best]:.2f}  runner-ups: {others}")
    at = {}
    for threshold in THRESHOLDS:
        again = pipeline.resegment(analysis, analysis.params.with_threshold(threshold), analysis.num_clusters)
        at[threshold] = {c.id: c.name for c in again.clusters}
        print(f"  at threshold {threshold}: {len(again.segments)} segments, "
              + ", ".join(f"{c}: {name}" for c, name in sorted(at[threshold].items())))
    first, second = (at[t] for t in THRESHOLDS)
    changed = sum(first[c] != second[c] for c in set(first) & set(second))
    return len(model.names), sum(n.named for n in model.names), changed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("videos", nargs="+")
    parser.add_argument("--clip-weights", help="open_clip weights file for the CLIP view")
    args = parser.parse_args()
    config = PipelineConfig()
    if args.clip_weights:
        config.encoder_configs["clip"] = {"weights": args.clip_weights}
    pipeline = Pipeline.from_config(config)
    totals = np.sum([report(pipeline, video) for video in args.videos], axis=0)
    print(f"all videos: {totals[0]} clusters, {totals[1]} named; names changed between thresholds "
          f"{THRESHOLDS[0]} and {THRESHOLDS[1]} for clusters present at both: {totals[2]}")


if __name__ == "__main__":
    main()
