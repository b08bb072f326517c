"""Dataset mode: a benchmark's ground truth and any detectors' results, from the summary down to one video.

``load.py`` reads the files and matches videos, ``metrics.py`` computes one detector's numbers from the same
matching as ``eval`` and ``diagnose``, ``view.py`` keeps them with the per-video table and its paging, ``report.py``
prints them (text, JSON, a self-contained HTML page).
"""

from .load import load_dataset, match_video_files
from .view import DatasetView, RowFilter, TablePage

__all__ = ["DatasetView", "RowFilter", "TablePage", "load_dataset", "match_video_files"]
