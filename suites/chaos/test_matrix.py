"""A bounded selection of the spec's whole fault matrix: each agent's health tells the truth about
its dependencies under a fault, and comes back when the fault ends.

The selection (``aisys_faults`` below, narrowed further by ``--aisys-faults``/``AISYS_FAULTS``)
takes a fixed, spread-out sample of the dependency graph's edges; each case's id is stable.
For a declared dependency cut (partition, reset): the caller keeps answering /health, reports
``degraded`` naming the callee within the readiness period, and is ``ok`` again soon after.
For a slowed edge the caller stays ``ok`` while the probe fits its 500 ms timeout: stand-ins (like the
real agents' REQ clients) open a connection per call, so a probe crosses the slowed link about three
times (ZMTP greeting, handshake, reply); 100 ms keeps it under the timeout, 200 ms does not.
"""

from __future__ import annotations

import time

import pytest

from aisys_verify import Chaos, Stack, http_health, wait_until
from aisys_verify.faults import FaultCase

pytestmark = pytest.mark.chaos

DETECT_S = 5.0  # readiness re-checks dependencies every second with a 0.5 s probe timeout
RECOVERY_S = 15.0
SLOW_MS = 100  # x ~3 link crossings per fresh-connection probe < the 500 ms probe timeout


@pytest.mark.aisys_faults("kind=partition,reset_peer,latency max-blast=5 limit=6")
def test_health_tells_the_truth_under_each_fault(aisys_fault_case: FaultCase, aisys_chaos: Chaos,
                                                 aisys_stack: Stack, recovery_table: list[dict[str, object]]) -> None:
    case = aisys_fault_case
    host, name = case.caller.split("/", 1)
    caller = aisys_stack.endpoint(name, host)
    callee = case.callee.split("/", 1)[1]

    def health() -> tuple[str, str]:
        return http_health(caller.address, caller.http_port, timeout=1.0)

    assert wait_until(lambda: health()[0] == "ok", RECOVERY_S) is not None, \
        f"{case.caller} is not healthy before {case.id}: {health()}"
    fault = {"partition": aisys_chaos.partition, "reset_peer": aisys_chaos.reset_peer}.get(case.kind)
    with (fault(case.edge) if fault else aisys_chaos.latency(case.edge, ms=SLOW_MS)):
        if case.kind == "latency":
            time.sleep(2.0)  # two readiness rounds through the slowed edge
            status, message = health()
            assert status == "ok", f"{case.id}: {SLOW_MS} ms is under the dependency probe's timeout, yet " \
                                   f"{case.caller} reports {status}: {message}"
        elif case.purpose == "dependency":
            took = wait_until(lambda: health()[0] == "degraded" and callee in health()[1], DETECT_S)
            status, message = health()
            assert took is not None, f"{case.id}: {case.caller} still reports {status!r} ({message}) " \
                                     f"{DETECT_S:g} s after its dependency {callee} was cut"
        else:  # a run-time call, not a readiness dependency: the caller must stay up and answering
            status, message = health()
            assert status in ("ok", "degraded"), f"{case.id}: {case.caller} stopped answering: {message}"
    recovered = wait_until(lambda: health()[0] == "ok", RECOVERY_S)
    recovery_table.append({"target": case.edge, "fault": case.kind,
                           "recovery_s": None if recovered is None else round(recovered, 3)})
    assert recovered is not None, f"{case.id}: {case.caller} not ok {RECOVERY_S:g} s after the fault: {health()}"
