"""The seed's load patterns (ramp-up, spike, burst, sine-wave) against the default stack.

Each pattern (scenarios/load/NAME.yaml, 15-16 s, light enough for a 2-core machine that also runs
the stack) must be delivered as shaped (users or arrival rate per second against the target), keep
its generator's CPU below saturation, and leave results that the SLO engine can read back: every
phase and every endpoint of every workload with requests, and a latency for every success.
"""

from __future__ import annotations

import math

import pytest

from aisys_verify import LoadDriver
from aisys_verify.load import LoadResults, read_results

pytestmark = pytest.mark.load

MAX_FAILED = 0.02  # a healthy stack under this light load answers (nearly) everything


@pytest.mark.parametrize("pattern", ["ramp-up", "spike", "burst", "sine-wave"])
def test_pattern_is_delivered_and_recorded(aisys_load: LoadDriver, pattern: str) -> None:
    results = aisys_load(pattern)
    assert results.conformance["ok"], f"{pattern} was not delivered as shaped: {results.conformance['problems']}"
    assert not results.saturated, f"the load generator saturated its CPU: {results.generator['saturated_processes']}"
    _assert_recorded(results)


def _assert_recorded(results: LoadResults) -> None:
    again = read_results(results.run_dir)  # what the SLO engine and the report read
    total, failed = again.counts()
    assert total > 0
    assert failed <= MAX_FAILED * total, f"{failed} of {total} requests failed: {again.summary()}"
    assert again.latencies().count == total - failed
    for phase in again.phases:
        assert again.counts(phase=phase.name)[0] > 0, f"phase {phase.name} has no requests"
    for endpoint in again.endpoints:
        lat = again.latencies(endpoint=endpoint.name)
        assert again.counts(endpoint=endpoint.name)[0] > 0, f"no requests to {endpoint.name}"
        assert lat.count
        assert 0 < lat.min <= lat.quantile(0.5) <= lat.quantile(0.99) <= lat.max < 10.0
    seconds = {row["t"] for row in again.timeseries()}
    assert len(seconds) >= math.floor(again.duration) - 1, "the time series misses seconds"
