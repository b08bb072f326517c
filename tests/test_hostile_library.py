"""Hostile library states (issue 10, points 3, 5 and 6): a damaged, empty or missing database is
reported and never written into; `library rebuild` restores it from the saved records, also
after a SIGKILL in the middle; -k, --cluster and --video cannot ask for the impossible."""

from __future__ import annotations

import hashlib
import os
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from tests.hostile import measure
from tests.test_library import REPO, VectorScorer, add_random_video, index_files
from utal_core.cli import main
from utal_core.errors import UTALError
from utal_core.library import DATABASE_NAME, REBUILD_MARKER, SearchFilters, SegmentLibrary, rebuild_library
from utal_core.library.recovery import PAUSE_PER_RECORD_ENV

NAMES = ("a", "b", "c")


def _digest(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def _contents(folder: Path) -> tuple[list, dict]:
    with SegmentLibrary.open(folder) as library:
        videos = [(v.path, v.content_hash, v.num_segments) for v in library.list_videos()]
        return videos, {v[1]: [(s.start, s.end, s.score) for s in library.segments(v[1])] for v in videos}


@pytest.fixture
def library_folder(tmp_path) -> tuple[Path, np.ndarray]:
    folder = tmp_path / "library"
    with SegmentLibrary.open(folder) as library:
        for seed, name in enumerate(NAMES):
            _, vectors = add_random_video(library, name, count=120, seed=seed)
    return folder, vectors


def _damage_middle(database: Path) -> None:
    data = bytearray(database.read_bytes())
    middle = (len(data) // 2) // 4096 * 4096
    data[middle:middle + 4096] = np.random.default_rng(1).integers(0, 256, 4096, dtype=np.uint8).tobytes()
    database.write_bytes(bytes(data))
    connection = sqlite3.connect(database)
    try:
        assert connection.execute("PRAGMA integrity_check").fetchone()[0] != "ok"
    except sqlite3.DatabaseError:
        pass
    finally:
        connection.close()


def test_damaged_database_is_reported_never_written_and_rebuilt(library_folder, capsys):
    folder, vectors = library_folder
    before = _contents(folder)
    query = VectorScorer({"q": vectors[5]})
    with SegmentLibrary.open(folder) as library:
        expected = [(h.video_path, h.start) for h in library.search_text("q", query, k=5)]
    database = folder / DATABASE_NAME
    _damage_middle(database)
    damaged = _digest(database)
    for argv in (["library", "list"], ["library", "search", "running"], ["library", "remove", "1"],
                 ["library", "add", str(folder / "nothing.mp4")]):
        assert main([*argv, "--library", str(folder)]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].startswith("error: The library database") and "is damaged" in err[0], err
        assert "3 video(s) have a saved record" in err[0] and "library rebuild" in err[0]
    with pytest.raises(UTALError, match="is damaged"):
        SegmentLibrary.open(folder)
    assert _digest(database) == damaged  # never written into

    assert main(["library", "rebuild", "--library", str(folder)]) == 0
    assert "restored 3 video(s)" in capsys.readouterr().out
    assert _contents(folder) == before
    with SegmentLibrary.open(folder) as library:
        assert [(h.video_path, h.start) for h in library.search_text("q", query, k=5)] == expected
    kept = list((folder / "damaged").glob(f"*/{DATABASE_NAME}"))
    assert len(kept) == 1 and _digest(kept[0]) == damaged


@pytest.mark.parametrize("loss", ["empty", "missing"])
def test_lost_database_next_to_indexes_is_an_error_not_a_new_library(library_folder, capsys, loss):
    folder, _ = library_folder
    before = _contents(folder)
    indexes = {path.name: _digest(path) for path in index_files(folder)}
    assert indexes
    database = folder / DATABASE_NAME
    if loss == "empty":
        database.write_bytes(b"")
    else:
        database.unlink()
    assert main(["library", "list", "--library", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    state = "empty (0 bytes)" if loss == "empty" else "missing"
    assert len(err) == 1 and f"is {state}, but the folder still holds 1 index file(s) and 3 saved" in err[0], err
    assert {path.name: _digest(path) for path in index_files(folder)} == indexes  # the index files are kept
    assert database.exists() == (loss == "empty")  # no silent new library
    assert main(["library", "repair", "--library", str(folder)]) == 0
    assert _contents(folder) == before


def test_removed_video_stays_removed_after_a_rebuild(library_folder):
    folder, _ = library_folder
    with SegmentLibrary.open(folder) as library:
        library.remove_video("hash-b")
    report = rebuild_library(folder)
    assert sorted(Path(p).stem for p in report.restored) == ["a", "c"] and not report.unreadable
    assert [v[1] for v in _contents(folder)[0]] == ["hash-a", "hash-c"]


REBUILDER = """
import sys
from utal_core.library import rebuild_library
rebuild_library(sys.argv[1])
"""


def test_rebuild_killed_midway_is_refused_then_completed_by_a_second_rebuild(library_folder):
    folder, _ = library_folder
    before = _contents(folder)
    env = {**os.environ, PAUSE_PER_RECORD_ENV: "60", "PYTHONPATH": str(REPO)}
    rebuilder = subprocess.Popen([sys.executable, "-c", REBUILDER, str(folder)], env=env, cwd=REPO)
    deadline = time.monotonic() + 120
    first_add = folder / "indexes" / "clip.g1.exact.faiss"
    while not first_add.exists() and rebuilder.poll() is None and time.monotonic() < deadline:
        time.sleep(0.05)
    assert first_add.exists(), "the rebuild never restored its first video"
    time.sleep(0.5)  # let the first video's transaction commit; the rebuild then sleeps
    rebuilder.send_signal(signal.SIGKILL)
    rebuilder.wait()
    assert (folder / REBUILD_MARKER).exists()
    with pytest.raises(UTALError, match="rebuild of the library .* was interrupted"):
        SegmentLibrary.open(folder)
    assert len(rebuild_library(folder).restored) == 3
    assert _contents(folder) == before
    assert len(list((folder / "damaged").iterdir())) == 2  # the original and the half-rebuilt database, kept


def test_search_k_is_capped_and_huge_k_answers_at_once(library_folder, capsys):
    folder, vectors = library_folder
    with SegmentLibrary.open(folder) as library, measure() as usage:
        hits = library.search_text("q", VectorScorer({"q": vectors[0]}), k=10**8)
    assert len(hits) == 360 and usage.seconds < 2 and usage.peak_growth_mib < 50, usage
    assert main(["library", "search", "running", "-k", str(10**8), "--library", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert err == [f"error: the number of results must be between 1 and 1000 (got {10**8}; "
                   f"the limit is UTAL_MAX_SEARCH_K)"]


def test_out_of_range_cluster_and_video_ids_are_plain_errors(library_folder, capsys):
    folder, vectors = library_folder
    assert main(["library", "search", "running", "--cluster", str(2**70), "--library", str(folder)]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith(f"error: There is no cluster {2**70}"), err
    with SegmentLibrary.open(folder) as library:
        with pytest.raises(UTALError, match="No video"):
            library.search_text("q", VectorScorer({"q": vectors[0]}), filters=SearchFilters(video=str(10**30)))
        with pytest.raises(UTALError, match="minimum score must be a finite number"):
            SearchFilters(min_score=float("nan"))
