"""The typed, immutable Topology that every other part of aisys-verify reads.

See docs/spec-model.md for the picture. In short: a Topology has Hosts; a host
has Agents (from its startup_config), Docker Groups (its ``docker_groups``) and
compose projects; dependencies become Edges; SLOs, host facts and GPU plans are
attached. Every node keeps the Location of the YAML that declared it.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from functools import cached_property
from typing import Any

from aisys_verify.spec.expr import PortExpr
from aisys_verify.spec.source import Location


@dataclass(frozen=True)
class Port:
    """A port as written (``expr``) and as resolved under the spec's environment (``number``)."""

    number: int
    expr: PortExpr
    loc: Location

    @property
    def uses_offset(self) -> bool:
        return self.expr.uses_offset


@dataclass(frozen=True)
class Ref:
    """A name that refers to something else, with where it was written."""

    name: str
    loc: Location


class HttpPortSource(enum.Enum):
    EXPLICIT = "explicit"  # http_port in the spec
    IMPLICIT = "implicit"  # the real BaseAgent's rule: health_check_port + 1


@dataclass(frozen=True)
class Call:
    """A run-time call an agent makes beyond its start-up ``dependencies`` (``calls:`` in the startup config).

    ``critical``: the caller cannot do its work while the callee is down (its answers fail instead of
    degrading); the fault matrix counts such a call in the blast radius as it does a dependency.
    """

    name: str
    critical: bool
    loc: Location


@dataclass(frozen=True)
class Agent:
    name: str
    host: str
    section: str  # the agent_groups section (or "pc2_services") it was declared in
    script_path: str
    port: Port
    health_port: Port
    http_port: Port
    http_port_source: HttpPortSource
    required: bool
    dependencies: tuple[Ref, ...]
    config: Mapping[str, Any]
    role: str | None
    loc: Location
    # run-time calls as the spec declares them; None: the agent's role's default calls (plan/roles.py)
    calls: tuple[Call, ...] | None = None

    @property
    def key(self) -> str:
        return f"{self.host}/{self.name}"


@dataclass(frozen=True)
class DockerGroup:
    """A ``docker_groups`` entry: the agents deployed together in one container."""

    name: str
    host: str
    description: str
    agents: tuple[Ref, ...]
    loc: Location

    @property
    def key(self) -> str:
        return f"{self.host}/{self.name}"


@dataclass(frozen=True)
class NamedPort:
    """A host-level port that is not an agent's, e.g. PC2's ``error_bus_port``."""

    name: str
    port: Port


@dataclass(frozen=True)
class PortRange:
    name: str
    start: int
    end: int
    loc: Location


# --- compose --------------------------------------------------------------------------------


@dataclass(frozen=True)
class EnvVar:
    name: str
    value: str | None  # None: passed through from the caller's environment
    raw: str | None
    loc: Location


@dataclass(frozen=True)
class PublishedPort:
    """One ``ports`` entry; a range (``"8000-8010:8000-8010"``) is one entry with ``*_end`` set.

    Numbers are kept as written, even outside 1-65535 (the ports lint reports those), so that a
    spec with a bad port still loads and every problem is listed at once.
    """

    host_ip: str | None  # None or a wildcard (0.0.0.0, ::): every address of the host
    host_port: int | None  # None or 0: an ephemeral port the engine picks
    container_port: int
    protocol: str
    raw: str
    loc: Location
    host_port_end: int | None = None  # the last host port of a range
    container_port_end: int | None = None  # the last container port of a range

    @property
    def host_ports(self) -> tuple[int, int] | None:
        """The host ports this entry surely binds (first, last), or None when the engine picks one.

        ``"8000-8010:80"`` (a host range for one container port) binds a single free port of the range, so
        it holds none of them for certain.
        """
        if not self.host_port:
            return None
        if self.host_port_end is not None and self.container_port_end is None:
            return None
        return self.host_port, self.host_port_end if self.host_port_end is not None else self.host_port

    @property
    def all_addresses(self) -> bool:
        return self.host_ip in (None, "", "0.0.0.0", "::", "[::]")


@dataclass(frozen=True)
class Healthcheck:
    test: tuple[str, ...]
    raw_test: tuple[str, ...]
    disabled: bool
    loc: Location


@dataclass(frozen=True)
class DeviceRequest:
    driver: str | None
    device_ids: tuple[str, ...]
    count: int | None  # -1 means "all"
    capabilities: tuple[str, ...]
    loc: Location


@dataclass(frozen=True)
class Limits:
    cpus: float | None
    memory_bytes: int | None
    cpus_loc: Location | None
    memory_loc: Location | None


@dataclass(frozen=True)
class ServiceDependency:
    service: str
    condition: str
    loc: Location


@dataclass(frozen=True)
class ServiceSecret:
    source: str
    target: str
    loc: Location


@dataclass(frozen=True)
class ComposeService:
    name: str
    project: str
    image: str | None
    has_build: bool
    depends_on: tuple[ServiceDependency, ...]
    environment: tuple[EnvVar, ...]
    ports: tuple[PublishedPort, ...]
    healthcheck: Healthcheck | None
    limits: Limits
    devices: tuple[DeviceRequest, ...]
    secrets: tuple[ServiceSecret, ...]
    networks: tuple[str, ...]
    network_mode: str | None
    defined_in: tuple[str, ...]  # files that mention it, in merge order (extends bases and includes too)
    loc: Location
    profiles: tuple[str, ...] = ()  # compose profiles; empty: the service always runs

    def runs_with(self, other: ComposeService) -> bool:
        """Whether the two services can run at the same time in one project.

        A service without profiles always runs. Services whose profile sets are disjoint are read as
        alternatives (``--profile cpu`` or ``--profile gpu``), which is what profiles are for: enabling
        both at once is possible but is taken as not meant.
        """
        return not self.profiles or not other.profiles or bool(set(self.profiles) & set(other.profiles))

    @property
    def is_override_only(self) -> bool:
        """Declared only to override a base file that does not define it (no image, no build)."""
        return self.image is None and not self.has_build


@dataclass(frozen=True)
class SecretDefinition:
    name: str
    external: bool
    external_name: str | None
    file: str | None
    environment: str | None
    loc: Location


@dataclass(frozen=True)
class InterpolationRecord:
    """A compose string that contained ``$``: kept for the interpolation lint."""

    raw: str
    value: str
    substitutions: tuple[tuple[str, int, int, str, bool, bool], ...]  # name, start, end, value, defined, bare
    key: str  # dotted path inside the service/file, e.g. "healthcheck.test[3]"
    loc: Location


@dataclass(frozen=True)
class ComposeProject:
    name: str
    host: str | None  # None: a standalone project not tied to a host of the spec
    files: tuple[str, ...]
    services: tuple[ComposeService, ...]
    secrets: tuple[SecretDefinition, ...]
    networks: tuple[str, ...]
    interpolations: tuple[InterpolationRecord, ...]
    loc: Location
    read: tuple[str, ...] = ()  # every file read for it: ``files``, the files they include, extends bases

    def service(self, name: str) -> ComposeService | None:
        return next((s for s in self.services if s.name == name), None)

    @property
    def machine(self) -> str:
        """Where its containers run: the host's name, or the project's own for a standalone project."""
        return self.host or f"project {self.name}"


def run_together(a: tuple[ComposeProject, ComposeService], b: tuple[ComposeProject, ComposeService]) -> bool:
    """Whether two compose services can be up at the same time on the same machine.

    The one model of "what runs together" for the compose rules: services of projects on different hosts
    never share a machine; on one machine, compose profiles decide (:meth:`ComposeService.runs_with`).
    """
    return a[0].machine == b[0].machine and a[1].runs_with(b[1])


# --- facts, GPU plan, stores, SLOs ------------------------------------------------------------


@dataclass(frozen=True)
class GpuFacts:
    model: str
    count: int
    vram_gb: float | None
    loc: Location


@dataclass(frozen=True)
class HostFacts:
    ram_gb: float | None
    cpus: float | None
    gpus: tuple[GpuFacts, ...]
    sources: tuple[str, ...]
    loc: Location


class PartitionMode(enum.Enum):
    MIG = "mig"
    MPS = "mps"
    TIME_SLICING = "time-slicing"
    EXCLUSIVE = "exclusive"


@dataclass(frozen=True)
class GpuSlice:
    group: str
    profile: str | None  # a MIG profile such as "1g.10gb", or a label such as "MIG-1"
    share_pct: float | None
    vram_gb: float | None
    loc: Location


@dataclass(frozen=True)
class GpuPlan:
    host: str
    device: int
    mode: PartitionMode
    slices: tuple[GpuSlice, ...]
    source: str
    loc: Location


@dataclass(frozen=True)
class Store:
    """A backing store an agent needs, e.g. the host's Redis (readiness keys live there)."""

    kind: str
    host: str
    port: int
    loc: Location

    @property
    def key(self) -> str:
        return f"{self.host}/{self.kind}:{self.port}"


@dataclass(frozen=True)
class RecoveryObjectives:
    """How much a disaster may lose and how long it may last (the spec's ``recovery_objectives``): RPO, the
    seconds of acknowledged writes a host's loss may cost; RTO, the seconds until the system serves again."""

    rpo_s: float
    rto_s: float
    loc: Location


class SloType(enum.Enum):
    AVAILABILITY = "availability"
    LATENCY = "latency"
    ERROR_RATE = "error_rate"
    BUSINESS = "business"
    RESOURCE = "resource"


@dataclass(frozen=True)
class Slo:
    name: str
    category: str  # the section of slo-config.yaml: slos, error_rate_slos, ...
    service: str
    type: SloType
    threshold: float
    lower_threshold: float | None
    window_s: float
    window_raw: str
    description: str
    query: str
    loc: Location
    service_loc: Location


@dataclass(frozen=True)
class SloConfig:
    error_budget_window_s: float | None
    alert_threshold: float | None
    critical_threshold: float | None
    slos: tuple[Slo, ...]
    path: str


# --- the graph --------------------------------------------------------------------------------


class EdgeKind(enum.Enum):
    AGENT = "agent"  # agent -> agent on the same host
    CROSS_HOST = "cross-host"  # agent -> agent on another host
    STORE = "store"  # agent -> backing store
    GROUP = "group"  # compose depends_on between group services


@dataclass(frozen=True)
class Edge:
    source: str  # "host/Agent" or "host/group"
    target: str  # "host/Agent", "host/group" or a Store key
    kind: EdgeKind
    loc: Location

    @property
    def name(self) -> str:
        """A stable name usable for a Toxiproxy proxy: 'mainpc.MemoryClient--pc2.MemoryOrchestratorService'."""
        return f"{self.source.replace('/', '.')}--{self.target.replace('/', '.')}"


@dataclass(frozen=True)
class Host:
    name: str
    startup_config: str | None
    agents: tuple[Agent, ...]
    groups: tuple[DockerGroup, ...]
    named_ports: tuple[NamedPort, ...]
    port_ranges: tuple[PortRange, ...]
    facts: HostFacts | None
    gpu_model_hint: Ref | None  # e.g. hybrid_inference_policy.local_backend.gpu_device
    loc: Location


@dataclass(frozen=True)
class Topology:
    """Everything the spec says, resolved under ``env`` (e.g. PORT_OFFSET)."""

    hosts: tuple[Host, ...]
    projects: tuple[ComposeProject, ...]
    edges: tuple[Edge, ...]
    stores: tuple[Store, ...]
    gpu_plans: tuple[GpuPlan, ...]
    slo_config: SloConfig | None
    env: Mapping[str, str]
    files: tuple[str, ...]
    notes: tuple[Any, ...] = field(default=(), compare=False)  # loader diagnostics (lint findings)
    recovery: RecoveryObjectives | None = None  # the manifest's recovery_objectives (suites/dr judges them)

    @cached_property
    def agents(self) -> tuple[Agent, ...]:
        return tuple(a for h in self.hosts for a in h.agents)

    @cached_property
    def agents_by_key(self) -> Mapping[str, Agent]:
        return {a.key: a for a in self.agents}

    @cached_property
    def groups(self) -> tuple[DockerGroup, ...]:
        return tuple(g for h in self.hosts for g in h.groups)

    def host(self, name: str) -> Host | None:
        return next((h for h in self.hosts if h.name == name), None)

    def find_agent(self, name: str, host: str | None = None) -> Agent | None:
        """An agent by name: on ``host`` first, then anywhere if the name is unique."""
        if host is not None and (agent := self.agents_by_key.get(f"{host}/{name}")):
            return agent
        matches = [a for a in self.agents if a.name == name]
        return matches[0] if len(matches) == 1 else None

    @cached_property
    def group_of(self) -> Mapping[str, tuple[str, ...]]:
        """Agent key -> keys of the docker groups that list it (normally exactly one)."""
        result: dict[str, list[str]] = {}
        for group in self.groups:
            for ref in group.agents:
                result.setdefault(f"{group.host}/{ref.name}", []).append(group.key)
        return {k: tuple(v) for k, v in result.items()}

    def host_projects(self, host: str) -> Iterator[ComposeProject]:
        return (p for p in self.projects if p.host == host)

    def group_service(self, group: DockerGroup) -> ComposeService | None:
        for project in self.host_projects(group.host):
            if (service := project.service(group.name)) is not None:
                return service
        return None

    def summary(self) -> dict[str, Any]:
        return {
            "hosts": {h.name: {"agents": len(h.agents), "groups": len(h.groups)} for h in self.hosts},
            "agents": len(self.agents),
            "edges": {k.value: sum(1 for e in self.edges if e.kind is k) for k in EdgeKind},
            "compose_projects": [p.name for p in self.projects],
            "slos": len(self.slo_config.slos) if self.slo_config else 0,
            "gpu_plans": [f"{p.host}:{p.mode.value}" for p in self.gpu_plans],
        }
