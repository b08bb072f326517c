"""Per-visitor sessions: the files a visitor may fetch, the files nobody may, and their library.

Gradio sends any file inside its upload folder to whoever asks for its path, and copies every file
a handler returns into that folder (named by a seeded content hash) unless it is already there.
So each session gets two folders under a 256-bit random token (``secrets.token_urlsafe``):

* ``public``: ``<Gradio upload folder>/utal_sessions/<token>/`` holds only what this visitor is
  sent (their video, thumbnails, exports). Gradio serves these in place, with no second copy, and
  no other visitor learns the token.
* ``private``: ``<work_dir>/private/<token>/`` holds the session's library and stored videos,
  outside every folder the server sends files from.

A session ends with its tab; a visitor's corrections outlive it. Their browser keeps another random
token (``gr.BrowserState``, local storage); ``<work_dir>/visitors/<sha256 of it>/edits/`` holds every
correction they make, saved at once (``utal_core.edit_files.EditStore``), and restored when they open
the same video again: after a reload, in a new tab of the same browser, after a server restart.
Another browser has another token and sees none of them.

An uploaded video is moved out of Gradio's upload folder into the video store when it is
analysed, so its upload URL stops working; the visitor's player gets a hard link (or copy) of it
in ``public``. Two visitors who upload the same bytes share Gradio's upload path: the second one's
Analyze takes a hard link of the first one's stored copy (``UploadRegistry``). The bundled examples
are public, so theirs is copied and left in place.
"""

from __future__ import annotations

import collections
import functools
import hashlib
import os
import re
import secrets
import shutil
import threading
import time
from contextlib import suppress
from pathlib import Path
from typing import TYPE_CHECKING, Callable, Iterator

from gradio.utils import get_upload_folder

from utal_core.edit_files import EditStore, carried_edits
from utal_core.errors import UTALError
from utal_core.export import temporary_sibling
from utal_core.examples import EXAMPLES_DIR
from utal_core.features import content_hash
from utal_core.library import SegmentLibrary
from utal_core.strips import StripCache
from utal_core.viz import Thumbnailer

if TYPE_CHECKING:
    from utal_core.pipeline import Analysis

#: Folder of the sessions' public folders inside Gradio's upload folder.
SESSIONS_FOLDER = "utal_sessions"
_UPLOAD_DIR_NAME = re.compile(r"[0-9a-f]{64}")
#: A visitor's token as ``secrets.token_urlsafe(32)`` writes it (kept in their browser's local storage).
VISITOR_TOKEN = re.compile(r"[A-Za-z0-9_-]{43}")
#: How many closed tabs' keys are remembered (each about 50 bytes).
CLOSED_TABS_KEPT = 100_000
#: The answer to a request of a tab whose session ended (its files are deleted).
TAB_CLOSED = "This tab's session has ended (the tab was closed); reload the page."


def served_root() -> Path:
    """The folder that holds every session's public folder."""
    return Path(get_upload_folder()).resolve() / SESSIONS_FOLDER


def is_inside(path: str | os.PathLike, folder: str | os.PathLike) -> bool:
    """Whether ``path`` is ``folder`` or lies below it (symlinks resolved)."""
    return Path(path).resolve().is_relative_to(Path(folder).resolve())


def is_fresh_upload(path: Path) -> bool:
    """Whether ``path`` is a file as Gradio's upload route writes it: ``<upload folder>/<sha256>/<name>``."""
    return (path.parent.parent == Path(get_upload_folder()).resolve()
            and _UPLOAD_DIR_NAME.fullmatch(path.parent.name) is not None)


def is_bundled_example(path: Path) -> bool:
    """Whether ``path`` holds the same content as the bundled example of its name."""
    example = EXAMPLES_DIR / path.name
    return example.is_file() and example.stat().st_size == path.stat().st_size and \
        _file_hash(example) == _file_hash(path)


def _file_hash(path: Path) -> str:
    """``content_hash`` of the file at ``path``, hashed once while its size and modification time stay."""
    stat = path.stat()
    return _hash_of(str(path.resolve()), stat.st_size, stat.st_mtime_ns)


@functools.lru_cache(maxsize=256)
def _hash_of(path: str, size: int, mtime_ns: int) -> str:
    return content_hash(path)


def _link_or_copy(source: Path, target: Path) -> None:
    """Hard-link ``source`` at ``target`` (a copy, written atomically, across file systems)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
        return
    except FileExistsError:
        return
    except OSError:
        pass
    handle, partial = temporary_sibling(target)
    os.close(handle)
    try:
        shutil.copyfile(source, partial)
        os.replace(partial, target)
    finally:
        Path(partial).unlink(missing_ok=True)


class AnalysisStopped(UTALError):
    """The analysis was cancelled or ran out of its time budget; nothing of it is kept."""


class AnalysisRun:
    """One analysis' stop conditions: a cancel flag and a time budget, checked at every progress report."""

    def __init__(self, time_limit_s: float) -> None:
        self.time_limit_s = float(time_limit_s)
        self.started = time.monotonic()
        self._cancelled = threading.Event()
        self._keeping = False
        self._lock = threading.Lock()

    def start_clock(self) -> None:
        """The budget counts from here (when the analysis gets its turn, not while it waits)."""
        self.started = time.monotonic()

    def cancel(self) -> bool:
        """Stop at the next check; False when the analysis is already being kept."""
        with self._lock:
            if not self._keeping:
                self._cancelled.set()
            return not self._keeping

    @property
    def cancelled(self) -> bool:
        return self._cancelled.is_set()

    def check(self) -> None:
        """Raise AnalysisStopped when cancelled or past the time budget."""
        if self._cancelled.is_set():
            raise AnalysisStopped("The analysis was cancelled; nothing of it was kept.")
        if time.monotonic() - self.started > self.time_limit_s:
            raise AnalysisStopped(f"The analysis took longer than this server's limit of {self.time_limit_s:g} s "
                                  "and was stopped; nothing of it was kept. Try a shorter video.")

    def begin_keeping(self) -> None:
        """From here on a Cancel no longer applies; raises AnalysisStopped if one came first."""
        with self._lock:
            if self._cancelled.is_set():
                raise AnalysisStopped("The analysis was cancelled; nothing of it was kept.")
            self._keeping = True


class UploadRegistry:
    """Fresh upload paths already moved into some session's store, and where (shared by every session).

    Gradio keeps equal bytes uploaded by two visitors at one path; the first Analyze moves the file away
    (so its upload URL stops working), and the second visitor's Analyze then takes the first one's stored
    copy (a hard link into their own store) instead of failing.
    """

    def __init__(self) -> None:
        self.lock = threading.Lock()
        self.stored: dict[Path, Path] = {}


class Session:
    """One visitor's folders, stored videos, thumbnails and library."""

    def __init__(self, token: str, public: Path, private: Path, video_store: Path,
                 open_library: Callable[[], SegmentLibrary], owns_library: bool,
                 uploads: "UploadRegistry | None" = None) -> None:
        self.token = token
        self.public = public
        self.private = private
        self.video_store = video_store
        self.thumbnails = Thumbnailer(public / "thumbnails")
        #: The boundary inspector's frame strips (its decoded windows stay in memory for the session).
        self.strips = StripCache(public / "strips")
        self._open_library = open_library
        self._owns_library = owns_library
        self._library: SegmentLibrary | None = None
        self._lock = threading.Lock()
        self.last_used = time.monotonic()
        #: Upload path (as Gradio gave it) or published path -> the stored video it stands for.
        self._stored: dict[Path, Path] = {}
        self._uploads = uploads or UploadRegistry()
        #: The visitor's saved corrections (``attach_visitor``; None for a client without a browser token).
        self.edit_store: EditStore | None = None
        #: Content hash -> the revision of the saved corrections this page has loaded or saved last.
        self.edit_revisions: dict[str, int] = {}
        #: What the page said about this session's last failed analysis (the status line repeats it).
        self.last_failure: str | None = None

    def attach_visitor(self, folder: Path) -> None:
        """Keep this session's corrections in ``folder`` (the visitor's own, named by their browser token)."""
        with self._lock:
            self.edit_store = EditStore(folder)

    def restore_edits(self, analysis: "Analysis") -> str:
        """Put the visitor's saved corrections of ``analysis``'s video on it (carried onto its segments when
        they changed), unless it already has edits; returns a note for the status line ("" when none)."""
        if self.edit_store is None or (analysis.edits is not None and analysis.edits.operations):
            return ""
        try:
            saved, revision = self.edit_store.load(analysis.content_hash)
        except UTALError as error:
            return f"Saved corrections not restored: {error}."
        self.edit_revisions[analysis.content_hash] = revision
        if saved is None or not saved.operations:
            return ""
        analysis.edits, carried = carried_edits(saved, list(analysis.segments))
        return f"Restored your {len(saved.operations)} saved correction(s)" + (f" ({carried})." if carried else ".")

    def save_edits(self, analysis: "Analysis") -> None:
        """Save ``analysis``'s edits layer at once (atomically) in the visitor's store; a plain UTALError when
        another tab saved this video's corrections since this page read them (nothing is overwritten)."""
        if self.edit_store is None or analysis.edits is None:
            return
        key = analysis.content_hash
        self.edit_revisions[key] = self.edit_store.save(key, analysis.edits, self.edit_revisions.get(key, 0))

    @property
    def library(self) -> SegmentLibrary:
        """The library this session adds to and searches (opened on first use)."""
        with self._lock:
            if self._library is None:
                self._library = self._open_library()
            return self._library

    def video_for(self, upload: str | os.PathLike) -> Path:
        """The stored video for a path the browser sent: a fresh upload (moved into the store), a bundled
        example or a file this session was given; anything else is refused."""
        path = Path(os.path.abspath(upload))
        with self._lock:
            if path in self._stored:
                return self._stored[path]
        if not is_fresh_upload(path) and not (is_inside(path, EXAMPLES_DIR) and is_bundled_example(path)):
            raise UTALError("Upload a video or pick a bundled example first.")
        with self._uploads.lock:  # one session at a time moves or takes an upload (equal bytes share one path)
            earlier = self._uploads.stored.get(path)
            if not path.is_file() and earlier is not None and earlier.is_file():
                # Another visitor uploaded the same bytes and their Analyze moved the file first: take theirs.
                stored = self.video_store / earlier.parent.name / earlier.name
                if stored != earlier:
                    _link_or_copy(earlier, stored)
            elif not path.is_file():
                raise UTALError(f"{path.name} is no longer on the server; upload it again.")
            else:
                stored = self.video_store / content_hash(path)[:32] / path.name
                stored.parent.mkdir(parents=True, exist_ok=True)
                if is_bundled_example(path):
                    _link_or_copy(path, stored)
                elif stored.exists():
                    path.unlink(missing_ok=True)
                else:
                    shutil.move(path, stored)
                with suppress(OSError):
                    path.parent.rmdir()
                if not is_bundled_example(stored):
                    self._uploads.stored[path] = stored
        with self._lock:
            self._stored[path] = stored
        return stored

    def publish(self, video: str | os.PathLike) -> str:
        """A path under this session's public folder for a stored video (for the player)."""
        video = Path(video)
        target = self.public / "media" / video.parent.name / video.name
        if not target.exists():
            _link_or_copy(video, target)
        with self._lock:
            self._stored[target] = video
        return str(target)

    def export_dir(self, key: str) -> Path:
        """Where this session's exports of the analysis with content hash ``key`` go."""
        return self.public / "exports" / key[:16]

    def close(self) -> None:
        """Stop its strip prefetch, close the session's own library and delete its folders."""
        self.strips.stop_prefetch()
        with self._lock:
            if self._library is not None and self._owns_library:
                self._library.close()
            self._library = None
        shutil.rmtree(self.public, ignore_errors=True)
        if self._owns_library:
            shutil.rmtree(self.private, ignore_errors=True)


class SessionStore:
    """The live sessions, by Gradio's session hash (the key Gradio keeps each visitor's state under).

    ``shared_library`` (when given) is every session's library and ``shared_videos`` its video
    store; otherwise each session has its own in its private folder. A session unused for
    ``idle_s`` seconds is closed (API clients never say goodbye).
    """

    def __init__(self, work_dir: Path, shared_library: Callable[[], SegmentLibrary] | None = None,
                 shared_videos: Path | None = None, idle_s: float = 6 * 3600) -> None:
        self.work_dir = Path(work_dir)
        self.shared_library = shared_library
        self.shared_videos = shared_videos or self.work_dir / "videos"
        self.idle_s = idle_s
        self.uploads = UploadRegistry()
        self._sessions: dict[str, Session] = {}
        #: The keys of sessions whose tab was closed (the most recent CLOSED_TABS_KEPT): a request that comes for one
        #: after its files were deleted is refused, not given a new, empty session that no tab will ever close.
        self._closed_tabs: collections.OrderedDict[str, None] = collections.OrderedDict()
        self._lock = threading.Lock()

    def get(self, key: str | None) -> Session:
        """The session of ``key``, started on first use; idle sessions are closed on the way."""
        if not key:
            raise UTALError("This request has no session; reload the page.")
        now = time.monotonic()
        with self._lock:
            if key in self._closed_tabs:
                raise UTALError(TAB_CLOSED)
            idle = [k for k, s in self._sessions.items() if k != key and now - s.last_used > self.idle_s]
            session = self._sessions.get(key)
            if session is None:
                session = self._sessions[key] = self._open()
            session.last_used = now
        for old in idle:
            self.close(old)
        return session

    def attach_visitor(self, key: str | None, token: str | None) -> str:
        """Give the session ``key`` the corrections store of the visitor whose browser holds ``token`` (a new
        random token when it holds none or a malformed one); returns the token for the browser to keep."""
        if not isinstance(token, str) or not VISITOR_TOKEN.fullmatch(token):
            token = secrets.token_urlsafe(32)
        folder = self.work_dir / "visitors" / hashlib.sha256(token.encode()).hexdigest()[:32] / "edits"
        self.get(key).attach_visitor(folder)
        return token

    def _open(self) -> Session:
        token = secrets.token_urlsafe(32)
        public, private = served_root() / token, self.work_dir / "private" / token
        public.mkdir(parents=True)
        if self.shared_library is not None:
            session = Session(token, public, private, self.shared_videos, self.shared_library, owns_library=False,
                              uploads=self.uploads)
        else:
            private.mkdir(parents=True)
            session = Session(token, public, private, private / "videos",
                              lambda: SegmentLibrary.open(private / "library"), owns_library=True, uploads=self.uploads)
        return session

    def close(self, key: str | None, tab_closed: bool = False) -> None:
        """End a session and delete its files: when the visitor's tab closes (``tab_closed``: later requests of
        ``key`` are refused), or when idle (a client that comes back gets a new session)."""
        with self._lock:
            session = self._sessions.pop(key or "", None)
            if tab_closed and key:
                self._closed_tabs[key] = None
                while len(self._closed_tabs) > CLOSED_TABS_KEPT:
                    self._closed_tabs.popitem(last=False)
        if session is not None:
            session.close()

    def __iter__(self) -> Iterator[Session]:
        with self._lock:
            return iter(list(self._sessions.values()))

    def __len__(self) -> int:
        return len(self._sessions)
