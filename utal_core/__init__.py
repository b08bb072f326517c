"""CLIP-AE Explorer: unsupervised temporal action localization (CLIP-AE) as a typed Python API.

The public API, flat (imported lazily, so ``import utal_core`` stays cheap)::

    from utal_core import Pipeline, PipelineConfig
    analysis = Pipeline.from_config(PipelineConfig()).analyze("video.mp4")
"""

from __future__ import annotations

import importlib

_EXPORTS = {
    "Analysis": "pipeline", "ClusterInfo": "pipeline", "Pipeline": "pipeline", "PipelineConfig": "pipeline",
    "read_analysis": "pipeline", "LocalizeParams": "localize", "localize": "localize",
    "SnippetGrid": "grid", "MediaInfo": "media", "probe": "media", "iter_frames": "media", "decode_audio": "media",
    "Segment": "types", "ViewFeatures": "types", "UTALError": "errors",
    "FeatureExtractor": "features", "list_encoders": "encoders", "create_encoder": "encoders",
    "evaluate_detection": "evaluate", "SegmentLibrary": "library", "CLIPAE": "model", "train": "model",
}

__all__ = sorted(_EXPORTS)


def __getattr__(name: str):
    if name not in _EXPORTS:
        raise AttributeError(f"module 'utal_core' has no attribute {name!r}")
    return getattr(importlib.import_module(f".{_EXPORTS[name]}", __name__), name)
