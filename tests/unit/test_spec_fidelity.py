"""Spec fidelity (issue 14, part 1): each case is a small spec written for the test.

Partially nested docker_groups, named ports that refer to their agent, infrastructure ports, specs with
no agents, --output that cannot be written, DEP005 advice that holds when followed, and synthetic specs
of 1,000 agents and more.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest
from spec_factory import COMPOSE, MANIFEST, STARTUP, agent_body, baseline, host, lint_files, load, service, startup

from aisys_verify import lint, load_spec
from aisys_verify.cli import main
from aisys_verify.lint.registry import RULES
from aisys_verify.spec.infra import STACK_PORTS, infrastructure_ports, names_agent, reserved_ports
from aisys_verify.spec.synthetic import MAX_AGENTS, write_synthetic_spec


@pytest.fixture(autouse=True)
def _no_ambient_config(monkeypatch: pytest.MonkeyPatch) -> None:
    for name in ("AISYS_SPEC", "AISYS_SPEC_VARS", "AISYS_LINT_FAIL_ON"):
        monkeypatch.delenv(name, raising=False)


def _cli(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def _one_line_error(code: int, err: str) -> str:
    assert code == 2
    assert "Traceback" not in err
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("aisys-verify: error: ")
    return lines[0]


# --- 1. docker_groups nested inside agent_groups for some groups, siblings for others -------------

PARTLY_NESTED = """\
agent_groups:
  core:
    Alpha: {script_path: a.py, port: "${PORT_OFFSET}+7200", health_check_port: "${PORT_OFFSET}+8200"}
    Beta: {script_path: b.py, port: "${PORT_OFFSET}+7201", health_check_port: "${PORT_OFFSET}+8201",
           dependencies: [Alpha]}
  memory:
    Gamma: {script_path: g.py, port: "${PORT_OFFSET}+7210", health_check_port: "${PORT_OFFSET}+8210"}
  docker_groups:
    infra_core:
      description: the core
      agents: [Alpha]
  edge_stack:
    description: slipped out of docker_groups
    agents:
    - Beta
  memory_stack:
    agents: [Gamma]
"""


def test_partly_nested_docker_groups_load_every_agent_and_group(tmp_path: Path) -> None:
    topology = load(tmp_path, {"mainpc/startup_config.yaml": PARTLY_NESTED})
    assert [a.name for a in topology.agents] == ["Alpha", "Beta", "Gamma"]
    assert [(g.name, [r.name for r in g.agents]) for g in topology.groups] == [
        ("infra_core", ["Alpha"]), ("edge_stack", ["Beta"]), ("memory_stack", ["Gamma"])]
    found = [(f.rule, f.severity.label, f.loc.line, f.loc.column) for f in topology.notes]
    # the nested block once (SPEC004), each group beside it once, at its own line (SPEC005, an error)
    assert found == [("SPEC004", "warning", 8, 3), ("SPEC005", "error", 12, 3), ("SPEC005", "error", 16, 3)]
    spec005 = [f for f in topology.notes if f.rule == "SPEC005"]
    assert "docker group edge_stack is written as a section of agent_groups" in spec005[0].message
    assert spec005[0].loc.path.endswith("mainpc/startup_config.yaml")
    report = lint(topology)
    assert not report.by_rule("GRP001")  # every agent is in the group it was meant for
    assert not report.by_rule("GRP003")


def test_partly_nested_docker_groups_lint_exits_1_with_the_finding(tmp_path: Path,
                                                                   capsys: pytest.CaptureFixture[str]) -> None:
    root = tmp_path / "spec"
    (root / "mainpc").mkdir(parents=True)
    (root / "mainpc" / "startup_config.yaml").write_text(PARTLY_NESTED)
    code, out, err = _cli(capsys, "lint", "-q", str(root))
    assert code == 1, err
    assert err == ""
    assert "startup_config.yaml:12:3: error SPEC005 docker group edge_stack" in out
    assert "startup_config.yaml:16:3: error SPEC005 docker group memory_stack" in out
    assert out.count("SPEC005") == 2


def test_a_section_with_agents_named_like_group_keys_is_still_agents(tmp_path: Path) -> None:
    # 'agents' is a mapping here, not a list of names: an agent called 'agents', so the section stays agents
    text = PARTLY_NESTED + "  odd:\n    agents: {script_path: x.py, port: 7300, health_check_port: 8300}\n"
    topology = load(tmp_path, {"mainpc/startup_config.yaml": text})
    assert [a.name for a in topology.agents] == ["Alpha", "Beta", "Gamma", "agents"]
    assert "odd" not in [g.name for g in topology.groups]


# --- 2. a named port equal to the port of the agent it names is a reference ---------------------

def _bus_spec(agent_name: str) -> dict[str, Any]:
    spec = baseline()
    startup(spec)["agent_groups"]["core"][agent_name] = agent_body(7150)
    startup(spec)["docker_groups"]["core_group"]["agents"].append(agent_name)
    startup(spec)["error_bus_port"] = "${PORT_OFFSET}+7150"
    return spec


@pytest.mark.parametrize("name", ["CentralErrorBus", "ErrorBus", "ErrorBusService"])
def test_named_port_of_the_agent_it_names_is_no_clash(tmp_path: Path, name: str) -> None:
    report = lint_files(tmp_path, _bus_spec(name))
    assert report.by_rule("PORT001") == ()


@pytest.mark.parametrize("name", ["VisionProcessingAgent", "Bus", "ErrorHandler"])
def test_named_port_on_another_agents_port_is_still_a_clash(tmp_path: Path, name: str) -> None:
    (finding,) = lint_files(tmp_path, _bus_spec(name)).by_rule("PORT001")
    assert finding.message == f"error_bus_port 7150 on host main is already used by {name} port"


def test_named_port_equal_to_the_named_agents_port_but_also_another_agents_is_a_clash(tmp_path: Path) -> None:
    spec = _bus_spec("CentralErrorBus")
    startup(spec)["agent_groups"]["core"]["Vision"] = agent_body(7150)
    startup(spec)["docker_groups"]["core_group"]["agents"].append("Vision")
    messages = {f.message for f in lint_files(tmp_path, spec).by_rule("PORT001")}
    assert any("Vision" in m and "CentralErrorBus" in m for m in messages)


def test_name_association() -> None:
    assert names_agent("error_bus", "CentralErrorBus")
    assert names_agent("registry", "ServiceRegistry")
    assert not names_agent("error_bus", "ErrorHandlerBus")  # the words must be adjacent and in order
    assert not names_agent("bus", "Omnibus")  # whole words only
    assert not names_agent("port", "PortAgent")  # nothing left once '_port' is gone


# --- 7. infrastructure ports ------------------------------------------------------------------------

def test_stack_port_table_matches_the_stack() -> None:
    from aisys_verify.spec.loader import DEFAULT_REDIS_PORT
    from aisys_verify.stack import compose as compose_stack
    from aisys_verify.stack import local

    ports = dict(STACK_PORTS)
    assert ports["Toxiproxy API"] == local.TOXIPROXY_PORT == compose_stack.TOXIPROXY_PORT
    from aisys_verify.observe import servers

    assert ports["Prometheus"] == servers.PROMETHEUS_PORT == 9090
    assert ports["Alertmanager"] == servers.ALERTMANAGER_PORT == 9093
    assert DEFAULT_REDIS_PORT in reserved_ports()


@pytest.mark.parametrize(("field", "port", "what"), [
    ("health_check_port", 6379, "Redis (the host's store)"),
    ("port", 8474, "Toxiproxy API (a port the stack binds)"),
    ("http_port", 9090, "Prometheus (a port the stack binds)"),
])
def test_agent_port_on_an_infrastructure_port(tmp_path: Path, field: str, port: int, what: str) -> None:
    spec = baseline()
    startup(spec)["agent_groups"]["core"]["Beta"][field] = f"${{PORT_OFFSET}}+{port}"
    findings = lint_files(tmp_path, spec).by_rule("PORT007")
    assert [f.message for f in findings] == [f"Beta {field} {port} on host main is the port of {what}"]
    assert findings[0].severity.label == "error"


def test_redis_port_follows_the_manifest_and_the_offset(tmp_path: Path) -> None:
    spec = baseline()
    host(spec)["redis_port"] = "${PORT_OFFSET}+7201"  # Beta's port
    (finding,) = lint_files(tmp_path, spec, {"PORT_OFFSET": "100"}).by_rule("PORT007")
    assert finding.message == "Beta port 7301 on host main is the port of Redis (the host's store)"
    assert finding.related and finding.related[0].path.endswith(MANIFEST)


def test_implicit_http_port_and_compose_service_ports(tmp_path: Path) -> None:
    spec = baseline()
    del startup(spec)["agent_groups"]["core"]["Alpha"]["http_port"]  # implicit: health 8200 + 1
    spec[COMPOSE]["services"]["metrics"] = {"image": "prom/prometheus", "ports": ["8201:9090"]}
    found = {f.message for f in lint_files(tmp_path, spec).by_rule("PORT007")}
    assert found == {"Alpha implicit HTTP port (health_check_port + 1) 8201 on host main is the port of compose "
                     "service metrics (published)",
                     "Beta health_check_port 8201 on host main is the port of compose service metrics (published)"}
    # a group's own service publishing its agents' ports is no infrastructure
    topology = load(tmp_path / "clean", baseline())
    assert 9200 not in {p.port for p in infrastructure_ports(topology, topology.hosts[0])}


def test_rules_lists_the_new_rules(capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = _cli(capsys, "rules")
    assert code == 0
    for rule in ("SPEC005", "SPEC006", "PORT007"):
        assert rule in RULES
        assert f"{rule} " in out


@pytest.mark.parametrize("agents", [999, 1000, 2000])
def test_synthetic_specs_of_1000_agents_and_more_lint_clean(tmp_path: Path, agents: int) -> None:
    start = time.monotonic()
    root = write_synthetic_spec(tmp_path, agents)
    topology = load_spec([root])
    assert len(topology.agents) == agents
    report = lint(topology)
    assert report.findings == (), [f.one_line() for f in report.findings[:5]]
    bound = {p.number for a in topology.agents for p in (a.port, a.health_port, a.http_port)}
    assert len(bound) == 3 * agents
    assert not bound & reserved_ports()
    assert time.monotonic() - start < 60


def test_synthetic_spec_size_limits(tmp_path: Path) -> None:
    assert MAX_AGENTS > 8000
    with pytest.raises(ValueError, match=f"1-{MAX_AGENTS}"):
        write_synthetic_spec(tmp_path, MAX_AGENTS + 1)


# --- 5. specs with no agents ---------------------------------------------------------------------

@pytest.mark.parametrize(("files", "words"), [
    ({}, "defines no agents: it holds no YAML files"),
    ({"h/startup_config.yaml": ""}, "startup_config.yaml:1:1: the spec '{root}' defines no agents: the startup "
                                    "config is empty"),
    ({"h/startup_config.yaml": "agent_group:\n  core: {}\n"},
     "startup_config.yaml:1:1: the spec '{root}' defines no agents: the startup config has no agent_groups or "
     "pc2_services (did you mean 'agent_groups' for 'agent_group'?)"),
    ({"h/startup_config.yaml": "agent_groups: {}\n"}, "has an empty agent_groups"),
    ({"notes.yaml": "hello: world\n"}, "none of its 1 YAML file(s) is a startup config"),
])
def test_a_spec_without_agents_exits_2_naming_the_path(tmp_path: Path, capsys: pytest.CaptureFixture[str],
                                                        files: dict[str, str], words: str) -> None:
    root = tmp_path / "spec"
    root.mkdir()
    for rel, text in files.items():
        (root / rel).parent.mkdir(parents=True, exist_ok=True)
        (root / rel).write_text(text)
    line = _one_line_error(*_cli(capsys, "lint", str(root))[::2])
    assert words.format(root=root) in line
    assert str(root) in line


def test_a_startup_config_without_agents_beside_a_good_one_is_an_error_finding(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    for text, message in [("", "startup config is empty: it defines no agents"),
                          ("agent_group:\n  core: {}\n", "did you mean 'agent_groups' for 'agent_group'?"),
                          ("pc2_services: []\n", "startup config of host pc2 has an empty pc2_services")]:
        root = tmp_path / f"spec{len(text)}"
        (root / "mainpc").mkdir(parents=True)
        (root / "pc2").mkdir()
        (root / "mainpc" / "startup_config.yaml").write_text(PARTLY_NESTED.split("  docker_groups:")[0])
        (root / "pc2" / "startup_config.yaml").write_text(text)
        code, out, err = _cli(capsys, "lint", "-q", "--select", "SPEC006", str(root))
        assert (code, err) == (1, "")
        (line,) = [x for x in out.splitlines() if "SPEC006" in x]
        assert "pc2/startup_config.yaml:1:" in line
        assert "error SPEC006" in line
        assert message in line


# --- 6. --output that cannot be written ------------------------------------------------------------

def test_output_to_a_directory_or_an_unwritable_path_exits_2(tmp_path: Path,
                                                             capsys: pytest.CaptureFixture[str]) -> None:
    from spec_factory import write_spec

    spec = str(write_spec(tmp_path / "spec", baseline()))
    folder = tmp_path / "out"
    folder.mkdir()
    line = _one_line_error(*_cli(capsys, "lint", spec, "--output", str(folder))[::2])
    assert f"--output '{folder}' is a directory" in line
    blocker = tmp_path / "file"
    blocker.write_text("x")
    line = _one_line_error(*_cli(capsys, "lint", spec, "-o", str(blocker / "report.txt"))[::2])
    assert f"--output '{blocker / 'report.txt'}' cannot be written" in line
    line = _one_line_error(*_cli(capsys, "lint", spec, "--format", "sarif", "-o", "/proc/none/x.sarif")[::2])
    assert "cannot be written" in line


# --- 3. the alias bomb through the CLI ------------------------------------------------------------

def test_alias_bomb_compose_file_exits_2_fast(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    levels = 10  # 10**10 strings once expanded
    lines = ["services:", "  bomb:", "    image: busybox", "    labels:", f"      l0: &l0 [{', '.join(['lol'] * 10)}]"]
    lines += [f"      l{n}: &l{n} [{', '.join([f'*l{n - 1}'] * 10)}]" for n in range(1, levels)]
    path = tmp_path / "docker-compose.yml"
    path.write_text("\n".join([*lines, f"    command: *l{levels - 1}"]) + "\n")
    start = time.monotonic()
    line = _one_line_error(*_cli(capsys, "lint", str(path))[::2])
    assert time.monotonic() - start < 2
    assert f"{path}:" in line
    assert "YAML aliases expand this to more than" in line


# --- 8. DEP005: only edges that can all be removed together ---------------------------------------

def _group_spec(depends_on: dict[str, list[str]], needs: dict[str, list[str]]) -> dict[str, Any]:
    """One agent per group (agent X in group x), the agents' dependencies and the groups' depends_on."""
    spec = baseline()
    names = sorted(depends_on)
    startup(spec)["agent_groups"] = {"core": {n.upper(): agent_body(7200 + i, [d.upper() for d in needs.get(n, [])])
                                              for i, n in enumerate(names)}}
    startup(spec)["docker_groups"] = {n: {"description": n, "agents": [n.upper()]} for n in names}
    spec[COMPOSE]["services"] = {n: {"image": f"x/{n}", "depends_on": depends_on[n],
                                     "healthcheck": {"test": ["CMD", "true"]}} for n in names}
    spec[COMPOSE].pop("secrets")
    spec[MANIFEST]["hosts"]["main"].pop("gpu_plan")
    return spec


def _unneeded(tmp_path: Path, depends_on: dict[str, list[str]], needs: dict[str, list[str]]) -> set[tuple[str, str]]:
    import re

    report = lint_files(tmp_path, _group_spec(depends_on, needs), select=["DEP"])
    assert not report.by_rule("DEP003")
    return {re.match(r"group (\w+) depends_on (\w+)", f.message).groups()  # type: ignore[union-attr,misc]
            for f in report.by_rule("DEP005")}


def test_dep005_never_advises_removing_two_edges_that_carry_a_needed_order_together(tmp_path: Path) -> None:
    # a needs d; two paths a->b->d and a->c->d: each edge alone is removable, but not all four
    depends = {"a": ["b", "c"], "b": ["d"], "c": ["d"], "d": []}
    unneeded = _unneeded(tmp_path, depends, {"a": ["d"]})
    assert unneeded == {("a", "b"), ("b", "d")}
    # follow the advice: remove what was reported; a still starts after d, and nothing more is reported
    for src, dst in unneeded:
        depends[src].remove(dst)
    assert _unneeded(tmp_path / "after", depends, {"a": ["d"]}) == set()


def test_dep005_the_only_path_of_a_needed_order_is_not_unneeded(tmp_path: Path) -> None:
    # PC2's shape: async_pipeline needs infra_core only through memory_stack
    assert _unneeded(tmp_path, {"a": ["m"], "m": ["i"], "i": []}, {"a": ["i"]}) == set()


def test_dep005_message_names_the_edges_that_go_together(tmp_path: Path) -> None:
    report = lint_files(tmp_path, _group_spec({"a": ["b", "c"], "b": [], "c": []}, {}), select=["DEP005"])
    fixes = [f.fix for f in report.by_rule("DEP005")]
    assert len(fixes) == 2
    assert "together with the other unneeded edge(s) (a -> c)" in fixes[0]
    assert "together with the other unneeded edge(s) (a -> b)" in fixes[1]


def test_baseline_spec_is_still_clean(tmp_path: Path) -> None:
    assert lint_files(tmp_path, baseline()).findings == ()
    assert service(baseline(), "edge_group")["depends_on"]  # the baseline's one needed edge stays quiet
    assert STARTUP in baseline()
