"""A MainPC-PC2 partition: every link between the hosts cut both ways, then healed.

PC2's gateway cannot reach MainPC's coordinator: a turn fails fast with a 5xx (bounded by the
gateway's turn timeout), not a hang. On MainPC the coordinator still answers a turn sent to
it directly, flagged degraded because memory (on PC2) is unreachable. After the heal the
dialogue path is whole again; the time it takes is measured.
"""

from __future__ import annotations

import pytest

from aisys_verify import Chaos, Stack, attach_json, succeeded

from .support import Dialogue

pytestmark = pytest.mark.chaos

TURN_BOUND_S = 18.0
RECOVERY_S = 30.0


def test_mainpc_pc2_partition(aisys_chaos: Chaos, aisys_stack: Stack, dialogue: Dialogue,
                              recovery_table: list[dict[str, object]]) -> None:
    coordinator = aisys_stack.endpoint("RequestCoordinator", "mainpc")
    with aisys_chaos.partition_hosts("mainpc", "pc2") as cut:
        through_pc2 = dialogue.turn(timeout=TURN_BOUND_S + 10)
        on_mainpc = coordinator.request("process_dialogue", {"text": "Hello there", "session_id": "chaos-partition"},
                                        timeout=15.0)
        attach_json("during the partition", {"links cut": cut.attributes, "gateway turn": through_pc2.shown(),
                                             "coordinator on mainpc": on_mainpc})
    failed_fast = 500 <= through_pc2.status < 600 and through_pc2.seconds <= TURN_BOUND_S
    assert failed_fast, f"PC2's gateway must fail fast while MainPC is unreachable: {through_pc2.shown()}"
    answered_degraded = succeeded(on_mainpc) and on_mainpc.get("degraded") is True
    assert answered_degraded, f"MainPC's coordinator must still answer, flagged degraded: {on_mainpc}"
    assert any("memory" in str(r) for r in on_mainpc.get("degraded_reasons", [])), \
        f"the degradation must name memory: {on_mainpc.get('degraded_reasons')}"
    recovered, last = dialogue.whole_within(RECOVERY_S)
    recovery_table.append({"target": "mainpc<->pc2", "fault": "partition",
                           "recovery_s": None if recovered is None else round(recovered, 3)})
    assert recovered is not None, f"not whole {RECOVERY_S:g} s after the partition healed: {last.shown()}"
