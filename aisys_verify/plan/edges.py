"""Every edge that exists at run time: what a stand-in dials, what Toxiproxy proxies, what the fault matrix faults.

Four purposes, in this order per agent: ``dependency`` (declared start-up dependencies), ``call`` (run-time
calls: the spec's ``calls:`` or the role's defaults, plan/roles.py), ``registration`` (every agent to every
registry) and ``sync`` (a non-first host's observability hub to the first host's). One edge per
(caller, callee): the first purpose wins, so a declared dependency is never shadowed by a call.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar

from aisys_verify.plan.roles import REGISTRY_ROLES, calls_of, role_for
from aisys_verify.spec.model import Agent, Topology

T = TypeVar("T")


@dataclass(frozen=True)
class CallEdge:
    caller: str  # agent key "host/Name"
    callee: str  # agent key
    purpose: str  # dependency | call | registration | sync
    critical: bool

    @property
    def name(self) -> str:
        return f"{self.caller.replace('/', '.')}--{self.callee.replace('/', '.')}"


def memo(topology: Topology, key: str, compute: Callable[[], T]) -> T:
    """``compute()`` once per Topology object, kept on the object as functools.cached_property keeps its values.

    Every forked group process asks for the same edges; computing them per group (and per agent) made
    stand-up quadratic in the agents (thousands of agents: seconds of CPU). A frozen Topology never changes,
    so the value never goes stale, and it dies with the topology.
    """
    store: dict[str, Any] = vars(topology)
    if key not in store:
        store[key] = compute()
    return store[key]  # type: ignore[no-any-return]


def registries(topology: Topology) -> tuple[Agent, ...]:
    """Agents every other agent registers with (role registry or twin)."""
    return memo(topology, "_plan_registries", lambda: tuple(
        a for a in topology.agents if role_for(a.name, a.role).role in REGISTRY_ROLES))


def call_edges(topology: Topology) -> list[CallEdge]:
    """Every edge a stand-in dials: start-up dependencies, run-time calls, registration and hub sync."""
    return list(memo(topology, "_plan_call_edges", lambda: tuple(_compute(topology))))


def edges_by_caller(topology: Topology) -> Mapping[str, tuple[CallEdge, ...]]:
    """Caller key -> its edges, in call_edges order (one lookup per agent instead of a scan of every edge)."""
    def index() -> dict[str, tuple[CallEdge, ...]]:
        grouped: dict[str, list[CallEdge]] = {}
        for edge in call_edges(topology):
            grouped.setdefault(edge.caller, []).append(edge)
        return {k: tuple(v) for k, v in grouped.items()}

    return memo(topology, "_plan_edges_by_caller", index)


def _compute(topology: Topology) -> list[CallEdge]:
    edges: dict[tuple[str, str], CallEdge] = {}

    def add(caller: Agent, callee: Agent | None, purpose: str, critical: bool) -> None:
        if callee is not None and callee.key != caller.key and (caller.key, callee.key) not in edges:
            edges[(caller.key, callee.key)] = CallEdge(caller.key, callee.key, purpose, critical)

    found = registries(topology)
    central_hub = next((a for h in topology.hosts[:1] for a in h.agents
                        if role_for(a.name, a.role).role == "observability"), None)
    for agent in topology.agents:
        for dep in agent.dependencies:
            target = topology.find_agent(dep.name, agent.host)
            add(agent, target, "dependency", bool(target and target.required))
        for name, critical in calls_of(agent):
            add(agent, topology.find_agent(name, agent.host), "call", critical)
        for registry in found:
            add(agent, registry, "registration", False)
        if (role_for(agent.name, agent.role).role == "observability" and central_hub is not None
                and agent.host != central_hub.host):
            add(agent, central_hub, "sync", False)
    return list(edges.values())


def declared_calls(topology: Topology) -> list[CallEdge]:
    """The ``call`` edges that come from ``calls:`` in the spec (not from a role's defaults)."""
    declared = {a.key for a in topology.agents if a.calls is not None}
    return [e for e in call_edges(topology) if e.purpose == "call" and e.caller in declared]
