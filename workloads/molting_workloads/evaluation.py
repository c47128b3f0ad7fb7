"""`molting eval`: answer the evaluation questions with the candidate (and stable) adapter, score
the answers (and, with a judge, have the judge model score the candidate's), decide the gates, and
write eval-report.json, eval-report.html and the summary.

Inputs are checked before any model loads, so bad input fails in about a second.
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError
from pydantic.alias_generators import to_camel

from molting_workloads.contract.errors import Problem, SpecError
from molting_workloads.contract.gates import decide, passed
from molting_workloads.contract.layout import EVAL_REPORT_HTML, EVAL_REPORT_JSON, TRAIN_REPORT
from molting_workloads.contract.questions import question_of
from molting_workloads.contract.requests import EvalRequest
from molting_workloads.contract.summaries import (
    TERMINATION_LOG,
    EvalSummary,
    GateVerdict,
    termination_text,
    write_termination,
)

log = logging.getLogger(__name__)

REPORT_JSON = EVAL_REPORT_JSON
REPORT_HTML = EVAL_REPORT_HTML
CANDIDATE, STABLE = "candidate", "stable"
GENERATION_SEED = 0
_GENERATE_BATCH = 32


@dataclass(frozen=True)
class Question:
    line: int  # 1-based line in the questions file
    text: str
    id: str | None = None  # the line's optional "id", as a string


# ---------------------------------------------------------------- inputs


def problems_from(error: ValidationError, prefix: str = "") -> list[Problem]:
    """pydantic errors as Problems with a dotted camelCase path."""
    out = []
    for err in error.errors():
        path = ".".join(to_camel(p) if isinstance(p, str) else str(p) for p in err["loc"])
        path = path or "(request)"
        reason = "unknown field" if err["type"] == "extra_forbidden" else err["msg"]
        out.append(Problem(prefix + path, reason.removeprefix("Value error, ")))
    return out


def build_request(
    file: str | Path | None, overrides: dict[str, Any], gate_overrides: dict[str, Any]
) -> EvalRequest:
    """The request file (JSON or YAML) if any, then every override that is not None.

    ``overrides`` use EvalRequest's field names; ``gate_overrides`` GatePolicy's (with
    ``answer_length_min``/``answer_length_max`` for the window).
    """
    data: dict[str, Any] = {}
    if file is not None:
        data = _read_request_file(Path(file))
    data = {_snake(k): v for k, v in data.items()}
    data.update({k: v for k, v in overrides.items() if v is not None})
    gates = {_snake(k): v for k, v in (data.get("gates") or {}).items()}
    window = {_snake(k): v for k, v in (gates.get("answer_length") or {}).items()}
    for key, value in gate_overrides.items():
        if value is None:
            continue
        if key.startswith("answer_length_"):
            window[key.removeprefix("answer_length_")] = value
        else:
            gates[key] = value
    if window:
        gates["answer_length"] = window
    data["gates"] = gates
    if not data.get("revision") and data.get("adapter"):
        data["revision"] = Path(str(data["adapter"])).name
    try:
        return EvalRequest.model_validate(data)
    except ValidationError as error:
        raise SpecError(problems_from(error), str(file or "eval flags")) from None


def _snake(key: str) -> str:
    return "".join(f"_{c.lower()}" if c.isupper() else c for c in key)


def _read_request_file(path: Path) -> dict:
    if not path.is_file():
        raise SpecError([Problem("(file)", "no such file")], str(path))
    try:
        data = yaml.safe_load(path.read_text())
    except yaml.YAMLError as error:
        mark = getattr(error, "problem_mark", None)
        line = mark.line + 1 if mark else None
        raise SpecError([Problem("(yaml)", str(error).splitlines()[0], line)], str(path)) from None
    if not isinstance(data, dict):
        raise SpecError([Problem("(document)", "expected a mapping of EvalRequest fields")], str(path))
    return data


def read_questions(path: str | Path) -> list[Question]:
    """Every question of a JSONL file (see contract.questions); SpecError lists each bad line.

    Blank lines are skipped; other keys (an ``id``, a reference answer) are allowed.
    """
    path = Path(path)
    if not path.is_file():
        raise SpecError([Problem("questions", f"{path}: no such file")])
    questions, problems = [], []
    for number, raw in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            row = json.loads(raw)
        except json.JSONDecodeError as error:
            problems.append(Problem("(json)", f"invalid JSON: {error.msg}", number))
            continue
        text = row.get("question") if isinstance(row, dict) else None
        if not isinstance(row, dict):
            problems.append(Problem("(line)", "expected an object like {\"question\": ...}", number))
        elif "question" not in row and question_of(row):  # a chat or prompt line: its user turn
            questions.append(Question(number, question_of(row), None))
        elif "question" not in row:
            problems.append(Problem("question", "missing (or a chat `messages` line with a user "
                                    "turn, or a `prompt`)", number))
        elif not isinstance(text, str):
            problems.append(Problem("question", f"must be a string, got {type(text).__name__}", number))
        elif not text.strip():
            problems.append(Problem("question", "empty", number))
        else:
            ident = row.get("id")
            questions.append(Question(number, text.strip(), None if ident is None else str(ident)))
    if not problems and not questions:
        problems.append(Problem("(file)", "no questions (the file is empty)"))
    if problems:
        raise SpecError(problems, str(path))
    return questions


def check_request(request: EvalRequest) -> list[Question]:
    """Every problem with the request's paths at once; the questions when there is none."""
    problems = _adapter_problems("adapter", request.adapter)
    if request.stable_adapter:
        problems += _adapter_problems("stableAdapter", request.stable_adapter)
    base = Path(request.base_model).expanduser()
    looks_local = base.exists() or request.base_model.startswith(("/", ".", "~"))
    if looks_local and not base.is_dir():
        problems.append(Problem("baseModel", f"{base}: no such folder"))
    if request.train_report and not Path(request.train_report).is_file():
        problems.append(Problem("trainReport", f"{request.train_report}: no such file"))
    if problems:
        raise SpecError(problems)
    _warn_other_base(request)
    return read_questions(request.questions)


def _warn_other_base(request: EvalRequest) -> None:
    """Say so when an adapter was trained on another base (paths differ across mounts, so this
    only warns): on the wrong base a LoRA loads without error and answers nonsense."""
    for path in filter(None, (request.adapter, request.stable_adapter)):
        try:
            config = json.loads((Path(path) / "adapter_config.json").read_text())
        except (OSError, json.JSONDecodeError):
            continue
        trained_on = config.get("base_model_name_or_path") if isinstance(config, dict) else None
        if trained_on and Path(trained_on).name != Path(request.base_model).name:
            log.warning("adapter %s was trained on %s, evaluated on %s",
                        path, trained_on, request.base_model)


def _adapter_problems(name: str, path: str) -> list[Problem]:
    folder = Path(path)
    if not folder.is_dir():
        return [Problem(name, f"{path}: no such folder")]
    if not (folder / "adapter_config.json").is_file():
        return [Problem(name, f"{path}: no adapter_config.json (not a LoRA adapter folder)")]
    return []


def read_loss_curve(request: EvalRequest) -> tuple[list[dict], str | None]:
    """The training loss curve ({step, loss} points) and where it came from.

    An explicit ``trainReport`` that cannot be read is an error; otherwise train-report.json is
    looked for beside the adapter and skipped when absent or unreadable.
    """
    if request.train_report:
        return _loss_points(Path(request.train_report), strict=True), request.train_report
    adapter = Path(request.adapter)
    for candidate in (adapter / TRAIN_REPORT, adapter.parent / TRAIN_REPORT):
        if candidate.is_file():
            return _loss_points(candidate, strict=False), str(candidate)
    return [], None


def _loss_points(path: Path, *, strict: bool) -> list[dict]:
    try:
        data = json.loads(path.read_text())
    except (OSError, json.JSONDecodeError) as error:
        if strict:
            raise SpecError([Problem("trainReport", f"{path}: unreadable ({error})")]) from None
        log.warning("ignoring %s: %s", path, error)
        return []
    curve = (data.get("lossCurve") or data.get("loss_curve") or []) if isinstance(data, dict) else []
    points = []
    for p in curve if isinstance(curve, list) else []:
        if isinstance(p, dict) and _is_number(p.get("step")) and _is_number(p.get("loss")):
            points.append({"step": p["step"], "loss": float(p["loss"])})
    return points


def _is_number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


# ---------------------------------------------------------------- the run


@dataclass
class EvalOutcome:
    summary: EvalSummary
    report: dict
    json_path: Path
    html_path: Path
    verdicts: list[GateVerdict] = field(default_factory=list)


def run_eval(
    request: EvalRequest,
    *,
    relevance_backend: str = "auto",
    device: str | None = None,
    termination_log: Path = TERMINATION_LOG,
) -> EvalOutcome:
    """Check, generate, score, gate and write the reports (see the module docstring)."""
    started = time.perf_counter()
    questions = check_request(request)
    loss_curve, loss_source = read_loss_curve(request)
    from molting_workloads import report as html_report
    from molting_workloads.language import MetaLanguage
    from molting_workloads.relevance import load_scorer

    timings: dict[str, float] = {}
    answers = _generate_answers(request, questions, device, timings)
    clock = time.perf_counter()
    scorer = load_scorer(relevance_backend)
    meta = MetaLanguage(request.extra_patterns, threshold=request.meta_threshold,
                        builtin=request.builtin_detector)
    scored = {who: _score(request, questions, got, scorer, meta) for who, got in answers.items()}
    timings["relevanceAndMetricsS"] = time.perf_counter() - clock
    metrics = {who: rows_metrics for who, (_, rows_metrics) in scored.items()}
    out = Path(request.output_dir)
    out.mkdir(parents=True, exist_ok=True)
    judged = None
    if request.judge is not None:
        clock = time.perf_counter()
        judged = _judge(request, questions, answers[CANDIDATE], out)
        metrics[CANDIDATE] = metrics[CANDIDATE].model_copy(update={"judge": judged.scores})
        timings["judgeS"] = time.perf_counter() - clock
    verdicts = decide(metrics[CANDIDATE], metrics.get(STABLE), request.gates, request.judge)
    json_path, html_path = out / REPORT_JSON, out / REPORT_HTML
    summary = EvalSummary(
        revision=request.revision, ok=True, passed=passed(verdicts), metrics=metrics[CANDIDATE],
        stable_metrics=metrics.get(STABLE), gates=verdicts, report=str(json_path),
    )
    timings["totalS"] = time.perf_counter() - started
    report = _report(request, questions, answers, scored, verdicts, summary, meta)
    if judged is not None:
        report["judge"] = _judge_report(request, judged)
        for row, judge_row in zip(report["questions"], judged.rows, strict=True):
            row[CANDIDATE]["judge"] = judge_row
    report |= {"relevance": scorer.info.to_wire(), "lossCurve": loss_curve,
               "trainReport": loss_source, "timings": {k: round(v, 3) for k, v in timings.items()}}
    json_path.write_text(json.dumps(report, indent=2, ensure_ascii=False) + "\n")
    html_path.write_text(html_report.render_html(report), encoding="utf-8")
    if write_termination(summary, termination_log):
        log.info("wrote the summary to %s", termination_log)
    return EvalOutcome(summary, report, json_path, html_path, verdicts)


def _judge(request: EvalRequest, questions: Sequence[Question], answers: list[str], out: Path):
    from molting_workloads.contract.layout import JUDGE_CACHE_DIR
    from molting_workloads.judge import judge_answers

    assert request.judge is not None
    cache = Path(request.judge_cache_dir) if request.judge_cache_dir else out / JUDGE_CACHE_DIR
    judged = judge_answers(request.judge, [q.text for q in questions], answers, cache)
    if judged.scores.error:
        log.warning("the judge gave no scores: %s", judged.scores.error)
    else:
        log.info("judge %s scored %d answers (%d from the cache)", request.judge.model,
                 judged.scores.n, judged.scores.cached)
    return judged


def _judge_report(request: EvalRequest, judged) -> dict:
    assert request.judge is not None
    return {"url": request.judge.url, "model": request.judge.model,
            "criteria": [c.to_wire() for c in request.judge.criteria],
            **judged.scores.to_wire()}


def _generate_answers(
    request: EvalRequest, questions: Sequence[Question], device: str | None, timings: dict
) -> dict[str, list[str]]:
    from molting_workloads.model_loading import generate, load_with_adapters

    adapters = {CANDIDATE: request.adapter}
    if request.stable_adapter:
        adapters[STABLE] = request.stable_adapter
    clock = time.perf_counter()
    model, tokenizer = load_with_adapters(
        request.base_model, adapters, revision=request.base_model_revision, device=device
    )
    timings["loadS"] = time.perf_counter() - clock
    conversations = [[{"role": "user", "content": q.text}] for q in questions]
    answers = {}
    for name in adapters:
        clock = time.perf_counter()
        answers[name] = []
        for start in range(0, len(conversations), _GENERATE_BATCH):
            answers[name] += generate(
                model, tokenizer, conversations[start : start + _GENERATE_BATCH],
                max_new_tokens=request.max_new_tokens, temperature=0.0, adapter=name,
                seed=GENERATION_SEED,
            )
        timings[f"generate{name.title()}S"] = time.perf_counter() - clock
        log.info("%s answered %d questions", name, len(answers[name]))
    return answers


def _score(request, questions, answers, scorer, meta):
    from molting_workloads.metrics import aggregate, measure_answer
    from molting_workloads.relevance import score_pairs

    relevance = score_pairs(scorer, [q.text for q in questions], answers)
    rows = [
        measure_answer(a, relevance=r, window=request.gates.answer_length, meta=meta)
        for a, r in zip(answers, relevance, strict=True)
    ]
    return rows, aggregate(rows)


def _report(request, questions, answers, scored, verdicts, summary, meta) -> dict:
    per_question = []
    for i, q in enumerate(questions):
        row: dict[str, Any] = {"index": i + 1, "line": q.line, "id": q.id, "question": q.text}
        for who, (rows, _) in scored.items():
            text = answers[who][i]
            row[who] = {"answer": text, **rows[i].to_wire(), "metaSpans": meta_spans(meta, text)}
        per_question.append(row)
    return {
        "kind": "eval-report",
        "revision": request.revision,
        "stableRevision": request.stable_revision,
        "baseModel": request.base_model,
        "adapter": request.adapter,
        "stableAdapter": request.stable_adapter,
        "questionsFile": request.questions,
        "generation": {"maxNewTokens": request.max_new_tokens, "greedy": True,
                       "seed": GENERATION_SEED},
        "policy": request.gates.to_wire(),
        "metrics": {who: m.to_wire() for who, (_, m) in scored.items()},
        "passed": summary.passed,
        "gates": [v.to_wire() for v in verdicts],
        "questions": per_question,
        "summary": summary.to_wire(),
        "terminationMessage": termination_text(summary),
    }


def meta_spans(meta, text: str) -> list[dict]:
    """Each meta-language sentence of ``text`` as {start, end, text, matches, score}: the whole
    sentence (what the filter and the cleaner remove), what flagged it (a user pattern's
    match, or the whole sentence for the classifier) and the detector's score."""
    from molting_workloads.language import split_sentences

    hits = meta.find(text)
    spans = []
    for sent in split_sentences(text):
        found = [h for h in hits if sent.start <= h.start < sent.end]
        if found:
            spans.append({"start": sent.start, "end": sent.end, "text": sent.text,
                          "matches": [text[h.start : h.end] for h in found],
                          "score": max(h.score for h in found)})
    return spans


# ---------------------------------------------------------------- printing


def format_verdicts(verdicts: Sequence[GateVerdict]) -> list[str]:
    """One ✓/✗ line per gate, then the overall result."""
    lines = [f"{'✓' if v.passed else '!' if v.state == 'Error' else '✗'} {v.name:<13} "
             f"{'Error: ' if v.state == 'Error' else ''}{v.reason}"
             f"{' (advisory)' if v.advisory else ''}" for v in verdicts]
    failed = [v.name for v in verdicts if not (v.passed or v.advisory)]
    lines.append("gates passed" if not failed else f"gates failed: {', '.join(failed)}")
    return lines


def failure_summary(revision: str, error: Exception) -> EvalSummary:
    """The summary of a run that could not evaluate (bad input, a model that does not load)."""
    return EvalSummary(revision=revision or "unknown", ok=False, error=str(error)[:2000])

