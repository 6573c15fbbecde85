"""Stand-ins of one or more hosts with TLS on their HTTP side, for the security suite.

``tls_standins`` mints the run's PKI into the work folder (never the repository), writes the TLS
plan for the selection (``parse_selection``: which hosts/agents serve HTTPS and with which client
authentication), starts the hosts' groups (stand-in processes and their Redis, standin.cluster) with
``AISYS_STANDIN_TLS`` naming the plan, and yields the endpoints the matrix probes, one per kind:

| kind      | where                                  | path             |
|-----------|----------------------------------------|------------------|
| gateway   | the web gateway (role ``gateway``)     | ``/dialogue/process`` (GET: a 404 from its router) |
| health    | the first other agent of the host      | ``/health``      |
| metrics   | the same agent                         | ``/metrics``     |

Readiness does not need the HTTP side (the group prints ``group_ready``; health is read on the
ZeroMQ health socket), so a TLS port never blocks the stand-up.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aisys_verify.errors import UsageError
from aisys_verify.plan.roles import role_for
from aisys_verify.security.pki import TestPki, make_pki
from aisys_verify.security.tls import TLS_ENV, TlsEndpoint, write_tls_plan
from aisys_verify.spec.model import Agent
from aisys_verify.standin.tls import parse_selection as parse_selection

SELECTION_ENV = "AISYS_TLS_CLIENT_AUTH"
DEFAULT_SELECTION = "pc2=required"  # the parser (standin.tls.parse_selection) names it too
KINDS = ("gateway", "health", "metrics")


@dataclass(frozen=True)
class Endpoint:
    kind: str
    agent: str  # host/Agent
    address: str
    port: int
    path: str
    client_auth: str

    @property
    def where(self) -> str:
        url = f"https://{self.address}:{self.port}{self.path}"
        return f"{self.kind} {self.agent} {url} (client_auth {self.client_auth})"


@dataclass(frozen=True)
class TlsStand:
    pki: TestPki
    endpoints: Mapping[str, Endpoint]
    pids: Sequence[int]
    workdir: Path


@contextlib.contextmanager
def tls_standins(spec: Sequence[str], workdir: Path, selection: Mapping[str, str],
                 start_timeout: float = 60.0, environ: Mapping[str, str] | None = None,
                 spec_vars: Mapping[str, str] | None = None) -> Iterator[TlsStand]:
    """``environ``: more variables for the group processes (a ``*_FILE`` secret path, say)."""
    from aisys_verify.standin.cluster import LocalCluster

    hosts = sorted({s.split("/", 1)[0] for s in selection})
    cluster = LocalCluster(list(spec), workdir, spec_vars=dict(spec_vars or {}), only_hosts=hosts)
    unknown = sorted(set(hosts) - {h.name for h in cluster.topology.hosts})
    if unknown:
        raise UsageError(f"TLS selection names hosts the spec lacks: {', '.join(unknown)} "
                         f"(hosts: {', '.join(h.name for h in cluster.topology.hosts)})")
    agents = [a for a in cluster.topology.agents if a.host in hosts]
    addresses = {a.key: cluster.plan.address_of(a.key, a.host) for a in agents}
    pki = make_pki(workdir / "secrets" / "pki", {a.key: [addresses[a.key], "localhost"] for a in agents})
    plan: dict[str, TlsEndpoint] = {}
    auth_of: dict[str, str] = {}
    for agent in agents:
        auth = selection.get(agent.key, selection.get(agent.host))
        if auth is None:
            continue
        cred = pki.server(agent.key)
        plan[agent.key] = TlsEndpoint(cred.cert, cred.key, pki.ca, auth)
        auth_of[agent.key] = auth
    plan_path = write_tls_plan(workdir / "secrets" / "tls-plan.json", plan)
    cluster.environ.update({**(environ or {}), TLS_ENV: str(plan_path)})
    endpoints = _endpoints(agents, auth_of, lambda a: (addresses[a.key], cluster.plan.http_ports[a.key]))
    try:
        cluster.start(timeout=start_timeout)
        yield TlsStand(pki, endpoints, [pid for _, pid in cluster.pids()], workdir)
    finally:
        cluster.stop()


def _endpoints(agents: Sequence[Agent], auth_of: Mapping[str, str],
               where: Callable[[Agent], tuple[str, int]]) -> dict[str, Endpoint]:
    """One endpoint per kind among the TLS agents: the gateway's, and the first other agent's health and metrics;
    ``where``: the address and HTTP port this process reaches an agent at."""
    served = [a for a in agents if a.key in auth_of]
    gateway = next((a for a in served if role_for(a.name, a.role).role == "gateway"), None)
    other = next((a for a in served if a is not gateway), None)
    endpoints: dict[str, Endpoint] = {}
    for kind, chosen, path in (("gateway", gateway, "/dialogue/process"), ("health", other, "/health"),
                               ("metrics", other, "/metrics")):
        if chosen is not None:
            endpoints[kind] = Endpoint(kind, chosen.key, *where(chosen), path, auth_of[chosen.key])
    return endpoints


@contextlib.contextmanager
def tls_compose(spec: Sequence[str], workdir: Path, selection: Mapping[str, str],
                spec_vars: Mapping[str, str] | None = None, health_timeout: float = 120.0) -> Iterator[TlsStand]:
    """The same stand from a compose stack with the selection as its TLS (stack/tls.py: PKI, plan and mounts in
    the containers): the matrix then probes containers at their published addresses. ``pids``: each group
    container's first process as this machine sees it (``docker inspect``), for the process scans."""
    from aisys_verify.stack.base import StackOptions
    from aisys_verify.stack.compose import ComposeStack

    workdir.mkdir(parents=True, exist_ok=True)
    stack = ComposeStack(list(spec), dict(spec_vars or {}),
                         StackOptions(tls=dict(selection), workdir=workdir, health_timeout=health_timeout))
    stack.start()
    try:
        if stack.tls is None:
            raise UsageError(f"TLS selection {dict(selection)} picks no agent of the spec")
        endpoints = _endpoints(stack.topology.agents, stack.tls.served,
                               lambda a: (stack.endpoint(a.name, a.host).address, stack.plan.http_ports[a.key]))
        yield TlsStand(stack.tls.pki, endpoints, _container_pids(stack), stack.workdir)
    finally:
        stack.stop()


def _container_pids(stack: Any) -> list[int]:
    from aisys_verify.stack.docker import run_docker

    ids = [stack.group_container(host, group) for host, group in stack.services]
    shown = run_docker("inspect", "-f", "{{.State.Pid}}", *ids).stdout.split()
    return [int(pid) for pid in shown if pid.isdigit() and int(pid) > 0]
