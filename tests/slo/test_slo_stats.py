"""aisys_verify.slo.stats against scipy and against published numbers (scipy is a test-only dependency)."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aisys_verify.slo.stats import (
    betainc,
    binom_cdf,
    clopper_pearson,
    min_samples_upper_bound,
    quantile_ranks,
    smallest_n,
)

scipy_stats = pytest.importorskip("scipy.stats")
scipy_special = pytest.importorskip("scipy.special")


# --- published numbers ---------------------------------------------------------------------------


@pytest.mark.parametrize(("confidence", "n"), [(0.90, 230), (0.95, 299), (0.99, 459)])
def test_samples_whose_maximum_bounds_p99(confidence: float, n: int) -> None:
    """n >= 299 to bound p99 at 95 %: the maximum of n samples exceeds the true p99 with probability
    1 - 0.99^n (perf-reliability anchors §4.2: 230 / 299 / 459)."""
    assert min_samples_upper_bound(0.99, confidence) == n
    assert 1 - 0.99 ** n >= confidence > 1 - 0.99 ** (n - 1)
    assert quantile_ranks(n, 0.99, confidence).upper == n  # the upper bound is the maximum, at exactly n
    assert quantile_ranks(n - 1, 0.99, confidence).upper is None  # and there is none below it


@pytest.mark.parametrize(("n", "lower", "upper"), [(1_000, 983, 997), (3_000, 2_959, 2_981),
                                                   (10_000, 9_880, 9_920), (100_000, 98_938, 99_062)])
def test_two_sided_p99_intervals(n: int, lower: int, upper: int) -> None:
    """95 % two-sided order-statistic intervals for p99 (Hahn & Meeker; the anchors' table)."""
    ranks = quantile_ranks(n, 0.99, 0.95, sides=2)
    assert (ranks.lower, ranks.upper) == (lower, upper)
    coverage = scipy_stats.binom.cdf(upper - 1, n, 0.99) - scipy_stats.binom.cdf(lower - 1, n, 0.99)
    assert coverage >= 0.95


@pytest.mark.parametrize(("budget", "n"), [(0.01, 299), (0.001, 2_995), (0.0001, 29_956)])
def test_error_free_requests_for_an_error_rate_claim(budget: float, n: int) -> None:
    """The rule of three, exactly: 0 errors in n requests bounds the error rate below 1 % / 0.1 % /
    0.01 % at 95 % from n = 299 / 2,995 / 29,956 (one-sided Clopper-Pearson)."""
    assert clopper_pearson(0, n).high <= budget < clopper_pearson(0, n - 1).high
    assert smallest_n(lambda m: clopper_pearson(0, m).high <= budget, 1) == n


# --- against scipy --------------------------------------------------------------------------------


@settings(max_examples=300, deadline=None)
@given(a=st.floats(0.1, 5e4), b=st.floats(0.1, 5e4), x=st.floats(0.0, 1.0))
def test_betainc_matches_scipy(a: float, b: float, x: float) -> None:
    ours, theirs = betainc(a, b, x), float(scipy_special.betainc(a, b, x))
    assert ours == pytest.approx(theirs, rel=1e-9, abs=1e-13)


@settings(max_examples=300, deadline=None)
@given(n=st.integers(1, 200_000), data=st.data(), p=st.floats(1e-6, 1 - 1e-6))
def test_binom_cdf_matches_scipy(n: int, data: st.DataObject, p: float) -> None:
    k = data.draw(st.integers(-1, n + 1))
    assert binom_cdf(k, n, p) == pytest.approx(float(scipy_stats.binom.cdf(k, n, p)), rel=1e-9, abs=1e-13)


def _scipy_cp(k: int, n: int, confidence: float, sides: int) -> tuple[float, float]:
    tail = (1 - confidence) / sides
    low = 0.0 if k == 0 else float(scipy_stats.beta.ppf(tail, k, n - k + 1))
    high = 1.0 if k == n else float(scipy_stats.beta.ppf(1 - tail, k + 1, n - k))
    return low, high


@pytest.mark.parametrize(("k", "n"), [(0, 1), (0, 10), (1, 10), (5, 10), (10, 10), (3, 1_000), (999, 1_000),
                                      (0, 2_995), (7, 100_000), (0, 1_000_000), (999_990, 1_000_000)])
@pytest.mark.parametrize("confidence", [0.9, 0.95, 0.99])
@pytest.mark.parametrize("sides", [1, 2])
def test_clopper_pearson_matches_scipy(k: int, n: int, confidence: float, sides: int) -> None:
    ours = clopper_pearson(k, n, confidence, sides=sides)
    low, high = _scipy_cp(k, n, confidence, sides)
    assert ours.low == pytest.approx(low, rel=1e-9, abs=1e-15)
    assert ours.high == pytest.approx(high, rel=1e-9, abs=1e-15)


@settings(max_examples=150, deadline=None)
@given(n=st.integers(1, 50_000), data=st.data(), confidence=st.sampled_from([0.8, 0.9, 0.95, 0.99]))
def test_clopper_pearson_matches_scipy_everywhere(n: int, data: st.DataObject, confidence: float) -> None:
    k = data.draw(st.integers(0, n))
    ours = clopper_pearson(k, n, confidence, sides=2)
    low, high = _scipy_cp(k, n, confidence, 2)
    assert ours.low == pytest.approx(low, rel=1e-8, abs=1e-15)
    assert ours.high == pytest.approx(high, rel=1e-8, abs=1e-15)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 20_000), q=st.sampled_from([0.5, 0.9, 0.95, 0.99, 0.999]),
       confidence=st.sampled_from([0.9, 0.95, 0.99]))
def test_quantile_ranks_are_the_tightest_with_their_coverage(n: int, q: float, confidence: float) -> None:
    """The upper rank is the smallest whose order statistic covers the quantile with probability
    >= confidence; the lower rank the largest (checked with scipy's binomial)."""
    ranks = quantile_ranks(n, q, confidence)
    cdf = scipy_stats.binom.cdf
    if ranks.upper is None:
        assert cdf(n - 1, n, q) < confidence - 1e-12
    else:
        assert cdf(ranks.upper - 1, n, q) >= confidence - 1e-12
        assert ranks.upper == 1 or cdf(ranks.upper - 2, n, q) < confidence + 1e-12
    if ranks.lower is None:
        assert cdf(0, n, q) > 1 - confidence - 1e-12
    else:
        assert cdf(ranks.lower - 1, n, q) <= 1 - confidence + 1e-12
        assert ranks.lower == n or cdf(ranks.lower, n, q) > 1 - confidence - 1e-12


@settings(max_examples=200, deadline=None)
@given(n=st.integers(1, 5_000), data=st.data())
def test_order_statistic_bound_and_clopper_pearson_agree(n: int, data: st.DataObject) -> None:
    """Duality: X(u) <= T exactly when the share of samples <= T has a Clopper-Pearson lower bound
    >= q, so a p99 verdict and a 'fraction within T' verdict never disagree."""
    at_most = data.draw(st.integers(0, n))
    ranks = quantile_ranks(n, 0.99, 0.95)
    by_rank = ranks.upper is not None and at_most >= ranks.upper
    by_cp = at_most > 0 and clopper_pearson(at_most, n, 0.95).low >= 0.99
    if not math.isclose(clopper_pearson(at_most, n, 0.95).low, 0.99, rel_tol=1e-9):
        assert by_rank == by_cp


def test_bad_input_is_refused() -> None:
    with pytest.raises(ValueError, match="0 <= k <= n"):
        clopper_pearson(5, 3)
    with pytest.raises(ValueError, match="confidence"):
        quantile_ranks(10, 0.99, 1.0)
    with pytest.raises(ValueError, match="q must be"):
        quantile_ranks(10, 1.0)
    with pytest.raises(ValueError, match="a > 0"):
        betainc(0, 1, 0.5)
