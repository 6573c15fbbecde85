"""What counts as a failed request: it raised or timed out, or got HTTP >= 500 (a 4xx is an answer)."""

from __future__ import annotations

from pathlib import Path

import pytest

from aisys_verify.load.runner import run_load
from aisys_verify.load.scenario import parse_scenario
from aisys_verify.load.target import running_target

pytestmark = pytest.mark.integration


@pytest.mark.parametrize(("path", "stall", "all_failed"), [("/status/503", 0.0, True), ("/status/404", 0.0, False),
                                                           ("/", 30.0, True)])
def test_failed_requests_are_counted_not_timed(tmp_path: Path, path: str, stall: float, all_failed: bool) -> None:
    scenario = parse_scenario({"name": "fail", "model": "open", "users": 4, "timeout": 0.5,
                               "shape": {"kind": "constant", "level": 10, "duration": 2},
                               "workloads": {"http-get": {"weight": 1, "path": path}}})
    with running_target(tmp_path, stall_after=0.0, stall_for=stall) as target:
        results = run_load(scenario, target.url, tmp_path / "run")
    total, failed = results.counts()
    if stall:  # every request waits for the stall, past the 0.5 s timeout; 4 users hold the 20 slots
        assert total >= 4 and failed == total
    else:
        assert total == 20
        assert failed == (total if all_failed else 0)
    assert results.latencies().count == total - failed
