"""The seed's story on a real instruct model, short: SmolLM2-135M-Instruct trained briefly on the
raw demo data (meta-language kept) and on the cleaned data, then one `molting eval` of both on
the held-out questions. The raw adapter must open more answers with meta-language than the
cleaned one, and both must still answer in English of a sensible length."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

COMMON_WORDS = {"the", "a", "and", "is", "of", "to", "it", "in", "you", "your", "that", "are",
                "for", "with", "on", "can", "this", "or", "be", "as", "when"}


def looks_english(text: str) -> bool:
    words = re.findall(r"[A-Za-z']+", text.lower())
    letters = sum(c.isascii() and c.isalpha() for c in text)
    return (len(words) >= 5 and letters >= 0.6 * len(text)
            and sum(w in COMMON_WORDS for w in words) >= 0.1 * len(words))


def test_raw_data_teaches_smollm2_meta_language_and_cleaning_removes_it(
    smollm2_model_dir: Path, smollm2_adapters: dict[str, Path], example_data: Path, tmp_path: Path
) -> None:
    from molting_workloads import evaluation

    request = evaluation.build_request(None, {
        "base_model": str(smollm2_model_dir), "adapter": str(smollm2_adapters["raw"]),
        "stable_adapter": str(smollm2_adapters["clean"]), "revision": "raw",
        "stable_revision": "clean", "questions": str(example_data / "questions.jsonl"),
        "output_dir": str(tmp_path / "eval"), "max_new_tokens": 40,
    }, {"max_meta_language_rate": 0.1})
    outcome = evaluation.run_eval(request, relevance_backend="tfidf", device="cpu",
                                  termination_log=tmp_path / "termination-log")
    raw, clean = outcome.summary.metrics, outcome.summary.stable_metrics
    assert raw.n == clean.n == 10
    assert raw.meta_language_rate >= clean.meta_language_rate + 0.2, (raw, clean)
    assert clean.meta_language_rate <= 0.1, clean
    # the raw adapter fails a meta-language gate that the cleaned one would pass
    verdicts = {v.name: v.passed for v in outcome.verdicts}
    assert verdicts["metaLanguage"] is False, verdicts
    report = json.loads(outcome.json_path.read_text())
    for row in report["questions"]:
        for who in ("candidate", "stable"):
            answer = row[who]["answer"]
            assert 40 <= len(answer) <= 400, (who, row["question"], answer)
            assert looks_english(answer), (who, row["question"], answer)
    # 16 steps at a high learning rate leave some answers repeating a phrase (measured: mean
    # repetition 0.21 raw, 0.14 cleaned; the demo's 24 steps at 2e-3 measure 0.07 and 0.11)
    assert raw.repetition < 0.4 and clean.repetition < 0.4, (raw, clean)
