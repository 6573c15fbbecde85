"""The dependency graph: unknown agents, cycles, and compose start order against agent dependencies."""

from __future__ import annotations

from collections.abc import Iterator

from aisys_verify.findings import Finding, Severity
from aisys_verify.lint.registry import check, describe
from aisys_verify.spec.model import ComposeService, DockerGroup, EdgeKind, Topology

describe("DEP001", "unknown-dependency", "deps", Severity.ERROR, "An agent depends on an agent that does not exist.")
describe("DEP002", "dependency-cycle", "deps", Severity.ERROR, "Agents depend on each other in a cycle.")
describe("DEP003", "group-order-missing", "deps", Severity.WARNING,
         "An agent depends on another group's agent, but its group's compose depends_on does not cover it.")
describe("DEP004", "group-order-inverted", "deps", Severity.ERROR,
         "Compose starts a group after a group that needs it (depends_on points the wrong way).")
describe("DEP005", "group-order-unneeded", "deps", Severity.NOTE,
         "A compose depends_on that no agent dependency needs.")
describe("DEP006", "unknown-service-dependency", "deps", Severity.ERROR, "depends_on names an unknown service.")
describe("DEP007", "self-dependency", "deps", Severity.ERROR, "An agent lists itself as a dependency.")
describe("DEP008", "unknown-call", "deps", Severity.ERROR,
         "An agent's calls: names an agent that does not exist (on its host, or unambiguously elsewhere).")


@check("deps")
def unknown_dependencies(topology: Topology) -> Iterator[Finding]:
    for agent in topology.agents:
        for dep in agent.dependencies:
            if dep.name == agent.name:
                yield Finding("DEP007", Severity.ERROR, f"{agent.name} depends on itself", dep.loc,
                              "a launcher that waits for dependencies waits forever", "remove the entry")
                continue
            if topology.find_agent(dep.name, agent.host) is None:
                everywhere = [a.key for a in topology.agents if a.name == dep.name]
                reason = (f"it exists on several other hosts ({', '.join(everywhere)}), so it is ambiguous"
                          if everywhere else "no host of the spec defines it")
                close = _close(dep.name, [a.name for a in topology.agents])
                yield Finding("DEP001", Severity.ERROR, f"{agent.name} depends on unknown agent '{dep.name}': "
                              f"{reason}", dep.loc,
                              "the launcher cannot order it and the agent's calls to it fail at run time",
                              f"fix the name{close} or remove the dependency")


@check("deps")
def unknown_calls(topology: Topology) -> Iterator[Finding]:
    """A ``calls:`` entry the run-time edges would silently drop: no stand-in dials it, no proxy sits on it and
    the fault matrix never offers it, so the spec claims a call nothing verifies."""
    for agent in topology.agents:
        for call in agent.calls or ():
            if topology.find_agent(call.name, agent.host) is not None:
                continue
            everywhere = [a.key for a in topology.agents if a.name == call.name]
            reason = (f"it exists on several other hosts ({', '.join(everywhere)}), so it is ambiguous"
                      if everywhere else "no host of the spec defines it")
            yield Finding("DEP008", Severity.ERROR, f"{agent.name} calls unknown agent '{call.name}': {reason}",
                          call.loc, "the call is dropped from the run-time edges: no proxy, no fault case and no "
                          "stand-in verify it", f"fix the name{_close(call.name, [a.name for a in topology.agents])}"
                          " or remove the call")


def _close(name: str, names: list[str]) -> str:
    import difflib

    match = difflib.get_close_matches(name, names, n=1)
    return f" (did you mean '{match[0]}'?)" if match else ""


@check("deps")
def dependency_cycles(topology: Topology) -> Iterator[Finding]:
    graph: dict[str, list[str]] = {}
    for edge in topology.edges:
        if edge.kind in (EdgeKind.AGENT, EdgeKind.CROSS_HOST):
            graph.setdefault(edge.source, []).append(edge.target)
    for cycle in _cycles(graph):
        agent = topology.agents_by_key[cycle[0]]
        path = " -> ".join(k.split("/", 1)[1] for k in [*cycle, cycle[0]])
        yield Finding("DEP002", Severity.ERROR, f"dependency cycle: {path}", agent.loc,
                      "no start order satisfies it: a launcher that waits for dependencies deadlocks",
                      "break the cycle: make one dependency optional or move the shared function out",
                      tuple(topology.agents_by_key[k].loc for k in cycle[1:]))


def _cycles(graph: dict[str, list[str]]) -> list[list[str]]:
    """Strongly connected components with more than one node (Tarjan, iterative)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    result: list[list[str]] = []
    counter = 0
    for root in sorted(graph):
        if root in index:
            continue
        work = [(root, iter(graph.get(root, ())))]
        index[root] = low[root] = counter
        counter += 1
        stack.append(root)
        on_stack.add(root)
        while work:
            node, children = work[-1]
            child = next(children, None)
            if child is not None:
                if child not in index:
                    index[child] = low[child] = counter
                    counter += 1
                    stack.append(child)
                    on_stack.add(child)
                    work.append((child, iter(graph.get(child, ()))))
                elif child in on_stack:
                    low[node] = min(low[node], index[child])
                continue
            work.pop()
            if work:
                low[work[-1][0]] = min(low[work[-1][0]], low[node])
            if low[node] == index[node]:
                component = []
                while True:
                    member = stack.pop()
                    on_stack.discard(member)
                    component.append(member)
                    if member == node:
                        break
                if len(component) > 1:
                    result.append(sorted(component))
    return result


@check("deps")
def group_order(topology: Topology) -> Iterator[Finding]:
    for host in topology.hosts:
        services = {s.name: s for p in topology.host_projects(host.name) for s in p.services}
        groups = {g.name: g for g in host.groups}
        if not services or not groups:
            continue
        declared: dict[str, set[str]] = {name: set() for name in services}
        for svc in services.values():
            for sdep in svc.depends_on:
                if sdep.service not in services:
                    yield Finding("DEP006", Severity.ERROR, f"service {svc.name} depends_on unknown service "
                                  f"'{sdep.service}'", sdep.loc, "compose refuses to start the project",
                                  f"use one of: {', '.join(sorted(services))}")
                else:
                    declared[svc.name].add(sdep.service)
        closure = {name: _reach(name, declared) for name in declared}
        agent_group = {ref.name: g.name for g in host.groups for ref in g.agents}
        needed: dict[str, dict[str, tuple[str, str, object]]] = {}
        for agent in host.agents:
            src = agent_group.get(agent.name)
            for dep in agent.dependencies:
                dst = agent_group.get(dep.name)
                if src and dst and src != dst and topology.find_agent(dep.name, host.name):
                    needed.setdefault(src, {}).setdefault(dst, (agent.name, dep.name, dep.loc))
        for src, targets in sorted(needed.items()):
            if src not in services:
                continue
            for dst, (agent_name, dep_name, loc) in sorted(targets.items()):
                if dst not in services or dst in closure[src]:
                    continue
                if src in closure.get(dst, set()):
                    yield Finding("DEP004", Severity.ERROR,
                                  f"group {src} needs group {dst} ({agent_name} depends on {dep_name}), but compose "
                                  f"starts {src} first: {dst} depends_on {src}", loc,  # type: ignore[arg-type]
                                  f"{dep_name} is not running when {agent_name} starts, and {dst} waits on {src}, "
                                  "so the order can never be right",
                                  f"reverse it: remove {src} from {dst}'s depends_on and add {dst} to {src}'s",
                                  (services[dst].loc,))
                else:
                    yield Finding("DEP003", Severity.WARNING,
                                  f"group {src} needs group {dst} ({agent_name} depends on {dep_name}), but {src}'s "
                                  f"depends_on does not include {dst}", loc,  # type: ignore[arg-type]
                                  f"compose may start {src} before {dep_name} is up, so start-up depends on luck",
                                  f"add {dst} to depends_on of service {src}", (services[src].loc,))
        yield from _unneeded_group_edges(services, groups, declared, needed)


def _unneeded_group_edges(services: dict[str, ComposeService], groups: dict[str, DockerGroup],
                          declared: dict[str, set[str]], needed: dict[str, dict[str, tuple[str, str, object]]],
                          ) -> Iterator[Finding]:
    """DEP005: depends_on edges that no agent dependency needs, and that can all be removed *together*.

    Each edge alone may be unneeded only because another unneeded edge still carries a needed order
    (A needs D; A->B->D and A->C->D both declared): advice to remove both would break it. So candidates are
    taken in a fixed order and one is kept out only if, with it and every edge already kept out removed,
    each needed order the file satisfies still holds; every edge reported can then be removed at once.
    """
    candidates = []
    for src, declared_targets in sorted(declared.items()):
        if src not in groups:
            continue
        for dst in sorted(declared_targets):
            inverted = src in needed.get(dst, {})  # reported as DEP004 from the other side
            if dst in groups and not inverted and dst not in needed.get(src, {}) and not any(
                    dst in _reach(mid, declared) for mid in needed.get(src, {})):
                candidates.append((src, dst))
    held = [(src, dst) for src, targets in needed.items() for dst in targets if dst in _reach(src, declared)]
    graph = {name: set(targets) for name, targets in declared.items()}
    removable = []
    for src, dst in candidates:
        graph[src].discard(dst)
        if all(dst_needed in _reach(src_needed, graph) for src_needed, dst_needed in held):
            removable.append((src, dst))
        else:
            graph[src].add(dst)  # this one carries a needed order once the others are gone: keep it
    for src, dst in removable:
        others = [f"{s} -> {d}" for s, d in removable if (s, d) != (src, dst)]
        together = (f"; it can go together with the other unneeded edge(s) ({', '.join(others)}): every needed "
                    "start order still holds without all of them" if others else "")
        dep_loc = next(d.loc for d in services[src].depends_on if d.service == dst)
        yield Finding("DEP005", Severity.NOTE, f"group {src} depends_on {dst}, but no agent of {src} "
                      f"needs an agent of {dst}", dep_loc,
                      "the extra edge serialises start-up for nothing",
                      f"remove it, unless a dependency is missing from the startup config{together}")


def _reach(start: str, graph: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return seen
