"""A small segment library with known content, searchable offline: for CLI tests and the start-up benchmark.

Each segment's vector in the label bridge's ``minilm`` space is the MiniLM embedding of a short
description of it (what the label bridge's class mixture approximates for a real video), so a
query such as "dog" has a known best answer without any video being analysed.
"""

from __future__ import annotations

from pathlib import Path

from ..library import SegmentLibrary
from ..text import LabelBridgeScorer
from ..types import Segment

#: What the segments of every synthetic video show, in order.
SEGMENT_DESCRIPTIONS = ("a dog barking", "a car driving on a road", "a person playing the guitar",
                        "people dancing at a party", "a bird singing in a tree", "a ball bouncing on the floor")


def write_synthetic_library(folder: str | Path, videos: int = 2, scorer: LabelBridgeScorer | None = None) -> Path:
    """A library in ``folder`` holding ``videos`` videos, each with one 1.5 s segment per description."""
    vectors = (scorer or LabelBridgeScorer()).embed_texts(SEGMENT_DESCRIPTIONS)
    with SegmentLibrary.open(folder) as library:
        for number in range(videos):
            segments = [Segment(2.0 * i, 2.0 * i + 1.5, score=0.9 - 0.1 * i, cluster=i, label=text)
                        for i, text in enumerate(SEGMENT_DESCRIPTIONS)]
            library.add_video(f"/videos/synthetic_{number}.mp4", f"synthetic-library-{number}",
                              2.0 * len(segments), {"stride_s": 1.0}, segments, {"minilm": vectors})
    return Path(folder)
