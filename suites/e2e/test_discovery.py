"""Service discovery: every agent of the spec is registered with ServiceRegistry (MainPC) and
resolvable through it, on both hosts, including agents that share a name across hosts.

Records and listings are read through ``aisys_verify``'s reply readers, so either field set passes (the
ideal ``agent_name/host/port/health_check_port/http_port/location``, or the real registry's
``host/port/health_check_port/agent_type/metadata``) and either listing shape (names, records, or a
mapping name -> record).
"""

from __future__ import annotations

import ipaddress
from collections import Counter
from typing import Any

import pytest

from aisys_verify import (
    Stack,
    agent_record,
    attach_json,
    error_text,
    labels,
    listed_count,
    listed_names,
    poll,
    serving_loop_s,
    step,
    succeeded,
)

from .support import Gateway, zmq_request

pytestmark = pytest.mark.e2e

REGISTRY = "ServiceRegistry"
# agents register in the background after they start; allow the last ones to land: 10 s, plus one serving
# loop per agent where the registry serves one request per loop (the reference profile: 77 x 0.1 s)
REGISTRATION_GRACE_S = 10.0


def _grace(stack: Stack) -> float:
    return REGISTRATION_GRACE_S + len(stack.topology.agents) * serving_loop_s(stack)


def _registry_url(stack: Stack) -> str:
    return stack.endpoint(REGISTRY).main_url


def _listed(stack: Stack) -> dict[str, Any]:
    reply = zmq_request(_registry_url(stack), "list_agents", title=f"{REGISTRY} list_agents")
    assert succeeded(reply), f"{REGISTRY} list_agents failed: {error_text(reply) or reply}"
    return reply


def test_every_agent_is_registered(aisys_stack: Stack) -> None:
    labels(host="mainpc", group="infra_core", agent=REGISTRY)
    expected = Counter(a.name for a in aisys_stack.topology.agents)
    seen: dict[str, Any] = {}

    def check() -> str | None:
        reply = _listed(aisys_stack)
        seen.update(reply)
        listed = Counter(listed_names(reply))
        missing, extra = expected - listed, listed - expected
        if missing or extra:
            return (f"missing: {sorted(missing.elements())}" if missing else "") + \
                   (f" not in the spec: {sorted(extra.elements())}" if extra else "")
        return None

    grace = _grace(aisys_stack)
    problem = poll(check, grace, 0.5, until=lambda left: left is None).last  # None: done
    assert problem is None, f"{REGISTRY} does not list every agent of the spec ({sum(expected.values())}) " \
                            f"after {grace:g} s: {problem}"
    assert listed_count(seen) == sum(expected.values()), listed_count(seen)


def test_every_agent_resolves_to_its_endpoint(aisys_stack: Stack) -> None:
    """get_agent_endpoint {agent_name, host} answers, for every agent, the ports the spec gives it on its host."""
    labels(host="mainpc", group="infra_core", agent=REGISTRY)
    url = _registry_url(aisys_stack)
    problems = []
    with step(f"resolve all {len(aisys_stack.topology.agents)} agents"):
        for agent in aisys_stack.topology.agents:
            ep = aisys_stack.endpoint(agent.name, agent.host)
            reply = zmq_request(url, "get_agent_endpoint", {"agent_name": agent.name, "host": agent.host},
                                title=f"resolve {agent.key}")
            record = agent_record(reply, agent.name) if succeeded(reply) else None
            if record is None:
                problems.append(f"{agent.key}: {error_text(reply) or reply}")
                continue
            got = {"port": record.port, "health_check_port": record.health_check_port, "http_port": record.http_port}
            want = {"port": agent.port.number, "health_check_port": agent.health_port.number,
                    "http_port": ep.http_port}
            if record.location is not None:  # the ideal record says the host; the real one may not
                got["location"], want["location"] = record.location, agent.host
            if got != want:
                problems.append(f"{agent.key}: resolved to {got}, the spec says {want}")
            address = str(record.address)
            if address != ep.address and _is_ip(address):
                # an IP must be the agent's own; a name is an in-network alias (container backends)
                problems.append(f"{agent.key}: resolved to address {address}, the agent is at {ep.address}")
    assert not problems, f"{len(problems)} agent(s) not resolvable through {REGISTRY}:\n  " + "\n  ".join(problems)


def test_same_named_agents_resolve_per_host(aisys_stack: Stack) -> None:
    """An agent name on both hosts (ObservabilityHub) resolves to each host's own instance."""
    labels(host="mainpc", group="infra_core", agent=REGISTRY)
    by_name: dict[str, list[str]] = {}
    for agent in aisys_stack.topology.agents:
        by_name.setdefault(agent.name, []).append(agent.host)
    shared = {name: hosts for name, hosts in by_name.items() if len(hosts) > 1}
    assert shared, "the default spec runs ObservabilityHub on both hosts; nothing to check without a shared name"
    url = _registry_url(aisys_stack)
    for name, hosts in sorted(shared.items()):
        resolved = {}
        for host in hosts:
            reply = zmq_request(url, "get_agent_endpoint", {"agent_name": name, "host": host},
                                title=f"resolve {host}/{name}")
            record = agent_record(reply, name) if succeeded(reply) else None
            assert record is not None, f"{host}/{name} not resolvable: {error_text(reply) or reply}"
            resolved[host] = record
            ep = aisys_stack.endpoint(name, host)
            if record.location is not None:
                assert record.location == host, f"asked for {name} on {host}, got the one on {record.location}: {reply}"
            elif _is_ip(str(record.address)):  # no location in the record: its address must be this host's
                assert record.address == ep.address, (
                    f"asked for {name} on {host} ({ep.address}), got the one at {record.address}: {reply}")
            assert record.ports() == (ep.port, ep.health_port), reply
        attach_json(f"{name} per host", {h: vars(r) for h, r in resolved.items()})
        assert len({(r.address, r.port) for r in resolved.values()}) == len(hosts), (
            f"{name} resolves to one endpoint for several hosts: {resolved}")


def test_gateway_lists_the_registered_services(aisys_stack: Stack, gateway: Gateway) -> None:
    """GET /services/list on the gateway (PC2) answers the MainPC registry's list: discovery across hosts."""
    labels(host="pc2", group="web_interface", agent="UnifiedWebAgent")
    reply = gateway.get("/services/list")
    assert reply.status == 200, f"GET /services/list: HTTP {reply.status} {reply.body!r}"
    body = reply.json_object()
    assert listed_count(body) == len(aisys_stack.topology.agents), listed_count(body)
    assert Counter(listed_names(body)) == Counter(a.name for a in aisys_stack.topology.agents)


def _is_ip(text: str) -> bool:
    try:
        ipaddress.ip_address(text)
    except ValueError:
        return False
    return True
