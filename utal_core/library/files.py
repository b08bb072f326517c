"""The library's index files and the SQLite rows that vouch for them.

Per space, one *base generation* ``indexes/<space>.g<generation>.exact.faiss`` (and ``.ivf.faiss``
above the size threshold), recorded in the ``indexes`` table with its SHA-256; the exact *shards*
appended to that generation since, ``<space>.g<generation>.s<number>.faiss``, each recorded in the
``shards`` table; and the ids removed since, as one ``removals`` row per removal. A file counts only
when its row is committed and its hash, size and dimension match: a writer writes the file (atomic
rename) before the transaction that records it commits, so a crash leaves the previous state.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from pathlib import Path

import faiss
import numpy as np

from ..export import atomic_write_bytes
from .index import INDEX_FORMAT, SpaceIndexes, build_exact_index, exact_index_contents

SHARD_SCHEMA = """
CREATE TABLE IF NOT EXISTS shards (
    space TEXT NOT NULL, generation INTEGER NOT NULL, number INTEGER NOT NULL, count INTEGER NOT NULL,
    sha256 TEXT NOT NULL, PRIMARY KEY (space, generation, number));
CREATE TABLE IF NOT EXISTS removals (
    space TEXT NOT NULL, generation INTEGER NOT NULL, number INTEGER NOT NULL, ids BLOB NOT NULL,
    PRIMARY KEY (space, generation, number));
"""

_FILE_NAME = re.compile(r"(.+)\.g(\d+)\.(exact|ivf|s(\d+))\.faiss")


def _sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


class IndexFiles:
    """Reads, writes and cleans up the index files of the library in ``folder`` through ``db``."""

    def __init__(self, folder: Path, db: sqlite3.Connection, nprobe: int) -> None:
        self.directory = folder / "indexes"
        self._db = db
        self._nprobe = nprobe

    def path(self, space: str, generation: int, kind: str) -> Path:
        """File of ``kind`` (``exact``, ``ivf`` or ``s<number>``) of ``space``'s ``generation``."""
        return self.directory / f"{space}.g{generation}.{kind}.faiss"

    def rows(self) -> dict[str, tuple]:
        """Committed base generation per space: (generation, dim, format, count, exact_sha256, ivf_sha256)."""
        rows = self._db.execute("SELECT space, generation, dim, format, count, exact_sha256, ivf_sha256 FROM indexes")
        return {row[0]: row[1:] for row in rows}

    def _shard_rows(self, space: str, generation: int) -> dict[int, tuple[int, str]]:
        rows = self._db.execute("SELECT number, count, sha256 FROM shards WHERE space = ? AND generation = ?",
                                (space, generation))
        return {number: (count, sha) for number, count, sha in rows}

    def _removal_numbers(self, space: str, generation: int) -> list[int]:
        return [row[0] for row in self._db.execute(
            "SELECT number FROM removals WHERE space = ? AND generation = ?", (space, generation))]

    def is_current(self, space: str, indexes: SpaceIndexes) -> bool:
        """Whether ``indexes`` still hold every committed shard and removal of their generation."""
        return (set(self._shard_rows(space, indexes.generation)) == set(indexes.shards)
                and set(self._removal_numbers(space, indexes.generation)) == set(indexes.removals))

    def _read(self, path: Path, sha256: str | None) -> faiss.Index | None:
        try:
            data = path.read_bytes()
        except OSError:
            return None
        if _sha256(data) != sha256:
            return None
        try:
            return faiss.deserialize_index(np.frombuffer(data, dtype=np.uint8))
        except RuntimeError:
            return None

    def load(self, space: str, row: tuple, loaded: SpaceIndexes | None = None) -> SpaceIndexes | None:
        """The indexes recorded for ``space`` (``row`` from :meth:`rows`), or None when any check fails.

        Parts of ``loaded`` (same generation) are reused, so a reader only reads what was appended.
        """
        generation, dim, index_format, count, exact_sha, ivf_sha = row
        if loaded is not None and loaded.row == row:
            exact, ivf, shards = loaded.exact, loaded.ivf, dict(loaded.shards)
        else:
            if index_format != INDEX_FORMAT:
                return None
            exact = self._read(self.path(space, generation, "exact"), exact_sha)
            ivf = self._read(self.path(space, generation, "ivf"), ivf_sha) if ivf_sha else None
            if exact is None or exact.d != dim or exact.ntotal != count or (ivf_sha and ivf is None):
                return None
            if ivf is not None:
                ivf.nprobe = self._nprobe
            shards = {}
        indexes = SpaceIndexes(generation, exact, ivf, row)
        for number, (shard_count, sha) in self._shard_rows(space, generation).items():
            if number in shards:
                indexes.add_shard(number, *shards[number])
                continue
            shard = self._read(self.path(space, generation, f"s{number}"), sha)
            if shard is None or shard.d != dim or shard.ntotal != shard_count:
                return None
            indexes.add_shard(number, *exact_index_contents(shard))
        for number, blob in self._db.execute(
                "SELECT number, ids FROM removals WHERE space = ? AND generation = ?", (space, generation)):
            indexes.add_removal(number, np.frombuffer(blob, dtype=np.int64))
        return indexes

    def write_base(self, space: str, indexes: SpaceIndexes) -> None:
        """Write the base of ``indexes`` (which hold no shards or removals) as their generation and record it,
        forgetting the space's shards and removals (inside a transaction)."""
        hashes = {}
        for kind, index in (("exact", indexes.exact), ("ivf", indexes.ivf)):
            if index is not None:
                data = faiss.serialize_index(index).tobytes()
                atomic_write_bytes(self.path(space, indexes.generation, kind), data)
                hashes[kind] = _sha256(data)
        indexes.row = (indexes.generation, indexes.exact.d, INDEX_FORMAT, indexes.exact.ntotal,
                       hashes["exact"], hashes.get("ivf"))
        self._db.execute("INSERT OR REPLACE INTO indexes VALUES (?, ?, ?, ?, ?, ?, ?)", (space, *indexes.row))
        self._forget_deltas(space)

    def drop_space(self, space: str) -> None:
        """Record that ``space`` holds no vectors (inside a transaction)."""
        self._db.execute("DELETE FROM indexes WHERE space = ?", (space,))
        self._forget_deltas(space)

    def _forget_deltas(self, space: str) -> None:
        self._db.execute("DELETE FROM shards WHERE space = ?", (space,))
        self._db.execute("DELETE FROM removals WHERE space = ?", (space,))

    def append_shard(self, space: str, indexes: SpaceIndexes, ids: np.ndarray, vectors: np.ndarray) -> None:
        """Write ``ids``/``vectors`` as the next shard of ``indexes`` and record it (inside a transaction)."""
        number = max(indexes.shards, default=0) + 1
        shard = build_exact_index(ids, vectors)
        data = faiss.serialize_index(shard).tobytes()
        atomic_write_bytes(self.path(space, indexes.generation, f"s{number}"), data)
        self._db.execute("INSERT INTO shards VALUES (?, ?, ?, ?, ?)",
                         (space, indexes.generation, number, shard.ntotal, _sha256(data)))
        indexes.add_shard(number, ids, vectors)

    def append_removal(self, space: str, indexes: SpaceIndexes, ids: np.ndarray) -> None:
        """Record ``ids`` as removed from ``indexes`` (inside a transaction)."""
        number = max(indexes.removals, default=0) + 1
        ids = np.asarray(ids, dtype=np.int64)
        self._db.execute("INSERT INTO removals VALUES (?, ?, ?, ?)",
                         (space, indexes.generation, number, ids.tobytes()))
        indexes.add_removal(number, ids)

    def _referenced(self) -> tuple[dict[str, int], set[tuple[str, int, int]]]:
        generations = {space: row[0] for space, row in self.rows().items()}
        shards = {(space, generation, number) for space, generation, number in self._db.execute(
            "SELECT space, generation, number FROM shards")}
        return generations, shards

    def remove_superseded(self) -> None:
        """Delete files of generations older than the committed ones (and of spaces now empty).

        Safe outside the write lock: a concurrent writer only ever writes the committed generation
        or a newer one.
        """
        generations, _ = self._referenced()
        for path, space, generation, _ in self._files():
            if generation < generations.get(space, generation + 1):
                path.unlink(missing_ok=True)

    def remove_unreferenced(self) -> None:
        """Delete every file no committed row vouches for: what a killed writer left (inside a
        write transaction only, where no other writer can be between its file and its commit)."""
        generations, shards = self._referenced()
        for path, space, generation, number in self._files():
            if generation != generations.get(space) or (number is not None and
                                                        (space, generation, number) not in shards):
                path.unlink(missing_ok=True)

    def _files(self) -> list[tuple[Path, str, int, int | None]]:
        found = []
        for path in self.directory.glob("*.faiss"):
            match = _FILE_NAME.fullmatch(path.name)
            if match:
                found.append((path, match[1], int(match[2]), None if match[4] is None else int(match[4])))
        return found
