"""The fault matrix: every fault kind on every call edge of the dependency graph, with stable ids.

A case is (kind, caller -> callee) for each edge the stand-ins really dial for work: declared
dependencies and run-time role calls (registration, hub sync and Redis are plumbing, not
matrix edges). Its id, ``latency:mainpc/RequestCoordinator->mainpc/MemoryClient``, is made
of names only, so it is the same in every run and on every machine. Its blast radius is the
agents that can notice the fault: the caller and, transitively, every agent that depends on
the caller (declared dependencies and critical calls).

A ``Selection`` narrows the matrix by kind, host, group and edge, caps the blast radius, and
limits the count; a limited selection takes cases in an order fixed by a hash of their ids, so
it spreads over the graph instead of taking one corner, and is the same every run.
"""

from __future__ import annotations

import hashlib
from collections import defaultdict
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from aisys_verify.faults.edges import agents_matching, parse_edge
from aisys_verify.faults.selection import KINDS as KINDS  # re-exported: they were defined here
from aisys_verify.faults.selection import Selection as Selection
from aisys_verify.plan.edges import call_edges
from aisys_verify.spec.model import Topology

MATRIX_PURPOSES = ("dependency", "call")


@dataclass(frozen=True)
class FaultCase:
    kind: str
    caller: str  # agent key
    callee: str  # agent key
    purpose: str  # dependency (declared) or call (a role's run-time call)
    critical: bool  # the caller cannot do its work without the callee
    blast_radius: tuple[str, ...]  # agent keys that can notice the fault

    @property
    def edge(self) -> str:
        return f"{self.caller}->{self.callee}"

    @property
    def id(self) -> str:
        return f"{self.kind}:{self.edge}"

    @property
    def cross_host(self) -> bool:
        return self.caller.split("/")[0] != self.callee.split("/")[0]


def matrix_edges(topology: Topology) -> list[tuple[str, str, str, bool]]:
    """(caller, callee, purpose, critical) of every matrix edge, one per pair (a declared dependency wins)."""
    found: dict[tuple[str, str], tuple[str, bool]] = {}
    for edge in call_edges(topology):
        if edge.purpose not in MATRIX_PURPOSES:
            continue
        pair = (edge.caller, edge.callee)
        if pair not in found or edge.purpose == "dependency":
            found[pair] = (edge.purpose, edge.critical or found.get(pair, ("", False))[1])
    return [(caller, callee, purpose, critical) for (caller, callee), (purpose, critical) in sorted(found.items())]


def blast_radii(topology: Topology) -> dict[str, tuple[str, ...]]:
    """Agent key -> the agents that can notice when it misbehaves (itself and its transitive dependents)."""
    dependents: dict[str, set[str]] = defaultdict(set)
    for caller, callee, purpose, critical in matrix_edges(topology):
        if purpose == "dependency" or critical:
            dependents[callee].add(caller)
    radii = {}
    for agent in topology.agents:
        seen, todo = {agent.key}, [agent.key]
        while todo:
            for other in dependents.get(todo.pop(), ()):
                if other not in seen:
                    seen.add(other)
                    todo.append(other)
        radii[agent.key] = tuple(sorted(seen))
    return radii


def fault_matrix(topology: Topology, *selections: Selection,
                 interposed: Collection[tuple[str, str]] | None = None) -> list[FaultCase]:
    """Every case of the spec's matrix, narrowed by each selection in turn (e.g. a test's, then the run's).

    ``interposed``: the (caller, callee) pairs the stack under test puts Toxiproxy on
    (``stack.base.interposable_edges``); the matrix offers only those. None: every edge."""
    radii = blast_radii(topology)
    cases = sorted((FaultCase(kind, caller, callee, purpose, critical, radii.get(caller, (caller,)))
                    for caller, callee, purpose, critical in matrix_edges(topology) for kind in KINDS
                    if interposed is None or (caller, callee) in interposed),
                   key=lambda c: c.id)
    for selection in selections or (Selection(),):
        cases = _select(topology, cases, selection)
    return cases


def _select(topology: Topology, cases: list[FaultCase], selection: Selection) -> list[FaultCase]:
    group_of = topology.group_of
    hosts = set(selection.hosts)
    groups = set(selection.groups)
    edge_sets = [(agents_matching(topology, a), agents_matching(topology, b))
                 for a, b in (parse_edge(e) for e in selection.edges)]
    kept = []
    for case in cases:
        caller, callee = case.caller, case.callee
        if case.kind not in selection.kinds:
            continue
        if hosts and not hosts & {caller.split("/")[0], callee.split("/")[0]}:
            continue
        if groups and not any(_in_group(key, g, group_of) for key in (caller, callee) for g in groups):
            continue
        if edge_sets and not any(caller in a and callee in b for a, b in edge_sets):
            continue
        if selection.max_blast_radius is not None and len(case.blast_radius) > selection.max_blast_radius:
            continue
        kept.append(case)
    if selection.limit is not None and len(kept) > selection.limit:
        chosen = sorted(kept, key=lambda c: hashlib.sha256(c.id.encode()).hexdigest())[:selection.limit]
        kept = sorted(chosen, key=lambda c: c.id)
    return kept


def _in_group(key: str, group: str, group_of: Mapping[str, tuple[str, ...]]) -> bool:
    """Is agent ``key`` in ``group`` (a group name on the agent's host, or HOST/NAME)?"""
    host = key.split("/")[0]
    return any(g == group or g == f"{host}/{group}" for g in group_of.get(key, ()))
