"""The backend interface every way of standing the spec up implements, and what suites may rely on.

Suites never ask which backend runs; they may ask what it can do (``capabilities``).
"""

from __future__ import annotations

import signal
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol, runtime_checkable

from aisys_verify.errors import StackStartError as StackStartError
from aisys_verify.health import http_health
from aisys_verify.waiting import poll

if TYPE_CHECKING:
    from collections.abc import Callable

    from aisys_verify.config import VerifyConfig
    from aisys_verify.health import HealthReading
    from aisys_verify.spec.model import Agent, Topology
    from aisys_verify.stack.interpose import ProxiedEdge
    from aisys_verify.stack.toxiproxy import ToxiproxyClient


# --- what every backend shares ----------------------------------------------------------------------


@dataclass(frozen=True)
class AgentEndpoint:
    """Where a test (the outside world) reaches an agent: directly, never through a proxy."""

    agent: str
    host: str
    address: str
    port: int
    health_port: int
    http_port: int
    scheme: str = "http"  # https where the stack serves the agent's HTTP side with TLS (StackOptions.tls)

    @property
    def main_url(self) -> str:
        return f"tcp://{self.address}:{self.port}"

    @property
    def health_url(self) -> str:
        return f"tcp://{self.address}:{self.health_port}"

    @property
    def http_url(self) -> str:
        return f"{self.scheme}://{self.address}:{self.http_port}"

    def request(self, action: str, fields: dict[str, Any] | None = None, *, timeout: float = 5.0,
                traceparent: str | None = None, health: bool = False) -> dict[str, Any]:
        """One request to this agent as the real agents send it (the envelope, a fresh REQ socket);
        raises TimeoutError when no reply comes within ``timeout``."""
        from aisys_verify.standin import protocol
        from aisys_verify.standin.client import request_once

        message = protocol.envelope(action, "aisys-verify", {**(fields or {}),
                                                            **({"traceparent": traceparent} if traceparent else {})})
        try:
            return request_once(self.health_url if health else self.main_url, message, timeout)
        except TimeoutError:
            raise TimeoutError(f"{self.host}/{self.agent}: no reply to {action!r} within {timeout:g} s") from None


@dataclass
class StackOptions:
    interpose: bool = True
    skip_edges: Sequence[str] = ()
    health_timeout: float = 30.0
    trace: str = "auto"  # auto: JSON-lines spans in <workdir>/traces (stack.trace_dir); or none, console, ...
    workdir: Path | None = None
    keep_workdir: bool = False
    standin_profile: str = "ideal"  # aisys_verify.standin.profile: what the stand-ins speak
    standin_defects: tuple[str, ...] = ()
    # graph: each group starts once the groups it needs are healthy; layered: whole dependency layers, each
    # waiting for its slowest group (the old way, kept to compare: benchmarks/bench_stack.py)
    start: str = "graph"
    inventory: Path | None = None  # external backend: the inventory file (stack/inventory.py)
    images: str = "standin"  # compose backend: standin | spec (config.IMAGE_MODES)
    standin_groups: tuple[str, ...] = ()  # compose with spec images: groups run from the stand-in image
    prometheus: str = "auto"  # the stack's own Prometheus: auto | own | off | a URL of one that runs (observe/)
    # TLS on the agents' HTTP side: selector (host, host/Agent or all) -> client auth (stack/tls.py); {}: plain HTTP
    tls: Mapping[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        from aisys_verify.errors import UsageError
        from aisys_verify.plan.order import START_MODES

        if self.start not in START_MODES:
            raise UsageError(f"unknown start order {self.start!r}: use one of {', '.join(START_MODES)}")


def stack_options(config: VerifyConfig, **extra: Any) -> StackOptions:
    """The StackOptions a resolved VerifyConfig asks for (plugin, CLI and daemon build them here), plus
    ``extra`` fields (health_timeout, workdir, ...)."""
    fields: dict[str, Any] = {"health_timeout": config.health_timeout, **extra}
    return StackOptions(interpose=config.interpose, standin_profile=config.standin_profile,
                        standin_defects=config.standin_defects, inventory=config.inventory, images=config.images,
                        standin_groups=config.standin_groups, prometheus=config.prometheus or "auto",
                        tls=dict(config.tls), **fields)


def start_line(start: str, layers: int) -> str:
    """The progress line after a stack's header: how its groups start (both backends print it)."""
    if start == "layered":
        return f"  start: layered ({layers} layers, one after the other; each waits for its slowest group)"
    return (f"  start: graph (a group starts once the groups it needs are healthy; longest chain: {layers} "
            "groups)")


BACKENDS = {"local": "aisys_verify.stack.local:LocalStack", "compose": "aisys_verify.stack.compose:ComposeStack",
            "external": "aisys_verify.stack.external:ExternalStack",
            "kubernetes": "aisys_verify.k8s.backend:KubernetesStack"}

# What a stack can do, by name (``Stack.capabilities``); a test that needs one calls ``require``:
CAPABILITIES = {
    "kill": "kill a group (SIGKILL/SIGTERM to its process or container)",
    "restart": "start a killed group again",
    "pause": "freeze a group (SIGSTOP, docker pause) and resume it",
    "partition": "cut the links between hosts (Toxiproxy on every cross-host edge)",
    "network": "network faults on edges (Toxiproxy on the edge)",
    "pressure": "CPU and memory pressure on a group (cgroups v1 and stress-ng)",
    "observe-proxies": "this process reaches the proxies' listen addresses (to measure a fault's effect)",
    "redis": "read each host's Redis (readiness keys)",
    "traces": "read every agent's spans (JSON-lines files)",
}


def require(stack: Stack, *capabilities: str, purpose: str = "") -> None:
    """Raise CapabilityMissing naming the first of ``capabilities`` the stack lacks (the plugin turns it into
    a skip, or a failure under ``--aisys-strict-capabilities``)."""
    from aisys_verify.errors import CapabilityMissing

    for capability in capabilities:
        if capability not in stack.capabilities:
            what = CAPABILITIES.get(capability, capability)
            raise CapabilityMissing(f"the {type(stack).__name__} backend cannot {what}"
                                    f"{' (' + purpose + ')' if purpose else ''}; it can: "
                                    f"{', '.join(sorted(stack.capabilities)) or 'nothing'}", capability)


def interposable_edges(backend: str, topology: Topology, options: StackOptions) -> frozenset[tuple[str, str]] | None:
    """The (caller, callee) agent-key pairs a stack of ``backend`` will put Toxiproxy on, known before it starts
    (the fault matrix offers only these), or None for every edge. A backend class answers through an optional
    ``interposable(topology, options)`` static method."""
    answer = getattr(backend_class(backend), "interposable", None)
    return None if answer is None else answer(topology, options)


@runtime_checkable
class Stack(Protocol):
    topology: Topology
    stack_id: str
    started_s: float | None
    proxies: list[ProxiedEdge]
    # e.g. {"kill", "restart", "pause", "partition", "pressure", "observe-proxies" (proxies reachable from here)}
    capabilities: frozenset[str]
    trace_dir: Path | None  # JSON-lines spans of every agent, when the stack exports them to files

    def start(self) -> float: ...

    def stop(self) -> None: ...

    def endpoint(self, agent: str, host: str | None = None) -> AgentEndpoint: ...

    def endpoints(self) -> list[AgentEndpoint]: ...

    def log_path(self, host: str, group: str) -> Path: ...

    def kill_group(self, host: str, group: str, sig: int = signal.SIGKILL) -> None: ...

    def restart_group(self, host: str, group: str, timeout: float = 20.0) -> None: ...

    def pause_group(self, host: str, group: str) -> None: ...  # SIGSTOP / docker pause

    def resume_group(self, host: str, group: str) -> None: ...

    def group_paused(self, host: str, group: str) -> bool: ...

    def paused_groups(self) -> list[tuple[str, str]]: ...

    @property
    def toxiproxy_client(self) -> ToxiproxyClient: ...


def backend_class(name: str) -> type[Any]:
    """The backend class for a name, imported lazily (compose pulls in nothing until asked for)."""
    from importlib import import_module

    from aisys_verify.errors import UsageError

    try:
        module, _, attr = BACKENDS[name].partition(":")
    except KeyError:
        raise UsageError(f"unknown backend {name!r}: use one of {', '.join(BACKENDS)}") from None
    return getattr(import_module(module), attr)  # type: ignore[no-any-return]


# defects whose health never says ok by design: the gate waits only for such an agent to answer
ANSWERING_IS_ENOUGH = ("contradictory_health", "ready_ttl_not_refreshed")


@dataclass(frozen=True)
class HealthGate:
    """What the stand-up health gate waits for, per agent (the launcher and every backend use it).

    An agent whose resolved profile has a start defect (``double_bind``, ``binds_wrong_port``) never
    answers on its spec ports: waiting for it would fail every stand-up with that defect on, so it is
    skipped and reported. An agent whose health is wrong by design (``contradictory_health`` says
    degraded with ready true; ``ready_ttl_not_refreshed`` turns degraded when its key expires) passes
    once it answers at all. Everyone else passes when its health reads ``up``.
    """

    skipped: Mapping[str, str] = field(default_factory=dict)  # agent key -> the start defect
    answering: frozenset[str] = frozenset()  # agent keys for which any health answer passes

    def waits_for(self, key: str) -> bool:
        return key not in self.skipped

    def passes(self, key: str, reading: HealthReading) -> bool:
        return reading.up or (key in self.answering and reading.answering)

    def note(self) -> str | None:
        """One progress line naming the skipped agents and why, or None when none is skipped."""
        if not self.skipped:
            return None
        from aisys_verify.standin.profile import DEFECTS

        shown = "; ".join(f"{key} ({defect}: {DEFECTS[defect][0]})" for key, defect in sorted(self.skipped.items()))
        return f"  health gate skips {len(self.skipped)} agent(s) that cannot answer on their spec ports: {shown}"


def health_gate(topology: Topology, plan: Any) -> HealthGate:
    """The gate for a stack of ``topology`` run with ``plan`` (a RunPlan: the profile and defects)."""
    from aisys_verify.standin.profile import profile_of, start_defects

    answering = frozenset(
        a.key for a in topology.agents
        if any(profile_of(topology, plan, a).has(d)
               for d in ANSWERING_IS_ENOUGH))
    return HealthGate(start_defects(topology, plan), answering)


class GroupWait:
    """The health gate over groups as they start: which of each started group's agents have not yet passed it
    (one that passed stays done), and who is late. The stand-in launcher and the compose backend both wait
    for their groups through it; each raises its own error, with its own evidence, for the laggard.

    ``address`` says where this process reaches an agent's HTTP port.
    """

    def __init__(self, topology: Topology, plan: Any, address: Callable[[Agent], str]) -> None:
        self.topology, self.plan, self.address = topology, plan, address
        self.gate = health_gate(topology, plan)
        self.pending: dict[tuple[str, str], dict[str, Agent]] = {}
        self.last: dict[str, str] = {}  # agent key -> its last reading, shown

    def add(self, node: tuple[str, str]) -> None:
        from aisys_verify.plan.groups import agents_of_group

        self.pending[node] = {a.key: a for a in agents_of_group(self.topology, *node) if self.gate.waits_for(a.key)}

    def healthy(self, node: tuple[str, str]) -> bool:
        """Read the gate for the group's agents not yet through it, in key order, stopping at the first that
        fails (a group is healthy only once all are; its agents come up together, so asking the rest would
        mostly cost HTTP requests on both sides); drop those that pass. True once none is left."""
        agents = self.pending[node]
        for key in sorted(agents):
            reading = http_health(self.address(agents[key]), self.plan.http_ports[key])
            if not self.gate.passes(key, reading):
                self.last[key] = reading.shown()
                return False
            del agents[key]
        return True

    def laggard(self, node: tuple[str, str]) -> tuple[Agent, str]:
        """The group's first agent still failing the gate, and its last reading."""
        key = min(self.pending[node])
        return self.pending[node][key], str(self.last.get(key))

    def overdue(self, started_at: Mapping[tuple[str, str], float], timeout: float,
                now: float) -> tuple[str, str] | None:
        """A group started more than ``timeout`` s before ``now`` (perf_counter) and still not healthy."""
        return next((node for node, began in started_at.items() if now - began > timeout and self.pending[node]),
                    None)

    def wait(self, groups: Sequence[tuple[str, str]], timeout: float, interval: float,
             check: Callable[[list[tuple[str, str]]], None] = lambda left: None) -> tuple[str, str] | None:
        """Until every agent of ``groups`` passes; None then, else the first group still late after ``timeout``.
        ``check(groups still waited for)`` runs each round and raises when waiting is pointless (a process
        exited, a container stopped)."""
        for node in groups:
            self.add(node)

        def left() -> list[tuple[str, str]]:
            waiting = [node for node in groups if self.pending[node]]
            check(waiting)
            return [node for node in waiting if not self.healthy(node)]

        waited = poll(left, timeout, interval, until=lambda late: not late)
        return None if waited.met else waited.last[0]


def wait_endpoints(stack: Stack, timeout: float, agents: Sequence[AgentEndpoint] | None = None) -> None:
    """Until every agent (or the given ones) passes the health gate on HTTP /health (agents with start defects
    skipped), read all at once each round; StackStartError naming the laggards. The local and external
    backends' ``wait_healthy``."""
    from concurrent.futures import ThreadPoolExecutor

    gate = health_gate(stack.topology, getattr(stack, "plan", None))
    pending = [e for e in (agents if agents is not None else stack.endpoints())
               if gate.waits_for(f"{e.host}/{e.agent}")]
    last: dict[str, str] = {}
    if not pending:
        return
    with ThreadPoolExecutor(max_workers=min(16, len(pending))) as pool:

        def still_pending() -> list[AgentEndpoint]:  # one that passed the gate stays done
            readings = list(pool.map(lambda e: http_health(e.address, e.http_port), pending))
            for ep, reading in zip(list(pending), readings):
                if gate.passes(f"{ep.host}/{ep.agent}", reading):
                    pending.remove(ep)
                else:
                    last[f"{ep.host}/{ep.agent}"] = reading.shown()
            return pending

        if not poll(still_pending, timeout, 0.1, until=lambda left: not left).met:
            shown = "; ".join(f"{e.host}/{e.agent}: {last.get(f'{e.host}/{e.agent}')}" for e in pending[:5])
            raise StackStartError(f"{len(pending)} agent(s) not healthy after {timeout:g} s: {shown}")


def serving_loop_s(stack: Any) -> float:
    """Seconds the slowest agent's main socket waits before it handles a request: 0 for the ideal profile,
    ~0.1 for the reference one (PROTOCOL.md §1: one request per serving loop, strictly one at a time). Suites
    make their timeouts honest functions of it (N sequential requests to one agent take N loops)."""
    from aisys_verify.standin.profile import profile_of

    plan = getattr(stack, "plan", None)
    if plan is None:
        return 0.0
    return max((profile_of(stack.topology, plan, a).serving_loop_s
                for a in stack.topology.agents), default=0.0)


def probe_health(stack: Stack, timeout: float = 1.0) -> dict[str, dict[str, Any]]:
    """Every agent's reply on its ZeroMQ health socket, keyed 'host/Agent' ({'status': 'down'} if none)."""
    from aisys_verify.standin.client import HEALTH_CHECK, request_once

    result: dict[str, dict[str, Any]] = {}
    for ep in stack.endpoints():
        try:
            result[f"{ep.host}/{ep.agent}"] = request_once(ep.health_url, HEALTH_CHECK, timeout)
        except TimeoutError as exc:
            result[f"{ep.host}/{ep.agent}"] = {"status": "down", "error": str(exc)}
    return result
