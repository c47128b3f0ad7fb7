"""Evaluation questions: a question line, a chat line's last user turn or a prompt — so the
cleaned validation split serves as questions when the spec names none."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from molting_workloads.contract.errors import SpecError
from molting_workloads.contract.questions import question_of, questions_in
from molting_workloads.evaluation import read_questions


@pytest.mark.parametrize(("row", "expected"), [
    ({"question": " Why? "}, "Why?"),
    ({"messages": [{"role": "system", "content": "Be kind."}, {"role": "user", "content": "A?"},
                   {"role": "assistant", "content": "a"}, {"role": "user", "content": "B?"}]}, "B?"),
    ({"prompt": "P?", "completion": "p"}, "P?"),
    ({"messages": [{"role": "assistant", "content": "no user"}]}, None),
    ({"question": 3}, None),
    (["not", "a", "row"], None),
])
def test_question_of(row: object, expected: str | None) -> None:
    assert question_of(row) == expected


def test_a_cleaned_validation_split_reads_as_questions(tmp_path: Path) -> None:
    split = tmp_path / "validation.jsonl"
    split.write_text("\n".join(json.dumps({"messages": [{"role": "user", "content": f"Q{i}?"},
                                                        {"role": "assistant", "content": "A."}]})
                               for i in range(3)) + "\n")
    assert [q.text for q in read_questions(split)] == ["Q0?", "Q1?", "Q2?"]
    assert questions_in(split) == ["Q0?", "Q1?", "Q2?"]


def test_lines_without_a_question_are_reported_with_their_number(tmp_path: Path) -> None:
    bad = tmp_path / "q.jsonl"
    bad.write_text('{"question": "fine?"}\n{"answer": "no question"}\n')
    with pytest.raises(SpecError) as caught:
        read_questions(bad)
    assert caught.value.problems[0].line == 2
    assert questions_in(bad) == ["fine?"]
