"""Live canary analysis: judge the candidate's counters against thresholds and against stable,
and, when ``analysis.notWorse`` asks, with the not-worse test of ``contract.ab_stats``.

The combined verdict: any breach, or the test's Fail, is Failed; else too few requests, or the
test's Inconclusive, is Inconclusive (the step holds); else Passed.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import Enum

from molting_operator.api.spec import AnalysisThresholds, NotWorseMetric, NotWorseRule
from molting_workloads.contract.ab_stats import (
    Decision,
    NotWorseResult,
    not_worse_mean,
    not_worse_rate,
)
from molting_workloads.contract.live_stats import AppStats, Counters, RevisionStats


class Verdict(str, Enum):
    PASSED = "Passed"
    FAILED = "Failed"
    INCONCLUSIVE = "Inconclusive"


@dataclass(frozen=True)
class Analysis:
    verdict: Verdict
    reason: str
    not_worse: NotWorseResult | None = None


def _combined(counters: list[Counters]) -> Counters:
    """User and probe traffic together (probes make low-traffic canaries measurable)."""
    total = Counters()
    for c in counters:
        total.requests += c.requests
        total.errors += c.errors
        total.meta_hits += c.meta_hits
        total.filter_removals += c.filter_removals
    p99s = [c.latency_p99_ms for c in counters if c.latency_p99_ms is not None]
    total.latency_p99_ms = max(p99s) if p99s else None
    return total


def not_worse(rule: NotWorseRule, cand_stats: RevisionStats,
              base_stats: RevisionStats) -> NotWorseResult:
    """The not-worse test on two revisions' user counters, or their ratings."""
    bounds = {"margin": rule.margin, "confidence": rule.confidence,
              "min_samples": rule.min_samples, "max_samples": rule.max_samples}
    metric = rule.metric.value
    if rule.metric == NotWorseMetric.RATING:
        return not_worse_mean(metric, cand_stats.ratings.moments(), base_stats.ratings.moments(),
                              **bounds)
    cand, base = cand_stats.user, base_stats.user
    if rule.metric == NotWorseMetric.ERROR_RATE:
        return not_worse_rate(metric, cand.errors, cand.requests, base.errors, base.requests,
                              **bounds)
    # Meta-language is counted on answers (requests that did not fail).
    return not_worse_rate(metric, cand.meta_hits, cand.requests - cand.errors, base.meta_hits,
                          base.requests - base.errors, **bounds)


def analyse(
    stats: AppStats | None, candidate: str, stable: str | None, limits: AnalysisThresholds
) -> Analysis:
    """The thresholds' verdict, combined with the not-worse test's when the spec has one."""
    result = _thresholds(stats, candidate, stable, limits)
    rule = limits.not_worse
    if rule is None or result.verdict == Verdict.FAILED:
        return result
    cand = stats.of(candidate) if stats else None
    base = stats.of(stable) if stats and stable else None
    if cand is None or base is None:
        return Analysis(Verdict.INCONCLUSIVE, f"{result.reason}; not-worse: no live stats for "
                        "both revisions yet")
    test = not_worse(rule, cand, base)
    text = f"not-worse {test.decision.value}: {test.reason}"
    if test.decision == Decision.FAIL:
        return Analysis(Verdict.FAILED, text, test)
    if test.decision == Decision.INCONCLUSIVE:
        return Analysis(Verdict.INCONCLUSIVE, f"{result.reason}; {text}", test)
    return Analysis(result.verdict, f"{result.reason}; {text}", test)


def _thresholds(
    stats: AppStats | None, candidate: str, stable: str | None, limits: AnalysisThresholds
) -> Analysis:
    """Passed, Failed (a breach) or Inconclusive (too few requests, or no stats)."""
    if stats is None or stats.of(candidate) is None:
        return Analysis(Verdict.INCONCLUSIVE, f"no live stats for {candidate} yet")
    cand_stats = stats.of(candidate)
    cand = _combined([cand_stats.user, cand_stats.probe])
    if cand.requests < max(limits.min_requests, 1):
        return Analysis(
            Verdict.INCONCLUSIVE, f"{cand.requests} requests < {limits.min_requests} needed"
        )
    breaches = []
    if cand.requests and cand.error_rate > limits.max_error_rate:
        breaches.append(f"error rate {cand.error_rate:.2f} > {limits.max_error_rate}")
    if cand.latency_p99_ms is not None and cand.latency_p99_ms > limits.max_latency_p99_ms:
        breaches.append(f"p99 {cand.latency_p99_ms:.0f} ms > {limits.max_latency_p99_ms:.0f} ms")
    if cand.requests and cand.meta_rate > limits.max_meta_language_rate:
        breaches.append(
            f"raw meta-language rate {cand.meta_rate:.2f} > {limits.max_meta_language_rate}"
        )
    stable_stats = stats.of(stable) if stable else None
    if stable_stats is not None:
        base = _combined([stable_stats.user, stable_stats.probe])
        if base.requests and cand.requests:
            if cand.error_rate > base.error_rate + limits.max_regression:
                breaches.append(
                    f"error rate {cand.error_rate:.2f} worse than stable {base.error_rate:.2f}"
                )
            if cand.meta_rate > base.meta_rate + limits.max_regression:
                breaches.append(
                    f"meta-language {cand.meta_rate:.2f} worse than stable {base.meta_rate:.2f}"
                )
    if breaches:
        return Analysis(Verdict.FAILED, "; ".join(breaches))
    return Analysis(
        Verdict.PASSED,
        f"{cand.requests} requests, errors {cand.error_rate:.2f}, meta-language {cand.meta_rate:.2f}",
    )
