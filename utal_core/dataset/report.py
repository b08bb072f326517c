"""The dataset view as text (the CLI's tables), JSON and one self-contained HTML page (the pieces of
``diagnose --html``: inline SVG, no script, nothing fetched)."""

from __future__ import annotations

import html
from typing import Sequence

import numpy as np

from ..diagnose import OUTCOME_COLOURS, OUTCOMES, breakdown_svg, histogram_svg, html_cell
from .metrics import DETECTOR_COLUMNS
from .view import DatasetView, detector_column

#: Most video rows the HTML page shows (in the chosen order); the JSON always holds all of them.
HTML_MAX_ROWS = 2000


def _percent(value: float | None) -> str:
    return "" if value is None or not np.isfinite(value) else f"{100 * value:.2f}"


def _text_table(header: Sequence[str], rows: Sequence[Sequence[str]]) -> str:
    """Columns padded to their widest cell, the first left-aligned, a rule under the header."""
    widths = [max(len(str(row[i])) for row in [header, *rows]) for i in range(len(header))]
    lines = ["  ".join(str(cell).rjust(width) if i else str(cell).ljust(width)
                       for i, (cell, width) in enumerate(zip(row, widths))) for row in [header, *rows]]
    lines.insert(1, "-" * len(lines[0]))
    return "\n".join(lines)


def summary_tables(view: DatasetView) -> list[tuple[str, list[str], list[list[str]]]]:
    """(title, header, rows) of each summary table: mAP per tIoU, AP per class, DETAD outcomes, length sensitivity;
    with two detectors, a difference row or column (second minus first)."""
    detectors = view.detectors
    names = [d.name for d in detectors]
    two = len(detectors) >= 2
    thresholds = detectors[0].result.tiou_thresholds
    tables = []
    header = ["tIoU", *(f"{t:g}" for t in thresholds), "mean"]
    rows = [[d.name, *(_percent(m) for m in d.result.map_per_tiou), _percent(d.result.mean_map)] for d in detectors]
    if two:
        difference = detectors[1].result.map_per_tiou - detectors[0].result.map_per_tiou
        rows.append([f"{names[1]} - {names[0]}", *(_percent(m) for m in difference),
                     _percent(detectors[1].result.mean_map - detectors[0].result.mean_map)])
    tables.append(("mAP (%) at each tIoU", header, rows))
    labels = list(detectors[0].result.per_class_ap)
    means = [{label: float(ap.mean()) for label, ap in d.result.per_class_ap.items()} for d in detectors]
    rows = [[label, *(_percent(m[label]) for m in means)] + ([_percent(means[1][label] - means[0][label])] if two else [])
            for label in labels]
    tables.append(("AP (%) per class, mean over the tIoU thresholds", ["class", *names] + (["difference"] if two else []),
                   rows))
    diagnosis = detectors[0].diagnosis
    counts = [d.diagnosis.counts for d in detectors]
    rows = [[outcome, *(str(c[outcome]) for c in counts)] + ([f"{counts[1][outcome] - counts[0][outcome]:+d}"]
                                                              if two else []) for outcome in OUTCOMES]
    missed = [len(d.diagnosis.missed) for d in detectors]
    rows.append(["missed ground truth", *map(str, missed)] + ([f"{missed[1] - missed[0]:+d}"] if two else []))
    tables.append((f"DETAD outcomes at tIoU {diagnosis.tiou:g} (below {diagnosis.min_tiou:g}: background)",
                   ["outcome", *names] + (["difference"] if two else []), rows))
    sensitivity = detectors[0].sensitivity
    rows = []
    for b, name in enumerate(sensitivity.names):
        low, high = sensitivity.edges[b], sensitivity.edges[b + 1]
        span = f"{name} ({low:g}, {high:g}] s" if np.isfinite(high) else f"{name} > {low:g} s"
        rows.append([span, str(sensitivity.instances[b]), *(_percent(d.sensitivity.average_map_n[b]) for d in detectors)])
    rows.append(["all", str(sum(sensitivity.instances)), *(_percent(d.sensitivity.base) for d in detectors)])
    tables.append(("Sensitivity to instance length: DETAD's average normalized mAP (%)", ["length", "instances", *names],
                   rows))
    return tables


def video_columns(view: DatasetView, compact: bool = False) -> list[str]:
    """The per-video table's columns, in the order they are shown; ``compact`` (the terminal's) keeps of the
    differences only those of ``ap`` and ``missed``."""
    columns = ["video", "duration", "instances", "coverage", "classes"]
    columns += ["has_video"] if view.video_files else []
    for k in range(len(view.detectors)):
        columns += [detector_column(column, k) for column in DETECTOR_COLUMNS]
    if len(view.detectors) >= 2:
        columns += [f"{column}_delta" for column in (("ap", "missed") if compact else DETECTOR_COLUMNS)]
    return columns


def _shown(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.3f}"
    return str(value)


def format_text(view: DatasetView, rows: Sequence[dict]) -> str:
    """The summary tables and the per-video ``rows`` (from :meth:`DatasetView.page`) as plain text."""
    summary = view.summary()
    lines = [f"{summary['videos']} videos, {summary['instances']} ground-truth instances, {summary['classes']} classes"
             + (f" (subset {view.subset})" if view.subset else "")
             + (f"; {summary['videos_with_files']} with a video file" if view.video_files else "")]
    for d in view.detectors:
        lines.append(f"{d.name}: {d.result.num_predictions} predictions"
                     + (f", {d.ignored_predictions} on videos not in the ground truth left out" if d.ignored_predictions
                        else ""))
    for title, header, table_rows in summary_tables(view):
        lines += ["", title, _text_table(header, table_rows)]
    columns = video_columns(view, compact=True)
    lines += ["", f"Videos ({len(rows)} of {len(view.ground_truth)})",
              _text_table(columns, [[_shown(row[c]) for c in columns] for row in rows])]
    return "\n".join(lines)


def _html_table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in header)
    body = "".join("<tr>" + "".join(html_cell(v) for v in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _sensitivity_svg(view: DatasetView, width: int = 480, height: int = 180) -> str:
    """Bars of the average normalized mAP per length bin, one colour per detector, the base as a dashed line."""
    colours = ("#1f78b4", "#e31a1c", "#33a02c", "#ff7f00")
    names = view.detectors[0].sensitivity.names
    group = (width - 40) / max(len(names), 1)
    bar = group * 0.8 / len(view.detectors)
    parts = []
    for k, detector in enumerate(view.detectors):
        colour = colours[k % len(colours)]
        for b, value in enumerate(detector.sensitivity.average_map_n):
            if value is None:
                continue
            x, tall = 30 + b * group + k * bar, (height - 50) * value
            parts.append(f'<rect x="{x:.1f}" y="{height - 30 - tall:.1f}" width="{bar - 1:.1f}" height="{tall:.1f}" '
                         f'fill="{colour}"><title>{html.escape(detector.name)} {names[b]}: {100 * value:.1f}%</title>'
                         "</rect>")
        base_y = height - 30 - (height - 50) * detector.sensitivity.base
        parts.append(f'<line x1="30" x2="{width - 10}" y1="{base_y:.1f}" y2="{base_y:.1f}" stroke="{colour}" '
                     'stroke-dasharray="4 3"/>')
    labels = "".join(f'<text x="{30 + (b + 0.4) * group:.1f}" y="{height - 12}" font-size="11" '
                     f'text-anchor="middle">{name}</text>' for b, name in enumerate(names))
    axis = f'<line x1="30" y1="{height - 30}" x2="{width - 10}" y2="{height - 30}" stroke="#444"/>'
    return f'<svg xmlns="http://www.w3.org/2000/svg" width="{width}" height="{height}">{"".join(parts)}{axis}{labels}</svg>'


def report_html(view: DatasetView, rows: Sequence[dict], title: str = "Dataset error analysis") -> str:
    """The dataset view as one HTML page that needs nothing else: the summary tables, each detector's outcome bar
    and offset histograms, the length sensitivity chart and the per-video ``rows`` (at most :data:`HTML_MAX_ROWS`)."""
    summary = view.summary()
    sections = []
    for table_title, header, table_rows in summary_tables(view):
        sections.append(f"<h2>{html.escape(table_title)}</h2>{_html_table(header, table_rows)}")
        if table_title.startswith("Sensitivity"):
            sections.append(_sensitivity_svg(view))
    for detector in view.detectors:
        diagnosis = detector.diagnosis
        legend = " ".join(f'<span style="background:{OUTCOME_COLOURS[o]}">&emsp;</span> {html.escape(o)}'
                          for o in OUTCOMES)
        sections.append(f"<h2>{html.escape(detector.name)}: outcomes and boundary offsets</h2><p>{legend}</p>"
                        f"{breakdown_svg(diagnosis.counts)}<br>"
                        f"{histogram_svg('start offset', diagnosis.start_offsets)} "
                        f"{histogram_svg('end offset', diagnosis.end_offsets)}")
    columns = video_columns(view)
    shown = rows[:HTML_MAX_ROWS]
    note = f"the first {len(shown)} of {len(rows)}" if len(shown) < len(rows) else f"all {len(rows)}"
    sections.append(f"<h2>Videos ({note})</h2>{_html_table(columns, [[row[c] for c in columns] for row in shown])}")
    subset = f", subset {html.escape(view.subset)}" if view.subset else ""
    return f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>body{{font-family:sans-serif;margin:2em}}table{{border-collapse:collapse;margin-bottom:1em}}td,th{{border:1px solid #ccc;padding:2px 6px;text-align:right}}</style>
</head><body>
<h1>{html.escape(title)}</h1>
<p>{html.escape(view.ground_truth_path)}{subset}: {summary['videos']} videos, {summary['instances']} ground-truth
instances, {summary['classes']} classes. Detectors: {html.escape(", ".join(d.name for d in view.detectors))}.
Outcomes as in DETAD (Alwassel et al., ECCV 2018).</p>
{"".join(sections)}
</body></html>
"""


def report_json(view: DatasetView, rows: Sequence[dict]) -> dict:
    """The summary and the per-video ``rows`` as plain JSON-ready data."""
    return {"summary": view.summary(), "videos": list(rows)}
