"""Start order: which groups must be healthy before a group starts.

A group needs another when one of its agents lists an agent of the other among its dependencies (on any
host), which is what the agents need, whatever compose says. Two ways to start from that graph:

* **graph** (the default): each group starts as soon as every group it needs is healthy
  (:class:`StartGraph`); stand-up takes the longest chain of groups, not the sum of each layer's
  slowest member;
* **layered**: groups in layers (:func:`start_layers`), each layer's groups depending only on earlier
  layers; a whole layer waits for its slowest group. Kept for comparison (``StackOptions.start``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping, Sequence

from aisys_verify.errors import VerifyError
from aisys_verify.plan.groups import GroupKey, group_of_agent, groups_to_run
from aisys_verify.spec.model import Topology

START_MODES = ("graph", "layered")


def start_graph(topology: Topology, hosts: Iterable[str] | None = None) -> dict[GroupKey, frozenset[GroupKey]]:
    """(host, group) -> the groups it needs healthy first, for every group that runs (of ``hosts``, if given).

    A cycle is an error naming the groups in it (a graph start would wait for ever)."""
    graph = _needs(topology, hosts)
    _layers_of(graph)  # raises on a cycle
    return graph


def start_layers(topology: Topology, hosts: list[str] | None = None) -> list[list[GroupKey]]:
    """The graph in layers: layer k holds the groups whose needs are all in layers < k."""
    return _layers_of(_needs(topology, hosts))


def _needs(topology: Topology, hosts: Iterable[str] | None) -> dict[GroupKey, frozenset[GroupKey]]:
    wanted = None if hosts is None else set(hosts)
    owner = group_of_agent(topology)
    nodes = [(h.name, g) for h in topology.hosts if wanted is None or h.name in wanted
             for g in groups_to_run(topology, h.name)]
    needs: dict[GroupKey, set[GroupKey]] = {n: set() for n in nodes}
    for agent in topology.agents:
        src = owner.get(agent.key)
        for dep in agent.dependencies:
            target = topology.find_agent(dep.name, agent.host)
            dst = owner.get(target.key) if target else None
            if src is not None and dst is not None and src in needs and dst in needs and dst != src:
                needs[src].add(dst)
    return {n: frozenset(v) for n, v in needs.items()}


def _layers_of(graph: Mapping[GroupKey, frozenset[GroupKey]]) -> list[list[GroupKey]]:
    layers: list[list[GroupKey]] = []
    placed: set[GroupKey] = set()
    while len(placed) < len(graph):
        layer = sorted(n for n, need in graph.items() if n not in placed and need <= placed)
        if not layer:
            stuck = sorted(f"{h}/{g}" for h, g in graph if (h, g) not in placed)
            raise VerifyError(f"the groups' dependencies form a cycle; cannot order: {', '.join(stuck)} "
                              "(run `aisys-verify lint` for the agent-level cycle)")
        layers.append(layer)
        placed.update(layer)
    return layers


def critical_path(graph: Mapping[GroupKey, frozenset[GroupKey]]) -> int:
    """The longest chain of groups, each needing the previous: what a graph start waits through at least."""
    return len(_layers_of(graph))


class StartGraph:
    """Which groups may start now, given which are started and which are healthy (pure: no I/O, no clock).

    The local launcher and the compose backend both drive it: start ``startable()``, mark each healthy
    as its agents pass the health gate, start what that unblocks, until ``done``.
    """

    def __init__(self, graph: Mapping[GroupKey, frozenset[GroupKey]]) -> None:
        self.graph = dict(graph)
        self.started: set[GroupKey] = set()
        self.healthy: set[GroupKey] = set()
        self.dependents: dict[GroupKey, list[GroupKey]] = {n: [] for n in self.graph}
        for node, needs in self.graph.items():
            for need in needs:
                self.dependents[need].append(node)
        self._waiting = {n: len(needs) for n, needs in self.graph.items()}
        self._ready = sorted(n for n, left in self._waiting.items() if left == 0)

    def startable(self) -> list[GroupKey]:
        """Groups whose needs are all healthy and that have not been started; marks them started."""
        ready, self._ready = self._ready, []
        self.started.update(ready)
        return ready

    def mark_healthy(self, node: GroupKey) -> None:
        if node in self.healthy:
            return
        self.healthy.add(node)
        for dependent in self.dependents.get(node, ()):
            self._waiting[dependent] -= 1
            if self._waiting[dependent] == 0 and dependent not in self.started:
                self._ready.append(dependent)
        self._ready.sort()

    @property
    def done(self) -> bool:
        return len(self.healthy) == len(self.graph)


def drive_start(graph: StartGraph, layers: Sequence[Sequence[GroupKey]], *,
                start: Callable[[list[GroupKey]], None], healthy: Callable[[GroupKey], bool],
                check: Callable[[Mapping[GroupKey, float]], None],
                on_group: Callable[[GroupKey, float], None] = lambda node, seconds: None,
                on_layer: Callable[[int, float], None] = lambda index, seconds: None,
                stopping: Callable[[], bool] = lambda: False,
                clock: Callable[[], float] = time.perf_counter, sleep: Callable[[float], None] = time.sleep,
                idle_s: float = 0.02) -> None:
    """Start a graph's groups, each once its needs are healthy; the one loop both backends run.

    ``start(nodes)`` launches groups; ``healthy(node)`` polls one started group (True once every agent passes
    the gate); ``check(started_at)`` raises for a group that died or is past its time, given when each
    still-unhealthy group started. ``on_group`` reports a group healthy (seconds since its start);
    ``on_layer`` reports layer k once all its groups are (in layer order: progress reads like the layered
    start's; seconds since the layer's first group started). Raises KeyboardInterrupt when ``stopping()``.
    """
    layer_of = {node: i for i, layer in enumerate(layers) for node in layer}
    layer_left = [set(layer) for layer in layers]
    layer_began: list[float | None] = [None] * len(layers)
    reported = 0
    began: dict[GroupKey, float] = {}
    while not graph.done:
        if stopping():
            raise KeyboardInterrupt
        if nodes := graph.startable():
            start(nodes)
            now = clock()
            for node in nodes:
                began[node] = now
                index = layer_of.get(node)
                if index is not None and layer_began[index] is None:
                    layer_began[index] = now
        done = [node for node in list(began) if healthy(node)]
        now = clock()
        for node in done:
            graph.mark_healthy(node)
            on_group(node, now - began.pop(node))
            if node in layer_of:
                layer_left[layer_of[node]].discard(node)
        while reported < len(layers) and not layer_left[reported]:
            on_layer(reported, now - (layer_began[reported] or now))
            reported += 1
        if began:
            check(began)
        if not done:
            sleep(idle_s)  # nothing new: let the starting groups run
