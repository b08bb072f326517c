"""Per-view encoders behind one registry: ``create_encoder("cbp" | "clip" | "audio" | ...)``."""

from . import audio, cbp, clip  # noqa: F401  (importing registers the encoders)
from .base import (AudioEncoder, EncodedBatch, Encoder, EncoderConfig, FrameEncoder, Fingerprint, VideoEncoder,
                   create_encoder, encoder_class, list_encoders, register_encoder)

__all__ = ["AudioEncoder", "EncodedBatch", "Encoder", "EncoderConfig", "FrameEncoder", "Fingerprint", "VideoEncoder",
           "create_encoder", "encoder_class", "list_encoders", "register_encoder"]
