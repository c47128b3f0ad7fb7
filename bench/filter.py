"""Benchmark: the meta-language filter against the seed's Option 2 function, side by side.

Throughput (MB/s of answer text filtered) on the example conversations, and precision/recall on
the labelled sentences in tests/data/meta_sentences.jsonl. Bounded: about a second per filter.

    .venv/bin/python bench/filter.py
"""

from __future__ import annotations

import json
import re
import time
from pathlib import Path

from molting_workloads.language import MetaLanguage

ROOT = Path(__file__).resolve().parents[1]
SEED_PATTERNS = [
    r"I'll (?:start|first|begin|now)\s+(?:by|with)",
    r"Let me (?:start|first|begin|analyze|explore)",
    r"I'm going to",
    r"My approach (?:is|would be)",
]


def seed_filter(response: str) -> str:
    """The seed's Option 2 (deployment-strategy.md), reimplemented as written."""
    sentences = response.split(". ")
    kept = [s for s in sentences if not any(re.search(p, s, re.I) for p in SEED_PATTERNS)]
    return ". ".join(kept)


def seed_is_meta(sentence: str) -> bool:
    return any(re.search(p, sentence, re.I) for p in SEED_PATTERNS)


def throughput(fn, answers: list[str], budget_s: float = 1.0) -> float:
    size = sum(len(a.encode()) for a in answers)
    done, start = 0, time.perf_counter()
    while time.perf_counter() - start < budget_s and done < 200:
        for answer in answers:
            fn(answer)
        done += 1
    return size * done / (time.perf_counter() - start) / 1e6


def precision_recall(is_meta, rows: list[dict]) -> tuple[float, float]:
    tp = sum(is_meta(r["text"]) and r["meta"] for r in rows)
    fp = sum(is_meta(r["text"]) and not r["meta"] for r in rows)
    fn = sum(not is_meta(r["text"]) and r["meta"] for r in rows)
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1)


def main() -> None:
    answers = [m["content"] for line in (ROOT / "examples/data/conversations.jsonl").read_text().splitlines()
               for m in json.loads(line)["messages"] if m["role"] == "assistant"]
    rows = [json.loads(x) for x in (ROOT / "tests/data/meta_sentences.jsonl").read_text().splitlines()]
    meta = MetaLanguage()
    ours = (throughput(lambda a: meta.strip(a), answers), *precision_recall(meta.is_meta_sentence, rows))
    seed = (throughput(seed_filter, answers), *precision_recall(seed_is_meta, rows))
    left_ours = sum(meta.contains(meta.strip(a).text) for a in answers)
    left_seed = sum(meta.contains(seed_filter(a)) for a in answers)
    print(f"corpus: {len(answers)} answers ({sum(map(len, answers)) / 1e3:.0f} kB); "
          f"{len(rows)} labelled sentences")
    print(f"{'filter':<28}{'MB/s':>8}{'precision':>11}{'recall':>8}{'answers still meta':>20}")
    print(f"{'molting (language.strip)':<28}{ours[0]:>8.2f}{ours[1]:>11.3f}{ours[2]:>8.3f}{left_ours:>20}")
    print(f"{'seed Option 2':<28}{seed[0]:>8.2f}{seed[1]:>11.3f}{seed[2]:>8.3f}{left_seed:>20}")


if __name__ == "__main__":
    main()
