"""Persistent segment library: SQLite metadata and vectors, FAISS indexes per embedding space.

Folder layout::

    library.sqlite                        videos, segments, vectors (float32 blobs), index state
    indexes/<space>.g<generation>.exact.faiss    IndexIDMap2(IndexFlatIP): exact ground truth
    indexes/<space>.g<generation>.ivf.faiss      IndexIVFPQFastScan (inner product; older libraries:
                                                 IndexIVFFlat), above a size threshold
    indexes/<space>.g<generation>.s<n>.faiss     exact shard n appended to that generation by an add
    records/<content hash>.npz            each added video as added: what `library rebuild` restores from
    damaged/<time>/                       a damaged or lost database's files, set aside by a rebuild

SQLite is the source of truth. Vectors are L2-normalised, so inner product is cosine similarity.
IVF candidates (4-bit PQ codes) are re-ranked with the exact index's vectors, so scores are exact.
Once a space's base index holds ``LibraryConfig.shard_above`` vectors, an add writes only a small
exact shard and a removal only a row of removed ids; search merges the top-k of base and shards
and skips removed ids. ``compact`` (``library compact``, and after ``library add`` past the
``compact_shards``/``compact_vectors`` thresholds) folds them into the next base generation,
retraining IVF when the size calls for it. Every write runs in one SQLite transaction (WAL mode,
so readers keep reading while one writer adds): new index files are written to temp files and
renamed to names no committed row uses yet (the next generation, or the next shard), and only
then is the transaction, which records them and their SHA-256, committed; files no committed row
vouches for are deleted by the next writer. A crash before the commit leaves the previous generation in force; a crash after it
leaves files that are missing, stale or corrupt, which :meth:`SegmentLibrary.open` (and any
later search) detects through generation, format version, hash, size and dimension checks and
rebuilds from the stored vectors. Readers compare the generation before each search and reload
when a writer has moved it on.

The database is checked before use (``PRAGMA quick_check``; a missing or empty database next to
surviving indexes or records is refused): damage is reported with what a rebuild can restore and
never written into. Modules: ``store`` (SQLite, transactions), ``index`` (FAISS), ``search``
(requests, hits, stored vectors), ``files`` (index files, shards and their rows), ``records``
(record files and the checks), ``recovery`` (rebuild).
"""

from .index import (COMPACTION_ENV, INDEX_FORMAT, LibraryConfig, SpaceIndexes, build_exact_index, build_ivf_index,
                    exact_index_contents, ivf_lists, merge_top_k)
from .records import DATABASE_NAME, REBUILD_MARKER, RECORDS_DIR
from .recovery import RebuildReport, rebuild_library
from .search import SIMILARITY_SPACES, SearchFilters, SearchHit, library_vectors
from .store import PAUSE_BEFORE_COMMIT_ENV, SCHEMA_VERSION, SegmentLibrary, VideoRecord, add_analysis_to_library

__all__ = [
    "COMPACTION_ENV", "DATABASE_NAME", "INDEX_FORMAT", "PAUSE_BEFORE_COMMIT_ENV", "REBUILD_MARKER", "RECORDS_DIR", "SCHEMA_VERSION",
    "SIMILARITY_SPACES", "LibraryConfig", "RebuildReport", "SearchFilters", "SearchHit", "SegmentLibrary",
    "SpaceIndexes", "VideoRecord", "add_analysis_to_library", "build_exact_index", "build_ivf_index",
    "exact_index_contents", "ivf_lists", "library_vectors", "rebuild_library", "merge_top_k",
]
