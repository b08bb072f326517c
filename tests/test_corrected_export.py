"""Corrected annotations out (ActivityNet GT, CSV, ELAN EAF) and back in (EAF, ActivityNet GT), read back by
the real readers: ``eval`` and pympi."""

from __future__ import annotations

import csv
import dataclasses
import json
import re
from pathlib import Path

import pytest
from pympi import Elan

from utal_core.annotations import add_segments, read_activitynet_gt, read_eaf
from utal_core.cli import main
from utal_core.edit_files import load_edits
from utal_core.errors import UTALError
from utal_core.evaluate import load_ground_truth
from utal_core.types import Segment

from .conftest import shared_file
from .test_viz import synthetic_analysis


@pytest.fixture
def edited(tmp_path: Path) -> Path:
    """An analysis of 60 s (three raw segments) with edits: r0's start 1 s earlier and accepted, r1 rejected,
    r2 untouched, a0 added as "jumping"."""
    analysis = dataclasses.replace(synthetic_analysis(), media={"fps": 25.0}, video_path="/videos/clip.mp4")
    edits = analysis.edit_layer()
    edits.nudge("r0", "start", -1, "1s")
    edits.accept("r0")
    edits.reject("r1")
    edits.add(50.0, 55.5, "jumping")
    return analysis.write_json(tmp_path / "clip.analysis.json")


def _export(analysis: Path, out: Path, *args: str) -> Path:
    assert main(["export", str(analysis), "--out", str(out), *args]) == 0
    return out


def test_corrected_activitynet_gt_is_read_back_by_eval(edited: Path, tmp_path: Path, capsys) -> None:
    layer = load_edits(edited)
    r0 = layer.segment("r0")
    gt = _export(edited, tmp_path / "clip.gt.json", "--format", "anet-gt", "--corrected")
    ground_truth = load_ground_truth(gt, subset="validation")
    assert [(g.start, g.end, g.label) for g in ground_truth["clip"]] == [
        (round(r0.start, 3), round(r0.end, 3), r0.label), (50.0, 55.5, "jumping")]
    # The corrected annotations as predictions score mAP 1 against themselves; the raw model segments do not.
    corrected = _export(edited, tmp_path / "corrected.anet.json", "--format", "anet", "--corrected")
    raw = _export(edited, tmp_path / "raw.anet.json", "--format", "anet")
    capsys.readouterr()
    assert main(["eval", str(gt), str(corrected), "--json", "--subset", "validation"]) == 0
    assert json.loads(capsys.readouterr().out)["mean_map"] == pytest.approx(1.0)
    assert main(["eval", str(gt), str(raw), "--json", "--class-agnostic"]) == 0
    result = json.loads(capsys.readouterr().out)
    assert result["num_ground_truth"] == 2 and result["mean_map"] < 1.0


def test_untouched_segments_are_kept_on_request(edited: Path, tmp_path: Path) -> None:
    dropped = _export(edited, tmp_path / "dropped.csv", "--format", "csv", "--corrected")
    kept = _export(edited, tmp_path / "kept.csv", "--format", "csv", "--corrected", "--untouched", "keep")
    raw = load_edits(edited).raw
    assert [row["label"] for row in csv.DictReader(dropped.open())] == [raw[0].label, "jumping"]
    rows = list(csv.DictReader(kept.open()))
    assert [row["label"] for row in rows] == [raw[0].label, raw[2].label, "jumping"]
    assert rows[1]["start"] == f"{raw[2].start:.3f}"


@pytest.mark.parametrize("tiers,expected_tiers", [("label", None), ("one", ["actions"])])
def test_eaf_is_read_back_by_pympi(edited: Path, tmp_path: Path, tiers: str, expected_tiers) -> None:
    out = _export(edited, tmp_path / f"clip.{tiers}.eaf", "--format", "eaf", "--corrected", "--eaf-tiers", tiers)
    eaf = Elan.Eaf(str(out))
    kept = load_edits(edited).kept_segments()
    labels = [s.label for s in kept]
    assert sorted(eaf.get_tier_names()) == sorted(expected_tiers or set(labels))
    annotations = sorted(a[:3] for tier in eaf.get_tier_names() for a in eaf.get_annotation_data_for_tier(tier))
    assert annotations == sorted((round(s.start * 1000), round(s.end * 1000), s.label) for s in kept)
    assert eaf.media_descriptors[0]["RELATIVE_MEDIA_URL"] == "./clip.mp4"


def test_eaf_round_trip_is_identical(tmp_path: Path, capsys) -> None:
    # An EAF as ELAN users make them: one tier per label, values = the label (one left empty), made by pympi.
    source = Elan.Eaf()
    source.remove_tier("default")
    for tier, rows in {"jumping": [(1200, 3400, "jumping"), (40001, 41999, "")], "waving": [(10000, 12500, "waving")]}.items():
        source.add_tier(tier)
        for start, end, value in rows:
            source.add_annotation(tier, start, end, value)
    source_path = tmp_path / "source.eaf"
    Elan.to_eaf(str(source_path), source)

    analysis = synthetic_analysis().write_json(tmp_path / "clip.analysis.json")
    assert main(["import", str(analysis), str(source_path)]) == 0
    assert "3 annotations added" in capsys.readouterr().out
    out = _export(analysis, tmp_path / "again.eaf", "--format", "eaf", "--corrected")
    again = Elan.Eaf(str(out))

    def content(eaf: Elan.Eaf) -> dict:
        return {tier: sorted((a[0], a[1], a[2] or tier) for a in eaf.get_annotation_data_for_tier(tier))
                for tier in eaf.get_tier_names()}

    assert content(again) == content(source)
    assert [s.label for s in read_eaf(out)] == ["jumping", "waving", "jumping"]


def test_activitynet_gt_round_trip_and_the_shared_fixture(edited: Path, tmp_path: Path) -> None:
    gt = _export(edited, tmp_path / "clip.gt.json", "--format", "anet-gt", "--corrected")
    fresh = synthetic_analysis().write_json(tmp_path / "fresh.analysis.json")
    assert main(["import", str(fresh), str(gt)]) == 0
    again = _export(fresh, tmp_path / "again.gt.json", "--format", "anet-gt", "--corrected")
    assert json.loads(again.read_text()) == json.loads(gt.read_text())

    # A real ActivityNet file: its ids carry "v_", the analysis's id may not.
    fixture = shared_file("eval_fixtures/anet_gt_small.json")
    segments = read_activitynet_gt(fixture, "hDPLy21Yyuk")
    assert [(s.start, s.end, s.label) for s in segments] == [(21.392480499219968, 76.161, "Cleaning shoes")]
    layer = load_edits(fresh)
    before = list(layer.operations)
    fits = Segment(1.0, 2.0, 1.0, label="fits")
    with pytest.raises(UTALError, match="annotation 2 .* after the video ends"):  # the synthetic analysis lasts 60 s
        add_segments(layer, [fits, *segments])  # all or none: the first one is taken back
    assert layer.operations == before and layer.redo_stack == []


def _one_error_line(capsys) -> str:
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: "), err
    return err[0]


def test_bad_inputs_are_one_error_line(edited: Path, tmp_path: Path, capsys) -> None:
    junk = tmp_path / "junk.eaf"
    junk.write_text("not xml at all")
    assert main(["import", str(edited), str(junk)]) == 2
    assert "is not an ELAN EAF file" in _one_error_line(capsys)
    fixture = shared_file("eval_fixtures/anet_gt_small.json")
    assert main(["import", str(edited), str(fixture)]) == 2
    assert "has no video 'clip'" in _one_error_line(capsys)
    assert main(["import", str(edited), str(tmp_path / "absent.eaf")]) == 2
    assert "not found" in _one_error_line(capsys)
    assert main(["export", str(edited), "--format", "csv", "--eaf-tiers", "one"]) == 2
    assert "--eaf-tiers goes with --format eaf" in _one_error_line(capsys)
    assert main(["export", str(edited), "--format", "csv", "--untouched", "keep"]) == 2
    assert "--untouched goes with --corrected" in _one_error_line(capsys)
    stale = json.loads(edited.read_text())
    stale["segments"] = stale["segments"][:1]
    (tmp_path / "stale.analysis.json").write_text(json.dumps(stale))
    assert main(["export", str(tmp_path / "stale.analysis.json"), "--format", "eaf", "--corrected"]) == 2
    assert "re-segmented" in _one_error_line(capsys)


def test_eaf_annotations_that_cannot_be_segments_are_counted_never_dropped_silently(tmp_path: Path) -> None:
    """A reversed annotation, one whose id repeats another's and one with a 400-digit time are left out of an
    EAF import with a warning that counts each kind; the others are added."""
    from utal_core.annotations import read_eaf
    from utal_core.export import AnalysisExport, eaf_text

    segments = [Segment(1.0, 2.0, 1.0, label="a"), Segment(3.0, 4.0, 1.0, label="b"), Segment(5.0, 6.0, 1.0, label="c"),
                Segment(7.0, 8.0, 1.0, label="d")]
    text = eaf_text(AnalysisExport("clip", 10.0, segments), tiers="one")
    slots = re.findall(r'TIME_SLOT_ID="(ts\d+)" TIME_VALUE="(\d+)"', text)
    values = dict(slots)
    text = text.replace(f'TIME_SLOT_ID="{slots[2][0]}" TIME_VALUE="{values[slots[2][0]]}"',
                        f'TIME_SLOT_ID="{slots[2][0]}" TIME_VALUE="9000"')          # b: 9.0 -> 4.0, reversed
    text = text.replace(f'TIME_SLOT_ID="{slots[4][0]}" TIME_VALUE="{values[slots[4][0]]}"',
                        f'TIME_SLOT_ID="{slots[4][0]}" TIME_VALUE="{"9" * 400}"')   # c: a 400-digit start
    ids = re.findall(r'ANNOTATION_ID="(a\d+)"', text)
    text = text.replace(f'ANNOTATION_ID="{ids[3]}"', f'ANNOTATION_ID="{ids[0]}"')  # d takes a's id
    path = tmp_path / "hostile.eaf"
    path.write_text(text)
    warnings: list[str] = []
    kept = read_eaf(path, warnings)
    assert len(kept) == 1 and len(warnings) == 3, (kept, warnings)
    assert any("end at or before" in w for w in warnings) and any("not usable numbers" in w for w in warnings)
    assert any("id that another annotation already used" in w for w in warnings)
