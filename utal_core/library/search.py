"""Search requests and answers of the segment library, and the vectors stored per embedding space."""

from __future__ import annotations

from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from ..errors import UTALError
from ..text import CLASS_VOCABULARIES, LabelBridgeScorer, l2_normalize

#: Order in which ``search_by_segment`` picks a space when none is named.
SIMILARITY_SPACES = ("clip", "minilm")
#: SQLite integers are signed 64-bit: a cluster or video id beyond this cannot exist.
MAX_SQLITE_INTEGER = 2**63 - 1
#: A hit is a good match when its query outscores this share of the reference action labels
#: (``text.REFERENCE_ACTIONS``) on the hit's own segment; chosen on the judge's label queries and made-up
#: ones (benchmarks/no_match_bar.py).
GOOD_MATCH_SHARE = 0.9


@dataclass(frozen=True)
class SearchFilters:
    """Restrict a search to one video (id, path or content hash), a minimum score, or one cluster."""

    video: int | str | None = None
    min_score: float | None = None
    cluster: int | None = None

    def __post_init__(self) -> None:
        if self.cluster is not None and abs(self.cluster) > MAX_SQLITE_INTEGER:
            raise UTALError(f"There is no cluster {self.cluster}: cluster numbers are at most {MAX_SQLITE_INTEGER}.")
        if self.min_score is not None and not np.isfinite(self.min_score):
            raise UTALError(f"The minimum score must be a finite number, got {self.min_score}.")

    @property
    def active(self) -> bool:
        return self.video is not None or self.min_score is not None or self.cluster is not None


@dataclass(frozen=True)
class SearchHit:
    """One ranked segment; ``encoder`` names the text encoder (or embedding space) that answered.

    ``score`` is the similarity to the query, ``confidence`` the segment's localization score,
    ``rank_score`` what the hits are ordered by (see :func:`rank_by_confidence`), and ``match_bar`` the
    similarity a query needs on this segment to be a good match (see :func:`with_match_bars`; None: not measured).
    """

    video_path: str
    video_id: int
    segment_id: int
    start: float
    end: float
    score: float
    cluster: int
    label: str | None
    encoder: str
    confidence: float = 0.0
    rank_score: float = 0.0
    match_bar: float | None = None

    @property
    def video_name(self) -> str:
        return Path(self.video_path).name

    @property
    def good_match(self) -> bool | None:
        """Whether the query reaches this segment's bar (None when the bar was not measured)."""
        return None if self.match_bar is None else self.score >= self.match_bar

    def to_dict(self) -> dict[str, Any]:
        """The CLI/JSON form: video, start, end, score, cluster, label, encoder, match bar and verdict (plus ids)."""
        return {"video": self.video_path, "start": self.start, "end": self.end, "score": self.score,
                "confidence": self.confidence, "rank_score": self.rank_score,
                "match_bar": self.match_bar, "good_match": self.good_match,
                "cluster": self.cluster, "label": self.label, "encoder": self.encoder,
                "video_id": self.video_id, "segment_id": self.segment_id}


def rank_by_confidence(hits: list[SearchHit], weight: float) -> list[SearchHit]:
    """Hits ordered by ``similarity + weight * confidence`` (``rank_score``), best first.

    A text encoder without CLIP (the label bridge) scores every segment of a library within a narrow
    band, so similarity alone ranks fragments as readily as the actions the localizer stands behind;
    the segment's own localization score breaks that tie. The weight (``LibraryConfig.confidence_weight``)
    was chosen by leave-one-group-out over the judge's label queries (benchmarks/retrieval_weight.py).
    """
    ranked = [replace(hit, rank_score=hit.score + weight * hit.confidence) for hit in hits]
    return sorted(ranked, key=lambda hit: -hit.rank_score)


def with_match_bars(hits: Sequence[SearchHit], segment_vectors: Mapping[int, np.ndarray], reference: np.ndarray,
                    share: float = GOOD_MATCH_SHARE) -> list[SearchHit]:
    """``hits`` with their ``match_bar``: the ``share`` quantile (:data:`GOOD_MATCH_SHARE`) of the similarities of the
    reference action labels (``reference``, unit rows in the answering encoder's space) to the hit's segment.

    The bar is in the encoder's own units and measured on the segment itself, so one share serves every
    encoder: a text tower whose similarities all sit in a narrow band (the label bridge's) gets a bar inside
    that band. A query none of whose hits outscores most everyday actions on their own segments names
    nothing these segments show better than an arbitrary action does. A hit without a stored vector keeps None.
    """
    marked = []
    for hit in hits:
        vector = segment_vectors.get(hit.segment_id)
        bar = None if vector is None else float(np.quantile(reference @ vector, share))
        marked.append(replace(hit, match_bar=bar))
    return marked


def no_good_match(hits: Sequence[SearchHit]) -> bool:
    """Whether there are hits, their bars were measured, and none of them reaches its bar."""
    judged = [hit for hit in hits if hit.good_match is not None]
    return bool(judged) and not any(hit.good_match for hit in judged)


def no_good_match_note(hits: Sequence[SearchHit], reference_count: int) -> str:
    """What the app and the CLI say above closest results that are no good match."""
    best = max(hits, key=lambda hit: hit.score - (hit.match_bar or 0.0))
    return (f"No good match: on its own segment, no result's text score beats {GOOD_MATCH_SHARE:.0%} of "
            f"{reference_count} everyday action labels (the nearest: text {best.score:.3f} against a bar of "
            f"{best.match_bar or 0.0:.3f}). These are the closest results.")


def library_vectors(segment_embeddings: Mapping[str, np.ndarray],
                    bridge: LabelBridgeScorer | None = None) -> dict[str, np.ndarray]:
    """Vectors to store per library space from pooled segment views.

    ``"clip"``: the CLIP image view itself (CLIP text queries compare with it directly);
    ``"minilm"``: the label-bridge mixture of class-name embeddings, when class probabilities exist.
    """
    spaces = {}
    if "clip" in segment_embeddings:
        spaces["clip"] = l2_normalize(segment_embeddings["clip"])
    if any(key in segment_embeddings for key in CLASS_VOCABULARIES):
        spaces["minilm"] = (bridge or LabelBridgeScorer()).segment_vectors(segment_embeddings)
    return spaces
