"""Benchmark: the meta-language filter against the seed's Option 2 function, side by side.

Throughput (MB/s of answer text) on the example conversations' assistant turns, in one run side
by side with the seed's code; the filter's added latency per five-sentence answer (p50/p99);
and precision / recall on the held-out labelled sentences (tests/data/meta_heldout4_sentences.jsonl)
at the serving filter's default threshold. Bounded: about one second per measured row.

    OMP_NUM_THREADS=1 .venv/bin/python bench/filter.py
"""

from __future__ import annotations

import json
import re
import time
from collections.abc import Callable
from pathlib import Path

from molting_workloads.contract.patterns import FILTER_META_THRESHOLD
from molting_workloads.language import MetaLanguage, StreamFilter, split_sentences

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


def latency_us(fn: Callable[[str], object], answers: list[str]) -> tuple[float, float]:
    """p50 and p99 of one call's wall time, in microseconds, over a few passes."""
    times = []
    for _ in range(20):
        for answer in answers:
            start = time.perf_counter()
            fn(answer)
            times.append(time.perf_counter() - start)
    times.sort()
    return times[len(times) // 2] * 1e6, times[int(len(times) * 0.99)] * 1e6


def precision_recall(is_meta: Callable[[str], bool], rows: list[dict]) -> tuple[float, float]:
    tp = sum(is_meta(r["text"]) and r["meta"] for r in rows)
    fp = sum(is_meta(r["text"]) and not r["meta"] for r in rows)
    fn = sum(not is_meta(r["text"]) and r["meta"] for r in rows)
    return tp / max(tp + fp, 1), tp / max(tp + fn, 1)


def main() -> None:
    answers = [m["content"]
               for line in (ROOT / "examples/data/conversations.jsonl").read_text().splitlines()
               for m in json.loads(line)["messages"] if m["role"] == "assistant"]
    rows = [json.loads(x) for x in
            (ROOT / "tests/data/meta_heldout4_sentences.jsonl").read_text().splitlines()]
    meta = MetaLanguage(threshold=FILTER_META_THRESHOLD)
    clean = [meta.strip(a).text for a in answers]
    five = [a for a in answers if len(split_sentences(a)) == 5]
    ours_p, ours_r = precision_recall(meta.is_meta_sentence, rows)
    seed_p, seed_r = precision_recall(seed_is_meta, rows)
    seed_mbps = throughput(filter_agent_language, answers)
    table = [
        ("seed Option 2", seed_mbps, seed_p, seed_r,
         sum(meta.contains(filter_agent_language(a)) for a in answers)),
        ("molting strip", throughput(meta.strip, answers), ours_p, ours_r,
         sum(meta.contains(meta.strip(a).text) for a in answers)),
        ("molting strip, clean text", throughput(meta.strip, clean), ours_p, ours_r, 0),
        ("molting StreamFilter (4-char deltas)",
         throughput(lambda a: streamed(meta, a), answers), ours_p, ours_r,
         sum(meta.contains(streamed(meta, a)) for a in answers)),
    ]
    print(f"corpus: {len(answers)} answers ({sum(map(len, answers)) / 1e3:.0f} kB, "
          f"{sum(map(meta.contains, answers))} with meta-language); held-out v4: {len(rows)} "
          f"labelled sentences ({sum(r['meta'] for r in rows)} meta); filter threshold "
          f"{meta.threshold}")
    print(f"{'filter':<38}{'MB/s':>8}{'x seed':>8}{'precision':>11}{'recall':>8}{'still meta*':>13}")
    for name, mbps, p, r, left in table:
        print(f"{name:<38}{mbps:>8.2f}{mbps / seed_mbps:>8.2f}{p:>11.3f}{r:>8.3f}{left:>13}")
    print("* answers still containing meta-language after filtering, judged by molting's own "
          "detector (an all-meta answer keeps its fallback sentence, so it can stay > 0)")
    for name, fn in (("seed Option 2", filter_agent_language), ("molting strip", meta.strip),
                     ("molting StreamFilter (4-char deltas)", lambda a: streamed(meta, a))):
        p50, p99 = latency_us(fn, five)
        print(f"latency per 5-sentence answer ({len(five)} answers), {name}: "
              f"p50 {p50:.0f} us, p99 {p99:.0f} us")


if __name__ == "__main__":
    main()
