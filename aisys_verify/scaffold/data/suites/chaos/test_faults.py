"""Example chaos test written by ``aisys-verify init``: one test per case of the spec's fault matrix (a cut or
slowed call edge); the caller keeps answering its health endpoint during the fault and is healthy again
after it. Run: ``pytest -m chaos`` (``--aisys-shard=I/N`` splits the cases across CI jobs)."""

from __future__ import annotations

import pytest

from aisys_verify import Chaos, Stack, http_health, wait_until
from aisys_verify.faults import FaultCase

pytestmark = pytest.mark.chaos

RECOVERY_S = 15.0


@pytest.mark.aisys_faults("kind=partition,reset_peer,latency")
def test_the_caller_answers_during_and_recovers_after_each_fault(aisys_fault_case: FaultCase, aisys_chaos: Chaos,
                                                                 aisys_stack: Stack) -> None:
    case = aisys_fault_case
    host, name = case.caller.split("/", 1)
    caller = aisys_stack.endpoint(name, host)

    def status() -> str:
        return http_health(caller.address, caller.http_port, timeout=1.0)[0]

    assert wait_until(lambda: status() == "ok", RECOVERY_S) is not None, f"{case.caller} not healthy before {case.id}"
    fault = {"partition": aisys_chaos.partition, "reset_peer": aisys_chaos.reset_peer}.get(case.kind)
    with fault(case.edge) if fault else aisys_chaos.latency(case.edge, ms=100):
        assert status() in ("ok", "degraded"), f"{case.id}: {case.caller} stopped answering its health endpoint"
    assert wait_until(lambda: status() == "ok", RECOVERY_S) is not None, \
        f"{case.id}: {case.caller} not healthy {RECOVERY_S:g} s after the fault ended"
