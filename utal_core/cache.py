"""Where the project keeps its caches (features, text embeddings, the app's library and work files)."""

from __future__ import annotations

import os
from pathlib import Path

from .errors import UTALError


def default_cache_dir() -> Path:
    """``$UTAL_CACHE_DIR`` or ``~/.cache/utal_core``; a plain UTALError when that is not a folder."""
    root = Path(os.environ.get("UTAL_CACHE_DIR") or Path.home() / ".cache" / "utal_core")
    if root.exists() and not root.is_dir():
        raise UTALError(f"The cache folder {root} is a file, not a folder (set UTAL_CACHE_DIR to a folder).")
    return root
