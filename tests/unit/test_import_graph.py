"""The shape of the package: no import cycle between its modules, lazy imports included, and no module over
500 lines.

The graph is read from the source with ``ast``, not by importing: every ``import`` and ``from ... import``
anywhere in a file counts, at module level or inside a function (a lazy import only postpones a cycle to the
first call, it does not remove it). An edge goes to the module an import names: ``from aisys_verify.faults
import toxics`` to ``aisys_verify.faults.toxics`` when that is a module, else to the package
``aisys_verify.faults``. Importing ``aisys_verify.a.b`` also runs the ``__init__`` of ``aisys_verify.a``: that
implicit edge counts too (``standin.profile`` importing ``standin.roles.table`` ran ``standin/roles/__init__``,
which imports every role, which imports ``standin.profile``), except to a module's own packages (they are
initialised before it, and a package re-exporting its own submodules is the usual layout) and to the top
package ``aisys_verify`` (every module is below it; its ``__init__`` re-exports the public API).

Imports under ``if TYPE_CHECKING:`` never run: they are kept out of the graph that must be acyclic and
checked on their own (a cycle through them only is allowed, but listed, so that it stays visible).
"""

from __future__ import annotations

import ast
import itertools
from collections.abc import Iterator
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[2] / "aisys_verify"
ROOT = PACKAGE.name
MAX_LINES = 500

# Edges allowed in a cycle for now, each with the file that must change to remove it (and why it is not done
# here). Empty: add an edge only with a reason.
ALLOWED_EDGES: dict[tuple[str, str], str] = {}

# Between top-level parts of the package (``aisys_verify.stack``, ``aisys_verify.config``, ...) the module graph
# above still leaves cycles: each is a chain of modules without a module cycle, but it ties the parts together
# so that none can be read, tested or moved without the others. These are the edges they run through today,
# with what it takes to cut them; a new one fails the test (see test_no_new_cycle_between_parts).
KNOWN_PART_EDGES: dict[tuple[str, str], str] = {
    # the CLI families live in their parts and take exit codes and the config from cli_support
    ("faults", "cli_support"): "faults/cli.py: move the command families under one cli package",
    ("stack", "cli_support"): "stack/inventory_cli.py: as faults/cli.py",
    ("cli_support", "config"): "the families' config resolver",
    # config checks fault selections and stand-in profile names where they are given (faults/selection.py,
    # standin/defects.py: modules importing only errors); the parts' __init__s run with them
    ("config", "faults"): "faults/selection.py: a pure parser; cut by moving config's checks to the callers",
    ("config", "standin"): "standin/defects.py: as faults/selection.py",
    ("stack", "config"): "stack/daemon.py reads the config: the supervisor of 'aisys-verify up'",
    ("standin", "config"): "standin/__main__.py reads the config",
    # standin/client.py, the ZeroMQ request client, is used by every part that talks to an agent: moving it
    # below standin (e.g. aisys_verify/zmq_client.py) cuts these
    ("health", "standin"): "health.py -> standin.client",
    ("probe", "standin"): "probe.py -> standin.client",
    ("faults", "standin"): "faults/observe.py -> standin.client",
    ("stack", "standin"): "stack/base.py -> standin.profile/client/protocol (health gate, defects); "
                          "stack/spec_images.py -> standin.environ",
    # standin/launcher.py (being changed in another branch now) starts groups with stack.base's types and
    # the health module: cut after that merge by moving the shared types below both
    ("standin", "stack"): "standin/launcher.py, standin/__main__.py -> stack.base",
    ("standin", "health"): "standin/launcher.py, standin/__main__.py -> health",
    ("faults", "stack"): "faults drive a stack (attach, interpose, hygiene): faults is above stack",
    ("stack", "faults"): "stack/toxiproxy.py -> faults.toxics (the typed toxics): move toxics below both",
    ("faults", "probe"): "faults/chaos.py, faults/process.py, faults/probes.py -> probe (agents' health)",
    ("stack", "health"): "stack backends gate on health",
    ("probe", "health"): "probe.py reads health replies",
}

# Modules allowed over MAX_LINES, each with the reason. Empty: add one only with a reason.
ALLOWED_LONG: dict[str, str] = {}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
    if parts[-1] == "__init__":
        parts.pop()
    return ".".join(parts)


def modules() -> dict[str, Path]:
    """Every module of the package by dotted name."""
    return {_module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _imports(tree: ast.AST, type_checking: bool = False) -> Iterator[tuple[ast.Import | ast.ImportFrom, bool]]:
    """Every import node under ``tree`` with whether it sits in an ``if TYPE_CHECKING:`` block."""
    for node in ast.iter_child_nodes(tree):
        if isinstance(node, ast.Import | ast.ImportFrom):
            yield node, type_checking
        elif isinstance(node, ast.If) and _is_type_checking(node.test):
            for child in node.body:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), True)
            for child in node.orelse:
                yield from _imports(ast.Module(body=[child], type_ignores=[]), type_checking)
        else:
            yield from _imports(node, type_checking)


def _targets(name: str, path: Path, node: ast.Import | ast.ImportFrom, known: dict[str, Path]) -> set[str]:
    """The package modules an import node names."""
    if isinstance(node, ast.Import):
        bases = [alias.name for alias in node.names]
        names: list[str] = []
    else:
        if node.level:  # relative: resolved against this module's package
            package = name.split(".") if path.name == "__init__.py" else name.split(".")[:-1]
            package = package[: len(package) - (node.level - 1)]
            base = ".".join([*package, *([node.module] if node.module else [])])
        else:
            base = node.module or ""
        bases = [base]
        names = [alias.name for alias in node.names]
    found: set[str] = set()
    for base in bases:
        if base != ROOT and not base.startswith(ROOT + "."):
            continue
        submodules = {f"{base}.{n}" for n in names if f"{base}.{n}" in known}
        found |= submodules
        if len(submodules) < len(names) or not names:  # some names are attributes of ``base`` itself
            while base not in known and "." in base:
                base = base.rsplit(".", 1)[0]
            found.add(base)
    found |= {parent for target in found for parent in _packages_between(target) if parent in known}
    found -= {name, *_own_packages(name, path)}
    return found


def _packages_between(target: str) -> list[str]:
    """The packages below the top one whose ``__init__`` importing ``target`` runs."""
    parts = target.split(".")
    return [".".join(parts[:i]) for i in range(2, len(parts))]


def _own_packages(name: str, path: Path) -> set[str]:
    parts = name.split(".")
    return {".".join(parts[:i]) for i in range(1, len(parts))} | ({name} if path.name == "__init__.py" else set())


def import_graph() -> tuple[dict[str, set[str]], dict[str, set[str]]]:
    """(run-time edges, TYPE_CHECKING-only edges) of every package module."""
    known = modules()
    runtime: dict[str, set[str]] = {name: set() for name in known}
    typing_only: dict[str, set[str]] = {name: set() for name in known}
    for name, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), str(path))
        for node, type_checking in _imports(tree):
            (typing_only if type_checking else runtime)[name] |= _targets(name, path, node, known)
    for name in known:
        typing_only[name] -= runtime[name]
    return runtime, typing_only


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """One cycle (a closed path, first module repeated last) for each strongly connected group of modules."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    groups: list[set[str]] = []

    def connect(node: str) -> None:  # Tarjan; the package is small enough for recursion
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph[node]):
            if nxt not in index:
                connect(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            group = set()
            while True:
                member = stack.pop()
                on_stack.discard(member)
                group.add(member)
                if member == node:
                    break
            if len(group) > 1:
                groups.append(group)

    for node in sorted(graph):
        if node not in index:
            connect(node)
    return [_path_through(sorted(group)[0], group, graph) for group in groups]


def _path_through(start: str, group: set[str], graph: dict[str, set[str]]) -> list[str]:
    """The shortest way from ``start`` back to itself inside ``group``."""
    came_from: dict[str, str] = {}
    frontier = [start]
    while frontier:
        nxt_frontier = []
        for node in frontier:
            for nxt in sorted(graph[node] & group):
                if nxt == start:
                    path = [node]
                    while path[-1] != start:
                        path.append(came_from[path[-1]])
                    return [*reversed(path), start]
                if nxt not in came_from:
                    came_from[nxt] = node
                    nxt_frontier.append(nxt)
        frontier = nxt_frontier
    raise AssertionError(f"{start} is not on a cycle")


def _without_allowed(graph: dict[str, set[str]]) -> dict[str, set[str]]:
    return {node: {n for n in targets if (node, n) not in ALLOWED_EDGES} for node, targets in graph.items()}


def _show(found: list[list[str]]) -> str:
    return "\n".join("  " + " -> ".join(cycle) for cycle in found)


def test_the_graph_sees_lazy_and_relative_imports() -> None:
    runtime, _ = import_graph()
    # cli.py loads the command families by name, but imports these at module level or inside functions
    assert "aisys_verify.cli_support" in runtime["aisys_verify.cli"]
    assert "aisys_verify.lint.runner" in runtime["aisys_verify.cli"]  # inside cmd_lint
    assert "aisys_verify.spec.loader" in runtime["aisys_verify"]
    # a package's __init__ runs when one of its modules is imported from outside it
    assert "aisys_verify.stack" in runtime["aisys_verify.cli"]  # cmd_status imports aisys_verify.stack.state
    assert "aisys_verify.stack" not in runtime["aisys_verify.stack.compose"]  # its own package


def test_cycles_finds_and_prints_a_cycle() -> None:
    graph = {"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}
    assert cycles(graph) == [["a", "b", "c", "a"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle_lazy_imports_included() -> None:
    runtime, _ = import_graph()
    found = cycles(_without_allowed(runtime))
    assert not found, "import cycles (module -> module it imports):\n" + _show(found)


def test_type_checking_imports_make_no_cycle_either_or_are_listed() -> None:
    """TYPE_CHECKING imports never run, so a cycle through them is allowed; it must be the only kind left."""
    runtime, typing_only = import_graph()
    combined = {node: runtime[node] | typing_only[node] for node in runtime}
    found = cycles(_without_allowed(combined))
    for cycle in found:
        edges = list(itertools.pairwise(cycle))
        assert any(b in typing_only[a] for a, b in edges), f"a cycle without TYPE_CHECKING edges: {cycle}"
    print("cycles through TYPE_CHECKING-only imports (allowed):\n" + (_show(found) or "  none"))


def _part(module: str) -> str:
    return module.split(".")[1] if module.count(".") else module


def part_graph(runtime: dict[str, set[str]]) -> dict[str, dict[str, set[tuple[str, str]]]]:
    """part -> part it imports -> the module edges that do it (the top package's __init__ left out)."""
    parts: dict[str, dict[str, set[tuple[str, str]]]] = {}
    for node, targets in runtime.items():
        if node == ROOT:
            continue
        edges = parts.setdefault(_part(node), {})
        for target in targets:
            if target != ROOT and _part(target) != _part(node):
                edges.setdefault(_part(target), set()).add((node, target))
                parts.setdefault(_part(target), {})
    return parts


def test_no_new_cycle_between_parts() -> None:
    runtime, _ = import_graph()
    parts = part_graph(runtime)
    graph = {part: set(targets) for part, targets in parts.items()}
    in_cycles = set()
    for cycle in cycles(graph):  # every edge between two parts of one strongly connected group
        group = {p for p in graph if p in _reachable(cycle[0], graph) and cycle[0] in _reachable(p, graph)}
        in_cycles |= {(a, b) for a in group for b in graph[a] & group}
    new = {edge: sorted(parts[edge[0]][edge[1]]) for edge in in_cycles - set(KNOWN_PART_EDGES)}
    assert not new, "new import cycles between parts of the package (part -> part: module edges):\n" + "\n".join(
        f"  {a} -> {b}: {edges}" for (a, b), edges in sorted(new.items()))
    print("known edges in cycles between parts:\n" + "\n".join(
        f"  {a} -> {b}: {KNOWN_PART_EDGES[(a, b)]}" for a, b in sorted(in_cycles)))


def _reachable(start: str, graph: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = [start]
    while todo:
        for nxt in graph[todo.pop()] - seen:
            seen.add(nxt)
            todo.append(nxt)
    return seen


def test_known_part_edges_still_close_a_cycle() -> None:
    """A cut edge must leave KNOWN_PART_EDGES, so that the list only names what is left to cut."""
    runtime, _ = import_graph()
    graph = {part: set(targets) for part, targets in part_graph(runtime).items()}
    gone = [edge for edge in KNOWN_PART_EDGES
            if edge[1] not in graph.get(edge[0], set()) or edge[0] not in _reachable(edge[1], graph)]
    assert not gone, f"no longer in a cycle between parts: remove from KNOWN_PART_EDGES: {gone}"


def test_allowed_edges_still_exist() -> None:
    """An allow-listed edge that is gone must leave the list, so the list never hides a new one."""
    runtime, _ = import_graph()
    stale = [edge for edge in ALLOWED_EDGES if edge[1] not in runtime.get(edge[0], set())]
    assert not stale, f"allow-listed edges no longer imported: {stale}"


def test_no_module_over_500_lines() -> None:
    long = {name: n for name, path in modules().items()
            if (n := len(path.read_text(encoding="utf-8").splitlines())) > MAX_LINES and name not in ALLOWED_LONG}
    assert not long, f"modules over {MAX_LINES} lines: {long}"
