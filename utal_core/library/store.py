"""The SQLite store of the segment library and its transactions (see the package docstring)."""

from __future__ import annotations

import functools
import json
import os
import re
import sqlite3
import threading
import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Callable, Iterator, Literal, Mapping, Sequence, TypeVar

import faiss
import numpy as np

from ..cluster import ClusterResult, cluster_means, cluster_segments, name_vectors
from ..errors import UTALError
from ..text import LabelBridgeScorer, TextScorer, check_query, l2_normalize, reference_action_vectors
from ..types import Segment
from .files import SHARD_SCHEMA, IndexFiles
from .index import (LibraryConfig, SpaceIndexes, build_exact_index, build_ivf_index, exact_index_contents,
                    is_current_ivf, ivf_lists)
from .records import (DATABASE_NAME, check_folder, check_integrity, damaged_database, record_path,
                      write_record)
from .search import (MAX_SQLITE_INTEGER, SIMILARITY_SPACES, SearchFilters, SearchHit, library_vectors, rank_by_confidence,
                     with_match_bars)

#: 2: index shards and removals (``files.SHARD_SCHEMA``); a version-1 library is upgraded at open.
SCHEMA_VERSION = 2
#: Test hook (crash-safety tests only): seconds to sleep after the new index files are in place
#: and before the SQLite commit, so a test can SIGKILL a writer in the middle of an add, a
#: removal or a compaction.
PAUSE_BEFORE_COMMIT_ENV = "UTAL_LIBRARY_PAUSE_BEFORE_COMMIT"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS videos (
    id INTEGER PRIMARY KEY AUTOINCREMENT, path TEXT NOT NULL, content_hash TEXT NOT NULL UNIQUE,
    duration REAL NOT NULL, config_json TEXT NOT NULL, added_at TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS segments (
    id INTEGER PRIMARY KEY AUTOINCREMENT, video_id INTEGER NOT NULL REFERENCES videos(id) ON DELETE CASCADE,
    start_s REAL NOT NULL, end_s REAL NOT NULL, score REAL NOT NULL, cluster INTEGER NOT NULL,
    label TEXT, label_score REAL, thumbnail TEXT);
CREATE INDEX IF NOT EXISTS segments_by_video ON segments(video_id);
CREATE TABLE IF NOT EXISTS vectors (
    segment_id INTEGER NOT NULL REFERENCES segments(id) ON DELETE CASCADE, space TEXT NOT NULL,
    vector BLOB NOT NULL, PRIMARY KEY (space, segment_id));
CREATE TABLE IF NOT EXISTS indexes (
    space TEXT PRIMARY KEY, generation INTEGER NOT NULL, dim INTEGER NOT NULL, format INTEGER NOT NULL,
    count INTEGER NOT NULL, exact_sha256 TEXT NOT NULL, ivf_sha256 TEXT);
""" + SHARD_SCHEMA



@dataclass(frozen=True)
class VideoRecord:
    """A video in the library."""

    id: int
    path: str
    content_hash: str
    duration: float
    config: dict = field(hash=False)
    added_at: str
    num_segments: int

    def to_dict(self) -> dict[str, Any]:
        return {"id": self.id, "path": self.path, "content_hash": self.content_hash, "duration": self.duration,
                "added_at": self.added_at, "num_segments": self.num_segments, "config": self.config}


def _check_space_name(space: str) -> str:
    if not re.fullmatch(r"[A-Za-z0-9_-]+", space):
        raise ValueError(f"embedding space names are letters, digits, '_' or '-': {space!r}")
    return space


Result = TypeVar("Result")


def _plain_database_errors(method: Callable[..., Result]) -> Callable[..., Result]:
    """SQLite failures inside ``method`` (damage found after open) become one plain UTALError."""

    @functools.wraps(method)
    def guarded(self: "SegmentLibrary", *args: Any, **kwargs: Any) -> Result:
        try:
            return method(self, *args, **kwargs)
        except sqlite3.DatabaseError as error:
            raise damaged_database(self.folder, str(error)) from None

    return guarded


class SegmentLibrary:
    """A folder of analysed videos' segments, searchable by text or by example segment.

    Open it with :meth:`open`. One instance may be shared between threads (calls are serialised);
    other processes open their own instance and see each other's commits.
    """

    def __init__(self, folder: Path, connection: sqlite3.Connection, config: LibraryConfig) -> None:
        self.folder = folder
        self.config = config
        self._db = connection
        self._lock = threading.RLock()
        self._loaded: dict[str, SpaceIndexes] = {}
        self._files = IndexFiles(folder, connection, config.nprobe)

    @classmethod
    def open(cls, folder: str | Path, config: LibraryConfig = LibraryConfig()) -> "SegmentLibrary":
        """Open (creating if needed) the library in ``folder``; damaged or stale indexes are rebuilt.

        A damaged database (``PRAGMA quick_check``), a lost one next to surviving index files or
        records, and an interrupted rebuild are refused with a plain UTALError; nothing is written.
        """
        folder = Path(folder)
        check_folder(folder)
        return cls.create_unchecked(folder, config)

    @classmethod
    def create_unchecked(cls, folder: Path, config: LibraryConfig = LibraryConfig()) -> "SegmentLibrary":
        """:meth:`open` without the folder checks (``library rebuild`` creates the new database with it)."""
        try:
            (folder / "indexes").mkdir(parents=True, exist_ok=True)
            connection = sqlite3.connect(folder / DATABASE_NAME, timeout=60, isolation_level=None,
                                         check_same_thread=False)
        except (OSError, sqlite3.DatabaseError) as error:
            raise UTALError(f"Cannot open the library in {folder}: {error}") from None
        try:
            check_integrity(connection, folder)
            connection.execute("PRAGMA journal_mode=WAL")
            connection.execute("PRAGMA foreign_keys=ON")
            version = connection.execute("PRAGMA user_version").fetchone()[0]
            if version > SCHEMA_VERSION:
                raise UTALError(f"The library in {folder} was made by a newer version of this tool.")
            connection.executescript(f"BEGIN IMMEDIATE; {_SCHEMA} PRAGMA user_version={SCHEMA_VERSION}; COMMIT;")
        except sqlite3.DatabaseError as error:
            connection.close()
            raise damaged_database(folder, str(error)) from None
        except UTALError:
            connection.close()
            raise
        library = cls(folder, connection, config)
        try:
            for space in library.spaces():
                library._indexes(space)
        except UTALError:
            library.close()
            raise
        return library

    def close(self) -> None:
        """Close the database connection."""
        self._db.close()

    def __enter__(self) -> "SegmentLibrary":
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    # ----- transactions and index files -----

    @contextmanager
    def _write(self) -> Iterator[None]:
        """One write transaction (joined when already inside one); superseded index files go after the commit."""
        with self._lock:
            if self._db.in_transaction:
                yield
                return
            self._db.execute("BEGIN IMMEDIATE")
            try:
                self._files.remove_unreferenced()
                yield
                pause = os.environ.get(PAUSE_BEFORE_COMMIT_ENV)
                if pause:
                    time.sleep(float(pause))
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                self._loaded.clear()
                raise
            self._files.remove_superseded()

    def _write_base(self, space: str, indexes: SpaceIndexes) -> None:
        self._files.write_base(space, indexes)
        self._loaded[space] = indexes

    def _drop_space(self, space: str) -> None:
        self._files.drop_space(space)
        self._loaded.pop(space, None)

    def _with_ivf_if_large(self, generation: int, exact: faiss.Index, ivf: faiss.Index | None) -> SpaceIndexes:
        if exact.ntotal <= self.config.approximate_threshold:
            return SpaceIndexes(generation, exact, None)
        # An older library's IVF-flat base is replaced by the current kind at its first compaction.
        if ivf is None or not is_current_ivf(ivf) or ivf_lists(exact.ntotal, self.config) >= 2 * ivf.nlist:
            ivf = build_ivf_index(*exact_index_contents(exact), self.config)
        return SpaceIndexes(generation, exact, ivf)

    def _stored_vectors(self, space: str) -> tuple[np.ndarray, np.ndarray]:
        rows = self._db.execute("SELECT segment_id, vector FROM vectors WHERE space = ? ORDER BY segment_id", (space,))
        ids, blobs = [], []
        for segment_id, blob in rows:
            ids.append(segment_id)
            blobs.append(blob)
        if not ids:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        vectors = np.frombuffer(b"".join(blobs), dtype=np.float32).reshape(len(ids), -1)
        return np.asarray(ids, dtype=np.int64), vectors

    def _rebuild_space(self, space: str, generation: int) -> SpaceIndexes | None:
        """Rebuild ``space``'s base from the stored vectors as ``generation`` (inside a transaction)."""
        ids, vectors = self._stored_vectors(space)
        if not len(ids):
            self._drop_space(space)
            return None
        indexes = self._with_ivf_if_large(generation, build_exact_index(ids, vectors), None)
        self._write_base(space, indexes)
        return indexes

    def _indexes(self, space: str) -> SpaceIndexes | None:
        """The current indexes of ``space`` (None if it has no vectors), reloaded or repaired as needed."""
        with self._lock:
            row = self._files.rows().get(space)
            if row is None:
                self._loaded.pop(space, None)
                return None
            loaded = self._loaded.get(space)
            if loaded is not None and loaded.row == row and self._files.is_current(space, loaded):
                return loaded
            indexes = self._files.load(space, row, loaded)
            if indexes is not None:
                self._loaded[space] = indexes
                return indexes
            with self._write():
                # Re-read under the write lock: a writer may have moved on since the check above.
                row = self._files.rows().get(space)
                indexes = self._files.load(space, row) if row else None
                if indexes is None and row is not None:
                    indexes = self._rebuild_space(space, row[0])
                elif indexes is not None:
                    self._loaded[space] = indexes
            return indexes

    def _space_for(self, space: str, dim: int) -> SpaceIndexes:
        """``space``'s indexes, empty ones when it is new; a plain error when ``dim`` does not fit it."""
        current = self._indexes(space)
        if current is None:
            return SpaceIndexes(0, build_exact_index(np.zeros(0, np.int64), np.zeros((0, dim), np.float32)), None)
        if dim != current.exact.d:
            raise UTALError(f"This library's {space} vectors are {current.exact.d}-d but the new ones are "
                            f"{dim}-d (analysed with a different model?).")
        return current

    def _fold(self, space: str, current: SpaceIndexes, added_ids: np.ndarray | None = None,
              added: np.ndarray | None = None, removed_ids: np.ndarray | None = None) -> None:
        """Write ``current``'s base with its shards, its removals and these changes folded in as the next
        generation, retraining IVF when the size calls for it (inside a transaction)."""
        shard_ids, shard_vectors = current.shard_contents()
        ids = np.concatenate([shard_ids, *([] if added_ids is None else [added_ids])])
        vectors = np.concatenate([shard_vectors, *([] if added is None else [added])])
        removed = np.concatenate([current.removed, *([] if removed_ids is None else [removed_ids])])
        keep = ~np.isin(ids, removed)
        exact, ivf = current.exact, current.ivf
        if len(removed):
            selector = faiss.IDSelectorBatch(removed)
            exact.remove_ids(selector)
            if ivf is not None:
                ivf.remove_ids(selector)
        if keep.any():
            exact.add_with_ids(np.ascontiguousarray(vectors[keep]), ids[keep])
            if ivf is not None:
                ivf.add_with_ids(np.ascontiguousarray(vectors[keep]), ids[keep])
        if exact.ntotal == 0:
            self._drop_space(space)
            return
        self._write_base(space, self._with_ivf_if_large(current.generation + 1, exact, ivf))

    def _sharded(self, current: SpaceIndexes) -> bool:
        """Whether changes to ``current`` go to shards and removals rather than a rewrite of its base."""
        return current.exact.ntotal >= max(self.config.shard_above, 1)

    def _needs_compaction(self, current: SpaceIndexes) -> bool:
        return (len(current.shards) + len(current.removals) > self.config.compact_shards
                or current.pending > self.config.compact_vectors)

    # ----- public API -----

    @_plain_database_errors
    def spaces(self) -> list[str]:
        """Embedding spaces that hold vectors."""
        return sorted(self._files.rows())

    @_plain_database_errors
    def add_video(self, path: str | Path, content_hash: str, duration: float, config: Mapping[str, Any],
                  segments: Sequence[Segment], embeddings: Mapping[str, np.ndarray],
                  thumbnails: Sequence[str | None] | None = None) -> int:
        """Add a video's segments and their vectors per embedding space; returns the video id.

        Idempotent by ``content_hash``: adding the same content again returns the existing id.
        """
        vectors = {_check_space_name(space): l2_normalize(values) for space, values in embeddings.items()}
        for space, values in vectors.items():
            if values.ndim != 2 or len(values) != len(segments):
                raise ValueError(f"{space} embeddings must be [{len(segments)}, D], got {values.shape}")
            if not np.isfinite(values).all():
                raise UTALError(f"The {space} vectors of {Path(path).name} hold NaN or infinite values.")
        thumbnails = list(thumbnails) if thumbnails is not None else [None] * len(segments)
        resolved = str(Path(path).resolve())
        with self._write():
            existing = self._db.execute("SELECT id FROM videos WHERE content_hash = ?", (content_hash,)).fetchone()
            if existing:
                return int(existing[0])
            # The record goes first: a crash after it and before the commit leaves a record that only
            # `library rebuild` reads, never a database row without its record.
            write_record(self.folder, resolved, content_hash, float(duration), config, segments, vectors, thumbnails)
            video_id = self._db.execute(
                "INSERT INTO videos (path, content_hash, duration, config_json, added_at) VALUES (?, ?, ?, ?, ?)",
                (resolved, content_hash, float(duration), json.dumps(dict(config), default=str),
                 datetime.now(timezone.utc).isoformat(timespec="seconds"))).lastrowid
            segment_ids = np.array([
                self._db.execute(
                    "INSERT INTO segments (video_id, start_s, end_s, score, cluster, label, label_score, thumbnail) "
                    "VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                    (video_id, float(s.start), float(s.end), float(s.score), int(s.cluster), s.label,
                     None if s.label_score is None else float(s.label_score), thumbnail)).lastrowid
                for s, thumbnail in zip(segments, thumbnails)], dtype=np.int64)
            for space, values in vectors.items():
                self._db.executemany("INSERT INTO vectors (segment_id, space, vector) VALUES (?, ?, ?)",
                                     [(int(i), space, row.tobytes()) for i, row in zip(segment_ids, values)])
                if not len(segment_ids):
                    continue
                current = self._space_for(space, values.shape[1])
                if self._sharded(current):
                    self._files.append_shard(space, current, segment_ids, values)
                else:
                    self._fold(space, current, added_ids=segment_ids, added=values)
            return int(video_id)

    def _resolve_video(self, video: int | str) -> int:
        text = str(video)
        if text.isdigit():
            if int(text) > MAX_SQLITE_INTEGER:
                raise UTALError(f"No video {video!r} in this library.")
            row = self._db.execute("SELECT id FROM videos WHERE id = ?", (int(text),)).fetchone()
        else:
            row = self._db.execute("SELECT id FROM videos WHERE path = ? OR content_hash = ? ORDER BY id LIMIT 1",
                                   (str(Path(text).resolve()), text)).fetchone()
        if row is None:
            raise UTALError(f"No video {video!r} in this library.")
        return int(row[0])

    @_plain_database_errors
    def remove_video(self, video: int | str) -> int:
        """Remove a video (by id, path or content hash) with its segments; returns its id."""
        with self._write():
            video_id = self._resolve_video(video)
            content_hash = self._db.execute("SELECT content_hash FROM videos WHERE id = ?", (video_id,)).fetchone()[0]
            segment_ids = np.array([row[0] for row in self._db.execute(
                "SELECT id FROM segments WHERE video_id = ?", (video_id,))], dtype=np.int64)
            spaces = [row[0] for row in self._db.execute(
                "SELECT DISTINCT space FROM vectors WHERE segment_id IN (SELECT id FROM segments WHERE video_id = ?)",
                (video_id,))]
            self._db.execute("DELETE FROM videos WHERE id = ?", (video_id,))
            for space in spaces:
                current = self._indexes(space)
                if self._sharded(current) and current.count > len(segment_ids):
                    self._files.append_removal(space, current, segment_ids)
                else:
                    self._fold(space, current, removed_ids=segment_ids)
        record_path(self.folder, content_hash).unlink(missing_ok=True)
        return video_id

    @_plain_database_errors
    def list_videos(self) -> list[VideoRecord]:
        """Videos in the library, oldest first."""
        with self._lock:
            rows = self._db.execute(
                "SELECT v.id, v.path, v.content_hash, v.duration, v.config_json, v.added_at, COUNT(s.id) "
                "FROM videos v LEFT JOIN segments s ON s.video_id = v.id GROUP BY v.id ORDER BY v.id").fetchall()
        return [VideoRecord(r[0], r[1], r[2], r[3], json.loads(r[4]), r[5], r[6]) for r in rows]

    @_plain_database_errors
    def segments(self, video: int | str) -> list[Segment]:
        """A video's segments in time order."""
        with self._lock:
            video_id = self._resolve_video(video)
            rows = self._db.execute("SELECT start_s, end_s, score, cluster, label, label_score FROM segments "
                                    "WHERE video_id = ? ORDER BY start_s", (video_id,)).fetchall()
        return [Segment(*row) for row in rows]

    @_plain_database_errors
    def compact(self, if_needed: bool = False) -> list[str]:
        """Fold each space's shards and removals into a new base generation, retraining IVF when the size
        calls for it; with ``if_needed`` only spaces past the ``LibraryConfig`` thresholds. Returns the
        spaces compacted."""
        compacted = []
        with self._write():
            for space in self.spaces():
                current = self._indexes(space)
                if current is None or not (current.shards or current.removals):
                    continue
                if not if_needed or self._needs_compaction(current):
                    self._fold(space, current)
                    compacted.append(space)
        return compacted

    @_plain_database_errors
    def rebuild_indexes(self) -> None:
        """Rebuild every space's indexes from the stored vectors (a new generation each)."""
        with self._write():
            rows = self._files.rows()
            stored = [row[0] for row in self._db.execute("SELECT DISTINCT space FROM vectors")]
            for space in sorted(set(stored) | set(rows)):
                self._rebuild_space(space, rows[space][0] + 1 if space in rows else 1)

    def _allowed_ids(self, filters: SearchFilters) -> np.ndarray:
        video_id = None if filters.video is None else self._resolve_video(filters.video)
        rows = self._db.execute(
            "SELECT id FROM segments WHERE (? IS NULL OR video_id = ?) AND (? IS NULL OR score >= ?) "
            "AND (? IS NULL OR cluster = ?)",
            (video_id, video_id, filters.min_score, filters.min_score, filters.cluster, filters.cluster))
        return np.array([row[0] for row in rows], dtype=np.int64)

    def _search(self, space: str, vector: np.ndarray, k: int, filters: SearchFilters | None,
                encoder: str, exclude: int | None = None, confidence_weight: float = 0.0) -> list[SearchHit]:
        with self._lock:
            indexes = self._indexes(space)
            if indexes is None or k <= 0:
                return []
            if indexes.exact.d != len(vector):
                raise UTALError(f"The query is {len(vector)}-d but this library's {space} vectors are "
                                f"{indexes.exact.d}-d (a different model?).")
            query = l2_normalize(vector[None, :])
            allowed = self._allowed_ids(filters) if filters is not None and filters.active else None
            if allowed is not None and not len(allowed):
                return []
            pool = max(k, self.config.confidence_pool) if confidence_weight else k + (exclude is not None)
            found = indexes.search(query, pool, allowed, self.config.rerank)
            hits = self._hits([(i, score) for i, score in found if i != exclude], encoder)
            return rank_by_confidence(hits, confidence_weight)[:k]

    def _hits(self, ranked: list[tuple[int, float]], encoder: str) -> list[SearchHit]:
        if not ranked:
            return []
        marks = ",".join("?" * len(ranked))
        rows = self._db.execute(
            f"SELECT s.id, s.video_id, v.path, s.start_s, s.end_s, s.cluster, s.label, s.score FROM segments s "
            f"JOIN videos v ON v.id = s.video_id WHERE s.id IN ({marks})", [i for i, _ in ranked]).fetchall()
        by_id = {row[0]: row for row in rows}
        return [SearchHit(video_path=by_id[i][2], video_id=by_id[i][1], segment_id=i, start=by_id[i][3],
                          end=by_id[i][4], score=score, cluster=by_id[i][5], label=by_id[i][6], encoder=encoder,
                          confidence=float(by_id[i][7]), rank_score=score)
                for i, score in ranked if i in by_id]

    @_plain_database_errors
    def search_text(self, query: str, scorer: TextScorer, k: int = 10, filters: SearchFilters | None = None,
                    confidence_weight: float = 0.0, match_bars: bool = False) -> list[SearchHit]:
        """The ``k`` segments nearest to ``query`` in ``scorer``'s embedding space (cosine similarity), or with
        ``confidence_weight`` the ``k`` best of the ``config.confidence_pool`` nearest by similarity + weight *
        segment score (:func:`~utal_core.library.search.rank_by_confidence`; the CLI and the app pass
        ``config.confidence_weight``). ``match_bars``: each hit also gets the bar a good match reaches on its
        segment (:func:`~utal_core.library.search.with_match_bars`; the CLI and the app ask for it)."""
        query = check_query(query)
        if scorer.space not in self.spaces():
            raise UTALError(f"No segments in this library can be searched with {scorer.name}.")
        hits = self._search(scorer.space, scorer.embed_texts([query])[0], k, filters, scorer.name,
                            confidence_weight=confidence_weight)
        if not match_bars:
            return hits
        return with_match_bars(hits, self.vectors([hit.segment_id for hit in hits], scorer.space),
                               reference_action_vectors(scorer))

    def _vector(self, segment_id: int, space: str) -> np.ndarray | None:
        return self.vectors([segment_id], space).get(segment_id)

    @_plain_database_errors
    def vectors(self, segment_ids: Sequence[int], space: str) -> dict[int, np.ndarray]:
        """The stored ``space`` vectors of these segments, by segment id (absent ones left out)."""
        if not segment_ids:
            return {}
        with self._lock:
            rows = self._db.execute(f"SELECT segment_id, vector FROM vectors WHERE space = ? AND segment_id IN "
                                    f"({','.join('?' * len(segment_ids))})", [space, *segment_ids]).fetchall()
        return {int(segment_id): np.frombuffer(blob, dtype=np.float32) for segment_id, blob in rows}

    @_plain_database_errors
    def search_by_segment(self, segment_id: int, k: int = 10, space: str | None = None,
                          filters: SearchFilters | None = None) -> list[SearchHit]:
        """The ``k`` segments most similar to segment ``segment_id`` (itself excluded).

        ``space`` defaults to the first of ``SIMILARITY_SPACES`` the segment has a vector in.
        """
        with self._lock:
            for candidate in [space] if space else SIMILARITY_SPACES:
                vector = self._vector(segment_id, candidate)
                if vector is not None:
                    return self._search(candidate, vector, k, filters, candidate, exclude=segment_id)
        raise UTALError(f"Segment {segment_id} has no stored embedding to compare with.")

    @_plain_database_errors
    def recluster(self, scorer: TextScorer, k: int | Literal["auto"] = "auto", seed: int = 0) -> ClusterResult:
        """Cluster every segment of the library in ``scorer``'s space and store clusters and names."""
        with self._write():
            ids, vectors = self._stored_vectors(scorer.space)
            result = cluster_segments(vectors, k=k, seed=seed)
            if result.k:
                names = name_vectors(cluster_means(vectors, result, l2_normalize), scorer)
                self._db.executemany(
                    "UPDATE segments SET cluster = ?, label = ?, label_score = ? WHERE id = ?",
                    [(int(c), names[c].name, names[c].score, int(i)) for i, c in zip(ids, result.labels)])
            return result


def add_analysis_to_library(library: SegmentLibrary, analysis: Any, bridge: LabelBridgeScorer | None = None) -> int:
    """Add an analysis (video_path, content_hash, duration, config, segments, segment_embeddings) to ``library``."""
    return library.add_video(
        analysis.video_path, analysis.content_hash, analysis.duration, analysis.config, analysis.segments,
        library_vectors(analysis.segment_embeddings, bridge), thumbnails=getattr(analysis, "thumbnails", None))
