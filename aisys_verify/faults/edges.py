"""Which proxies a fault acts on: readable selectors resolved against the stack's proxied edges.

An edge selector is ``CALLER->CALLEE``. Each side names agents in one of these forms:

- ``RequestCoordinator`` or ``mainpc/RequestCoordinator`` (an agent; the host when the name is on two hosts),
- ``memory_stack`` or ``pc2/memory_stack`` (every agent of a docker group),
- ``pc2/*`` or ``pc2`` (every agent of a host), ``*`` (every agent),
- ``redis`` or ``pc2/redis`` (the callee only: the host's Redis).

An edge is every connection from caller to callee: the main and the health socket both (a
network fault on a real link hits both), or the Redis connection. A selector that matches
nothing is an error that lists the closest names, never a silent no-op.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from aisys_verify.errors import SelectorError as SelectorError
from aisys_verify.faults.base import ChaosUnsupported
from aisys_verify.plan.edges import call_edges
from aisys_verify.spec.model import Topology
from aisys_verify.stack.interpose import ProxiedEdge

NETWORK = "network"  # the capability a network fault needs: Toxiproxy on the edge


@dataclass(frozen=True)
class Link:
    """One caller -> callee edge and its proxies (main + health, or redis)."""

    caller: str  # agent key
    callee: str  # agent key or "<host>/redis"
    proxies: tuple[ProxiedEdge, ...]

    @property
    def name(self) -> str:
        return f"{self.caller}->{self.callee}"

    @property
    def cross_host(self) -> bool:
        return any(p.cross_host for p in self.proxies)

    def proxy(self, socket: str) -> ProxiedEdge | None:
        return next((p for p in self.proxies if p.socket == socket), None)


def links(proxies: Iterable[ProxiedEdge]) -> list[Link]:
    """The stack's proxies grouped into caller -> callee links, in a stable order."""
    grouped: dict[tuple[str, str], list[ProxiedEdge]] = {}
    for proxy in proxies:
        grouped.setdefault((proxy.caller, proxy.callee), []).append(proxy)
    return [Link(caller, callee, tuple(sorted(found, key=lambda p: p.socket)))
            for (caller, callee), found in sorted(grouped.items())]


def agents_matching(topology: Topology, pattern: str, *, allow_redis: bool = False) -> set[str]:
    """Agent keys (and ``<host>/redis`` where allowed) that one side of a selector names."""
    pattern = pattern.strip()
    if not pattern:
        raise SelectorError("an empty name in a selector: name an agent, a docker group, a host or '*'")
    if pattern == "*":
        return {a.key for a in topology.agents}
    host, _, name = pattern.rpartition("/")
    host_names = {h.name for h in topology.hosts}
    if not host and pattern in host_names:
        host, name = pattern, "*"
    if host and host not in host_names:
        raise SelectorError(f"no host {host!r} in {pattern!r}: the spec's hosts are {', '.join(sorted(host_names))}")
    in_host = [a for a in topology.agents if not host or a.host == host]
    if name == "*":
        return {a.key for a in in_host}
    if name == "redis" and allow_redis:
        return {f"{h}/redis" for h in ([host] if host else sorted(host_names))}
    agents = {a.key for a in in_host if a.name == name}
    if agents:
        return agents
    groups = [g for g in topology.groups if g.name == name and (not host or g.host == host)]
    if groups:
        return {f"{g.host}/{ref.name}" for g in groups for ref in g.agents}
    candidates = sorted({a.name for a in topology.agents} | {g.name for g in topology.groups}
                        | host_names | ({"redis"} if allow_redis else set()))
    close = difflib.get_close_matches(name, candidates, n=3)
    hint = f"; did you mean {' or '.join(repr(c) for c in close)}?" if close else \
        "; name an agent, a docker group, a host, HOST/NAME or '*'"
    raise SelectorError(f"{pattern!r} names no agent, docker group or host{' on ' + host if host else ''}{hint}")


def parse_edge(selector: str) -> tuple[str, str]:
    caller, arrow, callee = selector.partition("->")
    if not arrow or not caller.strip() or not callee.strip():
        raise SelectorError(f"edge {selector!r}: write CALLER->CALLEE, e.g. 'RequestCoordinator->MemoryClient' "
                            "or 'coordination->pc2/memory_stack'")
    return caller.strip(), callee.strip()


def select_links(topology: Topology, proxies: Sequence[ProxiedEdge], selector: str) -> list[Link]:
    """The proxied links a ``CALLER->CALLEE`` selector names; an error when it names none."""
    if not proxies:
        raise ChaosUnsupported("this stack has no Toxiproxy on its edges (--aisys-no-proxies, or a deployment "
                               "whose inventory declares none): network faults need Toxiproxy on the edges",
                               NETWORK)
    caller_side, callee_side = parse_edge(selector)
    callers = agents_matching(topology, caller_side)
    callees = agents_matching(topology, callee_side, allow_redis=True)
    found = [link for link in links(proxies) if link.caller in callers and link.callee in callees]
    if not found and any(e.caller in callers and e.callee in callees for e in call_edges(topology)):
        raise ChaosUnsupported(f"edge {selector!r} exists in the spec but this stack could not put Toxiproxy on it "
                               "(e.g. an edge inside one host of a stack running the spec's own images)", NETWORK)
    if not found:
        near = sorted({f"{link.caller}->{link.callee}" for link in links(proxies) if link.caller in callers})[:5]
        raise SelectorError(f"edge {selector!r}: no proxied edge from {caller_side} to {callee_side}"
                            + (f"; {caller_side} calls: {', '.join(near)}" if near else
                               f"; {caller_side} calls nothing through a proxy"))
    return found


def agent_links(topology: Topology, proxies: Sequence[ProxiedEdge], agent: str) -> list[Link]:
    """Every link into or out of the agents ``agent`` names (an agent, a group or a host): its isolation."""
    keys = agents_matching(topology, agent)
    found = [link for link in links(proxies) if link.caller in keys or link.callee in keys]
    if not found:
        raise SelectorError(f"{agent!r} has no proxied edges")
    return found


def host_pair_links(topology: Topology, proxies: Sequence[ProxiedEdge], first: str, second: str) -> list[Link]:
    """Every link between two hosts, both directions: a partition of the pair."""
    hosts = {h.name for h in topology.hosts}
    for host in (first, second):
        if host not in hosts:
            raise SelectorError(f"no host {host!r}: the spec's hosts are {', '.join(sorted(hosts))}")
    if first == second:
        raise SelectorError(f"a partition needs two different hosts, got {first!r} twice")
    if not proxies:  # a missing capability (skip, or failure when strict), not a wrong selector
        raise ChaosUnsupported("this stack has no Toxiproxy on its edges (--aisys-no-proxies, or a deployment "
                               "whose inventory declares none): a partition is a network fault, which needs "
                               "Toxiproxy between the hosts", NETWORK)
    pair = {first, second}
    found = [link for link in links(proxies)
             if {link.caller.split("/")[0], link.callee.split("/")[0]} == pair]
    if not found:
        raise SelectorError(f"no proxied edge between {first} and {second}")
    return found
