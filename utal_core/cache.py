"""Where the project keeps its caches (features, text embeddings, the app's library and work files)."""

from __future__ import annotations

import os
from pathlib import Path


def default_cache_dir() -> Path:
    """``$UTAL_CACHE_DIR`` or ``~/.cache/utal_core``."""
    return Path(os.environ.get("UTAL_CACHE_DIR") or Path.home() / ".cache" / "utal_core")
