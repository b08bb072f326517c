"""A researcher's corrections, layered on top of an analysis's raw segments and never written into them.

An :class:`EditLayer` is a log of operations (accept, reject, relabel, set start, set end, add) over
the raw segments it was made on; the corrected ("effective") segments are the log replayed on those
raw segments, so undo is dropping the last operation and redo is putting it back. Raw segment ``i``
has the key ``r<i>``; the ``n``-th added segment has the key ``a<n>``. The keys are the log's own; what the
researcher sees is each segment's number (``#7``, :attr:`Segment.number`, :func:`segment_tag`): the raw segments'
are given by the analysis (:func:`numbered_segments`: once per analysis, kept by a segment that survives a
re-segmentation), an added segment gets the next free one. Nudges (one frame at the video's
frame rate, 0.1 s, 1 s) are recorded as the times they set, so a log reads the same on any machine.

The layer is saved as the ``edits`` entry of the analysis JSON (:meth:`EditLayer.to_dict`), next to
the raw ``segments``; ``edit_files`` reads and writes it (atomically, one writer at a time). A layer remembers a fingerprint
of the raw segments it was made on, and refuses to replay on other ones (after re-segmenting, use
:meth:`EditLayer.rebased`).

Each segment of the layer has a status: ``rejected`` (the last accept/reject said reject), ``added``,
``edited`` (a bound or the label changed), ``accepted``, or ``untouched``. The corrected annotations
(:meth:`EditLayer.kept_segments`) are the accepted, edited and added ones; untouched raw segments join
them only when asked (``untouched="keep"``), as a researcher who reviewed everything may want.
"""

from __future__ import annotations

import dataclasses
import hashlib
import json
import threading
from dataclasses import dataclass, field
from typing import Literal, Sequence

import numpy as np

from .checks import checked_label, finite_number, plain_label, whole_number
from .errors import UTALError
from .types import Segment

EDITS_FORMAT = 1
#: Frame length used when the video's frame rate is unknown (25 fps).
DEFAULT_FRAME_S = 0.04
#: Nudge units: a name -> seconds (``"frame"`` is one frame of the layer's video).
NUDGE_UNITS: dict[str, float | None] = {"frame": None, "0.1s": 0.1, "1s": 1.0}
#: Score of a segment a researcher added.
ADDED_SCORE = 1.0
#: Most steps one nudge may take.
MAX_NUDGE_STEPS = 1_000_000
#: Highest segment number an edits file may give.
MAX_SEGMENT_NUMBER = 10**9

OperationKind = Literal["accept", "reject", "relabel", "set_start", "set_end", "add"]
OPERATION_KINDS: tuple[str, ...] = ("accept", "reject", "relabel", "set_start", "set_end", "add")
Status = Literal["untouched", "accepted", "rejected", "edited", "added"]
Untouched = Literal["drop", "keep"]
RAW_PREFIX, ADDED_PREFIX = "r", "a"
#: A segment of a new segmentation keeps the number of the previous one it overlaps most, at this tIoU or more.
NUMBER_MATCH_TIOU = 0.3
#: Segments compared at once with every previous one when numbers are carried over (bounds the memory).
PAIR_ROWS = 256


def segment_tag(segment: Segment) -> str:
    """The segment's number as the researcher sees it everywhere, ``#7``."""
    return f"#{segment.number}"


def _tiou(a: Segment, b: Segment) -> float:
    inter = min(a.end, b.end) - max(a.start, b.start)
    union = max(a.end, b.end) - min(a.start, b.start)
    return inter / union if inter > 0 and union > 0 else 0.0


def _overlapping_pairs(segments: Sequence[Segment], previous: Sequence[Segment]) -> list[tuple[float, int, int]]:
    """``(tIoU, i, j)`` for every segment ``i`` and previous segment ``j`` at ``NUMBER_MATCH_TIOU`` or more,
    best first (ties by position); the tIoU as :func:`_tiou` gives it, computed for ``PAIR_ROWS`` segments at a
    time against every previous one (a re-threshold of a long video compares hundreds with hundreds)."""
    if not segments or not previous:
        return []
    bounds = np.array([(s.start, s.end) for s in segments], dtype=np.float64)
    before = np.array([(s.start, s.end) for s in previous], dtype=np.float64)
    pairs: list[tuple[float, int, int]] = []
    for first in range(0, len(bounds), PAIR_ROWS):
        rows = bounds[first:first + PAIR_ROWS, None, :]
        inter = np.minimum(rows[..., 1], before[:, 1]) - np.maximum(rows[..., 0], before[:, 0])
        union = np.maximum(rows[..., 1], before[:, 1]) - np.minimum(rows[..., 0], before[:, 0])
        with np.errstate(divide="ignore", invalid="ignore"):
            tiou = np.where((inter > 0) & (union > 0), inter / union, 0.0)
        for i, j in zip(*np.nonzero(tiou >= NUMBER_MATCH_TIOU)):
            pairs.append((float(tiou[i, j]), first + int(i), int(j)))
    return sorted(pairs, key=lambda pair: (-pair[0], pair[1], pair[2]))


def with_numbers(segments: Sequence[Segment]) -> list[Segment]:
    """``segments`` when each has its own number, else numbered afresh in time order (an older file's segments)."""
    numbers = {s.number for s in segments}
    return list(segments) if None not in numbers and len(numbers) == len(segments) else numbered_segments(segments)


def numbered_segments(segments: Sequence[Segment], previous: Sequence[Segment] = (),
                      taken: Sequence[int] = ()) -> list[Segment]:
    """Copies of ``segments`` (same order) with their numbers: a segment that overlaps one of ``previous`` (the
    video's last segmentation, numbered) at tIoU >= ``NUMBER_MATCH_TIOU`` keeps its number (best overlaps first,
    each number once); the others get new numbers in time order, above every number of ``previous`` and
    ``taken`` (the corrections' added segments). With no ``previous``: 1, 2, 3... in time order."""
    numbered = [dataclasses.replace(s, number=None) for s in segments]
    previous = [s for s in previous if s.number is not None]
    used: set[int] = set()
    for _, i, j in _overlapping_pairs(numbered, previous):
        if numbered[i].number is None and previous[j].number not in used:
            numbered[i].number = previous[j].number
            used.add(previous[j].number)
    fresh = max([s.number for s in previous] + list(taken), default=0) + 1
    for segment in sorted((s for s in numbered if s.number is None), key=lambda s: (s.start, s.end)):
        segment.number, fresh = fresh, fresh + 1
    return numbered


@dataclass(frozen=True)
class EditOperation:
    """One correction: ``kind`` on the segment ``key``, with the time (s) or label it sets; an ``add`` may
    carry the number its segment keeps (a corrected segment carried onto a new segmentation)."""

    kind: OperationKind
    key: str
    start: float | None = None
    end: float | None = None
    label: str | None = None
    number: int | None = None

    def to_dict(self) -> dict:
        return {name: value for name, value in dataclasses.asdict(self).items() if value is not None}

    @classmethod
    def from_dict(cls, data: dict) -> "EditOperation":
        if not isinstance(data, dict) or data.get("kind") not in OPERATION_KINDS or not isinstance(data.get("key"), str):
            raise UTALError(f"not an edit operation: {str(data)[:80]}")
        times = {name: finite_number(data[name], f"an edit's {name}") for name in ("start", "end")
                 if data.get(name) is not None}
        label = data.get("label")
        if label is not None and not isinstance(label, str):
            raise UTALError(f"an edit's label must be text, not {str(label)[:40]}")
        number = data.get("number")
        number = None if number is None else whole_number(number, "an added segment's number", 1, MAX_SEGMENT_NUMBER)
        return cls(data["kind"], data["key"], label=label, number=number, **times)


@dataclass(frozen=True)
class EditedSegment:
    """A segment of the corrected list: its key, its current bounds and label, and its status."""

    key: str
    segment: Segment
    status: Status

    @property
    def kept(self) -> bool:
        """Whether it belongs to the corrected annotations (accepted, edited or added)."""
        return self.status in ("accepted", "edited", "added")

    @property
    def tag(self) -> str:
        """Its number as the researcher sees it, ``#7``."""
        return segment_tag(self.segment)


class _Replay:
    """The current segments, decisions and changes of a log, updated one operation at a time."""

    def __init__(self, current: dict[str, Segment]) -> None:
        self.current = current
        self.decision: dict[str, str] = {}
        self.changed: set[str] = set()
        self.added = 0
        self.numbers = {s.number for s in current.values()}

    def next_number(self) -> int:
        """The number the next added segment gets: above every number of the layer."""
        return max((n for n in self.numbers if n is not None), default=0) + 1

    def apply(self, operation: EditOperation) -> None:
        if operation.kind == "add":
            number = operation.number if operation.number is not None else self.next_number()
            self.current[operation.key] = Segment(operation.start, operation.end, ADDED_SCORE, label=operation.label,
                                                  number=number)
            self.numbers.add(number)
            self.added += 1
            return
        segment = self.current[operation.key]
        if operation.kind in ("accept", "reject"):
            self.decision[operation.key] = operation.kind
            return
        self.changed.add(operation.key)
        if operation.kind == "set_start":
            segment.start = operation.start
        elif operation.kind == "set_end":
            segment.end = operation.end
        else:
            segment.label, segment.label_score = operation.label, None

    def status(self, key: str) -> Status:
        if self.decision.get(key) == "reject":
            return "rejected"
        if key.startswith(ADDED_PREFIX):
            return "added"
        if key in self.changed:
            return "edited"
        return "accepted" if self.decision.get(key) == "accept" else "untouched"


def _copied(segment: Segment) -> Segment:
    """A shallow copy of ``segment``, as ``copy.copy`` makes it, several times faster (the layer hands out copies
    of every segment on each read)."""
    copied = object.__new__(Segment)
    copied.__dict__.update(segment.__dict__)
    return copied


def segments_fingerprint(segments: Sequence[Segment]) -> str:
    """A short hash of the segments' bounds (to the millisecond): which segmentation a layer was made on."""
    rows = [[round(s.start, 3), round(s.end, 3)] for s in segments]
    return hashlib.sha256(json.dumps(rows).encode()).hexdigest()[:16]


def _format_time(seconds: float) -> str:
    return f"{seconds:.3f} s"


@dataclass
class EditLayer:
    """Corrections over ``raw`` (the analysis's segments, kept as given and never modified).

    ``duration`` bounds every time; ``fps`` sets the frame used for nudges and the shortest segment.
    """

    raw: tuple[Segment, ...]
    duration: float
    fps: float | None = None
    operations: list[EditOperation] = field(default_factory=list)
    #: Undone operations, latest last; in memory only (a new edit clears it).
    redo_stack: list[EditOperation] = field(default_factory=list, repr=False)
    #: The replayed log (see ``_replayed``), kept up to date operation by operation, so that N edits cost O(N).
    _state: "_Replay | None" = field(default=None, init=False, repr=False, compare=False)
    #: :attr:`base`, computed once (the raw segments are the layer's own copies, never changed).
    _base: str = field(default="", init=False, repr=False, compare=False)
    #: The app reads a layer from several threads while an edit changes it: each read and each change of the log
    #: and its replay is whole (a read never keeps a replay an undo or redo made stale meanwhile).
    _lock: threading.RLock = field(default_factory=threading.RLock, init=False, repr=False, compare=False)

    def __post_init__(self) -> None:
        self.raw = tuple(_copied(s) for s in self.raw)
        self.raw = tuple(with_numbers(self.raw))
        self._base = segments_fingerprint(self.raw)
        try:
            self.duration = finite_number(self.duration, "the video's duration")
        except UTALError:
            raise UTALError(f"an edit layer needs the video's duration, not {self.duration!r}") from None
        if not self.duration > 0:
            raise UTALError(f"an edit layer needs the video's duration, not {self.duration!r}")
        try:
            self.fps = None if self.fps is None else finite_number(self.fps, "fps", minimum=1e-3)
        except UTALError:
            self.fps = None  # an unusable frame rate: nudge by the default frame

    # -- reading ---------------------------------------------------------------------------------

    @property
    def frame_s(self) -> float:
        """One frame in seconds (``DEFAULT_FRAME_S`` when the frame rate is unknown)."""
        return 1.0 / self.fps if self.fps else DEFAULT_FRAME_S

    @property
    def base(self) -> str:
        """Fingerprint of the raw segments this layer replays on."""
        return self._base

    def segments(self) -> list[EditedSegment]:
        """Every segment, raw ones first in their order then added ones, with corrections applied (copies)."""
        with self._lock:
            state = self._replayed()
            return [EditedSegment(key, _copied(segment), state.status(key)) for key, segment in state.current.items()]

    def _replayed(self) -> "_Replay":
        """The operations replayed on the raw segments (kept up to date by each new operation)."""
        with self._lock:
            if self._state is None:
                state = _Replay({f"{RAW_PREFIX}{i}": _copied(s) for i, s in enumerate(self.raw)})
                for operation in self.operations:
                    state.apply(operation)
                self._state = state
            return self._state

    def segment(self, key: str) -> Segment:
        """The current state of one segment (a copy); a plain error for an unknown key."""
        with self._lock:
            segment = self._replayed().current.get(key) if isinstance(key, str) else None
            if segment is not None:
                return _copied(segment)
        raise UTALError(f"no segment {str(key)[:40]!r} in this analysis (raw segments are r0..r{len(self.raw) - 1})")

    def key_of(self, tag: str) -> str | None:
        """The key of the segment shown as ``tag`` (``#7``, :func:`segment_tag`), None when no segment has it."""
        with self._lock:
            return next((key for key, segment in self._replayed().current.items() if segment_tag(segment) == tag),
                        None)

    def kept_segments(self, untouched: Untouched = "drop") -> list[Segment]:
        """The corrected annotations in time order: accepted, edited and added segments, plus the untouched
        raw ones when ``untouched="keep"``; rejected ones never."""
        if untouched not in ("drop", "keep"):
            raise UTALError(f"untouched segments are 'drop' or 'keep', not {untouched!r}")
        kept = [item.segment for item in self.segments()
                if item.kept or (untouched == "keep" and item.status == "untouched")]
        return sorted(kept, key=lambda s: (s.start, s.end))

    # -- editing ---------------------------------------------------------------------------------

    def _check_bounds(self, start: float, end: float) -> None:
        start, end = finite_number(start, "the start"), finite_number(end, "the end")
        if start < 0:
            raise UTALError(f"the start {_format_time(start)} is before the video begins")
        if end > self.duration + 1e-9:
            raise UTALError(f"the end {_format_time(end)} is after the video ends ({_format_time(self.duration)})")
        if end <= start:
            raise UTALError(f"the start {_format_time(start)} must come before the end {_format_time(end)}")
        if end - start < self.frame_s - 1e-9:
            raise UTALError(f"a segment must last at least one frame ({_format_time(self.frame_s)}); "
                            f"{_format_time(start)} to {_format_time(end)} is shorter")

    def _apply(self, operation: EditOperation) -> EditOperation:
        with self._lock:
            self._replayed().apply(operation)
            self.operations.append(operation)
            self.redo_stack.clear()
        return operation

    def accept(self, key: str) -> EditOperation:
        """Mark a segment as correct."""
        self.segment(key)
        return self._apply(EditOperation("accept", key))

    def reject(self, key: str) -> EditOperation:
        """Mark a segment as wrong (it stays in the layer, out of the corrected annotations)."""
        self.segment(key)
        return self._apply(EditOperation("reject", key))

    def relabel(self, key: str, label: str) -> EditOperation:
        """Give a segment another label."""
        self.segment(key)
        return self._apply(EditOperation("relabel", key, label=checked_label(label)))

    def set_start(self, key: str, seconds: float) -> EditOperation:
        """Move a segment's start to ``seconds`` (e.g. the playhead)."""
        seconds = finite_number(seconds, "the start")
        self._check_bounds(seconds, self.segment(key).end)
        return self._apply(EditOperation("set_start", key, start=seconds))

    def set_end(self, key: str, seconds: float) -> EditOperation:
        """Move a segment's end to ``seconds``."""
        seconds = finite_number(seconds, "the end")
        self._check_bounds(self.segment(key).start, seconds)
        return self._apply(EditOperation("set_end", key, end=seconds))

    def nudge(self, key: str, bound: Literal["start", "end"], steps: int = 1, unit: str = "frame") -> EditOperation:
        """Move one bound by ``steps`` units (``"frame"``, ``"0.1s"`` or ``"1s"``; negative steps move earlier)."""
        if unit not in NUDGE_UNITS:
            raise UTALError(f"nudge by one of {', '.join(NUDGE_UNITS)}, not {unit!r}")
        if bound not in ("start", "end"):
            raise UTALError(f"nudge the start or the end, not {bound!r}")
        steps = whole_number(steps, "the number of nudge steps", -MAX_NUDGE_STEPS, MAX_NUDGE_STEPS)
        step = NUDGE_UNITS[unit] or self.frame_s
        segment = self.segment(key)
        # Rounded to the microsecond so that repeated nudges do not accumulate float noise.
        if bound == "start":
            return self.set_start(key, round(segment.start + steps * step, 6))
        return self.set_end(key, round(segment.end + steps * step, 6))

    def add(self, start: float, end: float, label: str = "action", number: int | None = None) -> EditOperation:
        """Add a segment (e.g. from the playhead) under the next ``a<n>`` key; it counts as accepted. It gets the
        next free number, or ``number`` (a corrected segment carried over from another segmentation) when free."""
        start, end = finite_number(start, "the start"), finite_number(end, "the end")
        self._check_bounds(start, end)
        label = plain_label(label) or "action"
        if number is not None and number in self._replayed().numbers:
            raise UTALError(f"the edits layer adds a second segment #{number}")
        return self._apply(EditOperation("add", self._next_added_key(), start=start, end=end, label=label,
                                         number=number))

    def _next_added_key(self) -> str:
        return f"{ADDED_PREFIX}{self._replayed().added}"

    def undo(self) -> EditOperation | None:
        """Drop the last operation (None when there is nothing to undo); it can be redone."""
        return self._move_last(self.operations, self.redo_stack)

    def redo(self) -> EditOperation | None:
        """Put back the last undone operation (None when there is none)."""
        return self._move_last(self.redo_stack, self.operations)

    def _move_last(self, source: list[EditOperation], target: list[EditOperation]) -> EditOperation | None:
        with self._lock:
            if not source:
                return None
            target.append(source.pop())
            self._state = None  # replayed again on the next read (an undo is rare; each edit stays O(1))
            return target[-1]

    # -- persistence -------------------------------------------------------------------------

    def to_dict(self) -> dict:
        """The ``edits`` entry of an analysis JSON: format, the raw segments' fingerprint, fps, duration, operations."""
        return {"format": EDITS_FORMAT, "base": self.base, "fps": self.fps, "duration": self.duration,
                "operations": [op.to_dict() for op in self.operations]}

    @classmethod
    def from_dict(cls, data: dict, raw: Sequence[Segment]) -> "EditLayer":
        """The layer saved by :meth:`to_dict`, over the analysis's ``raw`` segments; every operation is replayed
        through the same checks as when it was made, so a hand-edited file cannot smuggle in a bad segment."""
        if not isinstance(data, dict) or data.get("format") != EDITS_FORMAT:
            raise UTALError(f"unsupported edits format {data.get('format') if isinstance(data, dict) else data!r}")
        if data.get("base") != segments_fingerprint(raw):
            raise UTALError("these edits were made on other segments than the analysis holds now "
                            "(it was re-segmented); analyse with the same settings or start the edits again")
        try:
            layer = cls(tuple(raw), float(data["duration"]), data.get("fps"))
            operations = [EditOperation.from_dict(item) for item in data.get("operations", [])]
        except (KeyError, TypeError, ValueError) as error:
            raise UTALError(f"the edits layer is damaged ({error})") from None
        for operation in operations:
            layer.replay(operation)
        return layer

    def replay(self, operation: EditOperation) -> EditOperation:
        """Apply a recorded operation through the checks of the method that made it."""
        if operation.kind == "add":
            expected = self._next_added_key()
            if operation.key != expected:
                raise UTALError(f"the edits layer adds {operation.key!r} where {expected!r} comes next")
            return self.add(operation.start, operation.end, operation.label or "action", operation.number)
        if operation.kind == "set_start":
            return self.set_start(operation.key, operation.start)
        if operation.kind == "set_end":
            return self.set_end(operation.key, operation.end)
        if operation.kind == "relabel":
            return self.relabel(operation.key, operation.label or "")
        return self.accept(operation.key) if operation.kind == "accept" else self.reject(operation.key)

    def rebased(self, raw: Sequence[Segment]) -> "EditLayer":
        """This layer's corrections carried onto new raw segments (after re-segmenting); rejected and untouched
        old segments go, the undo history starts afresh. An accepted, edited or added segment whose number a new
        raw segment has (it survived: :func:`numbered_segments`) and overlaps becomes that segment, accepted or
        edited to the same bounds and label; any other becomes an added segment with its number (a new one when
        a raw segment has that number). The same layer comes back when the raw segments did not change."""
        if segments_fingerprint(raw) == self.base:
            return self
        layer = EditLayer(tuple(raw), self.duration, self.fps)
        survivors = {s.number: f"{RAW_PREFIX}{i}" for i, s in enumerate(layer.raw)}
        for item in self.segments():
            if not item.kept:
                continue
            key = survivors.get(item.segment.number)
            if key is not None and _tiou(layer.segment(key), item.segment) >= NUMBER_MATCH_TIOU:
                layer._carry(key, item.segment)
            else:
                layer.add(item.segment.start, item.segment.end, item.segment.label or "action",
                          None if key is not None else item.segment.number)
        return layer

    def _carry(self, key: str, corrected: Segment) -> None:
        """Make raw segment ``key`` the ``corrected`` one: its bounds and label set (each bound first whose move
        leaves a valid segment in between, so that the log replays), else accepted as it is."""
        current = self.segment(key)
        if (corrected.start, corrected.end) == (current.start, current.end) and corrected.label == current.label:
            self.accept(key)
            return
        start_first = corrected.start < current.end and current.end - corrected.start >= self.frame_s
        for bound in ("start", "end") if start_first else ("end", "start"):
            if getattr(corrected, bound) != getattr(current, bound):
                (self.set_start if bound == "start" else self.set_end)(key, getattr(corrected, bound))
        if corrected.label != current.label:
            self.relabel(key, corrected.label or "action")
