"""The external backend: a deployment that already runs, described by an inventory (stack/inventory.py).

It starts and stops nothing. ``start`` checks the deployment is where the inventory says (each host's
name resolves and some agent answers its health there; else one InventoryError naming the file, the key
and what was tried), then waits for the health gate like the other backends. What it can do to the
deployment comes from the inventory: Docker access gives kill, restart and pause; process ids give kill
and pause; declared Toxiproxy proxies give network faults (and a partition when some cross hosts).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import tempfile
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aisys_verify.errors import CapabilityMissing, InventoryError, SpecError, VerifyError
from aisys_verify.plan.groups import agents_of_group
from aisys_verify.plan.run import RunPlan, resolve_http_ports
from aisys_verify.spec.loader import load_spec
from aisys_verify.spec.model import Agent, Topology
from aisys_verify.stack.base import AgentEndpoint, StackOptions, health_gate, wait_endpoints
from aisys_verify.stack.common import Beside
from aisys_verify.stack.interpose import ProxiedEdge
from aisys_verify.stack.inventory import HostEntry, Inventory, ProxyEntry, load_inventory, proxy_entries_from_names
from aisys_verify.stack.toxiproxy import ProxySpec, ToxiproxyClient, ToxiproxyError
from aisys_verify.waiting import wait_until

COMPOSE_PROJECT = "com.docker.compose.project"
COMPOSE_SERVICE = "com.docker.compose.service"
LABEL_GROUP = "com.aisys-verify.group"
PROBE_TIMEOUT_S = 1.0  # per agent, all of a host's agents at once: a wrong address fails in about two seconds


@dataclass
class ExternalStack:
    spec: Sequence[str]
    spec_vars: dict[str, str] = field(default_factory=dict)
    options: StackOptions = field(default_factory=StackOptions)
    progress: Callable[[str], None] = field(default=lambda line: print(line, file=sys.stderr, flush=True))

    def __post_init__(self) -> None:
        if self.options.inventory is None:
            raise InventoryError("the external backend needs an inventory (--aisys-inventory FILE)")
        self.inventory: Inventory = load_inventory(self.options.inventory, load_spec(self.spec, self.spec_vars))
        self.host_topologies: dict[str, Topology] = {}
        for name, entry in self.inventory.hosts.items():  # a host's ports follow the variables it runs with
            try:
                self.host_topologies[name] = load_spec(self.spec, {**self.spec_vars, **entry.vars})
            except SpecError as exc:
                raise self.inventory.error(f"hosts.{name}.vars", f"the spec does not load with these variables: "
                                           f"{exc.one_line()}", entry.line) from None
        self.topology: Topology = next(iter(self.host_topologies.values()))
        self.stack_id = "ext-" + uuid.uuid4().hex[:8]
        self.started_s: float | None = None
        self.trace_dir: Path | None = self.inventory.traces
        self.prometheus_url: str | None = self.inventory.prometheus  # read by aisys_verify.observe.prometheus_for
        self.workdir = self.options.workdir or Path(tempfile.mkdtemp(prefix=f"aisys-{self.stack_id}-"))
        self.plan = RunPlan({h: e.address for h, e in self.inventory.hosts.items()}, self._redis(), self._http_ports())
        self.plan.standin_profile, self.plan.standin_defects = self.options.standin_profile, [
            *self.options.standin_defects]
        self.proxies: list[ProxiedEdge] = []
        self.containers: dict[tuple[str, str], str] = {}  # (host, group) -> container, found at start
        self._paused: set[tuple[str, str]] = set()
        self.beside = Beside()  # servers of our own beside the deployment (none of its own: it runs already)
        self.capabilities: frozenset[str] = self._capabilities(observe=False)

    # --- what the inventory gives ---------------------------------------------------------------------

    def _redis(self) -> dict[str, tuple[str, int]]:
        result = {}
        for host in self.topology.hosts:
            entry = self.inventory.hosts[host.name]
            store = next((s.port for s in self.host_topologies[host.name].stores
                          if s.kind == "redis" and s.host == host.name), 6379)
            result[host.name] = entry.redis or (entry.address, store)
        return result

    def _http_ports(self) -> dict[str, int]:
        ports: dict[str, int] = {}
        for host, topology in self.host_topologies.items():
            ports |= {k: p for k, p in resolve_http_ports(topology).items() if k.startswith(host + "/")}
        return ports

    def _capabilities(self, observe: bool, connected: bool = False) -> frozenset[str]:
        """What the inventory lets us do; once connected to Toxiproxy, the proxies actually found count."""
        caps: set[str] = set()
        entries = list(self.inventory.hosts.values())
        if all(e.docker is not None for e in entries):
            caps |= {"kill", "restart", "pause"}
        elif all(e.docker is not None or e.processes for e in entries):
            caps |= {"kill", "pause"}  # a process killed by pid has no one to start it again
        if self.inventory.prometheus:
            caps.add("prometheus")  # PromQL reads the deployment's Prometheus (aisys_verify.observe.prometheus_for)
        toxiproxy = self.inventory.toxiproxy
        edges = self.proxies if connected else list(toxiproxy.proxies) if toxiproxy else []
        if edges or (toxiproxy is not None and toxiproxy.auto and not connected):
            caps.add("network")
        if any(p.cross_host for p in edges):
            caps.add("partition")
        if observe:
            caps.add("observe-proxies")
        if all(e.redis is not None for e in entries):
            caps.add("redis")
        if self.trace_dir is not None:
            caps.add("traces")
        return frozenset(caps)

    @staticmethod
    def interposable(topology: Topology, options: StackOptions) -> frozenset[tuple[str, str]]:
        """The (caller, callee) pairs the inventory's proxies cover (the fault matrix offers only these); none
        when the inventory cannot be read here (the stack fixture reports why, with exit code 2)."""
        if options.inventory is None:
            return frozenset()
        try:
            inventory = load_inventory(options.inventory, topology)
            entries = _proxy_entries(inventory, topology, timeout=2.0)
        except (InventoryError, ToxiproxyError):
            return frozenset()
        return frozenset((p.caller, p.callee) for p in entries if p.socket != "redis")

    # --- lifecycle -------------------------------------------------------------------------------------

    def start(self) -> float:
        """Check the deployment answers where the inventory says, then wait for the health gate."""
        began = time.perf_counter()
        self.progress(f"aisys-verify: external deployment from {self.inventory.path}: {len(self.topology.agents)} "
                      f"agents on {', '.join(f'{h} at {e.address}' for h, e in self.inventory.hosts.items())}")
        for name, entry in self.inventory.hosts.items():
            self._check_host(name, entry)
        self._find_groups()
        observe = self._connect_toxiproxy()
        self.capabilities = self._capabilities(observe, connected=True)
        self.progress(f"  can: {', '.join(sorted(self.capabilities)) or 'nothing but observe'}")
        if note := health_gate(self.topology, self.plan).note():
            self.progress(note)
        self.wait_healthy(self.options.health_timeout)
        self.started_s = time.perf_counter() - began
        self.progress(f"aisys-verify: external deployment healthy ({len(self.topology.agents)} agents) "
                      f"in {self.started_s:.2f} s")
        return self.started_s

    def stop(self) -> None:
        """Resume what a test left paused (the deployment is not ours to stop), stop the servers we started
        beside it; remove the work folder."""
        for key in list(self._paused):
            with contextlib.suppress(VerifyError, OSError):
                self.resume_group(*key)
        self.beside.stop_all()
        if not self.options.keep_workdir and self.options.workdir is None:
            import shutil

            shutil.rmtree(self.workdir, ignore_errors=True)

    def _agents(self, host: str) -> list[Agent]:
        return [a for a in self.host_topologies[host].agents if a.host == host]

    def _check_host(self, name: str, entry: HostEntry) -> None:
        try:
            socket.getaddrinfo(entry.address, None)
        except (OSError, UnicodeError) as exc:
            raise self.inventory.error(f"hosts.{name}.address", f"{entry.address!r} does not resolve "
                                       f"({getattr(exc, 'strerror', None) or exc}): give a host name this machine "
                                       "resolves, or an IP", entry.line) from None
        from aisys_verify.health import http_health

        gate = health_gate(self.topology, self.plan)
        agents = [a for a in self._agents(name) if gate.waits_for(a.key)] or self._agents(name)
        ports = [self.plan.http_ports[a.key] for a in agents]
        with ThreadPoolExecutor(max_workers=min(32, max(1, len(agents)))) as pool:
            readings = list(pool.map(lambda p: http_health(entry.address, p, PROBE_TIMEOUT_S), ports))
        if any(r.answering for r in readings):
            return
        zmq = self._zmq_answers(entry.address, agents[:8])
        if zmq:
            return
        offset = {**self.spec_vars, **entry.vars}.get("PORT_OFFSET", "0")
        shown = ", ".join(str(p) for p in ports[:5]) + (f" (+{len(ports) - 5} more)" if len(ports) > 5 else "")
        raise self.inventory.error(
            f"hosts.{name}.address", f"nothing answers at {entry.address}: tried HTTP /health of {len(ports)} "
            f"agent(s) on ports {shown} and the ZeroMQ health socket of {min(8, len(agents))} "
            f"({readings[0].message if readings else 'no agents'}); check the address, that the deployment runs, "
            f"and its PORT_OFFSET (now {offset}; if the host runs with another, set hosts.{name}.vars.PORT_OFFSET)",
            entry.line)

    @staticmethod
    def _zmq_answers(address: str, agents: list[Agent]) -> bool:
        from aisys_verify.health import zmq_health

        if not agents:
            return False
        with ThreadPoolExecutor(max_workers=len(agents)) as pool:
            readings = pool.map(lambda a: zmq_health(f"tcp://{address}:{a.health_port.number}", PROBE_TIMEOUT_S),
                                agents)
            return any(r.answering for r in readings)

    def _find_groups(self) -> None:
        """Each group's container (Docker) and each declared process: there, or an InventoryError now."""
        from aisys_verify.plan.groups import groups_to_run

        for name, entry in self.inventory.hosts.items():
            for group, pid in entry.processes.items():
                try:
                    os.kill(pid, 0)
                except ProcessLookupError:
                    raise self.inventory.error(f"hosts.{name}.processes.{group}", f"no process {pid} on this "
                                               "machine (signals reach only local processes)", entry.line) from None
                except PermissionError:
                    pass  # it exists; a signal will say whether we may send it
            if entry.docker is None:
                continue
            found = dict(entry.docker.containers)
            if entry.docker.project:
                found = {**self._project_containers(name, entry), **found}
            missing = [g for g in groups_to_run(self.topology, name) if g not in found]
            if missing:
                raise self.inventory.error(f"hosts.{name}.docker", f"no container for group(s) {', '.join(missing)} "
                                           f"(found: {', '.join(sorted(found)) or 'none'}); name them under "
                                           "containers: {GROUP: CONTAINER}", entry.line)
            self.containers |= {(name, g): c for g, c in found.items()}

    def _project_containers(self, host: str, entry: HostEntry) -> dict[str, str]:
        assert entry.docker is not None
        fmt = f'{{{{.ID}}}}\t{{{{.Label "{LABEL_GROUP}"}}}}\t{{{{.Label "{COMPOSE_SERVICE}"}}}}'
        out = self._docker(host, "ps", "-a", "--no-trunc", "--filter",
                           f"label={COMPOSE_PROJECT}={entry.docker.project}", "--format", fmt, key="docker.project")
        result = {}
        for line in out.splitlines():
            cid, group, service = [*line.split("\t"), "", ""][:3]
            result[group if group and group != "<no value>" else service] = cid
        return result

    def _connect_toxiproxy(self) -> bool:
        """The declared proxies, read from the Toxiproxy API; True when their listen addresses answer here."""
        toxiproxy = self.inventory.toxiproxy
        if toxiproxy is None:
            return False
        try:
            on_api = self.toxiproxy_client.proxies()
            entries = _proxy_entries(self.inventory, self.topology, listed=on_api)
        except ToxiproxyError as exc:
            raise self.inventory.error("toxiproxy.api", f"Toxiproxy does not answer at "
                                       f"{toxiproxy.api[0]}:{toxiproxy.api[1]}: {exc}", toxiproxy.line) from None
        for index, entry in enumerate(entries):
            if entry.proxy not in on_api:
                raise self.inventory.error(f"toxiproxy.proxies[{index}].proxy", f"no proxy {entry.proxy!r} on the "
                                           f"Toxiproxy API (it has {len(on_api)}: "
                                           f"{', '.join(sorted(on_api)[:5]) or 'none'})", entry.line)
        self.proxies = [ProxiedEdge(ProxySpec(e.proxy, str(on_api[e.proxy].get("listen", "")),
                                              str(on_api[e.proxy].get("upstream", ""))),
                                    e.caller, e.callee, e.socket, e.cross_host) for e in entries]
        self.progress(f"  toxiproxy at {toxiproxy.api[0]}:{toxiproxy.api[1]}: {len(self.proxies)} proxies on edges")
        return bool(self.proxies) and all(_answers(p.proxy.listen) for p in self.proxies[:3])

    def wait_healthy(self, timeout: float = 30.0, agents: list[AgentEndpoint] | None = None) -> None:
        """Until every agent (or the given ones) passes the health gate (base.wait_endpoints)."""
        wait_endpoints(self, timeout, agents)

    # --- what tests use ----------------------------------------------------------------------------------

    @property
    def toxiproxy_client(self) -> ToxiproxyClient:
        if self.inventory.toxiproxy is None:
            raise CapabilityMissing(f"{self.inventory.path} declares no toxiproxy: network faults need the edges "
                                    "to route through a Toxiproxy (toxiproxy: {api: HOST:8474, proxies: ...})",
                                    "network")
        return ToxiproxyClient(*self.inventory.toxiproxy.api)

    def endpoint(self, agent: str, host: str | None = None) -> AgentEndpoint:
        found = self.topology.find_agent(agent, host)
        if found is None:
            raise VerifyError(f"no agent {agent!r}{' on ' + host if host else ''} in the spec")
        own = self.host_topologies[found.host].agents_by_key[found.key]  # ports as that host runs them
        return AgentEndpoint(own.name, own.host, self.plan.host_addresses[own.host], own.port.number,
                             own.health_port.number, self.plan.http_ports[own.key])

    def endpoints(self) -> list[AgentEndpoint]:
        return [self.endpoint(a.name, a.host) for a in self.topology.agents]

    def redis_address(self, host: str) -> tuple[str, int]:
        return self.plan.redis[host]

    def log_path(self, host: str, group: str) -> Path:
        """The group container's output (docker logs) written to the work folder now, or a note saying why not."""
        path = self.workdir / "logs" / host / f"{group}.process.log"
        path.parent.mkdir(parents=True, exist_ok=True)
        if (host, group) in self.containers:
            with contextlib.suppress(VerifyError):
                path.write_text(self._docker(host, "logs", "--tail", "2000", self.containers[(host, group)],
                                             check=False, combined=True), encoding="utf-8")
                return path
        path.write_text(f"(no logs: {self.inventory.path} gives no Docker access to {host}/{group}; read them "
                        "where the deployment keeps them)\n", encoding="utf-8")
        return path

    def _docker(self, host: str, *args: str, check: bool = True, key: str = "docker", combined: bool = False) -> str:
        from aisys_verify.stack.docker import run_docker

        entry = self.inventory.hosts[host]
        assert entry.docker is not None
        proc = run_docker(*entry.docker.cli_args(), *args, check=False, timeout=60)
        if check and proc.returncode != 0:
            raise self.inventory.error(f"hosts.{host}.{key}", f"docker ({entry.docker.shown()}) {args[0]} failed: "
                                       f"{proc.stderr.strip()[-400:]}", entry.line)
        return proc.stdout + (proc.stderr if combined else "")

    def _target(self, host: str, group: str, capability: str) -> tuple[str, str]:
        """('container', id) or ('pid', n) for a group, or CapabilityMissing naming what the inventory lacks."""
        if (host, group) in self.containers:
            return "container", self.containers[(host, group)]
        pid = self.inventory.hosts[host].processes.get(group) if host in self.inventory.hosts else None
        if pid is not None and capability != "restart":
            return "pid", str(pid)
        raise CapabilityMissing(f"{self.inventory.path} gives no way to {capability} {host}/{group} (add "
                                f"hosts.{host}.docker{'' if capability == 'restart' else ' or processes'})",
                                capability)

    def _container_state(self, host: str, cid: str) -> str:
        return self._docker(host, "inspect", "--format", "{{.State.Status}}", cid, check=False).strip()

    def kill_group(self, host: str, group: str, sig: int = signal.SIGKILL) -> None:
        if sig in (signal.SIGSTOP, signal.SIGCONT):
            (self.pause_group if sig == signal.SIGSTOP else self.resume_group)(host, group)
            return
        kind, target = self._target(host, group, "kill")
        self._paused.discard((host, group))
        if kind == "pid":
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(target), signal.SIGCONT)  # a stopped process would not act on SIGTERM until resumed
                os.kill(int(target), sig)
            return
        self._docker(host, "kill", "--signal", signal.Signals(sig).name, target, check=False)
        wait_until(lambda: self._container_state(host, target) not in ("running", "paused"), 15, 0.1)

    def restart_group(self, host: str, group: str, timeout: float = 20.0) -> None:
        _, cid = self._target(host, group, "restart")
        if self._container_state(host, cid) == "paused":
            self._docker(host, "unpause", cid)
        self._docker(host, "start", cid)
        self._paused.discard((host, group))
        members = [self.endpoint(a.name, host) for a in agents_of_group(self.topology, host, group)]
        self.wait_healthy(timeout, members)  # back in service, not merely started

    def pause_group(self, host: str, group: str) -> None:
        kind, target = self._target(host, group, "pause")
        if kind == "pid":
            os.kill(int(target), signal.SIGSTOP)
        else:
            self._docker(host, "pause", target)
        self._paused.add((host, group))

    def resume_group(self, host: str, group: str) -> None:
        kind, target = self._target(host, group, "pause")
        if kind == "pid":
            with contextlib.suppress(ProcessLookupError):
                os.kill(int(target), signal.SIGCONT)
        else:
            self._docker(host, "unpause", target, check=False)
        self._paused.discard((host, group))

    def group_paused(self, host: str, group: str) -> bool:
        kind, target = self._target(host, group, "pause")
        if kind == "pid":
            from aisys_verify.stack.state import process_state

            return process_state(int(target)) in ("T", "t")
        return self._container_state(host, target) == "paused"

    def paused_groups(self) -> list[tuple[str, str]]:
        """Groups this session paused that are still paused (others' pauses are not ours to undo)."""
        return [key for key in sorted(self._paused) if self.group_paused(*key)]


def _proxy_entries(inventory: Inventory, topology: Topology, listed: Mapping[str, Any] | None = None,
                   timeout: float = 10.0) -> list[ProxyEntry]:
    """The inventory's proxies; for ``proxies: auto``, those on the API that follow the framework's naming."""
    toxiproxy = inventory.toxiproxy
    if toxiproxy is None:
        return []
    if not toxiproxy.auto:
        return list(toxiproxy.proxies)
    if listed is None:
        listed = ToxiproxyClient(*toxiproxy.api, timeout=timeout).proxies()
    return proxy_entries_from_names(sorted(listed), topology)


def _answers(listen: str) -> bool:
    """A proxy's listen address accepts a connection from here (0.0.0.0 inside a container does not count)."""
    address, _, port = listen.rpartition(":")
    if address in ("0.0.0.0", "::", "[::]", "") or not port.isdigit():
        return False
    try:
        with socket.create_connection((address, int(port)), timeout=0.5):
            return True
    except OSError:
        return False
