"""The A/B statistics (contract.ab_stats) on synthetic data with known answers."""

from __future__ import annotations

import math

import pytest
from hypothesis import given
from hypothesis import strategies as st

from molting_workloads.contract.ab_stats import (
    Decision,
    mean_estimate,
    not_worse_mean,
    not_worse_rate,
    wilson,
    wilson_z,
    z_of,
)

RULE = {"margin": 0.05, "confidence": 0.95, "min_samples": 30, "max_samples": 100_000}


def test_wilson_intervals_match_hand_computed_values() -> None:
    # 0 of 10: the upper end is z^2 / (n + z^2) = 3.8415 / 13.8415.
    none = wilson(0, 10)
    assert none.value == 0.0 and none.low == 0.0
    assert none.high == pytest.approx(3.841459 / 13.841459, abs=1e-6)
    # 50 of 100: centred on 0.5, half-width 1.96 sqrt(0.0025 + 1.96^2/40000) / (1 + 1.96^2/100).
    half = wilson(50, 100)
    assert (half.low, half.high) == pytest.approx((0.403832, 0.596168), abs=1e-6)
    # 5 of 20, as tabulated (Newcombe 1998): 0.1119 to 0.4687.
    assert (wilson(5, 20).low, wilson(5, 20).high) == pytest.approx((0.1119, 0.4687), abs=1e-4)
    assert wilson(10, 10).high == 1.0
    assert wilson(0, 0).value is None and (wilson(0, 0).low, wilson(0, 0).high) == (0.0, 1.0)


def test_the_difference_bounds_match_newcombes_method_10() -> None:
    # Newcombe (1998), Table II: 56/70 vs 48/80 gives 0.0524 to 0.3339; 9/10 vs 3/10 gives
    # 0.1705 to 0.8090 (two-sided 95 %, i.e. one-sided 97.5 % on each end).
    wide = {"margin": 0.9, "confidence": 0.975, "min_samples": 1, "max_samples": 10**6}
    a = not_worse_rate("m", 56, 70, 48, 80, **wide)
    assert (a.difference_low, a.difference_high) == pytest.approx((0.0524, 0.3339), abs=1e-4)
    e = not_worse_rate("m", 9, 10, 3, 10, **wide)
    assert (e.difference_low, e.difference_high) == pytest.approx((0.1705, 0.8090), abs=1e-4)


def test_z_is_one_sided_unless_asked() -> None:
    assert z_of(0.95) == pytest.approx(1.644854, abs=1e-6)
    assert z_of(0.95, two_sided=True) == pytest.approx(1.959964, abs=1e-6)
    with pytest.raises(ValueError, match="confidence"):
        z_of(0.4)


def test_equal_rates_with_plenty_of_data_pass() -> None:
    result = not_worse_rate("metaLanguage", 20, 1000, 20, 1000, **RULE)
    assert result.decision == Decision.PASS
    assert result.difference == 0.0 and result.difference_high < 0.05
    assert "not worse" in result.reason and "0.020" in result.reason


def test_a_clearly_worse_rate_fails() -> None:
    result = not_worse_rate("errorRate", 300, 1000, 20, 1000, **RULE)
    assert result.decision == Decision.FAIL
    assert result.difference_low >= 0.05


def test_small_samples_are_inconclusive_then_the_same_rates_decide() -> None:
    few = not_worse_rate("metaLanguage", 1, 20, 1, 20, **RULE)
    assert few.decision == Decision.INCONCLUSIVE and "need 30 samples" in few.reason
    # Enough samples, but too few to bound the difference below 0.05 either way.
    some = not_worse_rate("metaLanguage", 3, 40, 3, 40, **RULE)
    assert some.decision == Decision.INCONCLUSIVE and some.difference_high > 0.05
    assert not_worse_rate("metaLanguage", 75, 1000, 75, 1000, **RULE).decision == Decision.PASS


def test_undecided_at_max_samples_fails() -> None:
    rule = RULE | {"max_samples": 200}
    # A candidate exactly one margin worse never passes and never confidently fails.
    result = not_worse_rate("metaLanguage", 30, 200, 20, 200, **rule)
    assert result.decision == Decision.FAIL and "after 200 samples" in result.reason
    assert not_worse_rate("metaLanguage", 30, 199, 20, 199, **rule).decision == Decision.INCONCLUSIVE


def _moments(values: list[float]) -> tuple[int, float, float]:
    return len(values), float(sum(values)), float(sum(v * v for v in values))


def test_means_pass_fail_and_wait() -> None:
    rule = RULE | {"margin": 0.25}
    good = _moments([4, 5] * 50)
    assert not_worse_mean("rating", good, good, **rule).decision == Decision.PASS
    bad = _moments([2, 3] * 50)
    assert not_worse_mean("rating", bad, good, **rule).decision == Decision.FAIL
    few = not_worse_mean("rating", _moments([4, 5] * 5), good, **rule)
    assert few.decision == Decision.INCONCLUSIVE and "need 30 ratings" in few.reason
    none = not_worse_mean("rating", (0, 0.0, 0.0), (0, 0.0, 0.0), **rule)
    assert none.decision == Decision.INCONCLUSIVE and none.candidate.value is None


def test_the_mean_bound_is_welch_with_z() -> None:
    cand, stable = _moments([3, 4, 5] * 20), _moments([4, 5] * 30)
    result = not_worse_mean("rating", cand, stable, **RULE | {"margin": 1.0})
    se = math.sqrt(2 / 3 * 60 / 59 / 60 + 0.25 * 60 / 59 / 60)
    assert result.difference == pytest.approx(-0.5)
    assert result.difference_low == pytest.approx(-0.5 - 1.644854 * se, abs=1e-6)
    estimate = mean_estimate(*cand)
    assert estimate.value == 4.0 and estimate.low < 4.0 < estimate.high


def test_unanimous_ratings_still_leave_an_interval() -> None:
    # Two 5s on each side used to be "certainly not worse" (both variances 0).
    two = _moments([5, 5])
    tiny = not_worse_mean("rating", two, two, **RULE | {"margin": 0.05, "min_samples": 2})
    assert tiny.decision == Decision.INCONCLUSIVE and tiny.difference_low < -0.05
    # 23 unanimous 5s: the floor is one rating in 25 a star away; the interval stays in 1..5.
    estimate = mean_estimate(*_moments([5] * 23))
    half = 1.959964 * math.sqrt((1 / 25) * (24 / 25) / 23)
    assert estimate.high == 5.0 and estimate.low == pytest.approx(5 - half, abs=1e-6)
    # With real spread the floor does not bind (the Welch test above is unchanged).
    assert mean_estimate(*_moments([3, 4, 5] * 20)).high < 5.0


@given(st.integers(0, 500).flatmap(lambda n: st.tuples(st.integers(0, n), st.just(n))),
       st.floats(0.51, 0.999))
def test_wilson_contains_the_estimate_and_stays_in_0_1(kn: tuple[int, int], confidence: float) -> None:
    k, n = kn
    low, high = wilson_z(k, n, z_of(confidence))
    assert 0.0 <= low <= high <= 1.0
    if n:
        assert low <= k / n <= high


@given(st.integers(30, 400), st.integers(0, 30), st.floats(0.0, 0.2))
def test_a_better_candidate_never_fails_where_a_worse_one_passes(n: int, k: int, margin: float) -> None:
    k = min(k, n)
    base = {"margin": margin, "confidence": 0.9, "min_samples": 30, "max_samples": 10**6}
    worse = not_worse_rate("m", min(n, k + 5), n, k, n, **base)
    better = not_worse_rate("m", k, n, k, n, **base)
    assert better.difference_high <= worse.difference_high + 1e-12
    if worse.decision == Decision.PASS:
        assert better.decision == Decision.PASS


def test_the_eval_report_shows_each_revisions_rates_with_wilson_intervals() -> None:
    from molting_workloads import report

    metrics = {"candidate": {"n": 20, "metaLanguageRate": 0.25, "emptyRate": 0.0},
               "stable": {"n": 20, "metaLanguageRate": 0.5}}
    rows = report.interval_rows(metrics)
    assert ("meta-language rate", "candidate", "25% [11%, 47%] of 20") in rows
    assert ("empty answers", "candidate", "0% [0%, 16%] of 20") in rows
    assert [r[1] for r in rows] == ["candidate", "stable", "candidate"]
    html = report._intervals(metrics)
    assert "95% intervals" in html and "25% [11%, 47%] of 20" in html
    assert report._intervals({"candidate": {}}) == ""
