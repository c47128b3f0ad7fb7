"""A/B statistics for two revisions: confidence intervals and the "not worse" test. Stdlib only.

Both sides use it: the canary analysis (operator) judges a candidate against stable with
``not_worse_rate`` / ``not_worse_mean``, and the eval report shows ``wilson`` intervals.

The rule, for a candidate C against stable S, a margin ``d`` and a confidence ``c`` (one-sided,
``z`` = the standard normal quantile of ``c``; 1.645 for 0.95):

- Either side has fewer than ``min_samples`` observations: **Inconclusive** (need more data).
- Rates where lower is better (error rate, meta-language rate): the difference is
  ``C - S``, bounded by Newcombe's hybrid score interval (method 10: the two one-sided Wilson
  bounds at ``z`` combined). **Pass** when its upper bound is below ``d`` (C is not worse than
  S by ``d`` or more, with confidence ``c``); **Fail** when its lower bound is at least ``d``
  (C is worse by at least ``d``, with confidence ``c``).
- Means where higher is better (ratings 1..5): the difference is ``C - S`` with a Welch
  standard error and the normal approximation (z, not t: with ``min_samples`` of 30 or more
  the two differ by under 5 %). Each side's variance is at least ``p (1 - p)`` with
  ``p = 1 / (n + 2)`` (one rating in n + 2 a star away), so unanimous ratings still leave an
  interval. **Pass** when its lower bound is above ``-d``; **Fail** when
  its upper bound is at most ``-d``.
- Otherwise **Inconclusive**; once both sides have ``max_samples`` it is **Fail**: the candidate
  was not shown to be not worse with that much data (the test is not allowed to wait forever).
"""

from __future__ import annotations

import math
from enum import Enum
from statistics import NormalDist

from pydantic import Field

from molting_workloads.contract.base import WireModel


class Decision(str, Enum):
    PASS = "Pass"
    FAIL = "Fail"
    INCONCLUSIVE = "Inconclusive"


class Estimate(WireModel):
    """One revision's figure: ``n`` observations, the value and its two-sided interval."""

    n: int = Field(0, ge=0, description="Observations (answers, requests or ratings).")
    value: float | None = Field(None, description="The rate or mean; none without observations.")
    low: float | None = Field(None, description="Lower end of the confidence interval.")
    high: float | None = Field(None, description="Upper end of the confidence interval.")


class NotWorseResult(WireModel):
    """The verdict of the not-worse test, with the numbers it came from."""

    metric: str = Field(..., description="metaLanguage, errorRate or rating.")
    decision: Decision = Field(..., description="Pass, Fail or Inconclusive.")
    reason: str = Field("", description="The decision in words, with the numbers.")
    margin: float = Field(..., description="How much worse the candidate may be.")
    confidence: float = Field(..., description="One-sided confidence of the bound.")
    candidate: Estimate = Field(default_factory=Estimate, description="The candidate's figure.")
    stable: Estimate = Field(default_factory=Estimate, description="Stable's figure.")
    difference: float | None = Field(None, description="candidate - stable.")
    difference_low: float | None = Field(None, description="Lower bound of the difference.")
    difference_high: float | None = Field(None, description="Upper bound of the difference.")


def z_of(confidence: float, two_sided: bool = False) -> float:
    """The normal quantile for a confidence level (one-sided unless ``two_sided``)."""
    if not 0.5 < confidence < 1.0:
        raise ValueError(f"confidence must be in (0.5, 1), got {confidence}")
    return NormalDist().inv_cdf((1 + confidence) / 2 if two_sided else confidence)


def wilson_z(k: int, n: int, z: float) -> tuple[float, float]:
    """The Wilson score interval of ``k`` successes in ``n`` at quantile ``z``; (0, 1) if n is 0."""
    if not 0 <= k <= n:
        raise ValueError(f"need 0 <= k <= n, got k={k}, n={n}")
    if n == 0:
        return 0.0, 1.0
    p = k / n
    denominator = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / denominator
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / denominator
    # Exact at the ends (k = 0 gives 0, k = n gives 1), not a rounding error away.
    return (0.0 if k == 0 else max(0.0, centre - half)), (1.0 if k == n else min(1.0, centre + half))


def wilson(k: int, n: int, confidence: float = 0.95) -> Estimate:
    """A rate with its two-sided Wilson interval at ``confidence``."""
    low, high = wilson_z(k, n, z_of(confidence, two_sided=True))
    return Estimate(n=n, value=k / n if n else None, low=low, high=high)


RATING_SCALE = (1.0, 5.0)  # a score of POST /v1/feedback, in whole stars


def mean_estimate(n: int, total: float, squares: float, confidence: float = 0.95) -> Estimate:
    """A mean rating from its count, sum and sum of squares, with a two-sided normal interval
    (kept inside the rating scale)."""
    if n == 0:
        return Estimate()
    mean = total / n
    if n < 2:
        return Estimate(n=n, value=mean)
    half = z_of(confidence, two_sided=True) * math.sqrt(_variance(n, total, squares) / n)
    low, high = RATING_SCALE
    return Estimate(n=n, value=mean, low=max(low, mean - half), high=min(high, mean + half))


def _variance(n: int, total: float, squares: float) -> float:
    """The sample variance (n - 1), but at least that of a sample where one rating in n + 2 is a
    star away from the rest: n equal ratings say little about the next one (Laplace's rule of
    succession), and a variance of 0 would make any two such samples look certain."""
    sample = max(0.0, (squares - total * total / n) / (n - 1))
    p = 1.0 / (n + 2)
    return max(sample, p * (1.0 - p))


def _decide(n: int, max_samples: int, *, pass_if: bool, fail_if: bool) -> tuple[Decision, str]:
    if pass_if:
        return Decision.PASS, "not worse"
    if fail_if:
        return Decision.FAIL, "worse by at least the margin"
    if n >= max_samples:
        return Decision.FAIL, f"not shown not worse after {max_samples} samples on each side"
    return Decision.INCONCLUSIVE, "not shown either way yet"


def not_worse_rate(metric: str, cand_k: int, cand_n: int, stable_k: int, stable_n: int, *,
                   margin: float, confidence: float, min_samples: int,
                   max_samples: int) -> NotWorseResult:
    """Whether the candidate's rate (lower is better) is not worse than stable's by ``margin``."""
    result = NotWorseResult(metric=metric, decision=Decision.INCONCLUSIVE, margin=margin,
                            confidence=confidence, candidate=wilson(cand_k, cand_n, confidence),
                            stable=wilson(stable_k, stable_n, confidence))
    if min(cand_n, stable_n) < min_samples:
        result.reason = (f"need {min_samples} samples on each side "
                         f"(candidate {cand_n}, stable {stable_n})")
        return result
    z = z_of(confidence)
    pc, ps = cand_k / cand_n, stable_k / stable_n
    lc, uc = wilson_z(cand_k, cand_n, z)
    ls, us = wilson_z(stable_k, stable_n, z)
    diff = pc - ps
    low = diff - math.sqrt((pc - lc) ** 2 + (us - ps) ** 2)
    high = diff + math.sqrt((uc - pc) ** 2 + (ps - ls) ** 2)
    decision, why = _decide(min(cand_n, stable_n), max_samples,
                            pass_if=high < margin, fail_if=low >= margin)
    result.decision, result.difference = decision, diff
    result.difference_low, result.difference_high = low, high
    result.reason = (f"{why}: {metric} {pc:.3f} vs stable {ps:.3f}, difference {diff:+.3f} "
                     f"(one-sided {confidence:.0%} bounds {low:+.3f}..{high:+.3f}; "
                     f"margin {margin})")
    return result


def not_worse_mean(metric: str, cand: tuple[int, float, float], stable: tuple[int, float, float],
                   *, margin: float, confidence: float, min_samples: int,
                   max_samples: int) -> NotWorseResult:
    """Whether the candidate's mean (higher is better) is not below stable's by ``margin``.
    Each side is (count, sum, sum of squares)."""
    result = NotWorseResult(metric=metric, decision=Decision.INCONCLUSIVE, margin=margin,
                            confidence=confidence, candidate=mean_estimate(*cand, confidence),
                            stable=mean_estimate(*stable, confidence))
    (nc, sc, qc), (ns, ss, qs) = cand, stable
    if min(nc, ns) < max(min_samples, 2):
        result.reason = (f"need {max(min_samples, 2)} {metric}s on each side "
                         f"(candidate {nc}, stable {ns})")
        return result
    z = z_of(confidence)
    diff = sc / nc - ss / ns
    se = math.sqrt(_variance(nc, sc, qc) / nc + _variance(ns, ss, qs) / ns)
    low, high = diff - z * se, diff + z * se
    decision, why = _decide(min(nc, ns), max_samples,
                            pass_if=low > -margin, fail_if=high <= -margin)
    result.decision, result.difference = decision, diff
    result.difference_low, result.difference_high = low, high
    result.reason = (f"{why}: {metric} {sc / nc:.2f} vs stable {ss / ns:.2f}, difference "
                     f"{diff:+.2f} (one-sided {confidence:.0%} bounds {low:+.2f}..{high:+.2f}; "
                     f"margin {margin})")
    return result
