"""The segmentation controls of the Analyze tab: their values when the page opens, and what they set."""

from __future__ import annotations

from dataclasses import dataclass

from utal_core.localize import LocalizeParams
from utal_core.pipeline import NumClusters


@dataclass(frozen=True)
class Controls:
    """Threshold, minimum duration, merge gap, NMS IoU and number of clusters, as the page's controls hold them."""

    threshold: float = 0.5
    min_duration: float = 0.0
    merge_gap: float = 0.0
    nms_iou: float = 0.6
    clusters: str = "auto"

    def params(self) -> LocalizeParams:
        """The localization settings these controls set."""
        return LocalizeParams(thresholds=(float(self.threshold),), min_duration_s=float(self.min_duration),
                              merge_gap_s=float(self.merge_gap), nms_iou=float(self.nms_iou))

    def num_clusters(self) -> NumClusters:
        return "auto" if self.clusters in (None, "auto") else int(self.clusters)


#: The controls when the page opens (ui/layout.py); the bundled example is saved segmented with them, so that its
#: first visitor gets it as it is (ui/saved_analyses.py).
PAGE_CONTROLS = Controls()
