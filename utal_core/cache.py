"""Where the project keeps its caches (features, text embeddings, the app's library and work files)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Callable

import numpy as np

from .export import atomic_write_bytes


def default_cache_dir() -> Path:
    """``$UTAL_CACHE_DIR`` or ``~/.cache/utal_core``."""
    return Path(os.environ.get("UTAL_CACHE_DIR") or Path.home() / ".cache" / "utal_core")


def cached_array(path: Path, compute: Callable[[], np.ndarray], rows: int | None = None) -> np.ndarray:
    """``compute()``, kept as a ``.npy`` file at ``path``; a damaged file, or one without ``rows`` rows, is recomputed."""
    if path.is_file():
        try:
            cached = np.load(path)
            if rows is None or cached.shape[0] == rows:
                return cached
        except (OSError, ValueError):
            pass  # recomputed below
    values = compute()
    buffer = io.BytesIO()
    np.save(buffer, values)
    atomic_write_bytes(path, buffer.getvalue())
    return values
