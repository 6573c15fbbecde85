"""Toxiproxy on every dependency edge: one proxy per call edge and socket, and per agent-to-Redis edge.

Proxies for a host listen on that host's proxy address (host i's agents at <net>.(2+i),
its proxies at <net>.(102+i)), so their ports never collide with the agents'. The run plan
is rewritten so each caller dials the proxy of its edge; cross-host traffic therefore always
crosses Toxiproxy, and a host partition is disabling the proxies whose ends are on different hosts.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from aisys_verify.plan.edges import CallEdge
from aisys_verify.plan.run import RunPlan
from aisys_verify.spec.model import Topology
from aisys_verify.stack.toxiproxy import ProxySpec

FIRST_PROXY_PORT = 10000  # below the ephemeral range, on addresses nothing else uses


@dataclass(frozen=True)
class ProxiedEdge:
    proxy: ProxySpec
    caller: str  # agent key
    callee: str  # agent key, or "<host>/redis"
    socket: str  # main | health | redis
    cross_host: bool


def proxy_address(plan: RunPlan, host: str) -> str:
    agent_address = plan.host_addresses[host]
    prefix, last = agent_address.rsplit(".", 1)
    return f"{prefix}.{int(last) + 100}"


def interpose(topology: Topology, plan: RunPlan, edges: Iterable[CallEdge],
              skip: Iterable[str] = ()) -> list[ProxiedEdge]:
    """Create the proxies' specs and point ``plan`` at them; edges named in ``skip`` stay direct."""
    skipped = set(skip)
    next_port: dict[str, int] = {}
    result: list[ProxiedEdge] = []

    def allocate(host: str) -> str:
        address = proxy_address(plan, host)
        port = next_port.get(address, FIRST_PROXY_PORT)
        next_port[address] = port + 1
        return f"{address}:{port}"

    for edge in edges:
        if edge.name in skipped or edge.purpose == "scrape":
            continue
        caller = topology.agents_by_key[edge.caller]
        callee = topology.agents_by_key[edge.callee]
        target_address = plan.address_of(callee.key, callee.host)
        over = plan.overrides.setdefault(caller.key, {}).setdefault(callee.key, {})
        for socket, port in (("main", callee.port.number), ("health", callee.health_port.number)):
            listen = allocate(caller.host)
            spec = ProxySpec(f"{edge.name}__{socket}", listen, f"{target_address}:{port}")
            host, lport = listen.rsplit(":", 1)
            over[socket] = (host, int(lport))
            result.append(ProxiedEdge(spec, caller.key, callee.key, socket, caller.host != callee.host))
    for agent in topology.agents:
        name = f"{agent.key.replace('/', '.')}--{agent.host}.redis"
        if name in skipped:
            continue
        redis_host, redis_port = plan.redis[agent.host]
        listen = allocate(agent.host)
        host, lport = listen.rsplit(":", 1)
        plan.redis_overrides[agent.key] = (host, int(lport))
        result.append(ProxiedEdge(ProxySpec(name, listen, f"{redis_host}:{redis_port}"), agent.key,
                                  f"{agent.host}/redis", "redis", False))
    return result
