"""`molting clean`: every bad line reported with its number, the three policies, dedupe, the
deterministic split, the report, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from molting_workloads.cleaning import clean_dataset, split
from molting_workloads.contract.errors import DatasetError
from molting_workloads.contract.policies import CleaningPolicy

ROOT = Path(__file__).resolve().parents[2]
META_ANSWER = "I'll first look at the science. The sky is blue because air scatters blue light."
PLAIN_ANSWER = "Bees fan nectar with their wings until most of the water evaporates away."


def chat(user: str, assistant: str) -> str:
    return json.dumps({"messages": [{"role": "user", "content": user},
                                    {"role": "assistant", "content": assistant}]})


def write(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n")
    return path


def read(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines()]


@pytest.fixture()
def dataset(tmp_path: Path) -> Path:
    lines = [chat(f"Question {i}?", META_ANSWER if i % 2 else PLAIN_ANSWER + f" Fact {i}.")
             for i in range(20)]
    lines.append(json.dumps({"prompt": "Why salt?", "completion": "Salt lowers the freezing point."}))
    return write(tmp_path / "data.jsonl", lines)


BAD_LINES = [
    ("{not json", "invalid JSON"),
    (json.dumps({"messages": [{"content": "hi"}, {"role": "assistant", "content": "yo yo yo"}]}),
     "missing role"),
    (json.dumps({"messages": [{"role": "wizard", "content": "hi"}]}), "unknown role 'wizard'"),
    (json.dumps({"messages": [{"role": "user", "content": "  "},
                              {"role": "assistant", "content": "hello there friend"}]}), "empty content"),
    (json.dumps({"messages": [{"role": "user", "content": 3},
                              {"role": "assistant", "content": "hello there friend"}]}), "must be a string"),
    (json.dumps({"messages": [{"role": "user", "content": "hi"}]}), "no assistant turn"),
    (json.dumps({"prompt": "hi"}), "missing field 'completion'"),
    (json.dumps(["a", "list"]), "expected a JSON object"),
]


@pytest.mark.parametrize(("line", "reason"), BAD_LINES, ids=[r for _, r in BAD_LINES])
def test_each_bad_line_is_rejected_with_its_number_and_reason(
    tmp_path: Path, dataset: Path, line: str, reason: str
) -> None:
    lines = dataset.read_text().splitlines()
    lines.insert(3, line)
    src = write(tmp_path / "with-bad.jsonl", lines)
    report = clean_dataset(src, tmp_path / "out", CleaningPolicy(max_bad_fraction=0.2))
    rejects = read(tmp_path / "out" / "rejects.jsonl")
    assert report.bad_lines == 1 and rejects[0]["line"] == 4
    assert reason in rejects[0]["reason"] and rejects[0]["text"] == line


def test_too_many_bad_lines_fail_with_a_clear_error(tmp_path: Path) -> None:
    src = ROOT / "examples" / "data" / "bad-lines.jsonl"
    with pytest.raises(DatasetError, match=r"lines are malformed .* line 1: invalid JSON"):
        clean_dataset(src, tmp_path / "out", CleaningPolicy())
    assert len(read(tmp_path / "out" / "rejects.jsonl")) == len(src.read_text().splitlines())


def test_empty_dataset_fails(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="empty"):
        clean_dataset(write(tmp_path / "e.jsonl", [""]), tmp_path / "out", CleaningPolicy())


def test_drop_sentences_keeps_the_substance(tmp_path: Path, dataset: Path) -> None:
    report = clean_dataset(dataset, tmp_path / "out", CleaningPolicy(dedupe=False))
    rows = read(tmp_path / "out" / "train.jsonl") + read(tmp_path / "out" / "validation.jsonl")
    answers = [r["messages"][-1]["content"] for r in rows]
    assert len(rows) == 21 and report.meta_examples == 10 and report.meta_sentences_removed == 10
    assert "The sky is blue because air scatters blue light." in answers
    assert not any("I'll first" in a for a in answers)
    assert report.sample_changes[0]["before"] == META_ANSWER


def test_drop_sentences_drops_examples_with_nothing_left(tmp_path: Path) -> None:
    src = write(tmp_path / "d.jsonl", [chat("Q?", "Let me think. I'll first check."),
                                       chat("R?", PLAIN_ANSWER)])
    report = clean_dataset(src, tmp_path / "out", CleaningPolicy())
    assert report.examples_dropped_meta == 1 and report.train + report.validation == 1


def test_drop_examples_and_keep(tmp_path: Path, dataset: Path) -> None:
    dropped = clean_dataset(dataset, tmp_path / "a", CleaningPolicy(meta_language="drop-examples"))
    assert dropped.examples_dropped_meta == 10 and dropped.train + dropped.validation == 11
    kept = clean_dataset(dataset, tmp_path / "b", CleaningPolicy(meta_language="keep", dedupe=False))
    assert kept.train + kept.validation == 21 and kept.meta_examples == 10


def test_dedupe_exact_and_normalised(tmp_path: Path) -> None:
    src = write(tmp_path / "d.jsonl", [chat("Why?", PLAIN_ANSWER), chat("Why?", PLAIN_ANSWER),
                                       chat("why", PLAIN_ANSWER.upper() + "  "), chat("How?", PLAIN_ANSWER)])
    report = clean_dataset(src, tmp_path / "out", CleaningPolicy())
    assert (report.duplicates_exact, report.duplicates_normalised) == (1, 1)
    assert report.train + report.validation == 2


def test_split_is_deterministic_sized_and_order_free() -> None:
    examples = [[{"role": "user", "content": str(i)}] for i in range(100)]
    train, val = split(examples, 0.1, seed=42)
    assert len(val) == 10 and len(train) == 90
    assert split(list(reversed(examples)), 0.1, seed=42)[1] == val
    assert split(examples, 0.1, seed=7)[1] != val
    assert len(split(examples[:2], 0.1, seed=1)[1]) == 1


def test_prompt_completion_becomes_messages(tmp_path: Path, dataset: Path) -> None:
    clean_dataset(dataset, tmp_path / "out", CleaningPolicy(validation_split=0.3))
    rows = read(tmp_path / "out" / "train.jsonl") + read(tmp_path / "out" / "validation.jsonl")
    assert {"messages": [{"role": "user", "content": "Why salt?"},
                         {"role": "assistant", "content": "Salt lowers the freezing point."}]} in rows


def test_report_has_the_documented_keys(tmp_path: Path, dataset: Path) -> None:
    clean_dataset(dataset, tmp_path / "out", CleaningPolicy())
    report = json.loads((tmp_path / "out" / "cleaning-report.json").read_text())
    for key in ("lines_read", "bad_lines", "bad_by_reason", "meta_examples", "meta_sentences_removed",
                "examples_dropped_meta", "duplicates_exact", "duplicates_normalised", "train",
                "validation", "sample_changes"):
        assert key in report


def test_cli_reports_bad_input_and_exits_non_zero(tmp_path: Path) -> None:
    bad = ROOT / "examples" / "data" / "bad-lines.jsonl"
    out = subprocess.run([sys.executable, "-m", "molting_operator", "clean", str(bad), "-o",
                          str(tmp_path / "o")], capture_output=True, text=True, timeout=120)
    assert out.returncode == 2 and "line 1: invalid JSON" in out.stderr
    wrong = subprocess.run([sys.executable, "-m", "molting_operator", "clean", str(bad), "-o",
                            str(tmp_path / "o"), "--validation-split", "0.7"],
                           capture_output=True, text=True, timeout=120)
    assert wrong.returncode == 2 and "--validation-split" in wrong.stderr
