"""The health-port convention, HTTP-port collisions, and compose healthchecks that probe the wrong thing."""

from __future__ import annotations

import re
from collections.abc import Iterator

from aisys_verify.findings import Finding, Severity
from aisys_verify.lint.registry import check, describe
from aisys_verify.spec.model import Agent, HttpPortSource, Topology

HEALTH_OFFSET = 1000  # "health port = service port + 1000": the real ServiceRegistry's stated pattern

describe("HLTH001", "health-port-convention", "health", Severity.WARNING,
         "health_check_port is not the agent's port + 1000.")
describe("HLTH002", "http-port-collision", "health", Severity.ERROR,
         "The implicit HTTP health port (health_check_port + 1) is another agent's port.")
describe("HLTH003", "healthcheck-wrong-target", "health", Severity.WARNING,
         "A compose healthcheck probes a port that does not serve HTTP health.")
describe("HLTH004", "healthcheck-missing", "health", Severity.WARNING,
         "A group's compose service has no healthcheck.")


@check("health")
def health_port_convention(topology: Topology) -> Iterator[Finding]:
    for agent in topology.agents:
        expected = agent.port.expr.constant + HEALTH_OFFSET
        if agent.health_port.expr.constant != expected:
            yield Finding("HLTH001", Severity.WARNING,
                          f"{agent.name} health_check_port is {agent.health_port.expr.constant}, not port+"
                          f"{HEALTH_OFFSET} = {expected}", agent.health_port.loc,
                          "probes, dashboards and firewall rules derive health ports from the convention and will "
                          "look in the wrong place",
                          f"use {expected} (check it is free), or document the exception")


@check("health")
def implicit_http_port_collisions(topology: Topology) -> Iterator[Finding]:
    for host in topology.hosts:
        owners: dict[int, tuple[Agent, str]] = {}
        for agent in host.agents:
            owners.setdefault(agent.port.number, (agent, "port"))
            owners.setdefault(agent.health_port.number, (agent, "health_check_port"))
        for agent in host.agents:
            if agent.http_port_source is not HttpPortSource.IMPLICIT:
                continue
            hit = owners.get(agent.http_port.number)
            if hit is None or hit[0] is agent:
                continue
            other, what = hit
            same_group = set(topology.group_of.get(agent.key, ())) & set(topology.group_of.get(other.key, ()))
            severity = Severity.ERROR if same_group else Severity.WARNING
            where = ("in the same docker group, so in one network namespace in every deployment" if same_group
                     else "in different docker groups, so they collide when the host runs them bare, as the "
                          "launcher does")
            yield Finding("HLTH002", severity,
                          f"{agent.name}'s HTTP health server would bind health_check_port+1 = "
                          f"{agent.http_port.number}, which is {other.name}'s {what}", agent.health_port.loc,
                          f"the agents are {where}; the later one's bind fails and the real BaseAgent then runs "
                          "without HTTP /health and /metrics",
                          "declare an explicit, free http_port for each agent", (other.loc,))


_PORT_IN_TEST = re.compile(r"(?:localhost|127\.0\.0\.1|0\.0\.0\.0|\[::1\]):(\d+)")


@check("health")
def compose_healthchecks(topology: Topology) -> Iterator[Finding]:
    for group in topology.groups:
        service = topology.group_service(group)
        if service is None:
            continue
        if service.healthcheck is None or service.healthcheck.disabled:
            yield Finding("HLTH004", Severity.WARNING, f"group {group.name} has no healthcheck", service.loc,
                          "compose cannot tell a hung group from a healthy one, and depends_on: service_healthy "
                          "cannot gate on it",
                          "add a healthcheck that probes the group's agents' HTTP /health")
            continue
        agents = [a for ref in group.agents if (a := topology.find_agent(ref.name, group.host))]
        text = " ".join(service.healthcheck.test)
        is_http = "http://" in text or "curl" in text or "wget" in text
        for match in _PORT_IN_TEST.finditer(text):
            port = int(match.group(1))
            problem = _probe_problem(port, agents, is_http)
            if problem:
                yield Finding("HLTH003", Severity.WARNING,
                              f"group {group.name}'s healthcheck probes port {port}: {problem}",
                              service.healthcheck.loc,
                              "the check can never pass (or passes for the wrong reason), so compose marks a "
                              "working group unhealthy or a broken one healthy",
                              "probe an agent's HTTP health port (its http_port) at /health")


def _probe_problem(port: int, agents: list[Agent], is_http: bool) -> str:
    for agent in agents:
        if port == agent.http_port.number:
            return ""
        if port == agent.health_port.number and is_http:
            return (f"{agent.name}'s health_check_port, a ZeroMQ REP socket that does not speak HTTP "
                    f"(its HTTP /health is on {agent.http_port.number})")
        if port == agent.port.number:
            return f"{agent.name}'s main service port, not a health endpoint"
    return "no agent of this group listens there"
