"""Sessions on a shared server, through gradio_client: privacy, Cancel, the time budget, search per hit.

One private-library server for the module (the default); visitors A and B are two clients. A
second server in shared-library mode reuses the first one's loaded pipeline.
"""

from __future__ import annotations

import shutil
import time
from pathlib import Path

import pytest

from utal_core.errors import UTALError
from utal_core.synth.video import SyntheticVideoSpec, make_video

from .app_harness import running_app

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")

CONTROLS = (0.3, 0.0, 0.0, 0.6, "auto")
QUERY = "a ball bouncing"


def analyze(client, path, **kwargs):
    from gradio_client import handle_file

    return client.predict(handle_file(str(path)), None, *CONTROLS, api_name="/analyze", **kwargs)


@pytest.fixture(scope="module")
def media(tmp_path_factory):
    folder = tmp_path_factory.mktemp("session_media")
    specs = {"a": SyntheticVideoSpec(duration=12.0, num_actions=1, seed=51),
             "b": SyntheticVideoSpec(duration=12.0, num_actions=1, seed=52),
             "gone": SyntheticVideoSpec(duration=12.0, num_actions=1, seed=53),
             "cut": SyntheticVideoSpec(duration=12.0, num_actions=1, seed=54),
             "long": SyntheticVideoSpec(duration=240.0, width=160, height=120, num_actions=4, seed=55)}
    return {name: make_video(folder / f"{name}_clip.mp4", spec).path for name, spec in specs.items()}


@pytest.fixture(scope="module")
def server(tmp_path_factory):
    with running_app(tmp_path_factory.mktemp("app_sessions")) as running:
        yield running


@pytest.fixture(scope="module")
def visitors(server, media):
    from gradio_client import Client

    clients = {name: Client(server.url, verbose=False, download_files=False) for name in ("a", "b")}
    for name, client in clients.items():
        analyze(client, media[name])
    return clients


def session_of(server, client):
    return server.services.sessions.get(client.session_hash)


def test_b_cannot_see_search_play_or_download_a_video(server, visitors, media):
    a, b = visitors["a"], visitors["b"]
    for client, own, other in ((a, media["a"], media["b"]), (b, media["b"], media["a"])):
        _gallery, table, info = client.predict(QUERY, 20, api_name="/search")
        assert table["data"] and {row[0] for row in table["data"]} == {own.name}, info
        assert {Path(v.path).name for v in session_of(server, client).library.list_videos()} == {own.name}
        downloads = client.predict(api_name="/downloads")
        assert {d["orig_name"] for d in downloads} >= {own.stem + ".analysis.json"}
        assert not any(other.stem in d["orig_name"] for d in downloads)
    a_session, b_session = session_of(server, a), session_of(server, b)
    a_player = a_session.publish(a_session.library.list_videos()[0].path)
    a_stored = a_session.library.list_videos()[0].path
    for path in (a_player, a_stored):  # B naming A's files as its upload is refused
        with pytest.raises(UTALError, match="Upload a video"):
            b_session.video_for(path)


def test_shared_library_is_an_explicit_setting(server, media, tmp_path):
    from gradio_client import Client

    with running_app(tmp_path, pipeline_object=server.services.pipeline, shared_library=True) as shared:
        a, b = (Client(shared.url, verbose=False, download_files=False) for _ in range(2))
        analyze(a, media["a"])
        _gallery, table, _info = b.predict(QUERY, 20, api_name="/search")
        assert media["a"].name in {row[0] for row in table["data"]}
        assert (tmp_path / "library" / "library.sqlite").exists()


def wait_until(condition, timeout_s: float, step_s: float = 0.05) -> float:
    start = time.monotonic()
    while not condition():
        assert time.monotonic() - start < timeout_s, "timed out"
        time.sleep(step_s)
    return time.monotonic() - start


def test_cancel_stops_the_worker_and_keeps_nothing(server, visitors, media):
    from gradio_client import handle_file

    a = visitors["a"]
    session = session_of(server, a)
    before = [v.content_hash for v in session.library.list_videos()]
    exports_before = sorted(p.name for p in (session.public / "exports").glob("*"))
    job = a.submit(handle_file(str(media["long"])), None, *CONTROLS, api_name="/analyze")
    wait_until(lambda: server.services.running_analyses == 1, timeout_s=120)
    wait_until(lambda: any(u.progress_data and any("frames" in (p.desc or "") for p in u.progress_data)
                           for u in [job.status()]), timeout_s=120)
    job.cancel()
    stopped_after = wait_until(lambda: server.services.running_analyses == 0, timeout_s=30)
    print(f"worker stopped {stopped_after:.2f} s after Cancel")
    assert stopped_after < 5.0
    assert [v.content_hash for v in session.library.list_videos()] == before
    assert sorted(p.name for p in (session.public / "exports").glob("*")) == exports_before


def test_time_budget_stops_an_analysis_with_a_plain_message(server, visitors, media):
    a = visitors["a"]
    session = session_of(server, a)
    before = [v.content_hash for v in session.library.list_videos()]
    limit = server.services.config.analysis_time_limit_s
    server.services.config.analysis_time_limit_s = 0.5
    try:
        with pytest.raises(Exception, match="longer than this server's limit of 0.5 s") as raised:
            analyze(a, media["long"])
    finally:
        server.services.config.analysis_time_limit_s = limit
    assert "Traceback" not in str(raised.value)
    assert [v.content_hash for v in session.library.list_videos()] == before
    assert server.services.running_analyses == 0


def test_search_shows_hits_of_unreadable_videos_without_thumbnails(server, visitors, media, monkeypatch):
    # Every hit listed (as under "No good match"), whatever the bars say of these random clips: this test is about
    # the thumbnails of hits whose video is gone or truncated, which must be among the listed ones.
    monkeypatch.setattr("ui.explorer.no_good_match", lambda hits: True)
    b = visitors["b"]
    session = session_of(server, b)
    for name in ("gone", "cut"):
        analyze(b, media[name])
    stored = {Path(v.path).name: v.path for v in session.library.list_videos()}
    Path(stored[media["gone"].name]).unlink()
    cut = Path(stored[media["cut"].name])
    cut.write_bytes(cut.read_bytes()[: cut.stat().st_size // 8])
    gallery, table, info = b.predict(QUERY, 50, api_name="/search")
    videos = {row[0] for row in table["data"]}
    assert {media["b"].name, media["gone"].name, media["cut"].name} <= videos
    captions = [item["caption"] for item in gallery]
    # the removed video's hits have no thumbnail; the truncated one's only where its readable head holds them
    assert captions and not any(c.startswith(media["gone"].name) for c in captions)
    assert all(c.startswith((media["b"].name, media["cut"].name)) for c in captions)
    assert len(gallery) < len(table["data"]) and f"{len(table['data']) - len(gallery)} without a thumbnail" in info


def test_a_closed_tabs_requests_are_refused_and_an_idle_clients_get_a_new_session(tmp_path):
    from ui.sessions import TAB_CLOSED, SessionStore

    store = SessionStore(tmp_path / "work")
    first = store.get("tab")
    assert first.public.is_dir()
    store.close("tab", tab_closed=True)
    assert not first.public.exists()
    with pytest.raises(UTALError, match="reload the page") as refused:
        store.get("tab")  # a follow-up that comes after the tab closed: no new session for a dead tab
    assert str(refused.value) == TAB_CLOSED and len(store) == 0
    idle = store.get("client")
    store.close("client")  # idle: an API client that comes back gets a new session
    assert store.get("client") is not idle and len(store) == 1
    store.close("client", tab_closed=True)
