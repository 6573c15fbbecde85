"""Port clashes: agent, health and HTTP ports, named host ports, and host-published compose ports."""

from __future__ import annotations

from collections.abc import Iterator

from aisys_verify.findings import Finding, Severity
from aisys_verify.lint.registry import check, describe
from aisys_verify.spec.model import ComposeProject, ComposeService, HttpPortSource, Port, Topology

describe("PORT001", "port-clash", "ports", Severity.ERROR,
         "Two things bind the same port on one host (agent, health, HTTP or named port).")
describe("PORT002", "published-port-clash", "ports", Severity.ERROR,
         "Two compose services publish the same host port.")
describe("PORT003", "port-outside-range", "ports", Severity.WARNING,
         "A port lies outside the range the host's network block declares.")
describe("PORT004", "port-ignores-offset", "ports", Severity.WARNING,
         "A literal port where the host's other ports use ${PORT_OFFSET}.")
describe("PORT005", "port-invalid", "ports", Severity.ERROR, "A port number outside 1-65535.")
describe("PORT006", "port-in-ephemeral-range", "ports", Severity.NOTE,
         "Ports inside Linux's ephemeral range, where an outgoing connection may hold them at bind time.")

EPHEMERAL = (32768, 60999)  # Linux default net.ipv4.ip_local_port_range


def _bindings(topology: Topology, host: str) -> Iterator[tuple[int, str, Port]]:
    h = topology.host(host)
    assert h is not None
    for agent in h.agents:
        yield agent.port.number, f"{agent.name} port", agent.port
        yield agent.health_port.number, f"{agent.name} health_check_port", agent.health_port
        if agent.http_port_source is HttpPortSource.EXPLICIT:
            yield agent.http_port.number, f"{agent.name} http_port", agent.http_port
    for named in h.named_ports:
        yield named.port.number, f"{named.name}_port", named.port


@check("ports")
def agent_port_clashes(topology: Topology) -> Iterator[Finding]:
    for host in topology.hosts:
        first: dict[int, tuple[str, Port]] = {}
        for number, what, port in _bindings(topology, host.name):
            if not 1 <= number <= 65535:
                yield Finding("PORT005", Severity.ERROR, f"{what} is {number}, outside 1-65535", port.loc,
                              "the agent cannot bind it and fails at start-up",
                              "choose a port in 1-65535 (and below 32768, away from ephemeral ports)")
                continue
            if number in first:
                other, other_port = first[number]
                yield Finding("PORT001", Severity.ERROR,
                              f"{what} {number} on host {host.name} is already used by {other}", port.loc,
                              "the second bind fails (EADDRINUSE) when both run on the host, as the launcher "
                              "runs them, and in containers that share a network namespace",
                              "give one of them a free port", (other_port.loc,))
            else:
                first[number] = (what, port)


@check("ports")
def published_port_clashes(topology: Topology) -> Iterator[Finding]:
    scopes: dict[str, list[tuple[ComposeProject, ComposeService]]] = {}
    for project in topology.projects:
        scope = project.host or f"project {project.name}"
        scopes.setdefault(scope, []).extend((project, s) for s in project.services)
    for scope, services in scopes.items():
        seen: dict[tuple[int, str], tuple[str, object]] = {}
        for _project, service in services:
            for port in service.ports:
                if port.host_port is None:
                    continue
                key = (port.host_port, port.protocol)
                if key in seen and seen[key][0] != service.name:
                    other, other_loc = seen[key]
                    yield Finding("PORT002", Severity.ERROR,
                                  f"service {service.name} publishes host port {port.host_port}/{port.protocol}, "
                                  f"already published by {other} ({scope})", port.loc,
                                  "the second container fails to start: 'port is already allocated'",
                                  "publish one of them on another host port", (other_loc,))  # type: ignore[arg-type]
                else:
                    seen.setdefault(key, (service.name, port.loc))


@check("ports")
def ports_outside_declared_ranges(topology: Topology) -> Iterator[Finding]:
    for host in topology.hosts:
        ranges = {r.name: r for r in host.port_ranges}
        for agent in host.agents:
            for kind, port in (("agent_ports", agent.port), ("health_check_ports", agent.health_port)):
                r = ranges.get(kind)
                if r and not r.start <= port.expr.constant <= r.end:
                    yield Finding("PORT003", Severity.WARNING,
                                  f"{agent.name} {kind.removesuffix('s')} {port.expr.constant} is outside the declared "
                                  f"{kind} range {r.start}-{r.end}", port.loc,
                                  "firewall rules and port planning built from the declared range will miss it",
                                  f"move the port into {r.start}-{r.end} or widen the declared range", (r.loc,))


@check("ports")
def ports_ignoring_offset(topology: Topology) -> Iterator[Finding]:
    for host in topology.hosts:
        ports = [(a, p) for a in host.agents for p in (a.port, a.health_port)]
        with_offset = sum(1 for _, p in ports if p.uses_offset)
        if with_offset * 2 < len(ports):  # the host does not use offsets as its convention
            continue
        for agent, port in ports:
            if not port.uses_offset:
                yield Finding("PORT004", Severity.WARNING,
                              f"{agent.name} port {port.number} is a literal, while the host's other ports add "
                              f"${{PORT_OFFSET}}", port.loc,
                              "a second stack on the same machine (a test profile sets PORT_OFFSET=20000) still "
                              "binds this port, so the two stacks clash or talk to each other",
                              f"write \"${{PORT_OFFSET}}+{port.expr.constant}\"")


@check("ports")
def ports_in_ephemeral_range(topology: Topology) -> Iterator[Finding]:
    for host in topology.hosts:
        inside = [(what, port) for number, what, port in _bindings(topology, host.name)
                  if EPHEMERAL[0] <= number <= EPHEMERAL[1]]
        if inside:
            shown = ", ".join(f"{what} {port.number}" for what, port in inside[:4])
            more = f" and {len(inside) - 4} more" if len(inside) > 4 else ""
            yield Finding("PORT006", Severity.NOTE,
                          f"{len(inside)} port(s) on host {host.name} lie in the ephemeral range "
                          f"{EPHEMERAL[0]}-{EPHEMERAL[1]}: {shown}{more}", inside[0][1].loc,
                          "the kernel hands these ports to outgoing connections; a listener started while one is "
                          "in use fails with EADDRINUSE, rarely and unreproducibly",
                          "keep listen ports below 32768 (lower PORT_OFFSET or the base ports)",
                          tuple(port.loc for _, port in inside[1:4]))
