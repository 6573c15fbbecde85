"""How the stand-ins of a Topology find each other: addresses, ports and every call edge.

A RunPlan says where each host lives (a loopback address per host by default, so two
hosts' identical ports never clash), each host's Redis, each agent's HTTP port, and
per-edge address overrides (how the stack puts a Toxiproxy proxy on an edge). It is JSON
so a backend can hand it to every group process.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aisys_verify.errors import UsageError
from aisys_verify.spec.model import Agent, HttpPortSource, Topology
from aisys_verify.standin.calls import AddressBook, Endpoint
from aisys_verify.standin.roles.table import ROLE_CALLS, role_for


@dataclass(frozen=True)
class CallEdge:
    caller: str  # agent key "host/Name"
    callee: str  # agent key
    purpose: str  # dependency | call | registration | sync | scrape
    critical: bool

    @property
    def name(self) -> str:
        return f"{self.caller.replace('/', '.')}--{self.callee.replace('/', '.')}"


@dataclass
class RunPlan:
    host_addresses: dict[str, str]
    redis: dict[str, tuple[str, int]]
    http_ports: dict[str, int]
    # per caller key, per callee key: {"main": [host, port], "health": [...], "http": [...]}
    overrides: dict[str, dict[str, dict[str, tuple[str, int]]]] = field(default_factory=dict)
    # per agent key: where that agent reaches its host's Redis (a proxy, when interposed)
    redis_overrides: dict[str, tuple[str, int]] = field(default_factory=dict)
    # per agent key: the address others dial it at, when not its host's (compose: the group's service name)
    agent_addresses: dict[str, str] = field(default_factory=dict)
    # per host: the address its agents bind (compose: 0.0.0.0 inside each container)
    bind_addresses: dict[str, str] = field(default_factory=dict)
    data_dir: str = ".aisys/data"
    log_dir: str | None = None
    trace: str = "none"  # none | console | file:DIR | otlp:URL
    ready_ttl_s: float = 30.0
    ready_refresh_s: float = 10.0
    health_interval_s: float = 1.0
    # the protocol the stand-ins speak (aisys_verify.standin.profile): ideal | reference, and defect switches
    standin_profile: str = "ideal"
    standin_defects: list[str] = field(default_factory=list)

    def address_of(self, agent_key: str, host: str) -> str:
        """Where other agents (and probes on the same network) reach this agent."""
        return self.agent_addresses.get(agent_key) or self.host_addresses[host]

    def bind_address(self, host: str) -> str:
        return self.bind_addresses.get(host) or self.host_addresses[host]

    def redis_for(self, agent_key: str, host: str) -> tuple[str, int]:
        return self.redis_overrides.get(agent_key, self.redis[host])

    def to_json(self) -> str:
        return json.dumps(asdict(self), indent=2)

    @classmethod
    def from_file(cls, path: str | Path) -> RunPlan:
        try:
            data = json.loads(Path(path).read_text(encoding="utf-8"))
            plan = cls(**data)
        except (OSError, ValueError, TypeError) as exc:
            raise UsageError(f"cannot read run plan '{path}': {exc}") from None
        plan.redis = {h: (a, int(p)) for h, (a, p) in plan.redis.items()}
        plan.redis_overrides = {k: (a, int(p)) for k, (a, p) in plan.redis_overrides.items()}
        plan.overrides = {c: {t: {k: (a, int(p)) for k, (a, p) in v.items()} for t, v in m.items()}
                          for c, m in plan.overrides.items()}
        return plan


def default_plan(topology: Topology, data_dir: str = ".aisys/data", network: str = "127.0.0",
                 base_address: int = 2) -> RunPlan:
    """Host i at <network>.(base+i) (127.0.0.2, 127.0.0.3, ...); each host's Redis at the host's address.

    Any 127.x.y.z is loopback on Linux, so stacks given different networks never clash.
    """
    addresses = {h.name: f"{network}.{base_address + i}" for i, h in enumerate(topology.hosts)}
    redis = {s.host: (addresses[s.host], s.port) for s in topology.stores if s.kind == "redis"}
    for host in topology.hosts:
        redis.setdefault(host.name, (addresses[host.name], 6379))
    return RunPlan(addresses, redis, resolve_http_ports(topology), data_dir=data_dir)


def resolve_http_ports(topology: Topology) -> dict[str, int]:
    """Explicit http ports as written; implicit ones (health+1, the real rule) unless that is taken,
    then port+10000, then the first free port from 20000: deterministic, so every process agrees."""
    result: dict[str, int] = {}
    for host in topology.hosts:
        taken = {p for a in host.agents for p in (a.port.number, a.health_port.number)}
        taken |= {a.http_port.number for a in host.agents if a.http_port_source is HttpPortSource.EXPLICIT}
        taken |= {n.port.number for n in host.named_ports}
        taken |= {s.port for s in topology.stores if s.host == host.name}
        for agent in host.agents:
            if agent.http_port_source is HttpPortSource.EXPLICIT:
                result[agent.key] = agent.http_port.number
                continue
            for candidate in (agent.http_port.number, agent.port.number + 10000, *range(20000, 32768)):
                if candidate not in taken and candidate <= 65535:
                    taken.add(candidate)
                    result[agent.key] = candidate
                    break
    return result


def call_edges(topology: Topology) -> list[CallEdge]:
    """Every edge a stand-in dials: start-up dependencies, role calls, registration and hub sync."""
    edges: dict[tuple[str, str], CallEdge] = {}

    def add(caller: Agent, callee: Agent | None, purpose: str, critical: bool) -> None:
        if callee is not None and callee.key != caller.key and (caller.key, callee.key) not in edges:
            edges[(caller.key, callee.key)] = CallEdge(caller.key, callee.key, purpose, critical)

    registries = [a for a in topology.agents if role_for(a.name, a.role).role in ("registry", "twin")]
    central_hub = next((a for h in topology.hosts[:1] for a in h.agents
                        if role_for(a.name, a.role).role == "observability"), None)
    for agent in topology.agents:
        for dep in agent.dependencies:
            target = topology.find_agent(dep.name, agent.host)
            add(agent, target, "dependency", bool(target and target.required))
        role = role_for(agent.name, agent.role).role
        for name, critical in ROLE_CALLS.get(role, ()):
            add(agent, topology.find_agent(name, agent.host), "call", critical)
        for registry in registries:
            add(agent, registry, "registration", False)
        if role == "observability" and central_hub is not None and agent.host != central_hub.host:
            add(agent, central_hub, "sync", False)
    return list(edges.values())


def address_book(topology: Topology, plan: RunPlan, caller: Agent, edges: list[CallEdge]) -> AddressBook:
    book = AddressBook()
    own = plan.overrides.get(caller.key, {})
    for edge in edges:
        if edge.caller != caller.key:
            continue
        callee = topology.agents_by_key[edge.callee]
        address = plan.address_of(callee.key, callee.host)
        over = own.get(callee.key, {})
        book.main[callee.name] = Endpoint(*over.get("main", (address, callee.port.number)))
        book.health[callee.name] = Endpoint(*over.get("health", (address, callee.health_port.number)))
        book.http[callee.name] = Endpoint(*over.get("http", (address, plan.http_ports[callee.key])))
    return book


UNGROUPED = "__ungrouped__"  # agents in no docker group: the real launcher still starts them


def groups_to_run(topology: Topology, host: str) -> list[str]:
    """The host's docker groups, plus UNGROUPED when some agents belong to none (lint: GRP001)."""
    h = topology.host(host)
    names = [g.name for g in h.groups] if h else []
    if h and any(not topology.group_of.get(a.key) for a in h.agents):
        names.append(UNGROUPED)
    return names


def agents_of_group(topology: Topology, host: str, group: str) -> Iterator[Agent]:
    h = topology.host(host)
    if h is None:
        raise UsageError(f"no host '{host}' in the spec (hosts: {', '.join(x.name for x in topology.hosts)})")
    if group == UNGROUPED:
        yield from (a for a in h.agents if not topology.group_of.get(a.key))
        return
    g = next((x for x in h.groups if x.name == group), None)
    if g is None:
        raise UsageError(f"no docker group '{group}' on host {host} (groups: {', '.join(x.name for x in h.groups)})")
    for ref in g.agents:
        agent = topology.find_agent(ref.name, host)
        if agent is None:
            raise UsageError(f"docker group {group} lists unknown agent {ref.name} (lint: GRP003)")
        yield agent


def describe(plan: RunPlan) -> dict[str, Any]:
    return {"hosts": plan.host_addresses, "redis": plan.redis, "trace": plan.trace}
