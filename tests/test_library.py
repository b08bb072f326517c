"""Segment library: add/remove/search, filters, approximate index, crash safety, repair, CLI."""

from __future__ import annotations

import json
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace
from typing import Sequence

import faiss
import numpy as np
import pytest

from tests.tiny_clip import register_tiny_clip
from utal_core.cli import main
from utal_core.errors import UTALError
from utal_core.library import (PAUSE_BEFORE_COMMIT_ENV, LibraryConfig, SearchFilters, SegmentLibrary,
                               add_analysis_to_library, build_exact_index, ivf_lists)
from utal_core.library.search import no_good_match
from utal_core.text import LabelBridgeConfig, LabelBridgeScorer, build_text_scorer, load_vocabulary
from utal_core.types import Segment

REPO = Path(__file__).resolve().parents[1]
DIM = 16


class VectorScorer:
    """A scorer whose 'text embeddings' are fixed vectors looked up by query."""

    name = "vectors"
    space = "clip"

    def __init__(self, table: dict[str, np.ndarray]) -> None:
        self.table = table

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return np.stack([self.table[t] for t in texts]).astype(np.float32)


def segments_for(count: int, offset: float = 0.0) -> list[Segment]:
    return [Segment(offset + i, offset + i + 1.0, score=0.1 + 0.8 * i / max(count - 1, 1), cluster=i % 2)
            for i in range(count)]


def add_random_video(library: SegmentLibrary, name: str, count: int = 6, seed: int = 0) -> tuple[int, np.ndarray]:
    vectors = np.random.default_rng(seed).standard_normal((count, DIM)).astype(np.float32)
    video_id = library.add_video(f"/videos/{name}.mp4", f"hash-{name}", 30.0, {"stride": 1.0},
                                 segments_for(count), {"clip": vectors})
    return video_id, vectors


def test_add_search_filters_and_remove(tmp_path: Path) -> None:
    with SegmentLibrary.open(tmp_path) as library:
        first, vectors = add_random_video(library, "a", seed=1)
        second, _ = add_random_video(library, "b", seed=2)
        scorer = VectorScorer({"target": vectors[4]})
        hits = library.search_text("target", scorer, k=3)
        assert (hits[0].video_id, hits[0].start, hits[0].encoder) == (first, 4.0, "vectors")
        assert hits[0].score == pytest.approx(1.0, abs=1e-5) and hits[0].video_name == "a.mp4"
        assert all(h.video_id == second for h in library.search_text("target", scorer, 10, SearchFilters(video=second)))
        assert len(library.search_text("target", scorer, 20, SearchFilters(video="/videos/b.mp4"))) == 6
        high = library.search_text("target", scorer, 20, SearchFilters(min_score=0.5, cluster=1))
        assert high and all(h.cluster == 1 for h in high)
        similar = library.search_by_segment(hits[0].segment_id, k=20)
        assert len(similar) == 11 and hits[0].segment_id not in {h.segment_id for h in similar}
        with pytest.raises(UTALError, match="Type something to search for."):
            library.search_text("  ", scorer)
        assert library.remove_video("/videos/a.mp4") == first
        assert [v.id for v in library.list_videos()] == [second]
        assert all(h.video_id == second for h in library.search_text("target", scorer, k=20))
        with pytest.raises(UTALError, match="No video"):
            library.remove_video(first)


def test_add_is_idempotent_by_content_hash(tmp_path: Path) -> None:
    with SegmentLibrary.open(tmp_path) as library:
        video_id, _ = add_random_video(library, "a")
        again = library.add_video("/elsewhere/copy.mp4", "hash-a", 30.0, {}, segments_for(2),
                                  {"clip": np.ones((2, DIM), np.float32)})
        assert again == video_id
        assert [(v.path, v.num_segments) for v in library.list_videos()] == [("/videos/a.mp4", 6)]


def test_dimension_mismatch_is_a_user_error(tmp_path: Path) -> None:
    with SegmentLibrary.open(tmp_path) as library:
        add_random_video(library, "a")
        with pytest.raises(UTALError, match="different model"):
            library.add_video("/v/b.mp4", "hash-b", 9.0, {}, segments_for(2), {"clip": np.ones((2, 8), np.float32)})
        assert len(library.list_videos()) == 1  # the failed add left nothing behind


def index_files(folder: Path) -> list[Path]:
    return sorted((folder / "indexes").glob("*.faiss"))


def test_corrupt_or_outdated_index_is_rebuilt_at_open(tmp_path: Path) -> None:
    with SegmentLibrary.open(tmp_path) as library:
        _, vectors = add_random_video(library, "a")
    [exact_file] = index_files(tmp_path)
    exact_file.write_bytes(b"garbage" * 10)
    with SegmentLibrary.open(tmp_path) as library:
        hits = library.search_text("q", VectorScorer({"q": vectors[2]}), k=1)
        assert hits[0].start == 2.0
    assert exact_file.read_bytes() != b"garbage" * 10
    with sqlite3.connect(tmp_path / "library.sqlite") as db:
        db.execute("UPDATE indexes SET format = 0")
    with SegmentLibrary.open(tmp_path) as library:
        assert library.search_text("q", VectorScorer({"q": vectors[5]}), k=1)[0].start == 5.0
    with sqlite3.connect(tmp_path / "library.sqlite") as db:
        assert db.execute("SELECT format FROM indexes").fetchone()[0] == 1


def test_reader_sees_a_writers_commits(tmp_path: Path) -> None:
    with SegmentLibrary.open(tmp_path) as writer, SegmentLibrary.open(tmp_path) as reader:
        _, first = add_random_video(writer, "a", seed=1)
        scorer = VectorScorer({"q": first[0]})
        assert len(reader.search_text("q", scorer, k=50)) == 6
        add_random_video(writer, "b", seed=2)
        assert len(reader.search_text("q", scorer, k=50)) == 12


CRASHING_WRITER = """
import sys
import numpy as np
from utal_core.library import SegmentLibrary
from utal_core.types import Segment
library = SegmentLibrary.open(sys.argv[1])
library.add_video("/videos/doomed.mp4", "hash-doomed", 5.0, {}, [Segment(0.0, 1.0, 0.9)] * 3,
                  {"clip": np.ones((3, 16), np.float32)})
"""


def test_writer_killed_mid_add_leaves_previous_contents(tmp_path: Path) -> None:
    with SegmentLibrary.open(tmp_path) as library:
        _, vectors = add_random_video(library, "a")
    env = {**os.environ, PAUSE_BEFORE_COMMIT_ENV: "60", "PYTHONPATH": str(REPO)}
    writer = subprocess.Popen([sys.executable, "-c", CRASHING_WRITER, str(tmp_path)], env=env, cwd=REPO)
    next_generation = tmp_path / "indexes" / "clip.g2.exact.faiss"
    deadline = time.monotonic() + 60
    while not next_generation.exists() and writer.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert next_generation.exists(), "the writer never reached the pause before its commit"
    writer.send_signal(signal.SIGKILL)
    writer.wait()
    with SegmentLibrary.open(tmp_path) as library:
        assert [v.path for v in library.list_videos()] == ["/videos/a.mp4"]
        scorer = VectorScorer({"q": vectors[3]})
        assert len(library.search_text("q", scorer, k=50)) == 6
        add_random_video(library, "b", seed=5)
        assert len(library.list_videos()) == 2
        assert len(library.search_text("q", scorer, k=50)) == 12
    assert [p.name for p in index_files(tmp_path)] == ["clip.g2.exact.faiss"]


def test_large_space_switches_to_ivf_with_high_recall(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    centres = rng.standard_normal((20, DIM))
    vectors = (centres[rng.integers(20, size=800)] + 0.3 * rng.standard_normal((800, DIM))).astype(np.float32)
    config = LibraryConfig(approximate_threshold=500, nprobe=8)
    with SegmentLibrary.open(tmp_path, config) as library:
        library.add_video("/v/a.mp4", "a", 400.0, {}, segments_for(400), {"clip": vectors[:400]})
        assert not any("ivf" in p.name for p in index_files(tmp_path))
        library.add_video("/v/b.mp4", "b", 400.0, {}, segments_for(400), {"clip": vectors[400:]})
        assert any("ivf" in p.name for p in index_files(tmp_path))
        exact = build_exact_index(np.arange(800), vectors / np.linalg.norm(vectors, axis=1, keepdims=True))
        queries = centres[:10] + 0.3 * rng.standard_normal((10, DIM))
        recall = []
        for query in queries:
            _, truth = exact.search((query / np.linalg.norm(query))[None].astype(np.float32), 10)
            found = library.search_text("q", VectorScorer({"q": query}), k=10)
            recall.append(len({h.segment_id - 1 for h in found} & set(truth[0].tolist())) / 10)
        assert np.mean(recall) >= 0.9
        library.remove_video("/v/b.mp4")
        assert not any("ivf" in p.name for p in index_files(tmp_path))
    with SegmentLibrary.open(tmp_path, config) as library:
        assert len(library.search_text("q", VectorScorer({"q": queries[0]}), k=1000)) == 400


def ivf_list_count(folder: Path) -> int:
    (path,) = [p for p in index_files(folder) if ".ivf." in p.name]
    return faiss.read_index(str(path)).nlist


def test_ivf_is_retrained_with_more_lists_as_the_space_grows(tmp_path: Path) -> None:
    config = LibraryConfig(approximate_threshold=100, nprobe=4, training_per_list=8, lists_per_sqrt=2.0)
    vectors = np.random.default_rng(3).standard_normal((1000, DIM)).astype(np.float32)
    with SegmentLibrary.open(tmp_path, config) as library:
        library.add_video("/v/a.mp4", "a", 200.0, {}, segments_for(200), {"clip": vectors[:200]})
        assert ivf_list_count(tmp_path) == ivf_lists(200, config) == 25
        library.add_video("/v/b.mp4", "b", 200.0, {}, segments_for(200), {"clip": vectors[200:400]})
        assert ivf_list_count(tmp_path) == 25  # 40 lists wanted: not yet twice as many, so only added to
        library.add_video("/v/c.mp4", "c", 600.0, {}, segments_for(600), {"clip": vectors[400:]})
        assert ivf_list_count(tmp_path) == ivf_lists(1000, config) == 63
        hits = library.search_text("q", VectorScorer({"q": vectors[900]}), k=1)
        assert hits[0].score == pytest.approx(1.0, abs=1e-5)


def peaked(vocabulary: str, name: str, count: int) -> np.ndarray:
    classes = load_vocabulary(vocabulary)
    rows = np.full((count, len(classes)), 1e-3, dtype=np.float32)
    rows[:, classes.index(name)] = 0.9
    return rows / rows.sum(axis=1, keepdims=True)


def add_dogs_and_band(library: Path, folder: Path, bridge: LabelBridgeScorer) -> None:
    """Two videos of two segments each into ``library``: dogs (a Golden Retriever, barking) and a band (stage, music)."""
    for name, image_class, sound in (("dogs", "Golden Retriever", "Bark"), ("band", "stage", "Music")):
        analysis = SimpleNamespace(
            video_path=folder / f"{name}.mp4", content_hash=name, duration=10.0, config={"k": "auto"},
            segments=segments_for(2),
            segment_embeddings={"cbp_probs": peaked("imagenet_1k", image_class, 2),
                                "audio_scores": peaked("audioset_521", sound, 2)})
        add_analysis_to_library(SegmentLibrary.open(library), analysis, bridge)


def test_label_bridge_search_through_analysis_and_cli(tmp_path: Path, capsys) -> None:
    bridge = LabelBridgeScorer(LabelBridgeConfig(cache_dir=tmp_path / "cache"))
    add_dogs_and_band(tmp_path / "lib", tmp_path, bridge)
    with SegmentLibrary.open(tmp_path / "lib") as library:
        assert library.spaces() == ["minilm"]
        for query, video in (("dog", "dogs.mp4"), ("music", "band.mp4")):
            hits = library.search_text(query, bridge, k=4)
            assert hits[0].video_name == video and hits[0].encoder.startswith("label_bridge")
        with pytest.raises(UTALError, match="No segments in this library can be searched"):
            library.search_text("dog", VectorScorer({}))
    os.environ["UTAL_CACHE_DIR"] = str(tmp_path / "cli-cache")
    try:
        assert main(["library", "search", "music", "--library", str(tmp_path / "lib"), "-k", "2", "--json"]) == 0
    finally:
        del os.environ["UTAL_CACHE_DIR"]
    results = json.loads(capsys.readouterr().out)
    assert [Path(r["video"]).name for r in results] == ["band.mp4", "band.mp4"]
    assert set(results[0]) >= {"video", "start", "end", "score", "cluster", "label", "encoder"}
    assert main(["library", "list", "--library", str(tmp_path / "lib"), "--json"]) == 0
    assert [v["content_hash"] for v in json.loads(capsys.readouterr().out)] == ["dogs", "band"]
    assert main(["library", "remove", "dogs", "--library", str(tmp_path / "lib")]) == 0
    assert main(["library", "search", " ", "--library", str(tmp_path / "lib")]) == 2


def test_search_says_no_good_match_for_what_no_segment_shows(tmp_path: Path, capsys, monkeypatch) -> None:
    """Issue 24: a query nothing in the library shows got its hits laid out like real ones. Each hit now carries
    the bar a good match reaches on its segment (set by the reference action labels' scores there), and a
    query none of whose hits reaches its bar is answered "no good match" with the closest results."""
    monkeypatch.setenv("UTAL_CACHE_DIR", str(tmp_path))  # the CLI's label bridge shares the embeddings cached here
    bridge = LabelBridgeScorer(LabelBridgeConfig(cache_dir=tmp_path / "text"))
    add_dogs_and_band(tmp_path / "lib", tmp_path, bridge)
    with SegmentLibrary.open(tmp_path / "lib") as library:
        dogs = library.search_text("a dog barking", bridge, k=4, match_bars=True)
        assert dogs[0].video_name == "dogs.mp4" and dogs[0].good_match and not no_good_match(dogs)
        for query in ("someone cooking", "xqzv blorp"):
            closest = library.search_text(query, bridge, k=4, match_bars=True)
            assert len(closest) == 4 and no_good_match(closest), [(h.score, h.match_bar) for h in closest]
    assert main(["library", "search", "someone cooking", "--library", str(tmp_path / "lib"), "-k", "2", "--json"]) == 0
    assert [hit["good_match"] for hit in json.loads(capsys.readouterr().out)] == [False, False]
    assert main(["library", "search", "someone cooking", "--library", str(tmp_path / "lib"), "-k", "2"]) == 0
    assert capsys.readouterr().out.startswith("No good match")
    assert main(["library", "search", "a dog barking", "--library", str(tmp_path / "lib"), "-k", "2"]) == 0
    assert "No good match" not in capsys.readouterr().out


def test_clip_search_plumbing_with_tiny_model(tmp_path: Path) -> None:
    clip = build_text_scorer("clip", model_name=register_tiny_clip(), pretrained=None)
    text = clip.embed_texts(["someone juggling"])[0]
    views = np.random.default_rng(0).standard_normal((5, text.shape[0])).astype(np.float32)
    views[2] = text
    with SegmentLibrary.open(tmp_path) as library:
        library.add_video("/v/a.mp4", "a", 5.0, {}, segments_for(5), {"clip": views})
        hits = library.search_text("someone juggling", clip, k=5)
        assert (hits[0].start, hits[0].encoder) == (2.0, "clip/utal_tiny_clip (unverified weights)")
        assert hits[0].score == pytest.approx(1.0, abs=1e-5)
        assert library.recluster(clip, k=2).k == 2
        unnamed = {f"unnamed cluster {c}" for c in range(2)}  # no name stood out (random tiny model)
        assert {s.label for s in library.segments(1)} <= set(load_vocabulary("actions")) | unnamed


def test_text_search_can_rank_by_similarity_and_segment_confidence(tmp_path: Path) -> None:
    """With ``confidence_weight`` (the CLI's and the app's setting) a confident segment outranks a slightly
    more similar fragment; without it, similarity alone orders the hits."""
    target = np.zeros(DIM, np.float32)
    target[0] = 1.0
    near = target.copy()
    near[1] = 0.05                      # cosine 0.9988 with the query
    far = target.copy()
    far[1] = 0.3                        # cosine 0.958
    segments = [Segment(0.0, 0.6, 0.02), Segment(10.0, 20.0, 0.6)]  # an edge fragment and a clear action
    with SegmentLibrary.open(tmp_path) as library:
        library.add_video("/videos/a.mp4", "hash-a", 30.0, {}, segments, {"clip": np.stack([near, far])})
        scorer = VectorScorer({"q": target})
        plain = library.search_text("q", scorer, k=2)
        ranked = library.search_text("q", scorer, k=2, confidence_weight=library.config.confidence_weight)
    assert [h.start for h in plain] == [0.0, 10.0] and plain[0].rank_score == plain[0].score
    assert [h.start for h in ranked] == [10.0, 0.0]
    assert ranked[0].rank_score == pytest.approx(ranked[0].score + 0.5 * 0.6, abs=1e-5)
    assert ranked[0].confidence == pytest.approx(0.6) and ranked[0].to_dict()["confidence"] == pytest.approx(0.6)
