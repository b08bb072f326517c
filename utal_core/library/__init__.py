"""Persistent segment library: SQLite metadata and vectors, FAISS indexes per embedding space.

Folder layout::

    library.sqlite                        videos, segments, vectors (float32 blobs), index state
    indexes/<space>.g<generation>.exact.faiss    IndexIDMap2(IndexFlatIP): exact ground truth
    indexes/<space>.g<generation>.ivf.faiss      IndexIVFFlat (inner product), above a size threshold
    records/<content hash>.npz            each added video as added: what `library rebuild` restores from
    damaged/<time>/                       a damaged or lost database's files, set aside by a rebuild

SQLite is the source of truth. Vectors are L2-normalised, so inner product is cosine similarity.
Every write runs in one SQLite transaction (WAL mode, so readers keep reading while one writer
adds): the new index files are written to temp files and renamed to the *next* generation's
names, and only then is the transaction, which records that generation and the files' SHA-256,
committed. A crash before the commit leaves the previous generation in force; a crash after it
leaves files that are missing, stale or corrupt, which :meth:`SegmentLibrary.open` (and any
later search) detects through generation, format version, hash, size and dimension checks and
rebuilds from the stored vectors. Readers compare the generation before each search and reload
when a writer has moved it on.

The database is checked before use (``PRAGMA quick_check``; a missing or empty database next to
surviving indexes or records is refused): damage is reported with what a rebuild can restore and
never written into. Modules: ``store`` (SQLite, transactions), ``index`` (FAISS), ``search``
(requests, hits, stored vectors), ``records`` (record files and the checks), ``recovery`` (rebuild).
"""

from .index import INDEX_FORMAT, LibraryConfig, SpaceIndexes, build_exact_index, build_ivf_index, exact_index_contents, ivf_lists
from .records import DATABASE_NAME, REBUILD_MARKER, RECORDS_DIR
from .recovery import RebuildReport, rebuild_library
from .search import SIMILARITY_SPACES, SearchFilters, SearchHit, library_vectors
from .store import PAUSE_BEFORE_COMMIT_ENV, SCHEMA_VERSION, SegmentLibrary, VideoRecord, add_analysis_to_library

__all__ = [
    "DATABASE_NAME", "INDEX_FORMAT", "PAUSE_BEFORE_COMMIT_ENV", "REBUILD_MARKER", "RECORDS_DIR", "SCHEMA_VERSION",
    "SIMILARITY_SPACES", "LibraryConfig", "RebuildReport", "SearchFilters", "SearchHit", "SegmentLibrary",
    "SpaceIndexes", "VideoRecord", "add_analysis_to_library", "build_exact_index", "build_ivf_index",
    "exact_index_contents", "ivf_lists", "library_vectors", "rebuild_library",
]
