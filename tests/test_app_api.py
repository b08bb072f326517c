"""The app's named endpoints (/analyze, /search, /downloads) called through gradio_client."""

from __future__ import annotations

import re
import shutil

import pytest

from utal_core.synth.video import SyntheticVideoSpec, make_video

from .app_harness import running_app

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")


@pytest.fixture(scope="module")
def client_and_video(tmp_path_factory):
    from gradio_client import Client

    folder = tmp_path_factory.mktemp("app_api")
    video = make_video(folder / "api_clip.mp4", SyntheticVideoSpec(duration=20.0, num_actions=2, seed=21))
    with running_app(folder) as server:
        yield Client(server.url, verbose=False), video, server


def test_analyze_then_search_through_the_api(client_and_video):
    from gradio_client import handle_file

    client, video, server = client_and_video
    status, _player, rows, _timeline, _count, _downloads = client.predict(
        handle_file(str(video.path)), None, 0.3, 0.0, 0.0, 0.6, "auto", api_name="/analyze")
    assert video.path.name in status and "Analysed." in status
    assert rows["data"] and len(rows["headers"]) == 7
    assert server.services.pipeline.model_runs == 1

    again = client.predict(handle_file(str(video.path)), None, 0.3, 0.0, 0.0, 0.6, "auto", api_name="/analyze")
    assert "Reused" in again[0] and server.services.pipeline.model_runs == 1

    gallery, table, info = client.predict("a person waving", 5, api_name="/search")
    assert "answered by" in info and table["data"]
    assert all(row[0] == video.path.name for row in table["data"])


def test_api_errors_are_plain_messages(client_and_video, tmp_path):
    from gradio_client import handle_file

    client, _, _ = client_and_video
    not_a_video = tmp_path / "notes.mp4"
    not_a_video.write_text("plain text\n" * 20)
    with pytest.raises(Exception, match="notes.mp4") as raised:
        client.predict(handle_file(str(not_a_video)), None, 0.5, 0.0, 0.0, 0.6, "auto", api_name="/analyze")
    message = str(raised.value)
    assert "Traceback" not in message and not re.search(r"/(tmp|home|root|work)/", message)
    assert not re.search(r"Invalid data found|moov atom|@ 0x", message)  # ffmpeg's own wording
    with pytest.raises(Exception, match="search for"):
        client.predict("   ", 5, api_name="/search")


def test_only_the_apps_api_is_described(client_and_video):
    """The page's own events (re-segmentation, thumbnails, the inspector...) are not named endpoints: the API
    description (which every page load carries in its HTML) lists the app's three."""
    client, _, _ = client_and_video
    described = client.view_api(print_info=False, return_format="dict")
    assert set(described["named_endpoints"]) == {"/analyze", "/search", "/downloads"}
    assert not described["unnamed_endpoints"]
