"""Latencies: every value read back within 1 % (0.1 % by design) of the exact order statistic."""

from __future__ import annotations

import math

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aisys_verify.load.histogram import ALPHA, Latencies

latency = st.floats(min_value=1e-6, max_value=3600.0, allow_nan=False, allow_infinity=False)


@given(st.lists(latency, min_size=1, max_size=400))
@settings(max_examples=200, deadline=None)
def test_every_rank_is_within_the_relative_error(values: list[float]) -> None:
    hist = Latencies.of(values)
    exact = sorted(values)
    assert hist.count == len(values)
    for k in range(1, len(exact) + 1):
        assert abs(hist.value_at_rank(k) - exact[k - 1]) <= ALPHA * exact[k - 1] * (1 + 1e-9)
    assert hist.min == exact[0] and hist.max == exact[-1]
    assert hist.mean == pytest.approx(sum(values) / len(values), rel=1e-9)


@given(st.lists(latency, min_size=1, max_size=200), st.floats(min_value=0.0, max_value=1.0))
@settings(max_examples=200, deadline=None)
def test_quantile_is_the_nearest_rank(values: list[float], q: float) -> None:
    exact = sorted(values)
    rank = max(1, math.ceil(q * len(exact) - 1e-9))
    assert Latencies.of(values).quantile(q) == pytest.approx(exact[rank - 1], rel=ALPHA * 1.0001)


@given(st.lists(latency, max_size=100), st.lists(latency, max_size=100))
@settings(max_examples=100, deadline=None)
def test_merge_equals_recording_everything_into_one(a: list[float], b: list[float]) -> None:
    merged = Latencies.of(a).merge(Latencies.of(b))
    assert merged == Latencies.of(a + b)
    assert Latencies.from_json(merged.to_json()) == merged


def test_empty_and_bad_input() -> None:
    empty = Latencies()
    assert empty.count == 0 and math.isnan(empty.min) and math.isnan(empty.mean)
    with pytest.raises(ValueError, match="no latencies"):
        empty.quantile(0.5)
    with pytest.raises(ValueError, match=r"outside 1\.\.0"):
        empty.value_at_rank(1)
    with pytest.raises(ValueError, match="finite"):
        empty.record(-1.0)
    with pytest.raises(ValueError, match="finite"):
        empty.record(math.nan)
    with pytest.raises(ValueError, match=r"within \[0, 1\]"):
        Latencies.of([1.0]).quantile(1.5)
    with pytest.raises(ValueError, match="does not match"):
        Latencies.from_json(Latencies.of([1.0, 2.0]).to_json() | {"count": 3})


def test_sub_microsecond_values_keep_exact_extremes() -> None:
    hist = Latencies.of([0.0, 2e-7, 0.5])
    assert hist.min == 0.0 and hist.max == 0.5
    assert hist.value_at_rank(2) <= 1.001e-6


def test_count_above() -> None:
    hist = Latencies.of([0.001 * i for i in range(1, 1001)])
    assert hist.count_above(0.5) == pytest.approx(500, abs=2)
    assert hist.count_above(2.0) == 0 and hist.count_above(0.0) == 1000
