"""Registration: the agent is found through the registry (``get_agent_endpoint``) with its spec ports.

Both reply shapes are read: the real ServiceRegistry's (``host, port, health_check_port, agent_type, ...``,
not found: ``"Agent X not found"``, PROTOCOL.md §3) and the ideal stand-ins' (``agent_name, host, port,
health_check_port, http_port``). An agent that registered the port it actually bound, not the spec's,
is the ``binds_wrong_port`` defect seen from the registry.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aisys_verify.conformance import wire
from aisys_verify.conformance.model import CheckResult, ConformanceOptions, failed, passed, skipped
from aisys_verify.conformance.ports import running
from aisys_verify.waiting import poll

CHECK = "registered"
CONTRACT = ("get_agent_endpoint on the registry returns the agent with the spec's port and health_check_port "
            "(PROTOCOL.md §3)")
REGISTRY_ROLES = ("registry", "twin")  # the twin also answers get_agent_endpoint as a stand-in; the registry first
FOUND_WAIT_S = 5.0  # registration is retried at start-up: a just-restarted agent may take a moment


def registries(targets: Mapping[str, wire.Target], host: str) -> list[wire.Target]:
    """The agents to ask: registry role before twin, the agent's own host first."""
    found = [t for t in targets.values() if t.role in REGISTRY_ROLES]
    return sorted(found, key=lambda t: (REGISTRY_ROLES.index(t.role), t.agent.host != host))


def endpoint_fields(reply: Mapping[str, Any]) -> Mapping[str, Any] | None:
    """The record in a get_agent_endpoint reply, top level or nested (endpoint/agent/data), or None."""
    for candidate in (reply, reply.get("endpoint"), reply.get("agent"), reply.get("data"), reply.get("info")):
        if isinstance(candidate, Mapping) and "port" in candidate:
            return candidate
    return None


def _record_of(reply: Any) -> Mapping[str, Any] | None:
    return endpoint_fields(reply) if isinstance(reply, Mapping) else None


def check_registered(target: wire.Target, all_targets: Mapping[str, wire.Target],
                     options: ConformanceOptions) -> CheckResult:
    asked = [r for r in registries(all_targets, target.agent.host) if r.key != target.key]
    if not asked:
        return skipped(CHECK, target.key, "the spec has no registry (ServiceRegistry or SystemDigitalTwin) besides it")
    registry = asked[0]
    if not running(registry):  # asked before any request: a dead registry would cost a deadline per agent
        return skipped(CHECK, target.key, f"the registry {registry.key} is not running (see its 'listens' check)")
    ep = target.endpoint
    # asked again while the agent may still be registering; no reply at all ends the wait
    reply, raw = poll(lambda: wire.request(registry.endpoint.main_url, wire.envelope(
        "get_agent_endpoint", agent_name=target.name, host=target.agent.host), options.registry_deadline_s),
        FOUND_WAIT_S, 0.5, until=lambda got: got[1] is None or _record_of(got[0]) is not None).last
    if raw is None:
        return failed(CHECK, target.key, f"the registry {registry.name} sent no reply to get_agent_endpoint "
                      f"for {target.name} within {options.registry_deadline_s:g} s", CONTRACT)
    record = _record_of(reply)
    if record is None:
        said = reply.get("error") or reply.get("message") if isinstance(reply, Mapping) else raw[:120]
        if "unknown action" in str(said).lower():  # the real twin keeps no endpoints (PROTOCOL.md §3)
            return skipped(CHECK, target.key, f"the only registry to ask, {registry.name}, has no "
                           f"get_agent_endpoint ({said!r})")
        alive = running(target)
        why = "" if alive else "; nothing listens on its spec ports, so it never came up to register"
        return failed(CHECK, target.key, f"{registry.name} does not know {target.name} ({said!r}){why}", CONTRACT,
                      [] if alive else ["double_bind"])
    port, health_port = record.get("port"), record.get("health_check_port")
    wrong = []
    if port != ep.port:
        wrong.append(f"port {port!r} (spec: {ep.port})")
    if health_port is not None and health_port != ep.health_port:
        wrong.append(f"health_check_port {health_port!r} (spec: {ep.health_port})")
    if wrong:
        return failed(CHECK, target.key, f"{registry.name} has {target.name} registered with " + ", ".join(wrong),
                      CONTRACT, ["binds_wrong_port"], record={k: record.get(k) for k in ("host", "port",
                                                                                        "health_check_port")})
    return passed(CHECK, target.key, f"{registry.name} returns {target.name} at port {port}, health {health_port}")
