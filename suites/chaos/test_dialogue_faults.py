"""The documented degradation of the dialogue path holds under network faults on each of its edges.

The cases come from the spec's fault matrix (``aisys_fault_case``): every dialogue-path edge
crossed with partition, reset_peer and latency, ids such as
``partition:mainpc/RequestCoordinator->mainpc/MemoryClient``. What a user must see is the
system's documented contract (TOPOLOGY.md, the coordinator's degradation rules):

- memory is optional: with the memory hop cut, a turn is still answered, flagged ``degraded``
  with a reason naming memory, within the optional-hop timeouts (2 s per memory call);
- the coordinator, language understanding and response generation are critical: cut, a turn
  fails fast and says so (HTTP 5xx with an error), bounded by the gateway's turn timeout;
- a slow hop (latency below every timeout) is waited for: answered, not degraded, slower;
- after the fault ends the path is whole again (answered, not degraded) within 30 s; the
  recovery time is measured and reported.
"""

from __future__ import annotations

from dataclasses import dataclass

import pytest

from aisys_verify import Chaos, attach_json
from aisys_verify.faults import FaultCase

from .support import Dialogue

pytestmark = pytest.mark.chaos


@dataclass(frozen=True)
class Contract:
    cut: str  # "degraded" (answered, flagged) or "fails" (a 5xx with an error)
    names: tuple[str, ...]  # words the degradation reason or the error must contain (any of them)
    bound_s: float  # the most a user waits for the answer (or the error) while the hop is cut


GATEWAY_TURN_TIMEOUT_S = 15.0
OPTIONAL_HOP_TIMEOUT_S = 2.0  # per memory call; a turn makes two (get_context, store_turn)
RECOVERY_S = 30.0
LATENCY_MS = 300

CONTRACT = {
    "pc2/UnifiedWebAgent->mainpc/RequestCoordinator": Contract("fails", ("upstream", "RequestCoordinator"),
                                                               GATEWAY_TURN_TIMEOUT_S + 3),
    "mainpc/RequestCoordinator->mainpc/NLUAgent": Contract("fails", ("language", "NLUAgent"),
                                                           GATEWAY_TURN_TIMEOUT_S + 3),
    "mainpc/RequestCoordinator->mainpc/ChitchatAgent": Contract("fails", ("response", "ChitchatAgent"),
                                                                GATEWAY_TURN_TIMEOUT_S + 3),
    "mainpc/RequestCoordinator->mainpc/MemoryClient": Contract("degraded", ("memory",),
                                                               2 * OPTIONAL_HOP_TIMEOUT_S + 4),
    "mainpc/MemoryClient->pc2/MemoryOrchestratorService": Contract("degraded", ("memory",),
                                                                   2 * OPTIONAL_HOP_TIMEOUT_S + 4),
}
EVERY_EDGE = " ".join(f"edge={edge}" for edge in CONTRACT)
MEMORY_EDGES = " ".join(f"edge={edge}" for edge, c in CONTRACT.items() if c.cut == "degraded")


@pytest.mark.aisys_faults(f"{EVERY_EDGE} kind=partition,latency")
def test_dialogue_path_degrades_as_documented(aisys_fault_case: FaultCase, aisys_chaos: Chaos, dialogue: Dialogue,
                                              recovery_table: list[dict[str, object]]) -> None:
    check_contract(aisys_fault_case, aisys_chaos, dialogue, recovery_table)


# a reset on a ZeroMQ hop looks like a cut to the caller (it reconnects and times out): the optional hops are
# enough to show it (a cut critical hop costs a full turn timeout per case)
@pytest.mark.aisys_faults(f"{MEMORY_EDGES} kind=reset_peer")
def test_memory_hop_reset_degrades_as_documented(aisys_fault_case: FaultCase, aisys_chaos: Chaos,
                                                 dialogue: Dialogue, recovery_table: list[dict[str, object]]) -> None:
    check_contract(aisys_fault_case, aisys_chaos, dialogue, recovery_table)


def check_contract(case: FaultCase, aisys_chaos: Chaos, dialogue: Dialogue,
                   recovery_table: list[dict[str, object]]) -> None:
    contract = CONTRACT[case.edge]
    before = dialogue.turn()
    whole = before.status == 200 and not before.degraded
    assert whole, f"the dialogue path is not whole before {case.id}: {before.shown()}"
    if case.kind == "latency":
        fault = aisys_chaos.latency(case.edge, ms=LATENCY_MS)
    elif case.kind == "partition":
        fault = aisys_chaos.partition(case.edge)
    else:
        fault = aisys_chaos.reset_peer(case.edge)
    with fault:
        during = dialogue.turn(timeout=contract.bound_s + 10)
    attach_json("fault", {"case": case.id, "efficacy": fault.efficacy and fault.efficacy.evidence,
                          "turn": during.shown()})

    if case.kind == "latency":
        waited = during.status == 200 and not during.degraded
        assert waited, f"{case.id}: a hop slowed by {LATENCY_MS} ms (below every timeout) must be waited for, " \
                       f"got {during.shown()}"
        assert during.seconds >= LATENCY_MS / 1000, \
            f"{case.id}: the turn took {during.seconds:.3f} s, less than the {LATENCY_MS} ms on its path"
    elif contract.cut == "degraded":
        assert during.status == 200, f"{case.id}: memory is optional, the turn must still be answered: " \
                                     f"{during.shown()}"
        assert during.degraded, f"{case.id}: the answer must be flagged degraded while memory is cut: {during.shown()}"
        assert any(name in during.reasons for name in contract.names), \
            f"{case.id}: the degradation reason {during.reasons!r} does not name {' or '.join(contract.names)}"
    else:
        assert 500 <= during.status < 600, f"{case.id}: a critical hop cut must fail the turn with a 5xx: " \
                                           f"{during.shown()}"
        assert any(name in during.reasons for name in contract.names), \
            f"{case.id}: the error {during.reasons!r} does not name {' or '.join(contract.names)}"
    if case.kind != "latency":
        assert during.seconds <= contract.bound_s, \
            f"{case.id}: the user waited {during.seconds:.1f} s, more than the {contract.bound_s:g} s bound"

    recovered, last = dialogue.whole_within(RECOVERY_S)
    recovery_table.append({"target": case.edge, "fault": case.kind, "recovery_s": None if recovered is None else
                           round(recovered, 3)})
    assert recovered is not None, f"{case.id}: the dialogue path is not whole {RECOVERY_S:g} s after the fault " \
                                  f"ended: {last.shown()}"
