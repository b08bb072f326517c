"""all-MiniLM-L6-v2 in NumPy: the sentence-transformers model's forward pass without torch.

Text search must answer within a few seconds of a cold start, and importing torch, transformers
and sentence-transformers takes far longer than embedding one query (about 20 s cold here, against
a few milliseconds of arithmetic). The model is a 6-layer BERT (hidden 384, 12 heads, GELU);
its sentence embedding is the mask-weighted mean of the last hidden states, L2-normalised, exactly
what the ``sentence_transformers`` pipeline (Transformer -> mean Pooling -> Normalize) computes.
Weights are read from the bundled ``model.safetensors`` (memory-mapped), words are split by the
bundled ``tokenizer.json`` through the ``tokenizers`` library; ``tests/test_minilm.py`` checks the
embeddings against sentence-transformers itself.
"""

from __future__ import annotations

import json
import math
from pathlib import Path
from typing import Sequence

import numpy as np

from .errors import UTALError

#: sentence-transformers' ``max_seq_length`` for this model (its sentence_bert_config.json).
MAX_TOKENS = 256


def _layer_norm(x: np.ndarray, weight: np.ndarray, bias: np.ndarray, eps: float) -> np.ndarray:
    mean = x.mean(axis=-1, keepdims=True)
    variance = ((x - mean) ** 2).mean(axis=-1, keepdims=True)
    return (x - mean) / np.sqrt(variance + eps) * weight + bias


def _erf(x: np.ndarray) -> np.ndarray:
    """Abramowitz and Stegun 7.1.26 (absolute error below 1.5e-7, under float32 resolution near 1)."""
    sign = np.sign(x)
    x = np.abs(x)
    t = 1.0 / (1.0 + 0.3275911 * x)
    poly = t * (0.254829592 + t * (-0.284496736 + t * (1.421413741 + t * (-1.453152027 + t * 1.061405429))))
    return sign * (1.0 - poly * np.exp(-x * x))


def _gelu(x: np.ndarray) -> np.ndarray:
    """BERT's exact (erf) GELU."""
    return 0.5 * x * (1.0 + _erf(x / math.sqrt(2.0)))


class MiniLM:
    """The model loaded from a sentence-transformers folder; :meth:`encode` gives unit-norm embeddings."""

    def __init__(self, folder: Path | str) -> None:
        from safetensors.numpy import load_file
        from tokenizers import Tokenizer

        folder = Path(folder)
        try:
            config = json.loads((folder / "config.json").read_text())
            self.num_layers = int(config["num_hidden_layers"])
            self.num_heads = int(config["num_attention_heads"])
            self.eps = float(config["layer_norm_eps"])
            self.weights = load_file(str(folder / "model.safetensors"))
            self.tokenizer = Tokenizer.from_file(str(folder / "tokenizer.json"))
        except Exception as error:  # OSError, bad JSON, a missing key, or tokenizers' and safetensors' own errors
            raise UTALError(f"The offline text model in {folder} could not be read ({error}).") from None
        self.tokenizer.enable_truncation(MAX_TOKENS)
        self.tokenizer.enable_padding(pad_id=int(config.get("pad_token_id", 0)))  # to the longest in the batch

    def _linear(self, x: np.ndarray, name: str) -> np.ndarray:
        # As one 2-D product: numpy's stacked matmul falls back to a slow loop on strided operands.
        rows = x.reshape(-1, x.shape[-1]) @ self.weights[f"{name}.weight"].T + self.weights[f"{name}.bias"]
        return rows.reshape(*x.shape[:-1], -1)

    def _norm(self, x: np.ndarray, name: str) -> np.ndarray:
        return _layer_norm(x, self.weights[f"{name}.LayerNorm.weight"], self.weights[f"{name}.LayerNorm.bias"], self.eps)

    def _hidden_states(self, ids: np.ndarray, types: np.ndarray, mask: np.ndarray) -> np.ndarray:
        """Last hidden states [B, L, H] of BERT for token ids, token types and the attention mask."""
        w = self.weights
        length = ids.shape[1]
        x = w["embeddings.word_embeddings.weight"][ids] + w["embeddings.token_type_embeddings.weight"][types]
        x = self._norm(x + w["embeddings.position_embeddings.weight"][:length], "embeddings")
        batch, _, hidden = x.shape
        head = hidden // self.num_heads
        # Padded keys get the most negative float32, as transformers' extended attention mask does.
        key_bias = np.where(mask[:, None, None, :] > 0, 0.0, np.finfo(np.float32).min).astype(np.float32)
        for layer in range(self.num_layers):
            prefix = f"encoder.layer.{layer}"

            def heads(name: str) -> np.ndarray:
                projected = self._linear(x, f"{prefix}.attention.self.{name}")
                return np.ascontiguousarray(projected.reshape(batch, length, self.num_heads, head).transpose(0, 2, 1, 3))

            scores = heads("query") @ np.ascontiguousarray(heads("key").transpose(0, 1, 3, 2)) / math.sqrt(head) + key_bias
            scores = np.exp(scores - scores.max(axis=-1, keepdims=True))
            attention = scores / scores.sum(axis=-1, keepdims=True)
            context = (attention @ heads("value")).transpose(0, 2, 1, 3).reshape(batch, length, hidden)
            x = self._norm(self._linear(context, f"{prefix}.attention.output.dense") + x, f"{prefix}.attention.output")
            inner = _gelu(self._linear(x, f"{prefix}.intermediate.dense"))
            x = self._norm(self._linear(inner, f"{prefix}.output.dense") + x, f"{prefix}.output")
        return x

    def encode(self, texts: Sequence[str], batch_size: int = 64) -> np.ndarray:
        """Unit-norm sentence embeddings [len(texts), 384], float32 (mean pooling over real tokens)."""
        from threadpoolctl import threadpool_limits

        # Products this small gain nothing from BLAS threads, and on a busy machine OpenBLAS's
        # spinning threads made one query 40 times slower (2.4 s against 0.05 s).
        with threadpool_limits(1, user_api="blas"):
            return self._encode(texts, batch_size)

    def _encode(self, texts: Sequence[str], batch_size: int) -> np.ndarray:
        out = np.zeros((len(texts), self.weights["pooler.dense.bias"].shape[0]), dtype=np.float32)
        # Similar lengths batched together keep padding (wasted arithmetic) small.
        order = sorted(range(len(texts)), key=lambda i: len(texts[i]))
        for start in range(0, len(order), batch_size):
            chunk = order[start : start + batch_size]
            encodings = self.tokenizer.encode_batch([texts[i] for i in chunk])
            ids = np.array([e.ids for e in encodings], dtype=np.int64)
            types = np.array([e.type_ids for e in encodings], dtype=np.int64)
            mask = np.array([e.attention_mask for e in encodings], dtype=np.float32)
            states = self._hidden_states(ids, types, mask)
            pooled = (states * mask[..., None]).sum(axis=1) / np.maximum(mask.sum(axis=1, keepdims=True), 1e-9)
            out[chunk] = pooled / np.maximum(np.linalg.norm(pooled, axis=1, keepdims=True), 1e-12)
        return out
