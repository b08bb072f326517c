"""What the app's file route sends, over real HTTP: a visitor's own files, and nothing else.

One server, two visitors (gradio_client sessions A and B) who each analysed a video; A also
prepared downloads and searched (thumbnails). Then every file an attacker could name is fetched
with a bare HTTP client: the library database with its WAL and indexes, the stored videos, the
feature cache, the original upload paths, traversal and symlink variants, A's files under another
token. Each must be refused (403/404), while A's own player video, downloads and thumbnails load.
"""

from __future__ import annotations

import hashlib
import http.client
import os
import shutil
import secrets
from pathlib import Path
from urllib.parse import quote, urlsplit

import pytest

from utal_core.synth.video import SyntheticVideoSpec, make_video

from .app_harness import running_app

pytestmark = pytest.mark.skipif(shutil.which("ffmpeg") is None, reason="needs ffmpeg")

REFUSED = {403, 404}


def fetch(base_url: str, raw_path: str) -> tuple[int, bytes]:
    """GET ``raw_path`` exactly as written (no client-side normalisation of '..' or escapes)."""
    parts = urlsplit(base_url)
    connection = http.client.HTTPConnection(parts.hostname, parts.port, timeout=30)
    try:
        connection.request("GET", raw_path)
        response = connection.getresponse()
        return response.status, response.read()
    finally:
        connection.close()


def file_route(path: str | os.PathLike) -> str:
    return "/gradio_api/file=" + quote(str(path), safe="/")


def url_path(file_data: dict) -> str:
    """The server path a FileData's URL points at."""
    return urlsplit(file_data["url"]).path.split("/gradio_api/file=", 1)[1]


def upload_path(video: Path) -> Path:
    """Where Gradio's upload route writes ``video``: <upload folder>/<seeded sha256 of its bytes>/<name>."""
    from gradio.processing_utils import hash_file
    from gradio.utils import get_upload_folder

    return Path(get_upload_folder()).resolve() / hash_file(video) / video.name


@pytest.fixture(scope="module")
def visited(tmp_path_factory):
    from gradio_client import Client, handle_file

    folder = tmp_path_factory.mktemp("app_files")
    videos = {name: make_video(folder / f"{name}_clip.mp4", SyntheticVideoSpec(duration=12.0, num_actions=1, seed=seed))
              for name, seed in (("a", 41), ("b", 42))}
    with running_app(folder) as server:
        clients = {name: Client(server.url, verbose=False, download_files=False) for name in videos}
        outputs = {name: {"analyze": clients[name].predict(handle_file(str(v.path)), None, 0.3, 0.0, 0.0, 0.6, "auto",
                                                           api_name="/analyze")}
                   for name, v in videos.items()}
        outputs["a"]["downloads"] = clients["a"].predict(api_name="/downloads")
        outputs["a"]["search"] = clients["a"].predict("a ball bouncing", 5, api_name="/search")
        outputs["b"]["search"] = clients["b"].predict("a ball bouncing", 5, api_name="/search")
        yield {"server": server, "url": server.url, "folder": folder, "videos": videos, "outputs": outputs}


def session_folder(served: str) -> Path:
    """The session's public folder a served path lies in (<served root>/<token>)."""
    from ui.sessions import served_root

    relative = Path(served).resolve().relative_to(served_root())
    return served_root() / relative.parts[0]


def a_served_files(visited) -> list[str]:
    out = visited["outputs"]["a"]
    player = out["analyze"][1]["value"]
    thumbnails = [item["image"] for item in out["search"][0]]
    assert thumbnails, "the search should show thumbnails"
    return [url_path(f) for f in [player, *out["downloads"], *thumbnails]]


def test_a_visitor_gets_their_own_files(visited):
    served = a_served_files(visited)
    folders = {session_folder(path) for path in served}
    assert len(folders) == 1  # all under one random token
    status, body = fetch(visited["url"], file_route(served[0]))
    assert status == 200 and hashlib.sha256(body).digest() == hashlib.sha256(visited["videos"]["a"].path.read_bytes()).digest()
    for path in served[1:]:
        status, body = fetch(visited["url"], file_route(path))
        assert status == 200 and body, path
        if path.endswith(".analysis.json"):  # the download names the video, not where the server keeps it
            assert str(visited["folder"]).encode() not in body and b"utal_sessions" not in body
    assert len(next(iter(folders)).name) >= 43  # secrets.token_urlsafe(32)


def private_files(visited) -> list[Path]:
    """Every file the app keeps for itself: libraries, stored videos, feature and text caches."""
    roots = [visited["folder"] / "work", visited["folder"] / "library", visited["folder"] / "features",
             Path(os.environ["UTAL_CACHE_DIR"])]
    return [Path(d) / f for root in roots if root.exists() for d, _, files in os.walk(root) for f in files]


def test_library_database_indexes_videos_and_caches_are_refused(visited):
    files = private_files(visited)
    names = {f.name for f in files}
    assert {"library.sqlite", "library.sqlite-wal"} <= names
    assert any(f.suffix == ".faiss" for f in files) and any(f.suffix == ".mp4" for f in files)
    assert any(f.is_relative_to(visited["folder"] / "features") for f in files)
    for path in files:
        status, body = fetch(visited["url"], file_route(path))
        assert status in REFUSED, (path, status)


def test_original_uploads_are_gone_after_analysis(visited):
    for video in visited["videos"].values():
        original = upload_path(video.path)
        assert not original.exists()
        status, _ = fetch(visited["url"], file_route(original))
        assert status in REFUSED


def test_traversal_and_symlink_variants_are_refused(visited):
    database = next(f for f in private_files(visited) if f.name == "library.sqlite")
    public = session_folder(a_served_files(visited)[0])
    up = "/".join([".."] * len(public.parts)) + str(database)
    variants = [
        file_route(public) + "/" + up,
        file_route(public) + "/" + up.replace("..", "%2e%2e"),
        file_route(public) + "/" + up.replace("..", "%2E%2E").replace("/", "%2F"),
        file_route(public) + "/" + up.replace("..", "%252e%252e"),
        "/gradio_api/file=/" + str(database),
        "/gradio_api/file=" + str(database).replace("/", "//"),
        "/gradio_api/file=" + quote(str(database), safe=""),
        "/gradio_api/file/" + str(database),
        "/gradio_api/file=" + str(public),  # a folder: no listing
    ]
    link = public / "innocent.jpg"
    link.symlink_to(database)
    try:
        variants.append(file_route(link))
        for variant in variants:
            status, body = fetch(visited["url"], variant)
            assert status in REFUSED, (variant, status)
            assert not body.startswith(b"SQLite format")
    finally:
        link.unlink()


def test_another_sessions_files_are_out_of_reach(visited):
    a_files = a_served_files(visited)
    a_folder = session_folder(a_files[0])
    b_out = visited["outputs"]["b"]
    b_player = url_path(b_out["analyze"][1]["value"])
    b_folder = session_folder(b_player)
    assert b_folder != a_folder
    assert a_folder.name not in repr(b_out)  # nothing B was sent names A's folder
    for path in a_files:  # A's files under B's token, or under a made-up one
        for token in (b_folder.name, secrets.token_urlsafe(32)):
            status, _ = fetch(visited["url"], file_route(str(path).replace(a_folder.name, token)))
            assert status in REFUSED


def test_two_visitors_uploading_the_same_bytes_both_analyse_them(tmp_path):
    """Equal bytes uploaded by two visitors share one upload path; the first Analyze moves it into its store,
    and the second visitor's Analyze, queued behind it, gets its own link of that copy instead of failing."""
    from concurrent.futures import ThreadPoolExecutor

    from gradio_client import Client, handle_file

    with running_app(tmp_path) as server:
        for trial in range(3):
            video = make_video(tmp_path / f"same_{trial}.mp4", SyntheticVideoSpec(duration=12.0, num_actions=1,
                                                                                  seed=70 + trial))
            clients = [Client(server.url, verbose=False, download_files=False) for _ in range(2)]
            with ThreadPoolExecutor(2) as pool:
                jobs = [pool.submit(client.predict, handle_file(str(video.path)), None, 0.3, 0.0, 0.0, 0.6, "auto",
                                    api_name="/analyze") for client in clients]
                statuses = [job.result(timeout=600)[0] for job in jobs]
            assert all(video.path.name in status for status in statuses), statuses
            assert not upload_path(video.path).exists()  # the upload URL stops working once analysed
