"""Where the project's data files are: ``assets/`` (vocabularies, prompts, examples) and ``checkpoints/``.

In a source checkout they sit beside the package; ``pip install .`` puts them under
``<prefix>/share/clip-ae-explorer`` (pyproject's ``data-files``), so an installed ``utal`` finds them too.
"""

from __future__ import annotations

import sys
from pathlib import Path

_CHECKOUT = Path(__file__).resolve().parents[1]
#: The folder holding ``assets/`` and ``checkpoints/``.
DATA_ROOT = _CHECKOUT if (_CHECKOUT / "assets").is_dir() else Path(sys.prefix) / "share" / "clip-ae-explorer"
