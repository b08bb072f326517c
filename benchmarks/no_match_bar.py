"""The "no good match" bar of text search on the real dev clips: which right hits it hides, which made-up
queries it answers with "no good match", for each share of :data:`SHARES`.

A hit is a good match when its query outscores ``GOOD_MATCH_SHARE`` of the reference action labels
(``utal_core.text.REFERENCE_ACTIONS``) on the hit's own segment (``utal_core.library.search.with_match_bars``).
Every dev clip goes into one library (``--library DIR``: one that ``library add`` filled, e.g. the judge's);
the queries are the judge's label queries (``../shared/tools/judge``, imported: every (clip, ground-truth
label) pair, the label's words) and :data:`MADE_UP` ones, actions none of the clips shows and nonsense.

For each share and number of results k it reports the fraction of label queries whose right hit would be
hidden (the judge's first hit on the right clip with tIoU >= 0.3 to a segment of that label, else its first
hit on the right clip, among the first 10) and the fraction of made-up queries none of whose k hits is a
good match (what the app and the CLI then answer with "no good match").

    .venv/bin/python benchmarks/no_match_bar.py [--library DIR] [--json OUT]

Exits cleanly (status 0, one line) when the clips or the judge are absent.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import sys
import tempfile
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from real_clips import dev_clips, label_queries  # noqa: E402
from utal_core.library import SegmentLibrary, add_analysis_to_library  # noqa: E402
from utal_core.library.search import GOOD_MATCH_SHARE, SearchHit, with_match_bars  # noqa: E402
from utal_core.pipeline import Pipeline, PipelineConfig  # noqa: E402
from utal_core.text import build_text_scorer, reference_action_vectors  # noqa: E402

SHARES = (0.8, 0.85, 0.9, 0.95, 0.98)
COUNTS = (10, 12, 50)
#: Queries for actions that none of the dev clips shows, and nonsense.
MADE_UP = ("someone cooking", "a chef chopping vegetables", "knitting a scarf", "brushing teeth", "playing the violin",
           "riding a horse", "xqzv blorp", "asdfgh jkl", "lorem ipsum dolor sit amet", "the square root of purple",
           "qwertyuiop zxcvbnm")


def right_hit(judge, hits: list[SearchHit], key: str, segments: list) -> int | None:
    """The position of the judge's right hit among the first 10 (None when there is none)."""
    on_clip = [i for i, hit in enumerate(hits[:10]) if Path(hit.video_path).name.startswith(key)]
    on_segment = [i for i in on_clip
                  if max(judge.ref_map.tiou(np.array([hits[i].start, hits[i].end]), np.array(segments))) >= 0.3]
    return (on_segment or on_clip or [None])[0]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--library", type=Path, help="a library of the dev clips (default: one made here)")
    parser.add_argument("--json", type=Path, help="write the figures to this JSON file")
    args = parser.parse_args(argv)
    clips = dev_clips()
    if clips is None:
        return 0
    judge, vids, gt = clips
    queries = label_queries(judge, gt)
    with contextlib.ExitStack() as stack:
        if args.library is None:
            pipeline = Pipeline.from_config(PipelineConfig())
            scorer = pipeline.text_scorer
            library = stack.enter_context(SegmentLibrary.open(stack.enter_context(tempfile.TemporaryDirectory())))
            for path in vids.values():
                add_analysis_to_library(library, pipeline.analyze(path))
        else:
            scorer = build_text_scorer("label_bridge")  # what `library search` answers with, without CLIP weights
            library = stack.enter_context(SegmentLibrary.open(args.library))
        reference = reference_action_vectors(scorer)
        found = {text: library.search_text(text, scorer, k=max(COUNTS), confidence_weight=library.config.confidence_weight)
                 for text in [text for _, text in queries] + list(MADE_UP)}
        vectors = library.vectors([hit.segment_id for hits in found.values() for hit in hits], scorer.space)
    rights = {(key, text): right_hit(judge, found[text], key, segments) for (key, text), segments in queries.items()}
    table = {}
    for share in SHARES:
        marked = {text: with_match_bars(hits, vectors, reference, share) for text, hits in found.items()}
        hidden = [query for query, position in rights.items()
                  if position is None or not marked[query[1]][position].good_match]
        for k in COUNTS:
            answered = [text for text in MADE_UP if any(hit.good_match for hit in marked[text][:k])]
            table[share, k] = {"right_hidden": len(hidden) / len(rights), "made_up_no_match": 1 - len(answered) / len(MADE_UP),
                               "hidden": [text for _, text in hidden], "made_up_answered": answered}
    print(f"{len(rights)} label queries over {len(vids)} clips and {len(MADE_UP)} made-up queries; text encoder "
          f"{scorer.name}, {len(reference)} reference action labels\n")
    print(f"{'share':>6} {'k':>4} {'right hits hidden':>18} {'made-up: no good match':>23}  made-up answered")
    for (share, k), row in table.items():
        mark = "  <- GOOD_MATCH_SHARE" if share == GOOD_MATCH_SHARE else ""
        print(f"{share:6.2f} {k:4d} {row['right_hidden']:18.3f} {row['made_up_no_match']:23.3f}  "
              f"{', '.join(row['made_up_answered']) or '-'}{mark}")
    hidden = table[GOOD_MATCH_SHARE, 10]["hidden"]
    print(f"\nright hits hidden at {GOOD_MATCH_SHARE}: {', '.join(hidden) or 'none'}")
    if args.json:
        args.json.write_text(json.dumps({f"{share}/{k}": row for (share, k), row in table.items()}, indent=1))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
