"""Port clashes: agent, health and HTTP ports, named host ports, and host-published compose ports."""

from __future__ import annotations

from collections.abc import Iterator

from aisys_verify.findings import Finding, Severity
from aisys_verify.lint.registry import check, describe
from aisys_verify.spec.infra import infrastructure_ports, serving_agent
from aisys_verify.spec.model import (
    ComposeProject,
    ComposeService,
    HttpPortSource,
    Port,
    PublishedPort,
    Topology,
    run_together,
)

describe("PORT001", "port-clash", "ports", Severity.ERROR,
         "Two things bind the same port on one host (agent, health, HTTP or named port).")
describe("PORT002", "published-port-clash", "ports", Severity.ERROR,
         "Two compose services that run together publish the same host port (or overlapping ranges).")
describe("PORT003", "port-outside-range", "ports", Severity.WARNING,
         "A port lies outside the range the host's network block declares.")
describe("PORT004", "port-ignores-offset", "ports", Severity.WARNING,
         "A literal port where the host's other ports use ${PORT_OFFSET}.")
describe("PORT005", "port-invalid", "ports", Severity.ERROR,
         "A port number outside 1-65535 (agent, named or published port), or a published range that cannot bind.")
describe("PORT006", "port-in-ephemeral-range", "ports", Severity.NOTE,
         "Ports inside Linux's ephemeral range, where an outgoing connection may hold them at bind time.")

describe("PORT007", "infrastructure-port-clash", "ports", Severity.ERROR,
         "An agent's port is one the host's infrastructure binds (its Redis, the stack's Toxiproxy API or "
         "Prometheus, a non-group compose service).")

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
        if serving_agent(h, named) is None:  # error_bus_port == CentralErrorBus's port refers to it, binds nothing
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


def _published_port_problem(port: PublishedPort) -> str | None:
    """Why a published port entry cannot bind (as Docker refuses it), or None when it can."""
    spans = [("host port", port.host_port, port.host_port_end), ("container port", port.container_port,
                                                                   port.container_port_end)]
    for what, first, last in spans:
        for number in (first, last):
            # a published port 0 asks the engine for a free one; a container port has no such meaning
            lowest = 0 if what == "host port" else 1
            if number is not None and not lowest <= number <= 65535:
                return f"{what} {number} is outside 1-65535"
        if first is not None and last is not None and last < first:
            return f"{what} range {first}-{last} ends before it starts"
    if port.container_port_end is not None and port.host_port is not None:
        host_len = (port.host_port_end or port.host_port) - port.host_port
        if host_len != port.container_port_end - port.container_port:
            return (f"host ports {port.host_port}-{port.host_port_end or port.host_port} and container ports "
                    f"{port.container_port}-{port.container_port_end} differ in length")
    return None


@check("ports")
def published_ports_invalid(topology: Topology) -> Iterator[Finding]:
    for project in topology.projects:
        for service in project.services:
            for port in service.ports:
                problem = _published_port_problem(port)
                if problem:
                    yield Finding("PORT005", Severity.ERROR,
                                  f"service {service.name} publishes '{port.raw}': {problem}", port.loc,
                                  "Docker refuses the mapping ('invalid hostPort', 'invalid ranges'), so the "
                                  "container does not start",
                                  "use ports in 1-65535, and ranges of the same length on both sides")


def _shown(span: tuple[int, int]) -> str:
    return str(span[0]) if span[0] == span[1] else f"{span[0]}-{span[1]}"


@check("ports")
def published_port_clashes(topology: Topology) -> Iterator[Finding]:
    # every entry that surely binds host ports, in spec order; each clash is reported once, at the later entry
    bound: list[tuple[ComposeProject, ComposeService, PublishedPort, tuple[int, int]]] = []
    for project in topology.projects:
        for service in project.services:
            for port in service.ports:
                span = port.host_ports
                if span is not None and _published_port_problem(port) is None:
                    bound.append((project, service, port, span))
    for i, (project, service, port, span) in enumerate(bound):
        for other_project, other, other_port, other_span in bound[:i]:
            if (other.name == service.name and other_project is project) or other_port.protocol != port.protocol:
                continue
            same_address = port.all_addresses or other_port.all_addresses or port.host_ip == other_port.host_ip
            if not same_address or not (span[0] <= other_span[1] and other_span[0] <= span[1]):
                continue
            if not run_together((project, service), (other_project, other)):
                continue
            common = (max(span[0], other_span[0]), min(span[1], other_span[1]))
            theirs = "" if other_span == common else f" ({_shown(other_span)})"
            yield Finding("PORT002", Severity.ERROR,
                          f"service {service.name} publishes host port {_shown(common)}/{port.protocol}, "
                          f"already published by {other.name}{theirs} ({project.machine})", port.loc,
                          "the second container fails to start: 'port is already allocated'",
                          "publish one of them on another host port, or put them in different compose profiles "
                          "if they are alternatives", (other_port.loc,))
            break


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


# --- infrastructure ports (PORT007): one bounded function, apart from the agent and compose checks above ---

@check("ports")
def infrastructure_port_clashes(topology: Topology) -> Iterator[Finding]:
    """An agent's port, health port or HTTP port (explicit, or the implicit health+1) on a port the host's
    infrastructure binds (see aisys_verify.spec.infra): its Redis, the stack's ports, non-group services."""
    for host in topology.hosts:
        infra = {p.port: p for p in infrastructure_ports(topology, host)}
        for agent in host.agents:
            for what, port in (("port", agent.port), ("health_check_port", agent.health_port),
                               ("http_port" if agent.http_port_source is HttpPortSource.EXPLICIT
                                else "implicit HTTP port (health_check_port + 1)", agent.http_port)):
                taken = infra.get(port.number)
                if taken is None:
                    continue
                yield Finding("PORT007", Severity.ERROR,
                              f"{agent.name} {what} {port.number} on host {host.name} is the port of {taken.what}",
                              port.loc,
                              "both bind it on the host: whichever starts second fails with EADDRINUSE, and an "
                              "agent that wins makes the infrastructure (Redis readiness, fault injection, "
                              "metrics) fail instead",
                              f"give {agent.name} a free {what.split(' (')[0]}"
                              + (" (or move the store: redis_port in the manifest)" if "store" in taken.what else ""),
                              (taken.loc,) if taken.loc else ())
