"""Coordinated omission, measured: a server that stalls for a known 1.5 s at a known moment.

Ground truth: a request intended at time t inside the stall window [a, b) waits until b, so its true
latency is b - t plus the base service time; every other request takes the base time. The open model
(latency from the intended start) must report a p99 within 10 % of the ground truth's; the closed model
(few users, each waiting for its reply) must under-report it, because only one request per user saw the
stall. The histograms in results.json must also hold the exact latencies (the raw-*.json dumps) within 1 %.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from aisys_verify.load.runner import RunOptions, run_load
from aisys_verify.load.scenario import parse_scenario
from aisys_verify.load.target import running_target

pytestmark = pytest.mark.integration

RATE, DURATION, STALL_AFTER, STALL_FOR = 100.0, 12.0, 4.0, 1.5


def _ground_truth(started_at: float, window: tuple[float, float], base: float) -> list[float]:
    a, b = window
    truth = []
    for k in range(int(RATE * DURATION)):
        t = started_at + k / RATE
        truth.append((b - t if a <= t < b else 0.0) + base)
    return sorted(truth)


def _nearest_rank(values: list[float], q: float) -> float:
    return values[max(1, math.ceil(q * len(values))) - 1]


def _raw_latencies(run_dir: Path) -> list[float]:
    values = []
    for file in run_dir.glob("raw-*.json"):
        values += [latency for _endpoint, latency, failed in json.loads(file.read_text()) if not failed]
    return sorted(values)


def test_open_model_reports_the_stall_and_closed_model_hides_it(tmp_path: Path) -> None:
    open_scenario = parse_scenario({"name": "stall-open", "model": "open", "users": 20,
                                    "shape": {"kind": "constant", "level": RATE, "duration": DURATION},
                                    "workloads": {"http-get": 1}})
    with running_target(tmp_path, STALL_AFTER, STALL_FOR) as target:
        results = run_load(open_scenario, target.url, tmp_path / "open", RunOptions(raw=True))
        window = target.stall_window()
    assert window is not None
    assert results.conformance["ok"], results.conformance["problems"]
    measured = results.latencies()
    base = measured.quantile(0.5)
    truth = _ground_truth(results.started_at, window, base)
    true_p99, open_p99 = _nearest_rank(truth, 0.99), measured.quantile(0.99)
    assert true_p99 > 1.0  # the stall dominates the tail, as designed
    assert abs(open_p99 - true_p99) <= 0.10 * true_p99, (open_p99, true_p99)
    assert measured.count == pytest.approx(RATE * DURATION, rel=0.02)

    # every recorded value within 1 % of the exact one, rank by rank
    exact = _raw_latencies(results.run_dir)
    assert len(exact) == measured.count
    worst = max(abs(measured.value_at_rank(k) - exact[k - 1]) / exact[k - 1] for k in range(1, len(exact) + 1))
    assert worst <= 0.01

    closed_scenario = parse_scenario({"name": "stall-closed", "model": "closed", "think_time": 0.05,
                                      "shape": {"kind": "constant", "level": 5, "duration": DURATION},
                                      "workloads": {"http-get": 1}})
    with running_target(tmp_path, STALL_AFTER, STALL_FOR) as target:
        closed = run_load(closed_scenario, target.url, tmp_path / "closed")
        assert target.stall_window() is not None
    closed_p99 = closed.latencies().quantile(0.99)
    assert closed.latencies().max > 1.0       # the closed model did meet the stall ...
    assert closed_p99 < 0.5 * true_p99, (closed_p99, true_p99)  # ... and its p99 hides it
    print(f"\nstall {STALL_FOR} s at {RATE:g} req/s: true p99 {true_p99 * 1e3:.1f} ms, "
          f"open model {open_p99 * 1e3:.1f} ms "
          f"({(open_p99 - true_p99) / true_p99:+.1%}), closed model {closed_p99 * 1e3:.1f} ms "
          f"(max {closed.latencies().max * 1e3:.0f} ms); recorded vs exact: worst {worst:.3%} over {len(exact)} ranks")
