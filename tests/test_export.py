"""Export writers: ActivityNet JSON, CSV, WebVTT, SRT, the export CLI and atomic writes."""

from __future__ import annotations

import csv
import importlib.util
import io
import json
import os
import stat
from pathlib import Path

import pytest
import srt
import webvtt

from utal_core.cli import main
from utal_core.export import (NEW_FILE_MODE, atomic_write_bytes, atomic_write_text, export_analysis, load_analysis_json, subtitles_srt,
                              subtitles_vtt, write_activitynet, write_json)
from utal_core.errors import UTALError
from utal_core.types import Segment

SEGMENTS = [
    Segment(start=12.5, end=20.0, score=0.82, cluster=1, label="playing guitar", label_score=0.4),
    Segment(start=1.0, end=4.25, score=0.6, cluster=0),
    Segment(start=3661.5, end=3662.0, score=0.3, cluster=-1),
]


@pytest.fixture
def analysis_json(tmp_path: Path) -> Path:
    payload = {"video": "/videos/v_abc123.mp4", "duration": 3700.0, "extra": [1, 2],
               "segments": [{"start": s.start, "end": s.end, "score": s.score, "cluster": s.cluster, "label": s.label}
                            for s in SEGMENTS]}
    return write_json(tmp_path / "v_abc123.json", payload)


def test_activitynet_json_structure(tmp_path: Path) -> None:
    path = write_activitynet(tmp_path / "pred.json", {"abc123": SEGMENTS})
    payload = json.loads(path.read_text())
    assert set(payload) == {"version", "results", "external_data"}
    rows = payload["results"]["abc123"]
    assert rows[0] == {"segment": [12.5, 20.0], "score": 0.82, "label": "playing guitar"}
    assert [row["label"] for row in rows[1:]] == ["cluster 0", "action"]


@pytest.mark.skipif(importlib.util.find_spec("utal_core.evaluate") is None, reason="evaluate.py not written yet")
def test_activitynet_json_reads_back_in_evaluator(tmp_path: Path) -> None:
    from utal_core.evaluate import load_predictions

    path = write_activitynet(tmp_path / "pred.json", {"abc123": SEGMENTS})
    predictions = load_predictions(path)
    assert predictions, "the evaluator read no predictions"


def test_webvtt_parses_with_cue_text(tmp_path: Path) -> None:
    path = tmp_path / "subs.vtt"
    path.write_text(subtitles_vtt(SEGMENTS))
    captions = webvtt.read(str(path)).captions
    assert [c.start for c in captions] == ["00:00:01.000", "00:00:12.500", "01:01:01.500"]
    assert captions[1].end == "00:00:20.000"
    assert captions[1].text == "#2 playing guitar (0.82)"


def test_srt_parses_with_times() -> None:
    subtitles = list(srt.parse(subtitles_srt(SEGMENTS)))
    assert [s.index for s in subtitles] == [1, 2, 3]
    assert subtitles[0].start.total_seconds() == 1.0 and subtitles[0].end.total_seconds() == 4.25
    assert subtitles[2].start.total_seconds() == pytest.approx(3661.5)
    assert subtitles[0].content == "#1 cluster 0 (0.60)"


def test_empty_segments_are_not_cues() -> None:
    assert list(srt.parse(subtitles_srt([Segment(2.0, 2.0, 0.5)]))) == []


def test_export_cli_writes_each_format(analysis_json: Path, tmp_path: Path, capsys) -> None:
    for format_name in ("anet", "csv", "vtt", "srt"):
        out = tmp_path / f"out.{format_name}"
        assert main(["export", str(analysis_json), "--format", format_name, "--out", str(out)]) == 0
        assert out.exists()
    rows = list(csv.DictReader((tmp_path / "out.csv").open()))
    assert rows[0] == {"video": "/videos/v_abc123.mp4", "start": "12.500", "end": "20.000", "score": "0.8200",
                       "cluster": "1", "label": "playing guitar"}
    anet = json.loads((tmp_path / "out.anet").read_text())
    assert list(anet["results"]) == ["abc123"]
    assert main(["export", str(analysis_json), "--format", "srt"]) == 0
    assert (tmp_path / "v_abc123.srt").exists()


def test_export_cli_reports_bad_input(tmp_path: Path, capsys) -> None:
    assert main(["export", str(tmp_path / "missing.json"), "--format", "csv"]) == 2
    assert "not found" in capsys.readouterr().err
    broken = tmp_path / "broken.json"
    broken.write_text('{"video": "x"}')
    with pytest.raises(UTALError, match="not an analysis JSON"):
        load_analysis_json(broken)


def test_atomic_write_keeps_old_file_on_failure(tmp_path: Path, analysis_json: Path) -> None:
    target = tmp_path / "keep.txt"
    atomic_write_text(target, "old")
    with pytest.raises(TypeError):
        atomic_write_bytes(target, "not bytes")  # fails inside the temp-file write
    with pytest.raises(UTALError, match="Unknown export format"):
        export_analysis(load_analysis_json(analysis_json), "pdf", target)
    assert target.read_text() == "old"
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


HOSTILE = [Segment(1.0, 2.0, 0.9, label="wave\u0001 hand"), Segment(3.0, 4.0, 0.8, label="x\n00:00:09.000 --> 00:00:10.000\n<b>y</b>"),
           Segment(5.0, 6.0, 0.7, label="\u200b\ud800")]


def test_labels_with_control_characters_and_line_breaks_keep_every_format_well_formed(tmp_path: Path) -> None:
    """A control character keeps a corrected EAF well-formed (and importable again); a line break with ``-->``
    adds no timing line to a VTT or SRT cue; markup in a label is shown as text in VTT."""
    from utal_core.annotations import read_eaf
    from utal_core.export import AnalysisExport, eaf_text

    exported = AnalysisExport("clip", 10.0, HOSTILE, "clip.mp4")
    (tmp_path / "a.eaf").write_text(eaf_text(exported))
    assert [s.label for s in read_eaf(tmp_path / "a.eaf")] == ["wave hand", "x 00:00:09.000 --> 00:00:10.000 <b>y</b>",
                                                                 "action"]
    vtt = subtitles_vtt(HOSTILE)
    assert vtt.count("-->") == 3 and "&lt;b&gt;" in vtt
    assert [caption.start for caption in webvtt.from_buffer(io.StringIO(vtt))] == ["00:00:01.000", "00:00:03.000",
                                                                                  "00:00:05.000"]
    cues = list(srt.parse(subtitles_srt(HOSTILE)))
    assert len(cues) == 3 and all("\n" not in cue.content for cue in cues)


def test_atomic_writes_get_a_plain_new_files_mode(tmp_path: Path) -> None:
    """An export is readable like any file the user writes (0o666 less the umask), not mkstemp's private 0o600."""
    target = atomic_write_text(tmp_path / "report.json", "{}")
    mask = os.umask(0o022)
    os.umask(mask)
    assert stat.S_IMODE(target.stat().st_mode) == 0o666 & ~mask == NEW_FILE_MODE
