"""Start order: groups in layers, each layer's groups depending only on earlier layers.

A group depends on another when one of its agents lists an agent of the other among its
dependencies (on any host), which is what the agents need, whatever compose says.
"""

from __future__ import annotations

from aisys_verify.errors import VerifyError
from aisys_verify.spec.model import Topology
from aisys_verify.standin.wiring import UNGROUPED, groups_to_run


def group_of_agent(topology: Topology) -> dict[str, tuple[str, str]]:
    result: dict[str, tuple[str, str]] = {}
    for host in topology.hosts:
        for group in groups_to_run(topology, host.name):
            members = ([a for a in host.agents if not topology.group_of.get(a.key)] if group == UNGROUPED
                       else [topology.find_agent(r.name, host.name) for g in host.groups if g.name == group
                             for r in g.agents])
            for agent in members:
                if agent is not None:
                    result.setdefault(agent.key, (host.name, group))
    return result


def start_layers(topology: Topology, hosts: list[str] | None = None) -> list[list[tuple[str, str]]]:
    owner = group_of_agent(topology)
    nodes = [(h.name, g) for h in topology.hosts if hosts is None or h.name in hosts
             for g in groups_to_run(topology, h.name)]
    needs: dict[tuple[str, str], set[tuple[str, str]]] = {n: set() for n in nodes}
    for agent in topology.agents:
        src = owner.get(agent.key)
        for dep in agent.dependencies:
            target = topology.find_agent(dep.name, agent.host)
            dst = owner.get(target.key) if target else None
            if src in needs and dst in needs and dst != src:
                needs[src].add(dst)
    layers: list[list[tuple[str, str]]] = []
    placed: set[tuple[str, str]] = set()
    while len(placed) < len(nodes):
        layer = sorted(n for n in nodes if n not in placed and needs[n] <= placed)
        if not layer:
            stuck = sorted(f"{h}/{g}" for h, g in nodes if (h, g) not in placed)
            raise VerifyError(f"the groups' dependencies form a cycle; cannot order: {', '.join(stuck)} "
                              "(run `aisys-verify lint` for the agent-level cycle)")
        layers.append(layer)
        placed.update(layer)
    return layers
