"""Per-view encoders behind one registry: ``create_encoder("cbp" | "motion" | "clip" | "audio" | ...)``."""

from . import audio, cbp, clip, motion  # noqa: F401  (importing registers the encoders)
from .base import (AudioAccumulator, AudioEncoder, EncodedBatch, Encoder, EncoderConfig, FrameEncoder, Fingerprint, StreamAccumulator,
                   StreamEncoder, VideoEncoder, create_encoder, encoder_class, list_encoders, register_encoder)

__all__ = ["AudioAccumulator", "AudioEncoder", "EncodedBatch", "Encoder", "EncoderConfig", "FrameEncoder", "Fingerprint",
           "StreamAccumulator", "StreamEncoder", "VideoEncoder", "create_encoder", "encoder_class", "list_encoders",
           "register_encoder"]
