"""`library rebuild`: re-create a lost or damaged library database from the saved video records.

Crash-safe by a marker file: the marker is written first, the old database (with its WAL) and
index files are moved into ``damaged/<time>/`` (kept, never deleted), a new database is filled
from ``records/``, and the marker is removed last. A library whose marker is present is refused
by :meth:`SegmentLibrary.open`, and running the rebuild again starts it over, so a kill at any
point leaves either the old state set aside or a complete new database, never a silent half.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass, field
from datetime import datetime, timezone
from pathlib import Path

from ..errors import UTALError
from ..export import atomic_write_text
from .index import LibraryConfig
from .records import DATABASE_NAME, REBUILD_MARKER, read_record, saved_records
from .store import SegmentLibrary

#: Test hook (crash-safety tests only): seconds to sleep after each restored video.
PAUSE_PER_RECORD_ENV = "UTAL_LIBRARY_PAUSE_PER_RECORD"


@dataclass
class RebuildReport:
    """What a rebuild restored, what it could not read, and where the old files were put."""

    restored: list[str] = field(default_factory=list)
    unreadable: dict[str, str] = field(default_factory=dict)
    set_aside: Path | None = None


def _set_aside(folder: Path) -> Path | None:
    """Move the old database files and indexes into ``damaged/<time>/``; None when there was nothing."""
    old = [folder / name for name in (DATABASE_NAME, f"{DATABASE_NAME}-wal", f"{DATABASE_NAME}-shm", "indexes")]
    old = [path for path in old if path.exists()]
    if not old:
        return None
    aside = folder / "damaged" / datetime.now(timezone.utc).strftime("%Y%m%dT%H%M%S.%fZ")
    aside.mkdir(parents=True)
    for path in old:
        os.replace(path, aside / path.name)
    return aside


def rebuild_library(folder: str | Path, config: LibraryConfig = LibraryConfig()) -> RebuildReport:
    """Re-create the database and indexes of the library in ``folder`` from its saved records."""
    folder = Path(folder)
    if not folder.is_dir():
        raise UTALError(f"No library folder at {folder}.")
    try:
        atomic_write_text(folder / REBUILD_MARKER, datetime.now(timezone.utc).isoformat())
        report = RebuildReport(set_aside=_set_aside(folder))
    except OSError as error:
        raise UTALError(f"Cannot rebuild the library in {folder}: {error.strerror or error}") from None
    pause = float(os.environ.get(PAUSE_PER_RECORD_ENV) or 0)
    with SegmentLibrary.create_unchecked(folder, config) as library:
        for path in saved_records(folder):
            try:
                record = read_record(path)
            except UTALError as error:
                report.unreadable[path.name] = str(error)
                continue
            library.add_video(**record)
            library.compact(if_needed=True)
            report.restored.append(record["path"])
            time.sleep(pause)
    (folder / REBUILD_MARKER).unlink()
    return report
