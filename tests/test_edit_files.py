"""Corrections on disk are never lost: reruns of `analyze`, concurrent writers, a second app tab (issue 21, 2-3)."""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from utal_core.edit_files import EditStore, carried_edits, load_edits, locked, save_edits, update_edits
from utal_core.edits import EditLayer
from utal_core.errors import UTALError
from utal_core.types import Segment

from .test_viz import synthetic_analysis

RAW = [Segment(2.0, 5.0, 0.8), Segment(10.0, 14.0, 0.6)]


def _run(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "utal_core", *args], capture_output=True, text=True, timeout=600)


def _gt(path: Path, video: str, spans: list[tuple[float, float]], label: str) -> Path:
    database = {video: {"duration": 30.0, "annotations": [{"segment": list(s), "label": label} for s in spans]}}
    path.write_text(json.dumps({"database": database}))
    return path


def test_analyze_again_into_the_same_folder_keeps_the_edits(synthetic_video, tmp_path):
    """An edit made (here imported) on an analysis survives `analyze` rerun into the same --out: kept as it was
    when the segments are the same (a note), carried onto the new segments with a warning when they changed."""
    out = tmp_path / "out"
    assert _run("analyze", str(synthetic_video.path), "--out", str(out)).returncode == 0
    analysis = out / f"{synthetic_video.video_id}.analysis.json"
    imported = _run("import", str(analysis), str(_gt(tmp_path / "gt.json", synthetic_video.video_id, [(1.0, 3.0)], "wave")))
    assert imported.returncode == 0, imported.stderr
    again = _run("analyze", str(synthetic_video.path), "--out", str(out))
    assert again.returncode == 0 and "note:" in again.stderr and "kept the 1 edit(s)" in again.stderr
    assert [(s.start, s.end, s.label) for s in load_edits(analysis).kept_segments()] == [(1.0, 3.0, "wave")]
    coarser = _run("analyze", str(synthetic_video.path), "--out", str(out), "--stride", "1.5")
    assert coarser.returncode == 0 and "warning:" in coarser.stderr and "segments changed" in coarser.stderr
    layer = load_edits(analysis)
    assert [(s.start, s.end, s.label) for s in layer.kept_segments()] == [(1.0, 3.0, "wave")]
    assert layer.base == EditLayer(tuple(Segment(**s) for s in json.loads(analysis.read_text())["segments"]), 30.0).base


def test_concurrent_imports_into_one_analysis_keep_both(tmp_path):
    """Two `import` processes at once into one analysis: the second waits for the first's lock and adds to
    what it wrote; both sets are stored, in every trial."""
    analysis = synthetic_analysis(duration=600.0)
    for trial in range(3):
        path = analysis.write_json(tmp_path / f"trial{trial}.analysis.json")
        files = [_gt(tmp_path / f"gt{trial}_{n}.json", "clip", [(i * 0.5, i * 0.5 + 0.4) for i in range(n * 600, n * 600 + 600)],
                     f"set{n}") for n in range(2)]
        runs = [subprocess.Popen([sys.executable, "-m", "utal_core", "import", str(path), str(f)],
                                 stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for f in files]
        outputs = [run.communicate(timeout=300) for run in runs]
        assert [run.returncode for run in runs] == [0, 0], outputs
        labels = [s.label for s in load_edits(path).kept_segments()]
        assert labels.count("set0") == 600 and labels.count("set1") == 600, trial


def test_update_is_one_read_change_write_under_the_lock(tmp_path):
    path = synthetic_analysis().write_json(tmp_path / "a.analysis.json")
    threads = [threading.Thread(target=update_edits, args=(path, lambda layer, n=n: layer.add(n, n + 1.0, f"t{n}")))
               for n in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert sorted(s.label for s in load_edits(path).kept_segments()) == [f"t{n}" for n in range(8)]
    with pytest.raises(UTALError, match="damaged|before the video"):  # a failing change writes nothing
        update_edits(path, lambda layer: layer.add(-5.0, 1.0))
    assert len(load_edits(path).operations) == 8


def test_a_held_lock_makes_a_second_writer_wait_then_give_a_plain_message(tmp_path):
    path = synthetic_analysis().write_json(tmp_path / "a.analysis.json")
    with locked(path):
        with pytest.raises(UTALError, match="being changed by another program"):
            with locked(path, timeout_s=0.3):
                pass
    save_edits(path, load_edits(path))  # free again


def test_carried_edits_keep_or_rebase_and_say_what_was_lost():
    layer = EditLayer(tuple(RAW), 20.0, 25.0)
    layer.accept("r0")
    layer.reject("r1")
    same, note = carried_edits(layer, list(RAW))
    assert note is None and same.to_dict() == layer.to_dict()
    moved, note = carried_edits(layer, [Segment(1.0, 6.0, 0.9)])
    assert [(s.start, s.end) for s in moved.kept_segments()] == [(2.0, 5.0)]
    assert "1 corrected segment" in note and "1 rejection" in note


def test_the_visitor_store_refuses_a_save_from_a_stale_tab(tmp_path):
    store = EditStore(tmp_path / "edits")
    assert store.load("ab12") == (None, 0)
    first, second = EditLayer(tuple(RAW), 20.0, 25.0), EditLayer(tuple(RAW), 20.0, 25.0)
    first.accept("r0")
    revision = store.save("ab12", first, 0)           # tab 1 saves
    second.reject("r1")
    with pytest.raises(UTALError, match="another tab"):  # tab 2 had loaded revision 0
        store.save("ab12", second, 0)
    saved, current = store.load("ab12")
    assert current == revision == 1 and [op.kind for op in saved.operations] == ["accept"]
    saved.reject("r1")
    assert store.save("ab12", saved, current) == 2
    with pytest.raises(UTALError, match="content hash"):
        store.load("../../etc/passwd")
    (tmp_path / "edits" / "cd34.edits.json").write_text("{not json")
    with pytest.raises(UTALError, match="damaged"):
        store.load("cd34")


def test_import_and_diagnose_say_what_they_leave_out_or_find_outside_the_video(tmp_path):
    """`import` prints a warning per kind of EAF annotation it leaves out and keeps them in the analysis'
    warnings; `diagnose` warns about predictions that end after their video does."""
    import re

    from utal_core.export import AnalysisExport, eaf_text

    path = synthetic_analysis().write_json(tmp_path / "clip.analysis.json")
    text = eaf_text(AnalysisExport("clip", 60.0, [Segment(1.0, 2.0, 1.0, label="a"), Segment(3.0, 4.0, 1.0, label="b")]))
    slot, value = re.findall(r'TIME_SLOT_ID="(ts\d+)" TIME_VALUE="(\d+)"', text)[2]
    (tmp_path / "notes.eaf").write_text(text.replace(f'TIME_SLOT_ID="{slot}" TIME_VALUE="{value}"',
                                                     f'TIME_SLOT_ID="{slot}" TIME_VALUE="9000"'))
    imported = _run("import", str(path), str(tmp_path / "notes.eaf"))
    assert imported.returncode == 0 and "1 annotations added" in imported.stdout
    assert "warning: notes.eaf: 1 annotation(s) with end at or before their start were left out" in imported.stderr
    assert any("end at or before" in w for w in json.loads(path.read_text())["warnings"])
    gt = _gt(tmp_path / "gt.json", "clip", [(1.0, 3.0)], "a")
    (tmp_path / "pred.json").write_text(json.dumps({"results": {"clip": [
        {"segment": [1.0, 3.0], "score": 0.9, "label": "a"}, {"segment": [100.0, 200.0], "score": 0.5, "label": "a"}]}}))
    diagnosed = _run("diagnose", str(gt), str(tmp_path / "pred.json"))
    assert diagnosed.returncode == 0 and "warning: 1 prediction(s) end after their video does" in diagnosed.stderr
