"""Every stack workload against the default spec stood up: the requests reach the right agents."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aisys_verify.load.runner import run_load
from aisys_verify.load.scenario import WORKLOAD_ENDPOINTS, parse_scenario
from aisys_verify.stack.local import LocalStack, StackOptions

pytestmark = pytest.mark.integration
SYSTEM_SPEC = Path(__file__).resolve().parents[2] / "system"


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    stack = LocalStack([str(SYSTEM_SPEC)], options=StackOptions(workdir=tmp_path_factory.mktemp("stack")),
                       progress=lambda _: None)
    stack.start()
    try:
        yield stack
    finally:
        stack.stop()


def test_each_workload_reaches_its_agent(stack: LocalStack, tmp_path: Path) -> None:
    scenario = parse_scenario({"name": "all-workloads", "model": "open", "users": 8,
                               "shape": {"kind": "constant", "level": 12, "duration": 4},
                               "workloads": {"conversation": 2, "memory": 2, "vision": 1, "speech": 1,
                                             "reasoning": 1}})
    results = run_load(scenario, stack, tmp_path / "run")
    expected = {a for ends in WORKLOAD_ENDPOINTS.values() for _k, a, _x in ends}
    assert {e.agent for e in results.endpoints} == expected
    for info in results.endpoints:
        agent = next(a for a in stack.topology.agents if a.name == info.agent)
        assert info.host == agent.host
        total, failed = results.counts(endpoint=info.name)
        # memory: get_memory only once a store answered; every other endpoint gets its share of 48 requests
        assert total > 0 or info.name.endswith(":get_memory"), f"no requests to {info.name}"
        assert failed == 0, f"{failed} of {total} requests to {info.name} failed"
    assert results.counts()[0] == pytest.approx(48, abs=2)
    assert results.conformance["ok"], results.conformance["problems"]
