import json

import pytest

from utal_core.errors import UTALError
from utal_core.media import probe
from utal_core.synth.video import SyntheticVideoSpec, list_action_kinds, make_video


def test_ground_truth_is_activitynet_format_and_consistent(synthetic_video):
    gt = json.loads(synthetic_video.gt_path.read_text())
    entry = gt["database"][synthetic_video.video_id]
    assert entry["duration"] == synthetic_video.spec.duration
    assert [a["segment"] for a in entry["annotations"]] == [[i.start, i.end] for i in synthetic_video.instances]
    assert {a["label"] for a in entry["annotations"]} <= set(list_action_kinds())
    for instance in synthetic_video.instances:
        assert 0 < instance.start < instance.end < synthetic_video.spec.duration
        # Sound starts and ends near, but never exactly at, the visual boundary.
        assert 0.05 < abs(instance.sound_start - instance.start) < 0.5
        assert 0.05 < abs(instance.sound_end - instance.end) < 0.5
    starts = [i.start for i in synthetic_video.instances]
    ends = [i.end for i in synthetic_video.instances]
    assert all(e + synthetic_video.spec.min_gap_s <= s + 1e-6 for e, s in zip(ends, starts[1:]))


def test_same_seed_same_ground_truth(tmp_path):
    spec = SyntheticVideoSpec(duration=12.0, num_actions=2, min_action_s=2, max_action_s=3, audio=False, seed=5)
    first, second = make_video(tmp_path / "a.mp4", spec), make_video(tmp_path / "b.mp4", spec)
    assert first.instances == second.instances
    other = make_video(tmp_path / "c.mp4", SyntheticVideoSpec(**{**spec.__dict__, "seed": 6}))
    assert other.instances != first.instances


def test_resolution_fps_and_audio_options(tmp_path):
    spec = SyntheticVideoSpec(duration=8.0, width=160, height=96, fps=12.0, num_actions=1, min_action_s=2,
                              max_action_s=3, audio=False, seed=1)
    info = probe(make_video(tmp_path / "small.mp4", spec).path)
    assert (info.width, info.height, info.fps, info.has_audio) == (160, 96, 12.0, False)


def test_impossible_layout_is_a_plain_error(tmp_path):
    with pytest.raises(UTALError, match="do not fit"):
        make_video(tmp_path / "x.mp4", SyntheticVideoSpec(duration=5.0, num_actions=4))
