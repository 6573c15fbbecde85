"""What else binds ports on a host besides its agents, and which host-level ports name an agent.

* :func:`infrastructure_ports`: the ports a host's infrastructure takes, from three sources: the stores
  the spec declares (each host's Redis: ``redis_port`` in the manifest, else 6379, where the real system
  and the stack run it), the stack's own fixed ports (:data:`STACK_PORTS`), and the host-published
  ports of the host's compose services that are not docker groups (a ``redis`` or ``prometheus``
  service beside the groups).
* :func:`serving_agent`: a named port such as PC2's ``error_bus_port`` that equals the port of the agent
  whose name it carries (``CentralErrorBus``) is a reference to that agent, not a second bind.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from aisys_verify.spec.model import Agent, Host, NamedPort, Topology
from aisys_verify.spec.source import Location

# Fixed ports the stack (aisys_verify/stack/) binds next to the agents. Toxiproxy's API is
# aisys_verify.stack.local.TOXIPROXY_PORT and stack.compose.TOXIPROXY_PORT (8474, Toxiproxy's default);
# Prometheus (9090, its default, as the real system's docker-compose.observability.yml publishes it) is
# the stack's own scraper (aisys_verify.observe.servers.PROMETHEUS_PORT), beside its Alertmanager (9093, its
# default and the real system's). tests/unit/test_spec_fidelity.py keeps this table in step
# with the stack's constants.
STACK_PORTS: tuple[tuple[str, int], ...] = (("Toxiproxy API", 8474), ("Prometheus", 9090), ("Alertmanager", 9093))
DEFAULT_REDIS_PORT = 6379  # the loader's default Redis store (aisys_verify.spec.loader.DEFAULT_REDIS_PORT)


@dataclass(frozen=True)
class InfraPort:
    """A port a host's infrastructure binds; ``loc`` is None for the stack's built-in ones."""

    port: int
    what: str  # e.g. "Redis (store of host pc2)", "Toxiproxy API (stack default)", "compose service prometheus"
    loc: Location | None


def reserved_ports() -> frozenset[int]:
    """Ports a generated spec must leave free on every host: the default Redis and the stack's ports."""
    return frozenset({DEFAULT_REDIS_PORT, *(port for _, port in STACK_PORTS)})


def infrastructure_ports(topology: Topology, host: Host) -> list[InfraPort]:
    """Every infrastructure port on ``host``, one entry per port (the first source that names it)."""
    found: dict[int, InfraPort] = {}
    for store in topology.stores:
        if store.host == host.name:
            found.setdefault(store.port, InfraPort(store.port, f"{store.kind.capitalize()} (the host's store)",
                                                   store.loc))
    for name, port in STACK_PORTS:
        found.setdefault(port, InfraPort(port, f"{name} (a port the stack binds)", None))
    groups = {g.name for g in host.groups}
    for project in topology.host_projects(host.name):
        for service in project.services:
            if service.name in groups:  # a group's container publishes its own agents' ports
                continue
            for published in service.ports:
                if published.host_port:
                    found.setdefault(published.host_port, InfraPort(
                        published.host_port, f"compose service {service.name} (published)", published.loc))
    return sorted(found.values(), key=lambda p: p.port)


def name_words(name: str) -> list[str]:
    """'CentralErrorBus' -> [central, error, bus]; 'error_bus' -> [error, bus]; 'HTTPServer' -> [http, server]."""
    spaced = re.sub(r"([a-z0-9])([A-Z])|([A-Z])([A-Z][a-z])", r"\1\3 \2\4", name)
    return [w for w in re.split(r"[^A-Za-z0-9]+", spaced.lower()) if w]


def names_agent(port_name: str, agent_name: str) -> bool:
    """Whether a host-level port's name (without ``_port``) names the agent: its words appear, in order and
    adjacent, among the agent's words ('error_bus' names CentralErrorBus and ErrorBusService, not Bus)."""
    words = [w for w in name_words(port_name) if w != "port"]
    agent = name_words(agent_name)
    return bool(words) and any(agent[i:i + len(words)] == words for i in range(len(agent) - len(words) + 1))


def serving_agent(host: Host, named: NamedPort) -> Agent | None:
    """The agent ``named`` refers to: on the same host, with that very port number, and named by it.

    Such a named port tells other programs where the agent is (``error_bus_port`` equal to CentralErrorBus's
    port); it binds nothing itself. The same number on an agent the name does not name stays a clash.
    """
    return next((a for a in host.agents
                 if a.port.number == named.port.number and names_agent(named.name, a.name)), None)
