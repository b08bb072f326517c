"""Existing annotations as a starting point: an ELAN EAF or an ActivityNet ground-truth file read as segments,
or added to an analysis's edits layer, so a researcher can go between this tool and ELAN and back.

Round trip: an EAF read here, added to a layer and written again by :func:`~utal_core.export.eaf_text` in
the same tier layout gives the same tiers, times (ms) and values, when each annotation's value is its
label (an empty value takes the tier's name) — the layout this tool writes.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Sequence

from .checks import finite_number, plain_label
from .edits import EditLayer, EditOperation
from .errors import UTALError
from .evaluate import load_ground_truth
from .export import segment_label
from .types import Segment

#: Score of an imported segment (a human annotation).
IMPORTED_SCORE = 1.0


def read_eaf(path: str | os.PathLike, warnings: list[str] | None = None) -> list[Segment]:
    """The time-aligned annotations of every tier of an EAF file, in time order; label: the annotation's
    value as plain text, else its tier's name. Reference (symbolic) annotations have no times of their own
    and are skipped. Annotations that cannot be segments (end not after start, a time that is not a usable
    number, an id used twice) are left out and counted in ``warnings``."""
    from xml.etree import ElementTree

    from pympi import Elan

    path = Path(path)
    if not path.is_file():
        raise UTALError(f"EAF file not found: {path}")
    try:
        eaf = Elan.Eaf(str(path), suppress_version_warning=True)
        rows = [(tier, *annotation[:3]) for tier in eaf.get_tier_names()
                for annotation in eaf.get_annotation_data_for_tier(tier)]
        written = sum(1 for _ in ElementTree.parse(path).iter("ALIGNABLE_ANNOTATION"))
    except Exception:  # pympi raises bare Exceptions and KeyErrors on files that are not EAF: one plain message
        raise UTALError(f"{path.name} is not an ELAN EAF file that can be read") from None
    segments, unusable, reversed_ = [], 0, 0
    for tier, start_ms, end_ms, value in rows:
        try:
            start, end = finite_number(start_ms, "a time") / 1000, finite_number(end_ms, "a time") / 1000
        except UTALError:
            unusable += 1
            continue
        if end <= start:
            reversed_ += 1
            continue
        label = plain_label(value) or plain_label(tier) or "action"
        segments.append(Segment(start, end, IMPORTED_SCORE, label=label))
    aligned = sum(1 for _, start_ms, end_ms, _ in rows if start_ms is not None and end_ms is not None)
    notes = [(reversed_, "end at or before their start"), (unusable, "times that are not usable numbers"),
             (max(0, written - len(rows)), "an id that another annotation already used")]
    if warnings is not None:
        warnings.extend(f"{path.name}: {count} annotation(s) with {what} were left out" for count, what in notes if count)
        if aligned and not segments:
            warnings.append(f"{path.name}: none of its {aligned} time-aligned annotation(s) could be read")
    return sorted(segments, key=lambda s: (s.start, s.end))


def read_activitynet_gt(path: str | os.PathLike, video_id: str) -> list[Segment]:
    """The annotations of one video of an ActivityNet (or THUMOS14-style) ground-truth file, found by its id
    with or without the ``v_`` prefix; a plain error naming a few of the file's ids when it is not there."""
    ground_truth = load_ground_truth(path)
    bare = video_id.removeprefix("v_")
    key = next((k for k in ground_truth if k == video_id or k.removeprefix("v_") == bare), None)
    if key is None:
        some = ", ".join(sorted(ground_truth)[:5]) + (", ..." if len(ground_truth) > 5 else "")
        raise UTALError(f"{Path(path).name} has no video {video_id!r} (it holds {some or 'no video'})")
    return [Segment(gt.start, gt.end, IMPORTED_SCORE, label=gt.label) for gt in ground_truth[key]]


def read_annotations(path: str | os.PathLike, video_id: str, warnings: list[str] | None = None) -> list[Segment]:
    """An EAF (``.eaf``) or an ActivityNet ground-truth JSON (anything else), as segments of ``video_id``
    (what an EAF's annotations lose on the way is counted in ``warnings``)."""
    if Path(path).suffix.lower() == ".eaf":
        return read_eaf(path, warnings)
    return read_activitynet_gt(path, video_id)


def add_segments(layer: EditLayer, segments: Sequence[Segment]) -> list[EditOperation]:
    """Add every segment to ``layer`` (the raw ones stay untouched): all or none, with the same bound checks as
    an edit by hand; the message says which segment failed."""
    before = len(layer.operations)
    operations = []
    for number, segment in enumerate(segments, start=1):
        try:
            operations.append(layer.add(segment.start, segment.end, segment_label(segment)))
        except UTALError as error:
            while len(layer.operations) > before:
                layer.undo()
            layer.redo_stack.clear()
            raise UTALError(f"annotation {number} ({segment.start:.3f}-{segment.end:.3f} s): {error}") from None
    return operations
