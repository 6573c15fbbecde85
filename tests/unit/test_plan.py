"""The plan layer (aisys_verify/plan): run-time edges with the spec's ``calls:``, the start graph, and its
independence from the stand-ins (the fault matrix of a spec needs none of them)."""

from __future__ import annotations

import ast
import json
import subprocess
import sys
from pathlib import Path

import pytest
from spec_factory import agent, agent_body, baseline, loc_at, startup, write_spec

from aisys_verify.cli import main
from aisys_verify.errors import SpecError, UsageError
from aisys_verify.plan import ROLE_CALLS, StartGraph, call_edges, start_graph, start_layers
from aisys_verify.plan.order import drive_start
from aisys_verify.spec.loader import load_spec
from aisys_verify.spec.model import Topology
from aisys_verify.stack.base import StackOptions

ROOT = Path(__file__).resolve().parents[2]
PACKAGE = ROOT / "aisys_verify"


def _topology(tmp_path: Path, **calls: object) -> Topology:
    spec = baseline()
    core = startup(spec)["agent_groups"]["core"]
    core["Gamma"] = {**agent_body(7202), "role": "coordinator"}
    startup(spec)["docker_groups"]["edge_group"]["agents"].append("Gamma")
    for name, value in calls.items():
        agent(spec, name)["calls"] = value
    return load_spec([str(write_spec(tmp_path / "spec", spec))])


# --- the fault matrix without the stand-ins ------------------------------------------------------------


def test_fault_matrix_is_computed_without_importing_the_standins() -> None:
    code = ("import sys, json\n"
            "from aisys_verify.spec.loader import load_spec\n"
            "from aisys_verify.faults.matrix import fault_matrix\n"
            "cases = fault_matrix(load_spec(['system']))\n"
            "print(json.dumps({'cases': len(cases), 'standin': sorted(m for m in sys.modules\n"
            "                  if m == 'aisys_verify.standin' or m.startswith('aisys_verify.standin.'))}))\n")
    done = subprocess.run([sys.executable, "-c", code], cwd=ROOT, capture_output=True, text=True, timeout=120,
                          env={"PYTHONPATH": str(ROOT), "PATH": "/usr/bin:/bin"}, check=False)
    assert done.returncode == 0, done.stderr
    result = json.loads(done.stdout)
    assert result["cases"] > 100
    assert result["standin"] == []


def test_plan_never_imports_the_standins() -> None:
    for path in sorted((PACKAGE / "plan").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            names = ([a.name for a in node.names] if isinstance(node, ast.Import)
                     else [node.module or ""] if isinstance(node, ast.ImportFrom) else [])
            assert not any(n.startswith("aisys_verify.standin") for n in names), f"{path.name} imports {names}"


def test_standin_holds_no_topology_knowledge() -> None:
    """Edges, the run plan, groups, start order and the role-call table are defined in plan/ only; standin/
    re-exports a few names for older imports."""
    defined = {"call_edges", "default_plan", "resolve_http_ports", "groups_to_run", "agents_of_group",
               "start_layers", "start_graph", "role_for", "RunPlan", "CallEdge", "ROLE_CALLS", "DEFAULT_ROLES"}
    for path in sorted((PACKAGE / "standin").rglob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in tree.body:
            names = ([node.name] if isinstance(node, (ast.FunctionDef, ast.ClassDef)) else
                     [t.id for t in node.targets if isinstance(t, ast.Name)] if isinstance(node, ast.Assign) else
                     [node.target.id] if isinstance(node, ast.AnnAssign) and isinstance(node.target, ast.Name)
                     else [])
            assert not set(names) & defined, f"{path.relative_to(PACKAGE)} defines {set(names) & defined}"
    from aisys_verify.plan import edges, run
    from aisys_verify.standin import wiring
    assert wiring.call_edges is edges.call_edges and wiring.RunPlan is run.RunPlan


# --- calls: in the spec ------------------------------------------------------------------------------------


def test_declared_calls_add_edges(tmp_path: Path) -> None:
    topology = _topology(tmp_path, Alpha=["Beta", {"name": "Gamma", "critical": False}])
    edges = {(e.caller, e.callee): e for e in call_edges(topology)}
    assert edges[("main/Alpha", "main/Beta")].purpose == "call" and edges[("main/Alpha", "main/Beta")].critical
    assert edges[("main/Alpha", "main/Gamma")].purpose == "call" and not edges[("main/Alpha", "main/Gamma")].critical
    from aisys_verify.faults.matrix import fault_matrix

    ids = {c.id for c in fault_matrix(topology)}
    assert "latency:main/Alpha->main/Beta" in ids and "partition:main/Alpha->main/Gamma" in ids


def test_declared_calls_replace_the_role_defaults(tmp_path: Path) -> None:
    assert ROLE_CALLS["coordinator"]  # Gamma is a coordinator: by default it calls NLUAgent, ... (none here)
    topology = _topology(tmp_path, Gamma=[{"name": "Alpha", "critical": True}])
    calls = [(e.callee, e.critical) for e in call_edges(topology) if e.caller == "main/Gamma"]
    assert calls == [("main/Alpha", True)]
    none = _topology(tmp_path / "empty", Beta=[])
    assert [e for e in call_edges(none) if e.caller == "main/Beta" and e.purpose == "call"] == []


def test_a_dependency_wins_over_a_declared_call_to_the_same_agent(tmp_path: Path) -> None:
    topology = _topology(tmp_path, Beta=["Alpha"])  # Beta already depends on Alpha
    [edge] = [e for e in call_edges(topology) if (e.caller, e.callee) == ("main/Beta", "main/Alpha")]
    assert edge.purpose == "dependency"


@pytest.mark.parametrize(("value", "message"), [
    ("Beta", "agent Alpha calls must be a list, got a string"),
    ([7], "agent Alpha calls[0] must be an agent name or a mapping {name, critical}, got an integer"),
    ([{"critical": True}], "agent Alpha calls[0] has no name"),
    ([{"name": "Beta", "critical": "yes"}], "agent Alpha calls[0].critical must be true or false"),
    ([""], "agent Alpha calls[0] names no agent"),
    (["Alpha"], "agent Alpha lists itself in calls"),
])
def test_a_bad_calls_value_is_an_error_at_its_line(tmp_path: Path, value: object, message: str) -> None:
    spec = baseline()
    agent(spec, "Alpha")["calls"] = value
    root = write_spec(tmp_path / "spec", spec)
    with pytest.raises(SpecError) as info:
        load_spec([str(root)])
    assert message in str(info.value)
    assert info.value.location is not None
    assert info.value.location.path.endswith("startup_config.yaml") and info.value.location.line > 1
    expected = loc_at(root, "main/startup_config.yaml", "agent_groups", "core", "Alpha", "calls")
    assert info.value.location.line >= expected.line


def test_spec_command_lists_declared_calls(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    spec = baseline()
    agent(spec, "Alpha")["calls"] = [{"name": "Beta", "critical": False}]
    root = write_spec(tmp_path / "spec", spec)
    assert main(["spec", str(root)]) == 0
    out = capsys.readouterr().out
    assert "declared calls: 1\n  main/Alpha -> main/Beta\n" in out


# --- the start graph -------------------------------------------------------------------------------------


def test_start_graph_and_layers_agree_on_the_real_topology() -> None:
    topology = load_spec([str(ROOT / "system")])
    graph = start_graph(topology)
    layers = start_layers(topology)
    assert sorted(graph) == sorted(n for layer in layers for n in layer)
    depth = {n: i for i, layer in enumerate(layers) for n in layer}
    for node, needs in graph.items():
        assert all(depth[need] < depth[node] for need in needs)
        assert depth[node] == 0 or any(depth[need] == depth[node] - 1 for need in needs)


class FakeClock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.now += seconds


def test_drive_start_starts_a_group_as_soon_as_its_needs_are_healthy() -> None:
    """a -> b (slow: healthy after 1 s); c -> d. Layered, d would wait for b; in the graph it does not."""
    a, b, c, d = ("h", "a"), ("h", "b"), ("h", "c"), ("h", "d")
    graph = StartGraph({a: frozenset(), c: frozenset(), b: frozenset({a}), d: frozenset({c})})
    layers = [[a, c], [b, d]]
    clock = FakeClock()
    ready_at = {a: 0.1, c: 0.1, b: 1.0, d: 0.2}
    started: dict[tuple[str, str], float] = {}
    events: list[tuple[str, object, float]] = []

    def start(nodes: list[tuple[str, str]]) -> None:
        for node in nodes:
            started[node] = clock.now

    drive_start(graph, layers, start=start, healthy=lambda n: clock.now - started[n] >= ready_at[n] - 1e-9,
                check=lambda began: None, clock=clock, sleep=clock.sleep, idle_s=0.05,
                on_group=lambda n, s: events.append(("group", n, round(clock.now, 2))),
                on_layer=lambda i, s: events.append(("layer", i, round(clock.now, 2))))
    assert started[b] == pytest.approx(0.1) and started[d] == pytest.approx(0.1)
    groups = [(n, t) for kind, n, t in events if kind == "group"]
    assert groups.index((d, 0.3)) < groups.index((b, 1.1))  # d healthy long before the slow b
    assert [(i, t) for kind, i, t in events if kind == "layer"] == [(0, 0.1), (1, 1.1)]  # layers in order


def test_drive_start_stops_on_a_failing_check_and_on_request() -> None:
    a = ("h", "a")
    clock = FakeClock()

    def check(began: object) -> None:
        if clock.now > 0.5:
            raise TimeoutError("a: not healthy")

    with pytest.raises(TimeoutError):
        drive_start(StartGraph({a: frozenset()}), [[a]], start=lambda nodes: None, healthy=lambda n: False,
                    check=check, clock=clock, sleep=clock.sleep)
    with pytest.raises(KeyboardInterrupt):
        drive_start(StartGraph({a: frozenset()}), [[a]], start=lambda nodes: None, healthy=lambda n: False,
                    check=lambda began: None, stopping=lambda: True, clock=clock, sleep=clock.sleep)


def test_unknown_start_order_is_a_usage_error() -> None:
    assert StackOptions().start == "graph"
    with pytest.raises(UsageError, match="unknown start order 'fast'"):
        StackOptions(start="fast")
