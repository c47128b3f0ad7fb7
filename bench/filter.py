"""Benchmark: the meta-language filter against the seed's Option 2 function, side by side.

Throughput (MB/s of answer text) on the example conversations' assistant turns, and precision /
recall on the labelled sentences in tests/data/meta_sentences.jsonl. Bounded: about one second
per measured row.

    OMP_NUM_THREADS=1 .venv/bin/python bench/filter.py
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

from molting_workloads.language import MetaLanguage, StreamFilter

ROOT = Path(__file__).resolve().parents[1]
BUDGET_S = 1.0


def filter_agent_language(response: str) -> str:
    """The seed's Option 2 (seed/deployment-strategy.md), reimplemented as written."""
    meta_patterns = [
        r"I'll (?:start|first|begin|now)\s+(?:by|with)",
        r"Let me (?:start|first|begin|analyze|explore)",
        r"I'm going to",
        r"My approach (?:is|would be)",
    ]
    sentences = response.split(". ")
    filtered = []
    for sent in sentences:
        if not any(re.search(p, sent, re.I) for p in meta_patterns):
            filtered.append(sent)
    return ". ".join(filtered)


def seed_is_meta(sentence: str) -> bool:
    """The seed's per-sentence decision (what Option 2 drops)."""
    return filter_agent_language(sentence) != sentence


def throughput(fn: Callable[[str], object], answers: list[str]) -> float:
    size = sum(len(a.encode()) for a in answers)
    rounds, start = 0, time.perf_counter()
    while time.perf_counter() - start < BUDGET_S:
        for answer in answers:
            fn(answer)
        rounds += 1
    return size * rounds / (time.perf_counter() - start) / 1e6


def streamed(meta: MetaLanguage, answer: str, delta: int = 4) -> str:
    """The answer through a StreamFilter in ``delta``-character pieces (about one token)."""
    stream = StreamFilter(meta)
    out = [stream.feed(answer[i : i + delta]) for i in range(0, len(answer), delta)]
    return "".join(out) + stream.flush()


def precision_recall(is_meta: Callable[[str], bool], rows: list[dict]) -> tuple[float, float]:
    tp = sum(is_meta(r["text"]) and r["meta"] for r in rows)
    fp = sum(is_meta(r["text"]) and not r["meta"] for r in rows)
    fn = sum(not is_meta(r["text"]) and r["meta"] for r in rows)
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1)


def main() -> None:
    answers = [m["content"]
               for line in (ROOT / "examples/data/conversations.jsonl").read_text().splitlines()
               for m in json.loads(line)["messages"] if m["role"] == "assistant"]
    rows = [json.loads(x)
            for x in (ROOT / "tests/data/meta_sentences.jsonl").read_text().splitlines()]
    meta = MetaLanguage()
    clean = [meta.strip(a).text for a in answers]
    ours_p, ours_r = precision_recall(meta.is_meta_sentence, rows)
    seed_p, seed_r = precision_recall(seed_is_meta, rows)
    table = [
        ("molting strip", throughput(meta.strip, answers), ours_p, ours_r,
         sum(meta.contains(meta.strip(a).text) for a in answers)),
        ("molting strip, clean text", throughput(meta.strip, clean), ours_p, ours_r, 0),
        ("molting StreamFilter (4-char deltas)",
         throughput(lambda a: streamed(meta, a), answers), ours_p, ours_r,
         sum(meta.contains(streamed(meta, a)) for a in answers)),
        ("seed Option 2", throughput(filter_agent_language, answers), seed_p, seed_r,
         sum(meta.contains(filter_agent_language(a)) for a in answers)),
    ]
    print(f"corpus: {len(answers)} answers ({sum(map(len, answers)) / 1e3:.0f} kB, "
          f"{sum(map(meta.contains, answers))} with meta-language); "
          f"{len(rows)} labelled sentences ({sum(r['meta'] for r in rows)} meta)")
    print(f"{'filter':<38}{'MB/s':>8}{'precision':>11}{'recall':>8}{'still meta*':>13}")
    for name, mbps, p, r, left in table:
        print(f"{name:<38}{mbps:>8.2f}{p:>11.3f}{r:>8.3f}{left:>13}")
    print("* answers still containing meta-language after filtering, judged by molting's own "
          "detector (so 0 for molting by construction)")


if __name__ == "__main__":
    main()
