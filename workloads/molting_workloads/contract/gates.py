"""The gate decision: a pure function of the candidate's metrics, stable's, the policy and the
judge's rubric.

`molting eval --gates` prints it and the operator's planner calls it; both get the same verdicts.
A judge gate whose scores are missing (the judge timed out, errored or answered nonsense) is in
state Error: not passed, with the judge's error as its reason. With ``judge.advisory`` the judge's
gates are decided and shown the same way but marked advisory, and ``passed`` leaves them out.
"""

from __future__ import annotations

from molting_workloads.contract.judging import JudgePolicy, gate_name
from molting_workloads.contract.policies import GatePolicy
from molting_workloads.contract.summaries import EvalMetrics, GateVerdict

# Rates are fractions k/n, so a candidate exactly `tolerance` worse than stable is common, and
# float subtraction alone would call 0.35 "worse than 0.40 - 0.05" (that is 0.35000000000000003).
_EPS = 1e-9


def _upper(name: str, value: float, limit: float) -> GateVerdict:
    ok = value <= limit
    return GateVerdict(
        name=name, passed=ok, value=round(value, 4), threshold=f"<= {limit}",
        reason=f"{value:.3f} {'<=' if ok else '>'} {limit}",
    )


def decide(
    candidate: EvalMetrics,
    stable: EvalMetrics | None,
    policy: GatePolicy,
    judge: JudgePolicy | None = None,
) -> list[GateVerdict]:
    """One verdict per gate; the candidate passes when every verdict passed."""
    window = policy.answer_length
    in_window = window.min <= candidate.mean_length <= window.max
    verdicts = [
        _upper("metaLanguage", candidate.meta_language_rate, policy.max_meta_language_rate),
        GateVerdict(
            name="answerLength", passed=in_window, value=round(candidate.mean_length, 1),
            threshold=f"{window.min}-{window.max}",
            reason=f"mean {candidate.mean_length:.0f} chars "
            + ("inside" if in_window else "outside") + f" {window.min}-{window.max}",
        ),
        GateVerdict(
            name="relevance", passed=candidate.relevance >= policy.min_relevance,
            value=round(candidate.relevance, 4), threshold=f">= {policy.min_relevance}",
            reason=f"{candidate.relevance:.3f} "
            + (">=" if candidate.relevance >= policy.min_relevance else "<")
            + f" {policy.min_relevance}",
        ),
        _upper("emptyAnswers", candidate.empty_rate, policy.max_empty_rate),
        _upper("repetition", candidate.repetition, policy.max_repetition),
    ]
    if policy.no_regression and stable is not None:
        verdicts.append(_regression(candidate, stable, policy.regression_tolerance))
    if judge is not None:
        verdicts += judge_verdicts(candidate, judge)
    return verdicts


def judge_verdicts(candidate: EvalMetrics, judge: JudgePolicy) -> list[GateVerdict]:
    """One verdict per criterion: its mean score against its ``minScore``, or Error."""
    scores = candidate.judge
    out = []
    for c in judge.criteria:
        name, threshold = gate_name(c.name), f">= {c.min_score}"
        mean = None if scores is None or scores.error else scores.means.get(c.name)
        if mean is None:
            if scores is None:
                why = "no judge scores in the evaluation (it ran without a judge)"
            elif scores.error:
                why = f"judge {scores.model}: {scores.error}"
            else:
                why = f"judge {scores.model} gave no {c.name} score"
            out.append(GateVerdict(name=name, passed=False, threshold=threshold, state="Error",
                                   reason=why, advisory=judge.advisory))
            continue
        ok = mean >= c.min_score - _EPS
        out.append(GateVerdict(
            name=name, passed=ok, value=round(mean, 3), threshold=threshold,
            reason=f"mean {mean:.2f}/10 over {scores.n} answers {'>=' if ok else '<'} {c.min_score}",
            advisory=judge.advisory,
        ))
    return out


def _regression(candidate: EvalMetrics, stable: EvalMetrics, tol: float) -> GateVerdict:
    worse = []
    if candidate.meta_language_rate - stable.meta_language_rate > tol + _EPS:
        worse.append(f"meta-language {candidate.meta_language_rate:.2f} vs {stable.meta_language_rate:.2f}")
    if stable.relevance - candidate.relevance > tol + _EPS:
        worse.append(f"relevance {candidate.relevance:.2f} vs {stable.relevance:.2f}")
    if candidate.empty_rate - stable.empty_rate > tol + _EPS:
        worse.append(f"empty answers {candidate.empty_rate:.2f} vs {stable.empty_rate:.2f}")
    if stable.in_window_rate - candidate.in_window_rate > tol + _EPS:
        worse.append(f"in-window {candidate.in_window_rate:.2f} vs {stable.in_window_rate:.2f}")
    if candidate.repetition - stable.repetition > tol + _EPS:
        worse.append(f"repetition {candidate.repetition:.2f} vs {stable.repetition:.2f}")
    return GateVerdict(
        name="noRegression", passed=not worse, threshold=f"tolerance {tol}",
        reason="not worse than stable" if not worse else "worse than stable: " + "; ".join(worse),
    )


def passed(verdicts: list[GateVerdict]) -> bool:
    """Every gate that counts passed (advisory ones are shown, not counted)."""
    return all(v.passed or v.advisory for v in verdicts)
