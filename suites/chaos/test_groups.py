"""Kill (SIGKILL) and restart each docker group: its agents go silent, come back healthy, and the
whole stack is healthy again; both recovery times are measured and reported (reports/chaos/recovery.json)."""

from __future__ import annotations

import pytest

from aisys_verify import Chaos, Stack, require

pytestmark = pytest.mark.chaos

GROUP_RECOVERY_S = 30.0
STACK_RECOVERY_S = 30.0


def test_group_kill_and_restart(aisys_group: str, aisys_chaos: Chaos, aisys_stack: Stack,
                                recovery_table: list[dict[str, object]]) -> None:
    require(aisys_stack, "kill", "restart", purpose=f"kill {aisys_group} and start it again")
    with aisys_chaos.kill(aisys_group) as fault:
        assert fault.efficacy is not None  # not effective: FaultNotEffective was raised
    assert fault.recovery_s is not None
    assert fault.recovery_s <= GROUP_RECOVERY_S, \
        f"{aisys_group} took {fault.recovery_s} s to be healthy again (bound {GROUP_RECOVERY_S:g} s)"
    whole = aisys_chaos.wait_healthy(timeout=STACK_RECOVERY_S)
    recovery_table.append({"target": aisys_group, "fault": "kill -9", "recovery_s": fault.recovery_s,
                           "stack_healthy_s": round(fault.recovery_s + whole, 3)})
