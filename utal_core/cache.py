"""Where the project keeps its caches (features, text embeddings, the app's library and work files)."""

from __future__ import annotations

import io
import os
from pathlib import Path
from typing import Callable

import numpy as np

from .errors import UTALError
from .export import atomic_write_bytes


def default_cache_dir() -> Path:
    """``$UTAL_CACHE_DIR`` or ``~/.cache/utal_core``; a plain UTALError when that is not a folder."""
    root = Path(os.environ.get("UTAL_CACHE_DIR") or Path.home() / ".cache" / "utal_core")
    if root.exists() and not root.is_dir():
        raise UTALError(f"The cache folder {root} is a file, not a folder (set UTAL_CACHE_DIR to a folder).")
    return root


def cached_array(path: Path, compute: Callable[[], np.ndarray], rows: int | None = None) -> np.ndarray:
    """``compute()``, kept as a ``.npy`` file at ``path``; a damaged file, or one without ``rows`` rows, is recomputed."""
    if path.is_file():
        try:
            cached = np.load(path, allow_pickle=False)
            if (rows is None or cached.shape[0] == rows) and np.isfinite(cached).all():
                return cached
        except (OSError, ValueError):
            pass  # recomputed below
    values = compute()
    buffer = io.BytesIO()
    np.save(buffer, values)
    atomic_write_bytes(path, buffer.getvalue())
    return values
