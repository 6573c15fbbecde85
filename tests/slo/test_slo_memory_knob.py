"""The stand-in memory role's ``config.standin.extra_latency_ms`` (the SLO suite's mutation): every
memory action waits that long first; without it, nothing waits; nonsense values are ignored."""

from __future__ import annotations

import asyncio
import time
from types import SimpleNamespace
from typing import Any

import pytest

from aisys_verify.standin import protocol
from aisys_verify.standin.profile import StandinProfile
from aisys_verify.standin.roles.memory import MEMORY_ACTIONS, MemoryRole


def _role(config: dict[str, Any]) -> MemoryRole:
    # every AgentContext carries the agent's protocol profile; the knob works the same in both
    return MemoryRole(SimpleNamespace(agent=SimpleNamespace(config=config),  # type: ignore[arg-type]
                                      profile=StandinProfile()))


def _elapsed(role: MemoryRole) -> float:
    request = protocol.parse_request(protocol.encode(protocol.envelope("count", "test", {})))

    async def call() -> None:
        with pytest.raises(protocol.ProtocolError, match="store is not open"):  # no store: fails after the delay
            await role.actions["count"](request)

    started = time.perf_counter()
    asyncio.run(call())
    return time.perf_counter() - started


def test_extra_latency_delays_every_memory_action() -> None:
    role = _role({"standin": {"extra_latency_ms": 120}})
    assert role.extra_latency_s == 0.12
    assert set(MEMORY_ACTIONS) <= set(role.actions)
    assert _elapsed(role) >= 0.12


@pytest.mark.parametrize("config", [{}, {"standin": {"extra_latency_ms": 0}}, {"standin": {"extra_latency_ms": True}},
                                    {"standin": {"extra_latency_ms": "150"}}, {"standin": "fast"}])
def test_no_or_bad_knob_adds_nothing(config: dict[str, Any]) -> None:
    role = _role(config)
    assert role.extra_latency_s == 0.0
    assert _elapsed(role) < 0.1
