"""A tiny open_clip architecture (tests/utal_tiny_clip.json: 1-layer ViT + 1-layer text tower) for fast CLIP tests."""

from __future__ import annotations

from pathlib import Path

TINY_CLIP_CONFIG = Path(__file__).resolve().parent / "utal_tiny_clip.json"
TINY_CLIP_MODEL = TINY_CLIP_CONFIG.stem


def register_tiny_clip() -> str:
    """Register the tiny config with open_clip (idempotent) and return its model name."""
    import open_clip

    if TINY_CLIP_MODEL not in open_clip.list_models():
        open_clip.add_model_config(TINY_CLIP_CONFIG)
    return TINY_CLIP_MODEL


def save_tiny_clip_weights(path: Path, seed: int = 0) -> Path:
    """Write a seeded random tiny-CLIP state_dict to ``path`` (stands in for a real weights file)."""
    import open_clip
    import torch

    torch.manual_seed(seed)
    model = open_clip.create_model(register_tiny_clip(), pretrained=None)
    torch.save(model.state_dict(), path)
    return path
