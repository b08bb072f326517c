"""What the player is given: a copy of the video that the browser plays, and seeks that survive a new video.

Gradio's video component converts a file the browser cannot play (an AVI, an MKV) itself, silently,
after the handler has returned: the page sat at 100 % for many seconds. Here the conversion is our
own step, through ``utal_core.media`` (either backend), with its own line in the progress bar, and
its result is kept in the session's public folder, so it is made once per video and session.
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

from utal_core import media

from .sessions import Session

#: The progress bar's text while the player's copy is written.
CONVERTING = "converting the video for the browser player"
#: Seeks the player to a time (a handler's output) once the current <video> can seek; runs in the browser.
SEEK_JS = """
(time) => {
  if (time === null || time === undefined) return;
  const started = Date.now();
  const seek = () => {
    const video = document.querySelector('#player video');
    if (video && video.readyState >= 1) {
      video.currentTime = time;
      video.scrollIntoView({block: 'nearest'});
      return;
    }
    if (Date.now() - started < 15000) setTimeout(seek, 100);
  };
  seek();
}
"""


def browser_video(session: Session, video: str | Path, progress: Callable[[float], None] | None = None,
                  info: media.MediaInfo | None = None) -> str:
    """The path under the session's public folder that the player gets for a stored ``video``: the video
    itself when a browser plays it, else an H.264 MP4 copy written on first use (``info``: its probe, when known)."""
    video = Path(video)
    info = info or media.probe(video)
    if media.browser_playable(info):
        return session.publish(video)
    copy = session.public / "media" / video.parent.name / f"{video.stem}.browser.mp4"
    if not copy.exists():
        media.browser_mp4(info, copy, progress)
    return str(copy)
