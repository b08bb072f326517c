"""Writers for the export formats (ActivityNet results and ground-truth JSON, CSV, WebVTT, SRT, ELAN EAF,
analysis JSON).

Every writer goes through :func:`atomic_write_text`: the file is written next to its target and
renamed into place, so a crash never leaves a half-written export behind. Formats live in a tiny
registry (``EXPORT_FORMATS``) so the CLI and the UI offer the same list.
"""

from __future__ import annotations

import csv
import html
import io
import json
import os
import tempfile
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np

from .checks import plain_label
from .edits import segment_tag, with_numbers
from .errors import UTALError
from .types import Segment

#: ActivityNet results files carry this version string.
ANET_VERSION = "VERSION 1.3"
#: Subset written into exported ground truth (ActivityNet's names: training, validation, testing).
GT_SUBSET = "validation"
#: EAF tier layouts: one tier per label, or every segment on one tier with its label as the value.
EAF_TIER_LAYOUTS = ("label", "one")
#: The tier's name in the one-tier layout.
EAF_ONE_TIER = "actions"


def _process_umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


#: The mode ``open()`` gives a new file (0o666 less the umask); mkstemp's own 0o600 would hide exports from others.
NEW_FILE_MODE = 0o666 & ~_process_umask()


def temporary_sibling(path: Path) -> tuple[int, str]:
    """An open temp file beside ``path`` (for an atomic ``os.replace``), with the mode a plain new file gets."""
    handle, name = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.fchmod(handle, NEW_FILE_MODE)
    return handle, name


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes) -> Path:
    """Write ``data`` to ``path`` through a temp file in the same folder and ``os.replace``;
    a write the system refuses (read-only, full, a folder in the way) is one plain UTALError."""
    path = Path(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temp_name = temporary_sibling(path)
    except OSError as error:
        raise UTALError(f"Cannot write {path}: {error.strerror or error}") from None
    try:
        with os.fdopen(handle, "wb") as temp_file:
            temp_file.write(data)
            temp_file.flush()
            os.fsync(temp_file.fileno())
        os.replace(temp_name, path)
    except OSError as error:  # read-only, full disk, a folder in the way: one plain message
        Path(temp_name).unlink(missing_ok=True)
        raise UTALError(f"Cannot write {path}: {error.strerror or error}") from None
    except BaseException:
        Path(temp_name).unlink(missing_ok=True)
        raise
    return path


def atomic_write_text(path: str | os.PathLike[str], text: str) -> Path:
    """Write UTF-8 ``text`` to ``path`` atomically."""
    return atomic_write_bytes(path, text.encode("utf-8"))


def _json_default(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        return value.tolist()
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, Path):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} to JSON")


def write_json(path: str | Path, payload: Any) -> Path:
    """Write any JSON-able payload (numpy arrays and scalars included) atomically."""
    return atomic_write_text(path, json.dumps(payload, indent=2, default=_json_default) + "\n")


def segment_label(segment: Segment) -> str:
    """The human name of a segment as one line of plain text (``checks.plain_label``: no control characters or
    line breaks, whatever file it came from): its label, else ``cluster N``, else ``action``."""
    label = plain_label(segment.label)
    if label:
        return label
    return f"cluster {segment.cluster}" if segment.cluster >= 0 else "action"


def activitynet_video_id(video: str | Path) -> str:
    """ActivityNet results key of a video: its file stem (results use ids without the ``v_`` prefix)."""
    stem = Path(str(video)).stem
    return stem[2:] if stem.startswith("v_") else stem


def unique_video_ids(videos: Sequence[str]) -> list[str]:
    """Output name of each video: its file stem; where inputs share a stem, its folder's name comes first
    (``a/clip.mp4`` -> ``a_clip``), then a number if names are still equal."""
    paths = [Path(video) for video in videos]
    stems = Counter(path.stem for path in paths)
    names = [f"{path.resolve().parent.name}_{path.stem}" if stems[path.stem] > 1 else path.stem for path in paths]
    counts, seen, unique = Counter(names), Counter(), []
    for name in names:
        seen[name] += 1
        unique.append(name if counts[name] == 1 else f"{name}-{seen[name]}")
    return unique


def activitynet_results(predictions: Mapping[str, Sequence[Segment]]) -> dict:
    """ActivityNet results dict ``{version, results: {video_id: [{segment, score, label}]}, external_data}``."""
    results = {
        video_id: [
            {"segment": [round(s.start, 3), round(s.end, 3)], "score": float(s.score), "label": segment_label(s)}
            for s in segments
        ]
        for video_id, segments in predictions.items()
    }
    return {"version": ANET_VERSION, "results": results, "external_data": {}}


def write_activitynet(path: str | Path, predictions: Mapping[str, Sequence[Segment]]) -> Path:
    """Write ActivityNet results JSON for ``{video_id: segments}``."""
    return write_json(path, activitynet_results(predictions))


def activitynet_ground_truth(videos: Mapping[str, tuple[float, Sequence[Segment]]], subset: str = GT_SUBSET) -> dict:
    """ActivityNet ground truth ``{version, taxonomy, database: {video_id: {subset, duration, annotations}}}``
    for ``{video_id: (duration, segments)}``: the layout ``eval`` and ``diagnose`` read as ground truth."""
    database = {
        video_id: {"subset": subset, "duration": float(duration),
                   "annotations": [{"segment": [round(s.start, 3), round(s.end, 3)], "label": segment_label(s)}
                                   for s in sorted(segments, key=lambda s: (s.start, s.end))]}
        for video_id, (duration, segments) in videos.items()
    }
    return {"version": ANET_VERSION, "taxonomy": [], "database": database}


def segments_csv(rows: Sequence[tuple[str, Segment]]) -> str:
    """CSV text with columns video, start, end, score, cluster, label."""
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(["video", "start", "end", "score", "cluster", "label"])
    for video, s in rows:
        writer.writerow([video, f"{s.start:.3f}", f"{s.end:.3f}", f"{s.score:.4f}", s.cluster, segment_label(s)])
    return buffer.getvalue()


def cue_text(segment: Segment) -> str:
    """Subtitle cue text, e.g. ``#3 playing guitar (0.82)`` (the segment's number, as the app shows it); an arrow
    ``-->`` in a label (a cue timing line's marker) is written ``->``."""
    return f"{segment_tag(segment)} {segment_label(segment).replace('-->', '->')} ({segment.score:.2f})"


def _timestamp(seconds: float, decimal_mark: str) -> str:
    millis = int(round(max(0.0, seconds) * 1000))
    hours, millis = divmod(millis, 3_600_000)
    minutes, millis = divmod(millis, 60_000)
    secs, millis = divmod(millis, 1000)
    return f"{hours:02d}:{minutes:02d}:{secs:02d}{decimal_mark}{millis:03d}"


def _cues(segments: Sequence[Segment]) -> list[tuple[int, Segment]]:
    """Segments in time order (numbered, :func:`~utal_core.edits.with_numbers`), counted from 1, skipping empty
    spans (players reject them)."""
    ordered = sorted((s for s in with_numbers(segments) if s.end > s.start), key=lambda s: (s.start, s.end))
    return list(enumerate(ordered, start=1))


def subtitles_vtt(segments: Sequence[Segment]) -> str:
    """WebVTT text with one cue per segment (usable as ``gr.Video`` subtitles), identified by its number."""
    blocks = ["WEBVTT"]
    for _, s in _cues(segments):
        blocks.append(f"{s.number}\n{_timestamp(s.start, '.')} --> {_timestamp(s.end, '.')}\n{html.escape(cue_text(s), quote=False)}")
    return "\n\n".join(blocks) + "\n"


def subtitles_srt(segments: Sequence[Segment]) -> str:
    """SubRip text with one cue per segment (SubRip counts its cues 1, 2, 3; the text names the segment's number)."""
    blocks = [
        f"{count}\n{_timestamp(s.start, ',')} --> {_timestamp(s.end, ',')}\n{cue_text(s)}"
        for count, s in _cues(segments)
    ]
    return "\n\n".join(blocks) + "\n"


@dataclass(frozen=True)
class AnalysisExport:
    """What the exporters need from an analysis: the video, its duration and its segments (the raw ones, or
    the corrected ones of an edits layer, :meth:`utal_core.edits.EditLayer.kept_segments`), and the media's
    file name for formats that link it (EAF)."""

    video: str
    duration: float
    segments: list[Segment]
    media_name: str | None = None


def load_analysis_json(path: str | Path) -> AnalysisExport:
    """Read an analysis JSON ``{video, duration, segments: [{start, end, score, cluster, label}], ...}``."""
    try:
        payload = json.loads(Path(path).read_text(encoding="utf-8"))
        segments = [
            Segment(
                start=float(item["start"]),
                end=float(item["end"]),
                score=float(item["score"]),
                cluster=int(item.get("cluster", -1)),
                label=item.get("label"),
                label_score=item.get("label_score"),
                number=None if item.get("number") is None else int(item["number"]),
            )
            for item in payload["segments"]
        ]
        media = payload.get("video_path")
        return AnalysisExport(video=str(payload["video"]), duration=float(payload["duration"]), segments=segments,
                              media_name=Path(str(media)).name if media else None)
    except FileNotFoundError:
        raise UTALError(f"Analysis file not found: {path}") from None
    except (json.JSONDecodeError, KeyError, TypeError, ValueError) as error:
        raise UTALError(f"{path} is not an analysis JSON file ({error}).") from None


#: A writer takes the analysis, and format options as keywords (e.g. ``tiers`` for EAF).
ExportWriter = Callable[..., str]
#: name -> (file suffix, function turning an analysis into the file's text).
EXPORT_FORMATS: dict[str, tuple[str, ExportWriter]] = {}


def register_format(name: str, suffix: str) -> Callable[[ExportWriter], ExportWriter]:
    """Register an export format under ``name``, written to files ending in ``suffix``."""

    def register(writer: ExportWriter) -> ExportWriter:
        EXPORT_FORMATS[name] = (suffix, writer)
        return writer

    return register


@register_format("anet", ".anet.json")
def _anet_text(analysis: AnalysisExport) -> str:
    payload = activitynet_results({activitynet_video_id(analysis.video): analysis.segments})
    return json.dumps(payload, indent=2) + "\n"


@register_format("csv", ".csv")
def _csv_text(analysis: AnalysisExport) -> str:
    return segments_csv([(analysis.video, s) for s in analysis.segments])


@register_format("vtt", ".vtt")
def _vtt_text(analysis: AnalysisExport) -> str:
    return subtitles_vtt(analysis.segments)


@register_format("srt", ".srt")
def _srt_text(analysis: AnalysisExport) -> str:
    return subtitles_srt(analysis.segments)


@register_format("anet-gt", ".gt.json")
def _anet_gt_text(analysis: AnalysisExport) -> str:
    payload = activitynet_ground_truth({analysis.video: (analysis.duration, analysis.segments)})
    return json.dumps(payload, indent=2) + "\n"


@register_format("eaf", ".eaf")
def eaf_text(analysis: AnalysisExport, tiers: str = "label") -> str:
    """ELAN EAF (through pympi-ling): one tier per label (``tiers="label"``) or all on the tier ``actions``
    (``tiers="one"``); each annotation's value is its label, times in whole milliseconds; the media is linked
    by its file name (ELAN finds it next to the EAF)."""
    from pympi import Elan

    if tiers not in EAF_TIER_LAYOUTS:
        raise UTALError(f"EAF tiers are {' or '.join(EAF_TIER_LAYOUTS)}, not {tiers!r}")
    eaf = Elan.Eaf(author="CLIP-AE Explorer")
    eaf.remove_tier("default")
    if analysis.media_name:
        suffix = Path(analysis.media_name).suffix.lower().lstrip(".")
        eaf.add_linked_file(analysis.media_name, relpath=f"./{analysis.media_name}",
                            mimetype=Elan.Eaf.MIMES.get(suffix, f"video/{suffix or 'mp4'}"))
    for s in sorted(analysis.segments, key=lambda s: (s.start, s.end)):
        label = segment_label(s)
        tier = label if tiers == "label" else EAF_ONE_TIER
        if tier not in eaf.tiers:
            eaf.add_tier(tier)
        start, end = int(round(s.start * 1000)), int(round(s.end * 1000))
        if end > start:  # ELAN rejects empty annotations
            eaf.add_annotation(tier, start, end, label)
    return '<?xml version="1.0" encoding="UTF-8"?>\n' + Elan.to_string(eaf) + "\n"


def export_analysis(analysis: AnalysisExport, format_name: str, out: str | Path, **options: Any) -> Path:
    """Write ``analysis`` in ``format_name`` (one of ``EXPORT_FORMATS``) to ``out`` atomically; ``options`` go to
    the format's writer (``tiers="label"|"one"`` for eaf)."""
    if format_name not in EXPORT_FORMATS:
        raise UTALError(f"Unknown export format {format_name!r}; choose one of {', '.join(sorted(EXPORT_FORMATS))}.")
    _, writer = EXPORT_FORMATS[format_name]
    return atomic_write_text(out, writer(analysis, **options))


def default_export_path(analysis_path: str | Path, format_name: str) -> Path:
    """Where ``export`` writes when no ``--out`` is given: next to the analysis, with the format's suffix."""
    analysis_path = Path(analysis_path)
    suffix, _ = EXPORT_FORMATS[format_name]
    stem = analysis_path.name.removesuffix(".json")
    return analysis_path.with_name(stem + suffix)
