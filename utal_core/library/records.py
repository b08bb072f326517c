"""What the library keeps on disk besides SQLite, and the checks that run before SQLite is trusted.

Every added video is also saved as one record file ``records/<key>.npz`` (its path, hash,
duration, config, segments, thumbnails and stored vectors), written atomically before the
SQLite transaction that adds it. The records are what ``library rebuild`` re-creates a lost or
damaged database from. Before a database is opened for use, :func:`check_folder` refuses a
missing or empty database next to surviving index files or records, and an interrupted rebuild;
:func:`check_integrity` runs ``PRAGMA quick_check`` so that a damaged file is reported and never
written into.
"""

from __future__ import annotations

import hashlib
import io
import json
import re
import sqlite3
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import UTALError
from ..export import atomic_write_bytes
from ..types import Segment

DATABASE_NAME = "library.sqlite"
RECORDS_DIR = "records"
#: Present while ``library rebuild`` runs; a library with it is refused until the rebuild is rerun.
REBUILD_MARKER = "rebuild.in-progress"
_RECORD_FORMAT = 1


def rebuild_hint(folder: Path) -> str:
    """The command that re-creates the database of the library in ``folder``."""
    return f"`python -m utal_core library rebuild --library {folder}`"


def record_path(folder: Path, content_hash: str) -> Path:
    """Record file of the video with ``content_hash`` (hashed again when it is not a safe file name)."""
    name = content_hash if re.fullmatch(r"[A-Za-z0-9_-]{1,128}", content_hash) else \
        hashlib.sha256(content_hash.encode()).hexdigest()
    return folder / RECORDS_DIR / f"{name}.npz"


def saved_records(folder: Path) -> list[Path]:
    """Record files in the library folder, in name order."""
    return sorted((folder / RECORDS_DIR).glob("*.npz"))


def write_record(folder: Path, path: str, content_hash: str, duration: float, config: Mapping[str, Any],
                 segments: Sequence[Segment], vectors: Mapping[str, np.ndarray],
                 thumbnails: Sequence[str | None]) -> Path:
    """Save what :meth:`SegmentLibrary.add_video` needs to add this video again (atomically)."""
    meta = {"format": _RECORD_FORMAT, "path": path, "content_hash": content_hash, "duration": duration,
            "config": dict(config), "thumbnails": list(thumbnails),
            "segments": [[s.start, s.end, s.score, s.cluster, s.label, s.label_score] for s in segments]}
    buffer = io.BytesIO()
    arrays: dict[str, Any] = {f"vectors_{space}": np.asarray(values, np.float32) for space, values in vectors.items()}
    np.savez(buffer, meta=np.array(json.dumps(meta, default=str)), **arrays)
    return atomic_write_bytes(record_path(folder, content_hash), buffer.getvalue())


def read_record(path: Path) -> dict[str, Any]:
    """The arguments of ``add_video`` saved in ``path``; UTALError when the file is damaged."""
    try:
        with np.load(path, allow_pickle=False) as arrays:
            meta = json.loads(str(arrays["meta"]))
            vectors = {name[len("vectors_"):]: arrays[name] for name in arrays.files if name.startswith("vectors_")}
        if not isinstance(meta, dict) or meta.get("format") != _RECORD_FORMAT:
            raise ValueError("unknown record format")
        segments = [Segment(float(a), float(b), float(c), int(d), e, f) for a, b, c, d, e, f in meta["segments"]]
    except Exception as error:  # np.load and json raise many types on a damaged file
        raise UTALError(f"{path.name} is not a readable library record ({type(error).__name__})") from None
    for space, values in vectors.items():
        if values.ndim != 2 or len(values) != len(segments) or not np.isfinite(values).all():
            raise UTALError(f"{path.name} holds damaged {space} vectors")
    return {"path": meta["path"], "content_hash": meta["content_hash"], "duration": float(meta["duration"]),
            "config": meta["config"], "segments": segments, "embeddings": vectors,
            "thumbnails": meta["thumbnails"]}


def check_folder(folder: Path) -> None:
    """Refuse to open a library whose rebuild was interrupted, or whose database is lost next to its data."""
    if (folder / REBUILD_MARKER).exists():
        raise UTALError(f"A rebuild of the library in {folder} was interrupted; run {rebuild_hint(folder)} again.")
    database = folder / DATABASE_NAME
    if database.is_file() and database.stat().st_size > 0:
        return
    indexes = list((folder / "indexes").glob("*.faiss"))
    records = saved_records(folder)
    if indexes or records:
        state = "empty (0 bytes)" if database.is_file() else "missing"
        raise UTALError(f"The library database {database} is {state}, but the folder still holds "
                        f"{len(indexes)} index file(s) and {len(records)} saved video record(s); nothing was changed. "
                        f"Run {rebuild_hint(folder)} to re-create it from the {len(records)} record(s).")


def check_integrity(connection: sqlite3.Connection, folder: Path) -> None:
    """``PRAGMA quick_check``; a damaged database is reported with what can be recovered."""
    try:
        problems = [row[0] for row in connection.execute("PRAGMA quick_check(5)")]
    except sqlite3.DatabaseError as error:
        problems = [str(error)]
    if problems == ["ok"]:
        return
    raise damaged_database(folder, problems[0])


def damaged_database(folder: Path, problem: str) -> UTALError:
    """The plain error for a damaged database: what is wrong, and how many videos a rebuild restores."""
    records = len(saved_records(folder))
    problem = " ".join(problem.split())  # quick_check reports span lines; the message is one
    return UTALError(f"The library database {folder / DATABASE_NAME} is damaged ({problem}); nothing was written "
                     f"to it. {records} video(s) have a saved record and can be restored with "
                     f"{rebuild_hint(folder)} (the damaged file is kept aside).")
