"""Verdicts: pass / fail / inconclusive from latencies (exact, bucketed, sketched) and counts, and the
SloViolation they raise."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aisys_verify.errors import SloInconclusive, SloViolation
from aisys_verify.slo import (
    BucketLatencies,
    Counts,
    ExactLatencies,
    SketchLatencies,
    SliKind,
    SloSpec,
    Status,
    assert_slo,
    assert_slos,
    bad_fraction_change,
    judge_latency,
    judge_ratio,
    quantile_shift,
)
from aisys_verify.slo.data import MergedLatencies

P99 = SloSpec("memory_stack_latency", "memory-stack", SliKind.LATENCY, 0.99, latency_bound_s=0.1,
              source="system/slo-config.yaml:50:3")
AVAIL = SloSpec("coordination_availability", "coordination", SliKind.AVAILABILITY, 0.999)
ERRORS = SloSpec("gpu_services_error_rate", "gpu-services", SliKind.ERROR_RATE, 0.998)


def _lat(n: int, slow: int, fast: float = 0.02, slow_s: float = 0.5) -> ExactLatencies:
    return ExactLatencies.of([fast + i * 1e-6 for i in range(n - slow)] + [slow_s] * slow)


def test_p99_with_too_few_samples_is_inconclusive_with_the_samples_needed() -> None:
    verdict = judge_latency(P99, _lat(200, 0))
    assert verdict.status is Status.INCONCLUSIVE
    assert verdict.needed == 299
    assert "cannot bound p99 from above" in verdict.reason
    assert verdict.interval is not None
    assert math.isinf(verdict.interval[1])


def test_p99_passes_at_299_fast_samples_and_fails_when_slow() -> None:
    assert judge_latency(P99, _lat(299, 0)).status is Status.PASS
    assert judge_latency(P99, _lat(298, 0)).status is Status.INCONCLUSIVE
    failed = judge_latency(P99, _lat(400, 40))
    assert failed.status is Status.FAIL
    assert failed.bad == 40
    assert "40 of 400 requests took longer" in failed.reason


def test_few_samples_can_still_fail_conclusively() -> None:
    """A fail does not need 299 samples: 50 requests all over the bound put p99's lower bound over it."""
    assert judge_latency(P99, _lat(50, 50)).status is Status.FAIL


def test_bucketed_latencies_are_exact_at_bucket_bounds_and_honest_between() -> None:
    bounds = (0.05, 0.1, 0.25, math.inf)
    hist = BucketLatencies(bounds, (900, 1000, 1000, 1000))  # every request <= 0.1 s
    assert judge_latency(P99, hist).status is Status.PASS  # 0.1 is a bound: exact
    between = SloSpec("x", "s", SliKind.LATENCY, 0.99, latency_bound_s=0.2)
    coarse = BucketLatencies(bounds, (900, 980, 1000, 1000))  # 20 requests in (0.1, 0.25]: are they <= 0.2?
    verdict = judge_latency(between, coarse)
    assert verdict.status is Status.INCONCLUSIVE
    assert "resolution" in verdict.reason


def test_sketched_latencies_widen_by_their_relative_error() -> None:
    class Sketch:
        count = 1000

        def value_at_rank(self, k: int) -> float:
            return 0.0995 if k > 990 else 0.05  # within 1 % of the bound: cannot tell

    verdict = judge_latency(P99, SketchLatencies(Sketch()))
    assert verdict.status is Status.INCONCLUSIVE
    assert "+-1% relative" in verdict.resolution


def test_merged_samples_count_like_one() -> None:
    bounds = (0.05, 0.1, math.inf)
    merged = MergedLatencies((BucketLatencies(bounds, (100, 200, 200)), _lat(200, 0)))
    assert merged.count == 400
    assert merged.count_at_most(0.1) == (400, 400)
    assert judge_latency(P99, merged).status is Status.PASS


@settings(max_examples=100, deadline=None)
@given(values=st.lists(st.floats(0.0001, 10.0), min_size=1, max_size=700))
def test_exact_verdict_agrees_with_a_direct_count(values: list[float]) -> None:
    verdict = judge_latency(P99, ExactLatencies.of(values))
    within = sum(1 for v in values if v <= 0.1)
    if verdict.status is Status.PASS:
        assert within / len(values) >= 0.99  # the upper rank u always exceeds 0.99 n
    if verdict.status is Status.FAIL:
        assert within / len(values) < 0.99


def test_availability_needs_2995_error_free_requests_for_99_9() -> None:
    assert judge_ratio(AVAIL, Counts(2995, 2995)).status is Status.PASS
    short = judge_ratio(AVAIL, Counts(1000, 1000))
    assert short.status is Status.INCONCLUSIVE
    assert short.needed == 2995
    assert short.observed == 100.0
    failed = judge_ratio(AVAIL, Counts(950, 1000))
    assert failed.status is Status.FAIL
    assert failed.observed == pytest.approx(95.0)


def test_error_rate_is_shown_as_a_rate() -> None:
    verdict = judge_ratio(ERRORS, Counts(1497, 1497))
    assert verdict.status is Status.PASS
    assert verdict.observed == 0.0
    assert verdict.interval is not None
    assert verdict.interval[1] <= 0.2
    assert judge_ratio(ERRORS, Counts(1496, 1496)).status is Status.INCONCLUSIVE


def test_no_data_is_never_a_pass() -> None:
    assert judge_ratio(AVAIL, Counts(0, 0)).status is Status.INCONCLUSIVE
    assert judge_latency(P99, ExactLatencies(())).status is Status.INCONCLUSIVE


def test_slo_violation_carries_the_numbers_and_reads_well() -> None:
    verdict = judge_latency(P99, _lat(400, 40))
    with pytest.raises(SloViolation) as caught:
        assert_slo(verdict)
    error = caught.value
    assert isinstance(error, AssertionError)
    assert (error.slo, error.samples, error.objective) == ("memory_stack_latency", 400, "p99 <= 0.1 s")
    assert error.observed == pytest.approx(0.5)
    assert error.interval == verdict.interval
    text = str(error)
    assert "SLO memory_stack_latency (memory-stack): FAIL" in text
    assert "objective: p99 <= 0.1 s" in text
    assert "400 sample(s), 40 beyond the objective" in text
    assert "defined:   system/slo-config.yaml:50:3" in text


def test_inconclusive_raises_unless_allowed() -> None:
    verdict = judge_latency(P99, _lat(100, 0))
    with pytest.raises(SloInconclusive, match="never a silent pass"):
        assert_slo(verdict)
    assert assert_slo(verdict, allow_inconclusive=True) is verdict
    with pytest.raises(SloViolation, match="1 of 2 SLO"):
        assert_slos([judge_latency(P99, _lat(400, 40)), judge_latency(P99, _lat(400, 0))])


def test_quantile_shift_detects_an_added_latency() -> None:
    base = _lat(200, 0)
    slow = ExactLatencies.of(v + 0.3 for v in base.values)
    assert quantile_shift(base, slow, 0.5, at_least=0.25).status is Status.PASS
    assert quantile_shift(base, base, 0.5, at_least=0.25).status is Status.FAIL
    assert quantile_shift(base, base, 0.5, at_most=0.05).status is Status.PASS
    assert quantile_shift(_lat(3, 0), slow, 0.5, at_least=0.25).status is Status.INCONCLUSIVE


def test_bad_fraction_change() -> None:
    change = bad_fraction_change(Counts(1000, 1000), Counts(500, 1000), at_least=0.3)
    assert change.status is Status.PASS
    assert bad_fraction_change(Counts(1000, 1000), Counts(1000, 1000), at_least=0.3).status is Status.FAIL
