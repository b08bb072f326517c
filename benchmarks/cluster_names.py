"""Cluster names of analysed videos: the joint names against each cluster's own nearest name.

For every video: each cluster's size, its nearest vocabulary name on its own (what naming did before
names were assigned jointly) and the joint name, each with score +- bootstrap noise, and the runner-ups;
then how many distinct names each way.

    .venv/bin/python benchmarks/cluster_names.py VIDEO... [--clip-weights PATH]
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from utal_core.cluster import ACTION_VOCABULARY, ClusterResult, cluster_space_vectors, vocabulary_embeddings
from utal_core.pipeline import Pipeline, PipelineConfig
from utal_core.text import load_vocabulary


def report(pipeline: Pipeline, video: str) -> tuple[int, int, int]:
    """Print one video's clusters; returns (clusters, distinct own-nearest names, distinct joint names)."""
    analysis = pipeline.analyze(video)
    k = len(analysis.clusters)
    if k == 0:
        print(f"{Path(video).name}: no clusters")
        return 0, 0, 0
    labels = np.array([s.cluster for s in analysis.segments])
    result = ClusterResult(labels=labels, k=k, centroids=np.zeros((k, 1)), quality=None)
    scorer = pipeline.text_scorer
    names = load_vocabulary(ACTION_VOCABULARY)
    text = vocabulary_embeddings(scorer, names)
    vectors, boot = cluster_space_vectors(analysis.segment_embeddings, result, scorer.segment_vectors)
    scores, noise = vectors @ text.T, (boot @ text.T).std(axis=1)
    nearest = scores.argmax(axis=1)
    print(f"{Path(video).name}: {len(analysis.segments)} segments, {k} clusters, named by {scorer.name}")
    for info in analysis.clusters:
        own, joint = int(nearest[info.id]), names.index(info.name)
        others = ", ".join(f"{name} {score:.3f}" for name, score in info.alternatives)
        print(f"  {info.id}: {info.size:>3} segments  own nearest {names[own]!r} {scores[info.id, own]:.3f}"
              f"+-{noise[info.id, own]:.3f}  joint {info.name!r} {info.name_score:.3f}+-{noise[info.id, joint]:.3f}"
              f"  runner-ups: {others}")
    return k, len(set(nearest.tolist())), len({c.name for c in analysis.clusters})


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
    print(f"all videos: {totals[0]} clusters; distinct names per video summed: own nearest {totals[1]}, "
          f"joint {totals[2]}")


if __name__ == "__main__":
    main()
