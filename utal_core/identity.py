"""The identity of a video file's bytes: what the feature cache, the proxies, saved analyses and corrections are keyed by."""

from __future__ import annotations

import hashlib
import os

import numpy as np

_CHUNK = 1 << 20


def content_hash(path: str | os.PathLike, samples: int = 8) -> str:
    """Fast content identity of a file: its size plus the sha256 of evenly spaced 1 MiB chunks.

    Files up to ``samples + 2`` chunks are hashed whole; larger ones by their first, last and
    ``samples`` evenly spaced chunks, so a multi-GB video costs about 10 MiB of reads.
    """
    size = os.path.getsize(path)
    digest = hashlib.sha256(str(size).encode())
    with open(path, "rb") as handle:
        if size <= (samples + 2) * _CHUNK:
            for chunk in iter(lambda: handle.read(_CHUNK), b""):
                digest.update(chunk)
        else:
            for offset in np.linspace(0, size - _CHUNK, samples + 2).astype(np.int64):
                handle.seek(int(offset))
                digest.update(handle.read(_CHUNK))
    return digest.hexdigest()
