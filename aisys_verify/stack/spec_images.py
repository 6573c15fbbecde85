"""Compose with the spec's own images (``--aisys-images=spec``): containers configured only as real agents are.

A container of a real image is told nothing the framework invented: no ``--plan``, no ``--var``, no
mounted run plan. What it gets is what a real agent reads (PROTOCOL.md §4): environment variables,
network aliases and the compose file's own mounts. Per host:

* an **anchor** container (``aisys-host``, the base image sleeping) holds the host's network namespace,
  on the host's bridge network with the aliases ``aisys-host-<host>`` and ``<host>`` (inside, ``<host>`` is
  127.0.0.1 through the anchor's ``/etc/hosts``, which the namespace shares). Every group
  service of the host, the host's Redis and any other service of its files join it
  (``network_mode: service:aisys-host``), so one host behaves like one machine: its agents reach
  each other and Redis on their own addresses, never through a proxy. The anchor publishes every
  agent's main, health and HTTP port and the Redis port on the host's loopback address, as the
  stand-in mode does, so tests reach the agents exactly as before;
* each group service gets, beside what its compose file sets: ``BIND_ADDRESS=0.0.0.0``,
  ``REDIS_URL=redis://localhost:<port>/0``, ``MAIN_PC_IP``/``PC2_IP`` = the hosts' names,
  ``SERVICE_REGISTRY_HOST/PORT`` and ``DIGITAL_TWIN_HOST/PORT`` (where the spec has one such agent),
  ``PORT_OFFSET`` (from the spec's variables) and ``AISYS_STANDIN_PROFILE``/``AISYS_STANDIN_DEFECTS``
  (read by stand-ins only; a real image ignores them).

Cross-host interposition goes through name resolution: Toxiproxy joins every host's network and
answers, on host H's network, to the names of the *other* hosts (on mainpc's network it is ``pc2``).
For each (source host, callee on another host, socket) that a cross-host call edge uses, one proxy
listens on the callee's own port and forwards to ``aisys-host-<callee host>:<port>``. So every
cross-host call crosses Toxiproxy and a host partition is disabling those proxies; same-host edges
are not interposed. One proxy serves every caller on the source host of that callee (blast radius:
a fault on one such edge hits the host's other callers of the same callee too). Two proxies that
would listen on the same port inside Toxiproxy cannot both exist: the later one's edges are left
without a proxy and reported (``Interposition.not_interposed``), never silently.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aisys_verify.plan.edges import CallEdge, call_edges
from aisys_verify.plan.groups import groups_to_run
from aisys_verify.plan.roles import role_for
from aisys_verify.plan.run import resolve_http_ports
from aisys_verify.spec.model import Topology
from aisys_verify.stack.base import StackStartError
from aisys_verify.stack.interpose import ProxiedEdge
from aisys_verify.stack.toxiproxy import ProxySpec

if TYPE_CHECKING:
    from aisys_verify.stack.compose import ComposeStack

ANCHOR_SERVICE = "aisys-host"
ANCHOR_COMMAND = ["sh", "-c", "trap 'exit 0' TERM INT; while :; do sleep 3600 & wait $!; done"]
SOCKETS = ("main", "health", "http")
# keys Docker refuses beside a container network mode (the namespace's owner decides them)
NAMESPACE_KEYS = ("container_name", "network_mode", "networks", "ports", "expose", "links", "external_links",
                  "hostname", "domainname", "dns", "dns_search", "dns_opt", "extra_hosts", "mac_address")
STANDIN_ONLY = ("--plan", "--var", "launch", "--stack-id")  # what a spec-image container's command never holds


def slug(text: str) -> str:
    return re.sub(r"[^a-z0-9_-]+", "-", text.lower()).strip("-") or "x"


def anchor_alias(host: str) -> str:
    """The name under which the host's namespace (its agents) is reached on its own network and by Toxiproxy."""
    return f"aisys-host-{slug(host)}"


def host_name(host: str) -> str:
    """The name an agent dials for ``host`` (MAIN_PC_IP / PC2_IP): its own anchor at home, Toxiproxy elsewhere."""
    return slug(host)


# --- which edges can be interposed (known before anything starts) ----------------------------------------


@dataclass
class Interposition:
    """What the stack could and could not put Toxiproxy on, edge by edge."""

    interposed: list[str] = field(default_factory=list)  # edge names (plan.edges.CallEdge.name)
    not_interposed: dict[str, str] = field(default_factory=dict)  # edge name -> why
    # the shared proxies, one per (source host, callee key, socket)
    shared: dict[tuple[str, str, str], ProxySpec] = field(default_factory=dict)
    pairs: frozenset[tuple[str, str]] = frozenset()  # (caller key, callee key) interposed

    def line(self) -> str:
        same = sum(1 for why in self.not_interposed.values() if why.startswith("same host"))
        clashes = {k: v for k, v in self.not_interposed.items() if not v.startswith("same host")}
        text = (f"  interposition (spec images): {len(self.interposed)} cross-host edges through "
                f"{len(self.shared)} shared proxies; {same} same-host edges direct (not interposed)")
        if clashes:
            text += f"; {len(clashes)} cross-host edge(s) NOT interposed: " + "; ".join(
                f"{k} ({v})" for k, v in sorted(clashes.items()))
        return text

    def to_json(self) -> str:
        return json.dumps({"interposed": self.interposed, "not_interposed": self.not_interposed,
                           "proxies": [p.to_json() for p in self.shared.values()]}, indent=1)


def plan_interposition(topology: Topology, http_ports: Mapping[str, int] | None = None,
                       reserved: Iterable[int] = ()) -> Interposition:
    """The shared proxies for every cross-host call edge, and which edges stay without one (and why)."""
    ports = dict(http_ports) if http_ports is not None else resolve_http_ports(topology)
    agents = topology.agents_by_key
    result = Interposition()
    taken: dict[int, str] = {port: "Toxiproxy's API" for port in reserved}
    specs: dict[tuple[str, str, str], ProxySpec] = {}
    refused: dict[tuple[str, str, str], str] = {}
    cross: list[CallEdge] = []
    for edge in call_edges(topology):
        caller, callee = agents[edge.caller], agents[edge.callee]
        if edge.purpose == "scrape":
            continue
        if caller.host == callee.host:
            result.not_interposed[edge.name] = "same host: the agents reach each other inside the host's namespace"
            continue
        cross.append(edge)
        for socket in SOCKETS:
            key = (caller.host, callee.key, socket)
            if key in specs or key in refused:
                continue
            port = {"main": callee.port.number, "health": callee.health_port.number,
                    "http": ports[callee.key]}[socket]
            name = f"x-{slug(caller.host)}--{callee.key.replace('/', '.')}__{socket}"
            if port in taken:
                refused[key] = f"port {port} of {callee.key} ({socket}) is already {taken[port]} inside Toxiproxy"
                continue
            taken[port] = f"the proxy {name}"
            specs[key] = ProxySpec(name, f"0.0.0.0:{port}", f"{anchor_alias(callee.host)}:{port}")
    pairs = set()
    for edge in cross:
        caller = agents[edge.caller]
        why = [refused[k] for k in ((caller.host, edge.callee, s) for s in SOCKETS) if k in refused]
        if why:
            result.not_interposed[edge.name] = "; ".join(why)
        else:
            result.interposed.append(edge.name)
            pairs.add((edge.caller, edge.callee))
    result.shared = specs
    result.pairs = frozenset(pairs)
    return result


def interposable(topology: Topology) -> frozenset[tuple[str, str]]:
    """The (caller, callee) pairs a spec-images stack puts Toxiproxy on: the cross-host call edges."""
    from aisys_verify.stack.compose_names import TOXIPROXY_PORT

    return plan_interposition(topology, reserved=(TOXIPROXY_PORT,)).pairs


def proxied_edges(topology: Topology, interposition: Interposition) -> list[ProxiedEdge]:
    """One ProxiedEdge per interposed edge and socket, each pointing at the shared proxy of its
    (source host, callee, socket)."""
    agents = topology.agents_by_key
    wanted = set(interposition.interposed)
    result = []
    for edge in call_edges(topology):
        if edge.name not in wanted:
            continue
        source = agents[edge.caller].host
        for socket in SOCKETS:
            spec = interposition.shared[(source, edge.callee, socket)]
            result.append(ProxiedEdge(spec, edge.caller, edge.callee, socket, True))
    return result


# --- which groups run as stand-ins ----------------------------------------------------------------------


def standin_groups(topology: Topology, names: Iterable[str]) -> set[tuple[str, str]]:
    """(host, group) for each ``NAME`` (on every host that runs it) or ``HOST/NAME``; unknown ones fail."""
    runs = {(h.name, g) for h in topology.hosts for g in groups_to_run(topology, h.name)}
    chosen: set[tuple[str, str]] = set()
    for name in names:
        host, _, group = name.rpartition("/")
        found = {(h, g) for h, g in runs if g == group and (not host or h == host)}
        if not found:
            shown = ", ".join(f"{h}/{g}" for h, g in sorted(runs))
            raise StackStartError(f"--aisys-standin-groups names {name!r}, which no host runs; the groups are: "
                                  f"{shown}")
        chosen |= found
    return chosen


# --- the generated compose file of one host -------------------------------------------------------------


def group_environment(stack: ComposeStack, host: str) -> dict[str, str]:
    """What a group service of ``host`` is told, as a real agent would be (PROTOCOL.md §4 variables)."""
    from aisys_verify.standin.environ import HOST_VARS, _host_named

    topology = stack.topology
    env = {"BIND_ADDRESS": "0.0.0.0", "REDIS_URL": f"redis://localhost:{stack.plan.redis[host][1]}/0"}
    for var, names, index in HOST_VARS:
        target = _host_named(topology, names, index)
        if target is not None:
            env[var] = host_name(target)
    for prefix, role in (("SERVICE_REGISTRY", "registry"), ("DIGITAL_TWIN", "twin")):
        found = [a for a in topology.agents if role_for(a.name, a.role).role == role]
        if len(found) == 1:
            env[f"{prefix}_HOST"], env[f"{prefix}_PORT"] = host_name(found[0].host), str(found[0].port.number)
    if "PORT_OFFSET" in stack.spec_vars:
        env["PORT_OFFSET"] = stack.spec_vars["PORT_OFFSET"]
    env["AISYS_STANDIN_PROFILE"] = stack.options.standin_profile
    if stack.options.standin_defects:
        env["AISYS_STANDIN_DEFECTS"] = ",".join(stack.options.standin_defects)
    return env


def _environment(original: Any) -> dict[str, str]:
    if isinstance(original, list):
        pairs = (str(e).partition("=") for e in original)
        return {k: v for k, _, v in pairs}
    return {str(k): "" if v is None else str(v) for k, v in (original or {}).items()}


def host_file(stack: ComposeStack, host: str, rendered: dict[str, Any]) -> dict[str, Any]:
    """The generated project of one host in spec-images mode (see the module's docstring)."""
    from aisys_verify.stack.compose_names import LABEL_GROUP, LABEL_HOST, LABEL_ROLE, REDIS_SERVICE, REDIS_VOLUME
    from aisys_verify.stack.compose_names import as_dict as _as_dict

    net_key = stack.renderer.network_key(rendered)
    by_service = {svc: group for (h, group), svc in stack.services.items() if h == host}
    as_standins = {g for h, g in stack.standin_groups if h == host}
    anchor = {"network_mode": f"service:{ANCHOR_SERVICE}"}
    env = group_environment(stack, host)
    services: dict[str, Any] = {}
    published: list[str] = []
    for name, original in (rendered.get("services") or {}).items():
        service = {k: v for k, v in dict(original).items() if k not in NAMESPACE_KEYS}
        group = by_service.get(name)
        service["labels"] = {**_as_dict(service.get("labels")),
                             **stack.renderer.labels(**{LABEL_ROLE: "group" if group else "extra", LABEL_HOST: host,
                                                LABEL_GROUP: group or ""})}
        service.update(anchor)
        if group is not None:
            published += stack.renderer.published(host, group)
            service["environment"] = {**_environment(service.get("environment")), **env}
            from aisys_verify.stack.compose_secrets import secure_group

            secure_group(stack, host, service)  # redis_password where the files forget it (stack/compose_secrets.py)
            if group in as_standins or (host, name) in stack.generated:
                _as_standin(stack, host, group, service)
            else:
                service["healthcheck"] = stack.renderer.healthcheck(service.get("healthcheck"), [])
        service["deploy"] = stack.renderer.deploy(service.get("deploy"))
        services[name] = service
    redis_port = stack.plan.redis[host][1]
    services[REDIS_SERVICE] = {**stack.renderer.redis_service(host), **anchor}
    address = stack.host_addresses[host]
    services[ANCHOR_SERVICE] = {
        "image": stack.images.base,
        "command": ANCHOR_COMMAND,
        "user": "10001:10001",  # it only holds the namespace: not root (HRD005), as the stack's other images
        "labels": stack.renderer.labels(**{LABEL_ROLE: "anchor", LABEL_HOST: host}),
        "networks": {net_key: {"aliases": [anchor_alias(host), host_name(host)]}},
        # the host's own name is its loopback, from /etc/hosts (shared by every container of the namespace):
        # same-host calls need no DNS round trip to the engine and never leave the namespace
        "extra_hosts": [f"{host_name(host)}:127.0.0.1"],
        "ports": [*dict.fromkeys(published), f"{address}:{redis_port}:{redis_port}"],
    }
    volumes = {k: {kk: vv for kk, vv in (v or {}).items() if kk != "name"}
               for k, v in (rendered.get("volumes") or {}).items()}
    volumes[REDIS_VOLUME] = {}  # the host Redis's files (compose_render.redis_service)
    return stack.renderer.project_file(host, rendered, services, volumes)


def _as_standin(stack: ComposeStack, host: str, group: str, service: dict[str, Any]) -> None:
    """Swap a group's image for the stand-in's (``--aisys-standin-groups``): the stand-in command and the
    spec mounted; configured by the same environment as every other group."""
    generated = stack.renderer.generated_service(host, group)
    service["image"] = generated["image"]
    service["command"] = generated["command"]
    volumes = [v for v in service.get("volumes") or []
               if not (isinstance(v, dict) and v.get("target") == "/spec") and not str(v).endswith(":/spec:ro")]
    service["volumes"] = [*volumes, *generated["volumes"]]
    found = service.get("healthcheck")
    check: dict[str, Any] = found if isinstance(found, dict) else {}
    command = generated["command"]
    test = ["CMD", *command[:3], "healthcheck", *command[4:]]
    service["healthcheck"] = stack.renderer.healthcheck({**{k: v for k, v in check.items() if k != "disable"},
                                                 "test": test}, [])


def toxiproxy_aliases(stack: ComposeStack, host: str) -> list[str]:
    """Toxiproxy's names on ``host``'s network: every other host's name."""
    return [host_name(h.name) for h in stack.topology.hosts if h.name != host]


def check_images(stack: ComposeStack, rendered: Mapping[str, dict[str, Any]]) -> None:
    """Every image a spec-image service names must be here (nothing can be pulled): one clear error otherwise."""
    from aisys_verify.stack.images import image_id

    missing = []
    for host, data in rendered.items():
        standins = {stack.services[(h, g)] for h, g in stack.standin_groups if h == host}
        project = next((p for p in stack.topology.projects if p.host == host), None)
        files = ", ".join(project.files) if project is not None else "(no compose file)"
        for name, service in (data.get("services") or {}).items():
            image = str(service.get("image") or "")
            if name in standins or (host, name) in stack.generated:
                continue
            if not image:
                missing.append(f"{files}: service {name} names no image (a build-only service: build it first)")
            elif image_id(image) is None:
                missing.append(f"{files}: service {name}: image {image}")
    if missing:
        raise StackStartError(
            "the spec's own images are not on this machine and nothing can be pulled here (no registry): "
            + "; ".join(missing) + ". Build or load them (docker build -t IMAGE ..., docker load -i FILE), "
            "point AISYS_IMAGE/AISYS_IMAGE_TAG (or whatever the compose file interpolates) at a local image, or run "
            "those groups as stand-ins with --aisys-standin-groups=HOST/GROUP")


def write_record(workdir: Path, interposition: Interposition) -> Path:
    path = workdir / "interposition.json"
    path.write_text(interposition.to_json(), encoding="utf-8")
    return path
