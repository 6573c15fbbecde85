"""The conformance checks' pure parts: message shape, readiness records, who answers a port, registry
records of either shape, the declared actions of an agent."""

from __future__ import annotations

from types import SimpleNamespace
from typing import Any, cast

import pytest

from aisys_verify.conformance import wire
from aisys_verify.conformance.actions import declared_actions
from aisys_verify.conformance.model import CHECKS, ConformanceOptions, failed
from aisys_verify.conformance.ports import identity
from aisys_verify.conformance.registration import endpoint_fields
from aisys_verify.standin.profile import DEFECTS


def test_failure_message_says_what_contract_and_defect() -> None:
    result = failed("listens", "mainpc/X", "X: nothing listens on 5706", "it listens on the spec's port",
                    ["binds_wrong_port"])
    assert result.failed and result.defects == ("binds_wrong_port",)
    assert result.message.startswith("X: nothing listens on 5706. Contract: it listens on the spec's port. ")
    assert f"Matches PROTOCOL.md defect 'binds_wrong_port': {DEFECTS['binds_wrong_port'][0]}" in result.message
    assert "No PROTOCOL.md defect matches" in failed("health", "h/X", "did", "contract").message


def test_options_are_validated() -> None:
    with pytest.raises(ValueError, match="HTTP health policy"):
        ConformanceOptions(http_policy="lenient")
    with pytest.raises(ValueError, match="observation window"):
        ConformanceOptions(observe_s=0)
    assert CHECKS[-1] == "actions" and CHECKS[0] == "listens"  # the socket-wedging check runs last


@pytest.mark.parametrize(("value", "ready", "port"), [
    ('{"status": "ready", "timestamp": "2025-08-19T10:00:00", "port": 5643, "details": {}}', True, 5643),
    ('{"status": "stopped", "port": 5706}', False, 5706),
    ('{"agent": "mainpc/X", "ts": 1.0}', True, None),  # the ideal stand-ins' record
    ("1", True, None),  # the other real writer's value (PROTOCOL.md §5)
    ("0", False, None),
])
def test_ready_key_reading(value: str, ready: bool, port: int | None) -> None:
    key = wire.ReadyKey(True, 30_000, value)
    assert (key.reads_ready, key.port) == (ready, port)
    assert not wire.ReadyKey(False, None, None).reads_ready


def test_who_answers_a_port() -> None:
    assert identity({"status": "ok", "agent": "NLUAgent", "ready": True}) == ("NLUAgent", None)
    real = {"status": "ok", "ready": True, "message": "EmotionSynthesisAgent is healthy",
            "health_details": {"port": 5643, "redis_host": "127.0.0.1:6379"}}
    assert identity(real) == ("EmotionSynthesisAgent", 5643)
    assert identity({"status": "degraded", "message": "X is degraded: redis"}) == (None, None)
    assert identity(["not", "a", "reply"]) == (None, None)


def test_registry_records_of_either_shape() -> None:
    real = {"status": "success", "host": "127.0.0.2", "port": 5706, "health_check_port": 6706, "agent_type": "x"}
    assert endpoint_fields(real) is real
    assert endpoint_fields({"status": "success", "endpoint": {"port": 1}}) == {"port": 1}
    assert endpoint_fields({"status": "error", "error": "Agent X not found"}) is None


def _target(name: str, role: str, config: dict[str, Any]) -> wire.Target:
    agent = SimpleNamespace(name=name, key=f"mainpc/{name}", config=config, host="mainpc")
    return cast(wire.Target, SimpleNamespace(agent=agent, name=name, role=role, key=agent.key))


def test_declared_actions_from_role_name_and_spec() -> None:
    assert list(declared_actions(_target("Foo", "generic", {}))) == ["work"]
    twin = declared_actions(_target("SystemDigitalTwin", "twin", {}))
    assert {"get_metrics", "get_history", "simulate_load"} <= set(twin)  # the real twin's unserialisable ones
    assert "unregister_agent" not in declared_actions(_target("ServiceRegistry", "registry", {}))
    emotion = declared_actions(_target("EmotionSynthesisAgent", "generic", {}))
    assert emotion["synthesize_emotion"] == {"text": "hello", "emotion": "joy", "intensity": 0.5}
    own = declared_actions(_target("Foo", "generic", {"actions": ["summarise"]}))
    assert own == {"work": {"payload": "conformance"}, "summarise": {}}
    fields = declared_actions(_target("Foo", "generic", {"actions": {"classify": {"text": "hi"}}}))
    assert fields["classify"] == {"text": "hi"}


READY = '{"status": "ready", "port": 7200}'


@pytest.mark.parametrize(("after_kill", "fresh", "outcome"), [
    (wire.ReadyKey(False, None, None), wire.ReadyKey(True, 29_000, READY), "pass"),
    (wire.ReadyKey(True, 12_000, READY), wire.ReadyKey(True, 30_000, READY), "pass"),
    (wire.ReadyKey(True, 290_000, READY), wire.ReadyKey(True, 300_000, READY), "fail"),
    (wire.ReadyKey(True, -1, READY), wire.ReadyKey(True, -1, READY), "fail"),
    # written once with 300 s long ago: little or nothing left at the kill, but the restarted agent's key tells
    (wire.ReadyKey(False, None, None), wire.ReadyKey(True, 300_000, READY), "fail"),
    (wire.ReadyKey(True, 8_000, READY), wire.ReadyKey(True, 300_000, READY), "fail"),
])
def test_crash_check_judges_the_key_after_the_kill_and_the_restarted_agents_key(
        after_kill: wire.ReadyKey, fresh: wire.ReadyKey, outcome: str) -> None:
    from aisys_verify.conformance.readiness import CrashReading, check_after_crash

    target = _target("ServiceRegistry", "registry", {})
    reading = CrashReading(("mainpc", "infra_core"), {target.key: after_kill}, None, {target.key: fresh})
    result = check_after_crash(target, reading, True, ConformanceOptions(crash_bound_s=30.0))
    assert ("fail" if result.failed else "pass") == outcome, result.message
    if result.failed:
        assert "stale_ready_key_after_crash" in result.message
