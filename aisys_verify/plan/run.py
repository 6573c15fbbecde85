"""The run plan: where each host lives, each host's Redis, each agent's HTTP port, and per-edge address overrides.

A RunPlan says where each host lives (a loopback address per host by default, so two hosts' identical
ports never clash), each host's Redis, each agent's HTTP port, and per-edge address overrides (how the
stack puts a Toxiproxy proxy on an edge). It is JSON so a backend can hand it to every group process.
"""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aisys_verify.errors import UsageError
from aisys_verify.plan.edges import CallEdge, edges_by_caller
from aisys_verify.spec.model import Agent, HttpPortSource, Topology

Address = tuple[str, int]


@dataclass
class RunPlan:
    host_addresses: dict[str, str]
    redis: dict[str, Address]
    http_ports: dict[str, int]
    # per caller key, per callee key: {"main": [host, port], "health": [...], "http": [...]}
    overrides: dict[str, dict[str, dict[str, Address]]] = field(default_factory=dict)
    # per agent key: where that agent reaches its host's Redis (a proxy, when interposed)
    redis_overrides: dict[str, Address] = field(default_factory=dict)
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

    def redis_for(self, agent_key: str, host: str) -> Address:
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


def edge_addresses(topology: Topology, plan: RunPlan, caller: Agent,
                   edges: Iterable[CallEdge] | None = None) -> dict[str, dict[str, Address]]:
    """Callee name -> {"main", "health", "http": (address, port)} for every edge ``caller`` dials (of ``edges``,
    default: the topology's): the callee's own address unless the plan overrides the edge (a proxy). What a
    stand-in's address book is built from."""
    book: dict[str, dict[str, Address]] = {}
    own = plan.overrides.get(caller.key, {})
    mine = edges_by_caller(topology).get(caller.key, ()) if edges is None else (
        e for e in edges if e.caller == caller.key)
    for edge in mine:
        callee = topology.agents_by_key[edge.callee]
        address = plan.address_of(callee.key, callee.host)
        over = own.get(callee.key, {})
        book[callee.name] = {"main": over.get("main", (address, callee.port.number)),
                             "health": over.get("health", (address, callee.health_port.number)),
                             "http": over.get("http", (address, plan.http_ports[callee.key]))}
    return book


def describe(plan: RunPlan) -> dict[str, Any]:
    return {"hosts": plan.host_addresses, "redis": plan.redis, "trace": plan.trace}
