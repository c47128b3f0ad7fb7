"""`molting clean`: every bad line reported with its number, the three policies, dedupe, the
deterministic split, the report, and the CLI."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from typer.testing import CliRunner

from molting_workloads.cleaning import DatasetLinesError, clean_dataset, split
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
    (json.dumps({"messages": [{"role": "user", "content": "hi"},
                              {"role": "assistant", "content": ["not", "text"]}]}), "must be a string"),
    (json.dumps({"messages": []}), "must be a non-empty list"),
    (json.dumps({"messages": [{"role": "system", "content": "Be nice."},
                              {"role": "assistant", "content": "Hello, how are you?"}]}), "no user turn"),
    (json.dumps({"prompt": "hi", "completion": 7}), "'completion' must be a string"),
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
    assert report.bad_by_reason == {rejects[0]["kind"]: 1}


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


def test_bad_lines_are_counted_by_kind_and_bytes_that_are_not_utf8_are_a_reason(
    tmp_path: Path, dataset: Path
) -> None:
    good = dataset.read_bytes().splitlines()
    bad = [b"\xff\xfe broken", json.dumps({"messages": [{"role": "bot", "content": "x"}]}).encode(),
           json.dumps({"messages": [{"content": "x"}]}).encode()]
    src = tmp_path / "mixed.jsonl"
    src.write_bytes(b"\n".join(good[:2] + bad + good[2:]) + b"\n")
    report = clean_dataset(src, tmp_path / "out", CleaningPolicy(max_bad_fraction=0.5))
    assert report.bad_by_reason == {"invalid-utf8": 1, "unknown-role": 1, "missing-role": 1}
    rejects = read(tmp_path / "out" / "rejects.jsonl")
    assert [(r["line"], r["kind"]) for r in rejects] == [
        (3, "invalid-utf8"), (4, "unknown-role"), (5, "missing-role")]
    assert report.examples == len(good) and report.lines_read == len(good) + 3


def test_the_error_lists_the_first_bad_lines(tmp_path: Path) -> None:
    lines = [chat("Q?", PLAIN_ANSWER)] + ["{oops"] * 8
    with pytest.raises(DatasetLinesError) as caught:
        clean_dataset(write(tmp_path / "b.jsonl", lines), tmp_path / "out", CleaningPolicy())
    assert [p.line for p in caught.value.problems] == [2, 3, 4, 5, 6]
    assert "8 of 9 lines are malformed" in str(caught.value)


def test_a_dataset_with_nothing_left_fails_but_keeps_its_report(tmp_path: Path) -> None:
    src = write(tmp_path / "m.jsonl", [chat(f"Q{i}?", META_ANSWER) for i in range(3)])
    with pytest.raises(DatasetError, match="no examples left after cleaning: 3 dropped"):
        clean_dataset(src, tmp_path / "out", CleaningPolicy(meta_language="drop-examples"))
    report = json.loads((tmp_path / "out" / "cleaning-report.json").read_text())
    assert report["examples_dropped_meta"] == 3 and report["train"] == 0


def test_extra_patterns_are_applied_and_bad_ones_refused(tmp_path: Path) -> None:
    src = write(tmp_path / "x.jsonl", [chat("Q?", "As requested, here it is. Paris is the capital."),
                                       chat("R?", PLAIN_ANSWER)])
    report = clean_dataset(src, tmp_path / "out",
                           CleaningPolicy(extra_patterns=[r"\bas requested\b"], dedupe=False))
    assert report.meta_examples == 1 and report.meta_sentences_removed == 1
    with pytest.raises(ValueError, match=r"extraPatterns\[0\]: invalid regular expression '\(unclosed'"):
        clean_dataset(src, tmp_path / "out2", CleaningPolicy(extra_patterns=["(unclosed"]))


def test_sample_changes_hold_at_most_ten(tmp_path: Path) -> None:
    lines = [chat(f"Q{i}?", f"Let me check the facts. The answer is {i} apples today.")
             for i in range(15)]
    report = clean_dataset(write(tmp_path / "s.jsonl", lines), tmp_path / "out", CleaningPolicy())
    assert len(report.sample_changes) == 10 and report.meta_sentences_removed == 15
    assert report.sample_changes[0]["after"] == "The answer is 0 apples today."


@pytest.mark.parametrize(("n", "fraction", "expected"), [
    (1000, 0.1, 100), (1000, 0.25, 250), (3, 0.1, 1), (2, 0.1, 1), (1, 0.1, 0), (10, 0.45, 4),
])
def test_split_sizes(n: int, fraction: float, expected: int) -> None:
    examples = [[{"role": "user", "content": f"q{i}"}] for i in range(n)]
    train, validation = split(examples, fraction, seed=3)
    assert len(validation) == expected and len(train) == n - expected
    assert sorted(map(str, train + validation)) == sorted(map(str, examples))


def test_the_same_seed_writes_the_same_files(tmp_path: Path, dataset: Path) -> None:
    clean_dataset(dataset, tmp_path / "a", CleaningPolicy(seed=5))
    clean_dataset(dataset, tmp_path / "b", CleaningPolicy(seed=5))
    for name in ("train.jsonl", "validation.jsonl", "cleaning-report.json"):
        a, b = (tmp_path / d / name for d in ("a", "b"))
        assert a.read_text().replace(str(tmp_path / "a"), "") == \
            b.read_text().replace(str(tmp_path / "b"), ""), name


@pytest.fixture(scope="module")
def cli():
    from molting_operator import cli as operator_cli

    if not any(c.name == "clean" or getattr(c.callback, "__name__", "") == "clean"
               for c in operator_cli.app.registered_commands):
        operator_cli._register_more()
    return operator_cli.app


def test_cli_prints_a_summary(tmp_path: Path, dataset: Path, cli) -> None:
    out = CliRunner().invoke(cli, ["clean", str(dataset), "--output-dir", str(tmp_path / "o"),
                                   "--validation-split", "0.2", "--seed", "7"])
    assert out.exit_code == 0, out.output
    assert "21 lines: 0 bad" in out.output and "10 with meta-language" in out.output
    assert "-> 17 train, 4 validation" in out.output  # 21 * 0.2 rounds to 4
    assert (tmp_path / "o" / "cleaning-report.json").is_file()


def test_cli_names_file_and_line_of_each_bad_line(tmp_path: Path, cli) -> None:
    src = write(tmp_path / "d.jsonl", [chat("Q?", PLAIN_ANSWER), "{oops", "[1]"])
    out = CliRunner().invoke(cli, ["clean", str(src), "-o", str(tmp_path / "o")])
    assert out.exit_code == 2
    assert f"error: {src}:2: invalid JSON" in out.output
    assert f"error: {src}:3: expected a JSON object, got list" in out.output
    assert "2 of 3 lines are malformed" in out.output


@pytest.mark.parametrize(("args", "message"), [
    (["--extra-pattern", "(bad"], "error: --extra-pattern: extraPatterns[0]: invalid regular expression '(bad'"),
    (["--policy", "shred"], "error: --policy"),
    (["--format", "csv"], "error: --format: 'csv' is not one of"),
    (["--extra-pattern", "x*"], "error: --extra-pattern: extraPatterns[0]: meta-language pattern 'x*' matches the empty string"),
    (["--meta-threshold", "1.5"], "error: --meta-threshold:"),
])
def test_cli_refuses_bad_options(tmp_path: Path, dataset: Path, cli, args: list[str],
                                 message: str) -> None:
    out = CliRunner().invoke(cli, ["clean", str(dataset), "-o", str(tmp_path / "o"), *args])
    assert out.exit_code == 2 and message in out.output


def test_cleaned_data_holds_no_meta_sentence_and_the_report_scores_each_removal(
        tmp_path: Path) -> None:
    """A dirty training set made of the held-out answers (meta sentences labelled by hand):
    after cleaning, no sentence the held-out labels call meta is left (the answers the
    detector filters exactly right), none the detector calls meta either, and
    cleaning-report.json lists each removed sentence with the detector's score."""
    from molting_workloads.language import MetaLanguage, split_sentences

    rows = [json.loads(line) for line in
            (ROOT / "tests" / "data" / "meta_heldout2_answers.jsonl").read_text().splitlines()]
    answers = [r for r in rows if not r["allMeta"]]
    # The hand labels: an answer's meta sentences are those its expected output leaves out.
    meta_by_hand = {s.text for r in answers for s in split_sentences(r["answer"])} - {
        s.text for r in answers for s in split_sentences(r["expected"])}
    src = write(tmp_path / "dirty.jsonl", [chat(f"Question {i}?", r["answer"])
                                           for i, r in enumerate(answers)])
    policy = CleaningPolicy()
    report = clean_dataset(src, tmp_path / "out", policy)
    cleaned = [m["content"] for name in ("train.jsonl", "validation.jsonl")
               for ex in read(tmp_path / "out" / name) for m in ex["messages"]
               if m["role"] == "assistant"]
    detector = MetaLanguage(threshold=policy.meta_threshold)
    assert not any(detector.contains(text) for text in cleaned)
    left = [s.text for text in cleaned for s in split_sentences(text) if s.text in meta_by_hand]
    assert len(left) <= 3, left  # the detector's misses on this set (docs/performance.md)
    on_disk = json.loads((tmp_path / "out" / "cleaning-report.json").read_text())
    assert on_disk["meta_threshold"] == policy.meta_threshold == 0.4
    listed = on_disk["removed_sentences"]
    assert sum(e["count"] for e in listed) == report.meta_sentences_removed \
        == len(meta_by_hand) - len(left)
    assert all(0.4 <= e["score"] <= 1.0 for e in listed)
    assert {e["sentence"] for e in listed} <= meta_by_hand  # nothing removed that was not meta
