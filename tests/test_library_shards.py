"""Library index shards (issue 12, point 3): adds append shards instead of rewriting the base, search
merges base and shards, compaction folds them (by hand and past a threshold), removals across
shards, crash safety of a shard append and of a compaction, rebuild from records."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import faiss
import numpy as np
import pytest

from tests.test_library import DIM, REPO, VectorScorer, index_files, segments_for
from utal_core.cli import main
from utal_core.errors import UTALError
from utal_core.library import (PAUSE_BEFORE_COMMIT_ENV, LibraryConfig, SearchFilters, SegmentLibrary,
                               build_exact_index, rebuild_library)

SHARDED = LibraryConfig(shard_above=0)


def add(library: SegmentLibrary, name: str, count: int = 20, seed: int = 0) -> np.ndarray:
    vectors = np.random.default_rng(seed).standard_normal((count, DIM)).astype(np.float32)
    library.add_video(f"/videos/{name}.mp4", f"hash-{name}", float(count), {}, segments_for(count), {"clip": vectors})
    return vectors


def names(folder: Path) -> list[str]:
    return [path.name for path in index_files(folder)]


def digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def queries(count: int = 25, seed: int = 99) -> np.ndarray:
    return np.random.default_rng(seed).standard_normal((count, DIM)).astype(np.float32)


def ranking(library: SegmentLibrary, query: np.ndarray, k: int = 10, **filters) -> list[tuple[int, float]]:
    hits = library.search_text("q", VectorScorer({"q": query}), k=k, filters=SearchFilters(**filters))
    return [(hit.segment_id, round(hit.score, 4)) for hit in hits]


def exact_ranking(folder: Path, query: np.ndarray, k: int = 10, where: str = "1") -> list[tuple[int, float]]:
    """The top-k of one exact index over every segment SQLite holds (``where`` filters the segments)."""
    with sqlite3.connect(folder / "library.sqlite") as db:
        rows = db.execute(f"SELECT v.segment_id, v.vector FROM vectors v JOIN segments s ON s.id = v.segment_id "
                          f"WHERE v.space = 'clip' AND {where}").fetchall()
    ids = np.array([row[0] for row in rows], dtype=np.int64)
    index = build_exact_index(ids, np.stack([np.frombuffer(row[1], np.float32) for row in rows]))
    normalised = (query / np.linalg.norm(query))[None].astype(np.float32)
    scores, found = index.search(normalised, min(k, len(ids)))
    return [(int(i), round(float(s), 4)) for i, s in zip(found[0], scores[0])]


def test_add_appends_a_shard_and_never_rewrites_the_base(tmp_path: Path) -> None:
    with SegmentLibrary.open(tmp_path, SHARDED) as library:
        add(library, "a", seed=1)
        base = tmp_path / "indexes" / "clip.g1.exact.faiss"
        before = (digest(base), base.stat().st_mtime_ns)
        add(library, "b", seed=2)
        add(library, "c", seed=3)
        assert names(tmp_path) == ["clip.g1.exact.faiss", "clip.g1.s1.faiss", "clip.g1.s2.faiss"]
        assert (digest(base), base.stat().st_mtime_ns) == before
        assert faiss.read_index(str(tmp_path / "indexes" / "clip.g1.s2.faiss")).ntotal == 20
    with SegmentLibrary.open(tmp_path, SHARDED) as library:  # shards are found again at open
        assert len(library.search_text("q", VectorScorer({"q": queries()[0]}), k=100)) == 60


def test_search_over_base_and_shards_equals_one_exact_index(tmp_path: Path) -> None:
    with SegmentLibrary.open(tmp_path, SHARDED) as library:
        for seed, name in enumerate("abcde"):
            add(library, name, seed=seed)
        library.remove_video("hash-a")  # in the base
        library.remove_video("hash-d")  # in a shard
        for query in queries():
            assert ranking(library, query) == exact_ranking(tmp_path, query)
            assert ranking(library, query, k=7, video="hash-c") == exact_ranking(
                tmp_path, query, 7, "s.video_id = 3")
            assert ranking(library, query, k=5, min_score=0.5) == exact_ranking(tmp_path, query, 5, "s.score >= 0.5")
        assert len(ranking(library, queries()[0], k=1000)) == 60
        segment = ranking(library, queries()[0], k=1)[0][0]
        similar = library.search_by_segment(segment, k=1000)
        assert len(similar) == 59 and segment not in {hit.segment_id for hit in similar}


def test_compaction_folds_shards_and_removals_with_equal_results(tmp_path: Path, capsys) -> None:
    with SegmentLibrary.open(tmp_path, SHARDED) as library:
        for seed, name in enumerate("abcd"):
            add(library, name, seed=seed)
        library.remove_video("hash-c")
        before = [ranking(library, query) for query in queries()]
        assert library.compact() == ["clip"]
        assert names(tmp_path) == ["clip.g2.exact.faiss"]
        assert faiss.read_index(str(tmp_path / "indexes" / "clip.g2.exact.faiss")).ntotal == 60
        assert [ranking(library, query) for query in queries()] == before
        assert library.compact() == []
    with sqlite3.connect(tmp_path / "library.sqlite") as db:
        assert db.execute("SELECT COUNT(*) FROM shards").fetchone() == db.execute(
            "SELECT COUNT(*) FROM removals").fetchone() == (0,)
    with SegmentLibrary.open(tmp_path, SHARDED) as library:
        assert [ranking(library, query) for query in queries()] == before
    assert main(["library", "compact", "--library", str(tmp_path)]) == 0
    assert capsys.readouterr().out.strip() == "nothing to compact"


def test_automatic_compaction_past_the_shard_and_vector_thresholds(tmp_path: Path, capsys, monkeypatch) -> None:
    config = LibraryConfig(shard_above=0, compact_shards=3, compact_vectors=1000)
    with SegmentLibrary.open(tmp_path, config) as library:
        for seed, name in enumerate("abcd"):
            add(library, name, seed=seed)
        assert library.compact(if_needed=True) == []  # 3 shards: not past the threshold
        add(library, "e", seed=4)
        assert library.compact(if_needed=True) == ["clip"]
        assert names(tmp_path) == ["clip.g2.exact.faiss"]
        add(library, "big", count=1001, seed=5)  # one shard, but past the vector threshold
        assert library.compact(if_needed=True) == ["clip"]
    assert LibraryConfig.from_env({"UTAL_LIBRARY_COMPACT_SHARDS": "2"}).compact_shards == 2
    with pytest.raises(UTALError, match="UTAL_LIBRARY_COMPACT_VECTORS must be a finite number"):
        LibraryConfig.from_env({"UTAL_LIBRARY_COMPACT_VECTORS": "-1"})
    monkeypatch.setenv("UTAL_LIBRARY_COMPACT_VECTORS", "lots")
    assert main(["library", "list", "--library", str(tmp_path)]) == 2
    assert capsys.readouterr().err.strip() == "error: UTAL_LIBRARY_COMPACT_VECTORS must be a number, got 'lots'"


def test_remove_across_shards_and_a_reader_that_only_reads_what_was_appended(tmp_path: Path) -> None:
    with SegmentLibrary.open(tmp_path, SHARDED) as writer, SegmentLibrary.open(tmp_path, SHARDED) as reader:
        first = add(writer, "a", seed=1)
        scorer = VectorScorer({"q": first[3]})
        assert len(reader.search_text("q", scorer, k=100)) == 20
        base = reader._loaded["clip"].exact
        second = add(writer, "b", seed=2)
        add(writer, "c", seed=3)
        assert len(reader.search_text("q", scorer, k=100)) == 60
        assert reader._loaded["clip"].exact is base  # the base was not read again
        writer.remove_video("hash-a")
        writer.remove_video("hash-b")
        hits = reader.search_text("q", scorer, k=100)
        assert len(hits) == 20 and {hit.video_path for hit in hits} == {"/videos/c.mp4"}
        assert reader.search_text("q", VectorScorer({"q": second[0]}), k=1)[0].score < 0.99
        writer.remove_video("hash-c")  # the last live vectors: the space goes
        assert writer.spaces() == [] and names(tmp_path) == []
        with pytest.raises(UTALError, match="No segments in this library"):
            reader.search_text("q", scorer)


def test_ivf_base_with_shards_and_compaction_retraining_only_when_needed(tmp_path: Path) -> None:
    config = LibraryConfig(approximate_threshold=100, shard_above=150, nprobe=64, training_per_list=8,
                           lists_per_sqrt=2.0)
    with SegmentLibrary.open(tmp_path, config) as library:
        add(library, "a", count=200, seed=1)
        assert names(tmp_path) == ["clip.g1.exact.faiss", "clip.g1.ivf.faiss"]
        add(library, "b", count=100, seed=2)
        assert names(tmp_path)[-1] == "clip.g1.s1.faiss"
        for query in queries(10):
            assert ranking(library, query) == exact_ranking(tmp_path, query)  # nprobe 64 of 25 lists: exhaustive
        library.compact()
        assert faiss.read_index(str(tmp_path / "indexes" / "clip.g2.ivf.faiss")).nlist == 25  # 34 wanted: kept
        add(library, "c", count=600, seed=3)
        library.compact()
        assert faiss.read_index(str(tmp_path / "indexes" / "clip.g3.ivf.faiss")).nlist == 60  # retrained


def test_an_older_ivf_flat_base_still_opens_and_compaction_replaces_it(tmp_path: Path) -> None:
    """Libraries written before the PQ fast-scan IVF hold an IVF-flat base: it is searched as it is
    (not rebuilt at open) and replaced by the current kind at the next compaction."""
    config = LibraryConfig(approximate_threshold=100, shard_above=150, nprobe=64, training_per_list=8,
                           lists_per_sqrt=2.0)
    with SegmentLibrary.open(tmp_path, config) as library:
        add(library, "a", count=200, seed=1)
        assert isinstance(library._loaded["clip"].ivf, faiss.IndexIVFPQFastScan)
    exact = faiss.read_index(str(tmp_path / "indexes" / "clip.g1.exact.faiss"))
    ids, vectors = faiss.vector_to_array(exact.id_map), exact.index.reconstruct_n(0, exact.ntotal)
    old = faiss.IndexIVFFlat(faiss.IndexFlatIP(DIM), DIM, 25, faiss.METRIC_INNER_PRODUCT)
    old.train(vectors)
    old.add_with_ids(vectors, ids)
    old_path = tmp_path / "indexes" / "clip.g1.ivf.faiss"
    faiss.write_index(old, str(old_path))
    with sqlite3.connect(tmp_path / "library.sqlite") as db:
        db.execute("UPDATE indexes SET ivf_sha256 = ? WHERE space = 'clip'", (digest(old_path),))
    with SegmentLibrary.open(tmp_path, config) as library:
        for query in queries(5):
            assert ranking(library, query) == exact_ranking(tmp_path, query)  # nprobe 64 of 25 lists: exhaustive
        assert isinstance(library._loaded["clip"].ivf, faiss.IndexIVFFlat)
        assert names(tmp_path) == ["clip.g1.exact.faiss", "clip.g1.ivf.faiss"]  # read, not rebuilt
        add(library, "b", count=20, seed=2)
        library.compact()
        assert isinstance(faiss.read_index(str(tmp_path / "indexes" / "clip.g2.ivf.faiss")), faiss.IndexIVFPQFastScan)
        for query in queries(5):  # PQ candidates re-ranked exactly: the exact scores; a filter searches exactly
            assert ranking(library, query) == exact_ranking(tmp_path, query)
            assert ranking(library, query, cluster=1) == exact_ranking(tmp_path, query, where="s.cluster = 1")


def test_rebuild_from_records_after_shards_and_removals(tmp_path: Path) -> None:
    def found(library: SegmentLibrary) -> list[list[tuple[str, float, float]]]:
        return [[(hit.video_path, hit.start, round(hit.score, 4))
                 for hit in library.search_text("q", VectorScorer({"q": query}), k=10)] for query in queries()]

    with SegmentLibrary.open(tmp_path, SHARDED) as library:
        for seed, name in enumerate("abcd"):
            add(library, name, seed=seed)
        library.remove_video("hash-b")
        before = found(library)
    report = rebuild_library(tmp_path, SHARDED)
    assert len(report.restored) == 3
    with SegmentLibrary.open(tmp_path, SHARDED) as library:
        assert found(library) == before


def test_a_version_1_library_is_upgraded_at_open(tmp_path: Path) -> None:
    with SegmentLibrary.open(tmp_path) as library:
        vectors = add(library, "a", seed=1)
    with sqlite3.connect(tmp_path / "library.sqlite") as db:
        db.executescript("DROP TABLE shards; DROP TABLE removals; PRAGMA user_version = 1;")
    with SegmentLibrary.open(tmp_path, SHARDED) as library:
        add(library, "b", seed=2)
        assert library.search_text("q", VectorScorer({"q": vectors[4]}), k=1)[0].start == 4.0
    with sqlite3.connect(tmp_path / "library.sqlite") as db:
        assert db.execute("PRAGMA user_version").fetchone()[0] == 2


KILLED = """
import sys
import numpy as np
from utal_core.library import LibraryConfig, SegmentLibrary
from utal_core.types import Segment
library = SegmentLibrary.open(sys.argv[1], LibraryConfig(shard_above=0))
if sys.argv[2] == "add":
    library.add_video("/videos/doomed.mp4", "hash-doomed", 5.0, {}, [Segment(float(i), i + 1.0, 0.9) for i in range(3)],
                      {"clip": np.ones((3, 16), np.float32)})
else:
    library.compact()
"""


def kill_when(folder: Path, action: str, appears: Path) -> None:
    """Run ``action`` in a child paused before its commit, and SIGKILL it once ``appears`` exists."""
    env = {**os.environ, PAUSE_BEFORE_COMMIT_ENV: "60", "PYTHONPATH": str(REPO)}
    child = subprocess.Popen([sys.executable, "-c", KILLED, str(folder), action], env=env, cwd=REPO)
    deadline = time.monotonic() + 60
    while not appears.exists() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert appears.exists(), f"the {action} never reached its pause before the commit"
    time.sleep(0.2)
    child.send_signal(signal.SIGKILL)
    child.wait()


def test_writer_killed_during_a_shard_append_loses_and_duplicates_nothing(tmp_path: Path) -> None:
    with SegmentLibrary.open(tmp_path, SHARDED) as library:
        for seed, name in enumerate("ab"):
            add(library, name, seed=seed)
        before = [ranking(library, query) for query in queries()]
    kill_when(tmp_path, "add", tmp_path / "indexes" / "clip.g1.s2.faiss")
    with SegmentLibrary.open(tmp_path, SHARDED) as library:
        assert [v.path for v in library.list_videos()] == ["/videos/a.mp4", "/videos/b.mp4"]
        assert [ranking(library, query) for query in queries()] == before
        add(library, "c", seed=7)  # takes shard number 2 again, over the orphan
        assert names(tmp_path) == ["clip.g1.exact.faiss", "clip.g1.s1.faiss", "clip.g1.s2.faiss"]
        hits = ranking(library, queries()[0], k=1000)
        assert len(hits) == len({i for i, _ in hits}) == 60


def test_compaction_killed_midway_keeps_the_shards_then_completes(tmp_path: Path) -> None:
    with SegmentLibrary.open(tmp_path, SHARDED) as library:
        for seed, name in enumerate("abc"):
            add(library, name, seed=seed)
        library.remove_video("hash-b")
        before = [ranking(library, query) for query in queries()]
    kept = names(tmp_path)
    kill_when(tmp_path, "compact", tmp_path / "indexes" / "clip.g2.exact.faiss")
    with SegmentLibrary.open(tmp_path, SHARDED) as library:
        assert len(library.list_videos()) == 2
        assert [ranking(library, query) for query in queries()] == before
        assert library.compact() == ["clip"]
        assert names(tmp_path) == ["clip.g2.exact.faiss"] and kept == ["clip.g1.exact.faiss", "clip.g1.s1.faiss",
                                                                        "clip.g1.s2.faiss"]
        assert [ranking(library, query) for query in queries()] == before
