"""The CLI against hostile inputs (issue 10, points 3, 6, 7 and 8): `analyze` goes on past a bad
video, never lets outputs collide, warns about damaged ones; unwritable places are one `error:` line."""

from __future__ import annotations

import json
import shutil

import pytest

from tests.hostile import damage_middle, make_read_only, tiny_filesystem, two_frame_hour
from utal_core.cli import main
from utal_core.cli.analysis import RESULTS_FILE, unique_video_ids
from utal_core.synth.video import SyntheticVideoSpec, make_video

FAST = ["--views", "cbp", "--refine-steps", "0", "--device", "cpu"]


@pytest.fixture(scope="module")
def inputs(tmp_path_factory):
    folder = tmp_path_factory.mktemp("hostile_cli")
    good = make_video(folder / "good.mp4", SyntheticVideoSpec(duration=12.0, num_actions=1, seed=1)).path
    for name in ("a", "b"):
        (folder / name).mkdir()
    other = make_video(folder / "a" / "clip.mp4", SyntheticVideoSpec(duration=12.0, num_actions=1, seed=2)).path
    shutil.copy(good, folder / "b" / "clip.mp4")
    return {"good": good, "bomb": two_frame_hour(folder / "bomb.mkv"), "text": folder / "notes.mp4",
            "damaged": damage_middle(good, folder / "damaged.mp4"), "a": other, "b": folder / "b" / "clip.mp4"}


def test_output_names_never_collide():
    assert unique_video_ids(["x/clip.mp4", "y/clip.mp4", "z/other.mp4"]) == ["x_clip", "y_clip", "other"]
    assert unique_video_ids(["x/clip.mp4", "x/clip.mp4"]) == ["x_clip-1", "x_clip-2"]


def test_analyze_goes_on_past_bad_videos_and_lists_them_at_the_end(inputs, tmp_path, capsys, single_torch_thread):
    inputs["text"].write_text("not a video\n" * 50)
    out = tmp_path / "out"
    out.mkdir()
    (out / "earlier.analysis.json").write_text("{}")  # saved before: must survive
    videos = [inputs[name] for name in ("good", "bomb", "damaged", "text", "a", "b")]
    code = main(["analyze", *map(str, videos), "--out", str(out), "--format", "anet", *FAST])
    err = capsys.readouterr().err
    assert code == 2
    tail = err.strip().splitlines()[-3:]
    assert tail[0] == "2 of 6 videos failed:"
    assert tail[1].startswith("error: bomb.mkv holds only 2 frame(s) over 3601 s")
    assert tail[2].startswith("error: notes.mp4 ")
    assert "warning: damaged.mp4: " in err and "decode error(s) in the video frames" in err
    written = sorted(path.name for path in out.iterdir())
    assert written == ["a_clip.analysis.json", "b_clip.analysis.json", "damaged.analysis.json",
                       "earlier.analysis.json", "good.analysis.json", RESULTS_FILE]
    assert (out / "earlier.analysis.json").read_text() == "{}"
    results = json.loads((out / RESULTS_FILE).read_text())["results"]
    assert sorted(results) == ["a_clip", "b_clip", "damaged", "good"]
    assert json.loads((out / "damaged.analysis.json").read_text())["warnings"][0].startswith("damaged.mp4: ")
    assert json.loads((out / "good.analysis.json").read_text())["warnings"] == []
    a, b = (json.loads((out / f"{n}_clip.analysis.json").read_text()) for n in "ab")
    assert a["video_path"].endswith("a/clip.mp4") and b["video_path"].endswith("b/clip.mp4")


def test_cache_dir_that_is_a_file_is_one_error_line(inputs, tmp_path, capsys, monkeypatch):
    (tmp_path / "cache").write_text("a file")
    monkeypatch.setenv("UTAL_CACHE_DIR", str(tmp_path / "cache"))
    assert main(["analyze", str(inputs["good"]), "--out", str(tmp_path / "out"), *FAST]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("error: The cache folder") and "is a file" in err[0], err


def test_read_only_out_is_one_error_line_and_keeps_what_was_there(inputs, tmp_path, capsys, single_torch_thread):
    analysis = tmp_path / "good.analysis.json"
    with tiny_filesystem("1m") as out:
        (out / "earlier.csv").write_text("saved before")
        make_read_only(out)
        assert main(["analyze", str(inputs["good"]), "--out", str(out), *FAST]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert err[-1].startswith("error: Cannot write") and err[-1].endswith("Read-only file system"), err
        assert main(["analyze", str(inputs["good"]), "--out", str(tmp_path), *FAST]) == 0
        capsys.readouterr()
        assert main(["export", str(analysis), "--format", "csv", "--out", str(out / "good.csv")]) == 2
        err = capsys.readouterr().err.strip().splitlines()
        assert len(err) == 1 and err[0].endswith("good.csv: Read-only file system"), err
        assert (out / "earlier.csv").read_text() == "saved before"
