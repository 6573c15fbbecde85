"""load_spec: manifests, discovery, compose merging, facts, and the SpecErrors for unusable input."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from spec_factory import (
    COMPOSE,
    MANIFEST,
    SLO,
    STARTUP,
    agent,
    agent_body,
    baseline,
    host,
    load,
    loc_at,
    service,
    startup,
    write_spec,
)

from aisys_verify import Severity, SpecError, SpecNotFound, lint, load_spec
from aisys_verify.spec.model import EdgeKind, HttpPortSource, PartitionMode, SloType

FACTS_KIND = "aisys-verify/host-facts"


# --- a manifest ---------------------------------------------------------------------------------

def test_manifest_builds_the_topology(tmp_path: Path) -> None:
    topology = load(tmp_path, baseline(), {"PORT_OFFSET": "100"})
    [main] = topology.hosts
    assert main.name == "main"
    assert Path(main.startup_config or "").resolve() == (tmp_path / STARTUP).resolve()
    assert [a.name for a in main.agents] == ["Alpha", "Beta"]
    alpha = topology.find_agent("Alpha")
    assert alpha is not None
    assert alpha.key == "main/Alpha"
    assert alpha.section == "core"
    assert (alpha.port.number, alpha.health_port.number, alpha.http_port.number) == (7300, 8300, 9300)
    assert alpha.port.uses_offset
    assert alpha.port.expr.constant == 7200
    assert alpha.http_port_source is HttpPortSource.EXPLICIT
    assert alpha.required is True
    assert alpha.script_path == "agents/a7200.py"
    assert [g.name for g in main.groups] == ["core_group", "edge_group"]
    assert topology.group_of == {"main/Alpha": ("main/core_group",), "main/Beta": ("main/edge_group",)}
    # facts and GPU plan from the manifest's host block
    assert main.facts is not None
    assert (main.facts.ram_gb, main.facts.cpus, main.facts.sources) == (64.0, 16.0, ("lscpu", "nvidia-smi"))
    [gpu] = main.facts.gpus
    assert (gpu.model, gpu.count, gpu.vram_gb) == ("GeForce RTX 4090", 1, 24.0)
    [plan] = topology.gpu_plans
    assert (plan.host, plan.device, plan.mode, plan.source) == ("main", 0, PartitionMode.MPS, "capacity plan")
    assert [(s.group, s.share_pct, s.vram_gb) for s in plan.slices] == [("core_group", 60.0, 12.0)]
    assert main.gpu_model_hint is not None
    assert main.gpu_model_hint.name == "RTX 4090"
    # compose project tied to the host
    [project] = topology.projects
    assert (project.name, project.host) == ("main", "main")
    core = project.service("core_group")
    assert core is not None
    assert core.limits.cpus == 4.0
    assert core.limits.memory_bytes == 8 * 1024**3
    assert [(p.host_port, p.container_port, p.protocol) for p in core.ports] == [(9200, 9200, "tcp")]
    assert [d.count for d in core.devices] == [1]
    # SLOs
    assert topology.slo_config is not None
    assert topology.slo_config.error_budget_window_s == 30 * 86400
    assert [(s.name, s.category, s.type) for s in topology.slo_config.slos] == [
        ("core_availability", "slos", SloType.AVAILABILITY), ("edge_errors", "error_rate_slos", SloType.ERROR_RATE)]
    # the graph
    kinds = {(e.source, e.target, e.kind) for e in topology.edges}
    assert ("main/Beta", "main/Alpha", EdgeKind.AGENT) in kinds
    assert ("main/edge_group", "main/core_group", EdgeKind.GROUP) in kinds
    assert ("main/Alpha", "main/redis:6379", EdgeKind.STORE) in kinds
    assert [s.key for s in topology.stores] == ["main/redis:6379"]
    assert {Path(f).name for f in topology.files} == {MANIFEST, "startup_config.yaml", "docker-compose.yml", SLO}
    assert topology.env == {"PORT_OFFSET": "100"}
    assert topology.summary()["agents"] == 2


def test_manifest_given_as_a_file(tmp_path: Path) -> None:
    write_spec(tmp_path, baseline())
    topology = load_spec([tmp_path / MANIFEST])
    assert [h.name for h in topology.hosts] == ["main"]


def test_a_lone_path_is_one_path_not_its_characters(tmp_path: Path) -> None:
    write_spec(tmp_path, baseline())
    assert [h.name for h in load_spec(str(tmp_path)).hosts] == ["main"]
    assert [h.name for h in load_spec(tmp_path).hosts] == ["main"]


def test_manifest_redis_port_is_a_port_expression(tmp_path: Path) -> None:
    spec = baseline()
    host(spec)["redis_port"] = "${PORT_OFFSET}+6379"
    topology = load(tmp_path, spec, {"PORT_OFFSET": "1"})
    assert [s.port for s in topology.stores] == [6380]


def test_manifest_unknown_keys_are_spec001(tmp_path: Path) -> None:
    spec = baseline()
    spec[MANIFEST]["slo_conifg"] = SLO
    host(spec)["ram"] = 64
    topology = load(tmp_path, spec)
    messages = [f.message for f in topology.notes if f.rule == "SPEC001"]
    assert any("'slo_conifg'" in m and "did you mean 'slo_config'" in m for m in messages)
    assert any("'ram' in host main" in m for m in messages)


@pytest.mark.parametrize(("mutate", "words"), [
    (lambda s: host(s).__setitem__("startup_config", "main/nope.yaml"),
     "host main startup_config 'main/nope.yaml' not found"),
    (lambda s: host(s).__setitem__("compose", ["nope.yml"]), "host main compose file 'nope.yml' not found"),
    (lambda s: s[MANIFEST].__setitem__("slo_config", "nope.yaml"), "slo_config 'nope.yaml' not found"),
    (lambda s: s[MANIFEST].__setitem__("projects", {"extra": ["nope.yml"]}), "project extra file 'nope.yml' not found"),
])
def test_manifest_missing_referenced_file(tmp_path: Path, mutate: Any, words: str) -> None:
    spec = baseline()
    mutate(spec)
    with pytest.raises(SpecNotFound, match=words) as info:
        load(tmp_path, spec)
    assert info.value.location is not None
    assert info.value.location.line > 0
    assert Path(info.value.location.path).name == MANIFEST


@pytest.mark.parametrize(("mutate", "words"), [
    (lambda s: s.__setitem__(MANIFEST, {"kind": "aisys-verify/spec", "hosts": ["main"]}), "hosts must be a mapping"),
    (lambda s: s.__setitem__(MANIFEST, {"kind": "aisys-verify/spec"}), "hosts must be a mapping, got nothing"),
    (lambda s: host(s).__setitem__("compose", "main/docker-compose.yml"), "host main compose must be a list"),
    (lambda s: host(s).__setitem__("startup_config", ["x"]), "startup_config must be text"),
    (lambda s: host(s).__setitem__("redis_port", "six"), "redis_port"),
    (lambda s: host(s)["gpus"][0].__setitem__("count", 0), "gpu count must be a positive integer"),
    (lambda s: host(s)["gpus"][0].pop("model"), "gpu model must be text, got nothing"),
    (lambda s: host(s)["gpus"][0].__setitem__("model", ""), "host main gpus\\[0\\] has no model"),
    (lambda s: host(s).__setitem__("ram_gb", "lots"), "ram_gb must be a (finite )?number"),
    (lambda s: host(s)["gpu_plan"].__setitem__("mode", "magic"), "gpu_plan mode 'magic' is not known"),
    (lambda s: host(s)["gpu_plan"].__setitem__("device", "0"), "gpu_plan device must be a GPU index"),
    (lambda s: host(s)["gpu_plan"].__setitem__("slices", ["core_group"]), "slices must be a mapping"),
    (lambda s: s[MANIFEST].__setitem__("projects", {"extra": "x.yml"}), "project extra must be a list"),
])
def test_manifest_type_errors_are_located_spec_errors(tmp_path: Path, mutate: Any, words: str) -> None:
    spec = baseline()
    mutate(spec)
    with pytest.raises(SpecError, match=words) as info:
        load(tmp_path, spec)
    assert info.value.location is not None
    assert str(info.value.location).count(":") == 2  # path:line:column


def test_manifest_projects(tmp_path: Path) -> None:
    spec = baseline()
    spec[MANIFEST]["projects"] = {"tools": ["tools/a.yml", "tools/b.yml"]}
    spec["tools/a.yml"] = {"services": {"web": {"image": "nginx", "ports": ["8080:80"]}}}
    spec["tools/b.yml"] = {"services": {"web": {"environment": ["MODE=prod"], "ports": ["8443:443"]}}}
    topology = load(tmp_path, spec)
    tools = next(p for p in topology.projects if p.name == "tools")
    assert tools.host is None
    [web] = tools.services
    assert [p.host_port for p in web.ports] == [8080, 8443]
    assert [(e.name, e.value) for e in web.environment] == [("MODE", "prod")]
    assert len(web.defined_in) == 2


# --- host facts files ---------------------------------------------------------------------------

def _facts(hosts: dict[str, Any]) -> dict[str, Any]:
    return {"kind": FACTS_KIND, "description": "measured", "hosts": hosts}


def test_facts_file_lays_facts_over_a_host(tmp_path: Path) -> None:
    spec = baseline()
    for key in ("ram_gb", "cpus", "gpus", "sources", "gpu_plan"):
        host(spec).pop(key)
    write_spec(tmp_path / "spec", spec)
    write_spec(tmp_path, {"facts.yaml": _facts({"main": {"ram_gb": 32, "cpus": 8, "gpus": [{"model": "H100"}],
                                                        "gpu_plan": {"mode": "mig", "slices": {}}}})})
    topology = load_spec([tmp_path / "spec", tmp_path / "facts.yaml"])
    [main] = topology.hosts
    assert main.facts is not None
    assert (main.facts.ram_gb, main.facts.cpus) == (32.0, 8.0)
    assert main.facts.gpus[0].model == "H100"
    assert main.facts.gpus[0].count == 1
    assert [p.mode for p in topology.gpu_plans] == [PartitionMode.MIG]


def test_facts_file_order_does_not_matter(tmp_path: Path) -> None:
    write_spec(tmp_path / "spec", baseline())
    write_spec(tmp_path, {"facts.yaml": _facts({"main": {"ram_gb": 128}})})
    topology = load_spec([tmp_path / "facts.yaml", tmp_path / "spec"])
    assert topology.hosts[0].facts is not None
    assert topology.hosts[0].facts.ram_gb == 128.0


def test_facts_for_an_unknown_host_is_a_spec_error(tmp_path: Path) -> None:
    write_spec(tmp_path / "spec", baseline())
    write_spec(tmp_path, {"facts.yaml": _facts({"ghost": {"ram_gb": 8}})})
    with pytest.raises(SpecError, match="facts for unknown host 'ghost'") as info:
        load_spec([tmp_path / "spec", tmp_path / "facts.yaml"])
    assert "hosts in the spec: main" in info.value.one_line()
    assert info.value.location == loc_at(tmp_path, "facts.yaml", "hosts", "ghost")


def test_facts_file_unknown_keys(tmp_path: Path) -> None:
    write_spec(tmp_path / "spec", baseline())
    write_spec(tmp_path, {"facts.yaml": _facts({"main": {"ram_gb": 8, "disk_gb": 100}})})
    topology = load_spec([tmp_path / "spec", tmp_path / "facts.yaml"])
    assert any("'disk_gb'" in f.message for f in topology.notes if f.rule == "SPEC001")


# --- discovery ----------------------------------------------------------------------------------

def _discovered(tmp_path: Path) -> Path:
    spec = baseline()
    return write_spec(tmp_path, {
        "MainPC/config/startup_config.yaml": spec[STARTUP],
        "MainPC/config/docker-compose.yml": spec[COMPOSE],
        "overlays/gpu.override.yml": {"services": {"core_group": {"environment": {"EXTRA": "1"}}}},
        "pc2/startup_config.yaml": {"pc2_services": [{"name": "Remote", **agent_body(7100, ["Alpha"])}],
                                    "error_bus_port": 7150},
        "tools/monitoring.yml": {"services": {"prometheus": {"image": "prom/prometheus"}}},
        SLO: spec[SLO],
        "facts.yaml": _facts({"mainpc": {"ram_gb": 64, "cpus": 16}}),
        "README.yaml": {"title": "not a spec file"},
        ".hidden/startup_config.yaml": "this: [is, ignored\n",
    })


def test_discovery_classifies_files_by_content(tmp_path: Path) -> None:
    topology = load_spec([_discovered(tmp_path)])
    assert sorted(h.name for h in topology.hosts) == ["mainpc", "pc2"]  # 'config' is a generic folder
    mainpc = topology.host("mainpc")
    assert mainpc is not None
    assert mainpc.facts is not None
    assert mainpc.facts.ram_gb == 64.0
    projects = {p.name: p for p in topology.projects}
    assert set(projects) == {"mainpc", "monitoring"}
    assert projects["monitoring"].host is None
    base = projects["mainpc"]
    assert len(base.files) == 2  # the base beside the startup config, then the overlay
    core = base.service("core_group")
    assert core is not None
    assert {e.name for e in core.environment} >= {"LOG_LEVEL", "EXTRA"}
    pc2 = topology.host("pc2")
    assert pc2 is not None
    assert [(n.name, n.port.number) for n in pc2.named_ports] == [("error_bus", 7150)]
    assert ("pc2/Remote", "mainpc/Alpha", EdgeKind.CROSS_HOST) in {(e.source, e.target, e.kind)
                                                                     for e in topology.edges}
    assert topology.slo_config is not None
    spec003 = [f for f in topology.notes if f.rule == "SPEC003"]
    assert [Path(f.loc.path).name for f in spec003] == ["README.yaml"]
    assert spec003[0].severity is Severity.NOTE
    assert spec003[0].loc.line == 1
    assert not any("README" in f for f in topology.files)


def test_spec003_is_silent_without_stray_files(tmp_path: Path) -> None:
    root = _discovered(tmp_path)
    (root / "README.yaml").unlink()
    assert [f for f in load_spec([root]).notes if f.rule == "SPEC003"] == []


def test_a_non_spec_file_named_explicitly_is_a_spec_error(tmp_path: Path) -> None:
    write_spec(tmp_path, {"x.yaml": {"title": "hello"}})
    with pytest.raises(SpecError, match="is not a startup config, compose file, SLO config or host facts file"):
        load_spec([tmp_path / "x.yaml"])


def test_two_startup_configs_for_one_host(tmp_path: Path) -> None:
    write_spec(tmp_path, {"h/startup_config.yaml": {"agent_groups": {}},
                          "h/config/startup_config.yaml": {"agent_groups": {}}})
    with pytest.raises(SpecError, match="two startup configs for host 'h'"):
        load_spec([tmp_path])


def test_two_slo_configs(tmp_path: Path) -> None:
    slo = baseline()[SLO]
    write_spec(tmp_path, {"a/slo.yaml": slo, "b/slo.yaml": slo})
    with pytest.raises(SpecError, match="two SLO configs"):
        load_spec([tmp_path])


def test_no_path_and_missing_path(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="no spec path given"):
        load_spec([])
    with pytest.raises(SpecNotFound, match="no such file or directory"):
        load_spec([tmp_path / "absent"])


@pytest.mark.parametrize(("content", "words"), [
    (b"agent_groups: [\n", "malformed YAML"),
    (b"\xff\xfe\x00garbage", "not UTF-8"),
    (b"agent_groups:\n  core:\n    A: *missing\n", "undefined alias"),
])
def test_unreadable_file_in_a_folder(tmp_path: Path, content: bytes, words: str) -> None:
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "startup_config.yaml").write_bytes(content)
    with pytest.raises(SpecError, match=words) as info:
        load_spec([tmp_path])
    assert "startup_config.yaml" in info.value.one_line()


def test_empty_files_in_a_folder_are_ignored_and_empty_file_named_is_an_error(tmp_path: Path) -> None:
    write_spec(tmp_path, {"h/startup_config.yaml": {"agent_groups": {"s": {"A": agent_body(7200)}}}})
    (tmp_path / "empty.yaml").write_text("")
    topology = load_spec([tmp_path])
    assert [a.name for a in topology.agents] == ["A"]
    with pytest.raises(SpecError):
        load_spec([tmp_path / "empty.yaml"])


def test_a_directory_named_like_a_yaml_file_is_searched_not_read(tmp_path: Path) -> None:
    write_spec(tmp_path, {"h.yaml/startup_config.yaml": {"agent_groups": {"s": {"A": agent_body(7200)}}}})
    topology = load_spec([tmp_path])
    assert [h.name for h in topology.hosts] == ["h.yaml"]


def test_discovery_stops_below_four_levels(tmp_path: Path) -> None:
    agents = {"agent_groups": {"s": {"A": agent_body(7200)}}}
    write_spec(tmp_path, {"a/b/c/d/e/startup_config.yaml": agents, "a/b/c/d/startup_config.yaml": agents})
    assert [h.name for h in load_spec([tmp_path]).hosts] == ["d"]


def test_overlay_next_to_a_manifest_whose_compose_file_has_no_services(tmp_path: Path) -> None:
    """A compose file may hold only networks or secrets; a loose overlay compared against it must not crash."""
    spec = baseline()
    spec["main/networks.yml"] = {"networks": {"backend": {}}}
    host(spec)["compose"].append("main/networks.yml")
    write_spec(tmp_path / "spec", spec)
    write_spec(tmp_path, {"extra/override.yml": {"services": {"core_group": {"environment": {"X": "1"}}}}})
    topology = load_spec([tmp_path / "spec", tmp_path / "extra/override.yml"])
    core = topology.projects[0].service("core_group")
    assert core is not None
    assert "X" in {e.name for e in core.environment}


# --- startup configs ----------------------------------------------------------------------------

def test_pc2_layout_and_implicit_http_port(tmp_path: Path) -> None:
    files = {"pc2/startup_config.yaml": {
        "pc2_network": {"host": "0.0.0.0", "agent_ports": {"start": 7100, "end": 7199},
                        "health_check_ports": {"start": 8100, "end": 8199}},
        "pc2_services": [{"name": "Store", "script_path": "s.py", "port": 7100, "health_check_port": 8100,
                          "config": {"db": "redis://localhost"}, "role": "memory"}]}}
    topology = load(tmp_path, files)
    [store] = topology.agents
    assert store.section == "pc2_services"
    assert store.role == "memory"
    assert store.http_port.number == 8101
    assert store.http_port_source is HttpPortSource.IMPLICIT
    assert dict(store.config) == {"db": "redis://localhost"}
    with pytest.raises(TypeError):
        store.config["db"] = "x"  # type: ignore[index]
    [pc2] = topology.hosts
    assert [(r.name, r.start, r.end) for r in pc2.port_ranges] == [("agent_ports", 7100, 7199),
                                                                    ("health_check_ports", 8100, 8199)]


@pytest.mark.parametrize(("body", "words"), [
    ({"agent_groups": ["A"]}, "agent_groups must be a mapping"),
    ({"agent_groups": {"s": ["A"]}}, "agent_groups.s must be a mapping"),
    ({"agent_groups": {"s": {"A": {"port": 7200}}}}, "agent A has no health_check_port"),
    ({"agent_groups": {"s": {"A": {"health_check_port": 8200}}}}, "agent A has no port"),
    ({"agent_groups": {"s": {"A": {"port": 7200, "heath_check_port": 8200}}}}, "agent A has no health_check_port"),
    ({"agent_groups": {"s": {"A": {**agent_body(7200), "required": "yes"}}}}, "required must be true or false"),
    ({"agent_groups": {"s": {"A": {**agent_body(7200), "dependencies": "B"}}}}, "dependencies must be a list"),
    ({"agent_groups": {"s": {"A": {**agent_body(7200), "dependencies": [{"name": "B"}]}}}}, "dependency must be text"),
    ({"agent_groups": {"s": {"A": {**agent_body(7200), "config": [1]}}}}, "config must be a mapping"),
    ({"agent_groups": {"s": {"A": {**agent_body(7200), "port": "${PORT_OFFSET}*2"}}}}, "agent A port: cannot evaluate"),
    ({"agent_groups": {"s": {"A": "port 7200"}}}, "agent A must be a mapping"),
    ({"pc2_services": {"A": {}}}, "pc2_services must be a list"),
    ({"pc2_services": [{"port": 1, "health_check_port": 2}]}, "pc2_services\\[0\\].name must be text"),
    ({"pc2_services": [{"name": "", "port": 1, "health_check_port": 2}]}, "pc2_services\\[0\\] has no name"),
    ({"pc2_services": ["A"]}, "pc2_services\\[0\\] must be a mapping"),
    ({"agent_groups": {}, "docker_groups": ["g"]}, "docker_groups must be a mapping"),
    ({"agent_groups": {}, "docker_groups": {"g": {"agents": "A"}}}, "docker group g agents must be a list"),
    ({"agent_groups": {}, "pc2_network": {"agent_ports": {"start": "a", "end": 2}}}, "must have integer start and end"),
    ({"agent_groups": {}, "error_bus_port": "bus"}, "error_bus_port"),
])
def test_startup_config_errors(tmp_path: Path, body: dict[str, Any], words: str) -> None:
    with pytest.raises(SpecError, match=words) as info:
        load(tmp_path, {"h/startup_config.yaml": body})
    assert info.value.location is not None
    assert info.value.location.line >= 1


def test_port_variable_that_is_not_an_integer(tmp_path: Path) -> None:
    with pytest.raises(SpecError, match="variable PORT_OFFSET='abc' is not an integer") as info:
        load(tmp_path, baseline(), {"PORT_OFFSET": "abc"})
    assert info.value.location == loc_at(tmp_path, STARTUP, "agent_groups", "core", "Alpha", "port")


def test_unknown_key_did_you_mean(tmp_path: Path) -> None:
    spec = baseline()
    agent(spec, "Beta")["heath_check_port"] = 8201
    startup(spec)["agent_group"] = {}
    topology = load(tmp_path, spec)
    messages = {f.message: f for f in topology.notes if f.rule == "SPEC001"}
    finding = messages["unknown key 'heath_check_port' in agent Beta; did you mean 'health_check_port'?"]
    assert finding.severity is Severity.WARNING
    assert finding.loc == loc_at(tmp_path, STARTUP, "agent_groups", "core", "Beta", "heath_check_port")
    assert "unknown key 'agent_group' in a startup config; did you mean 'agent_groups'?" in messages


def test_docker_groups_nested_in_agent_groups(tmp_path: Path) -> None:
    spec = baseline()
    startup(spec)["agent_groups"]["docker_groups"] = startup(spec).pop("docker_groups")
    topology = load(tmp_path, spec)
    [note] = [f for f in topology.notes if f.rule == "SPEC004"]
    assert note.loc == loc_at(tmp_path, STARTUP, "agent_groups", "docker_groups")
    # the groups are still read, and are not mistaken for agents
    assert [g.name for g in topology.hosts[0].groups] == ["core_group", "edge_group"]
    assert [a.name for a in topology.agents] == ["Alpha", "Beta"]
    assert lint(topology).by_rule("GRP001") == ()


def test_yaml_anchors_and_merges_in_a_startup_config(tmp_path: Path) -> None:
    text = """\
x-defaults: &defaults
  required: false
  dependencies: []
agent_groups:
  core:
    A:
      <<: *defaults
      script_path: a.py
      port: "${PORT_OFFSET}+7200"
      health_check_port: "${PORT_OFFSET}+8200"
    B:
      <<: *defaults
      required: true
      port: "${PORT_OFFSET}+7201"
      health_check_port: "${PORT_OFFSET}+8201"
"""
    topology = load(tmp_path, {"h/startup_config.yaml": text})
    a, b = topology.agents
    assert (a.required, b.required) == (False, True)
    assert [(f.rule, f.message.split(";")[0]) for f in topology.notes] == [
        ("SPEC001", "unknown key 'x-defaults' in a startup config")]


def test_duplicate_key_is_spec002(tmp_path: Path) -> None:
    text = ("agent_groups:\n  core:\n    A:\n      port: 7200\n      health_check_port: 8200\n"
            "      port: 7201\n")
    topology = load(tmp_path, {"h/startup_config.yaml": text})
    [dup] = [f for f in topology.notes if f.rule == "SPEC002"]
    assert dup.severity is Severity.WARNING
    assert dup.loc.line == 6
    assert dup.loc.column == 7
    assert "key 'port' is given twice (first at" in dup.message
    assert ":4:7)" in dup.message
    assert topology.agents[0].port.number == 7201
    clean = load(tmp_path / "clean", {"h/startup_config.yaml": text.replace("      port: 7201\n", "")})
    assert [f for f in clean.notes if f.rule == "SPEC002"] == []


# --- compose ------------------------------------------------------------------------------------

def _compose(tmp_path: Path, *docs: dict[str, Any], env: dict[str, str] | None = None) -> Any:
    spec = {f"proj/c{i}.yml": d for i, d in enumerate(docs)}
    spec[MANIFEST] = {"kind": "aisys-verify/spec", "hosts": {},
                      "projects": {"proj": [f"proj/c{i}.yml" for i in range(len(docs))]}}
    topology = load(tmp_path, spec, env)
    [project] = topology.projects
    return project


def test_compose_merge_rules(tmp_path: Path) -> None:
    base = {"services": {"api": {
        "image": "api:1", "command": ["run"], "environment": ["A=1", "B=2", "PASS"],
        "depends_on": ["db"], "ports": ["127.0.0.1:8080:80/tcp", "9000-9001:9000-9001", "53:53/udp", "7000"],
        "healthcheck": {"test": "curl -f http://localhost/"},
        "secrets": ["s1", {"source": "s2", "target": "/etc/s2"}], "networks": ["front"],
        "deploy": {"resources": {"limits": {"cpus": 1.5, "memory": "512m"}}}},
        "db": {"image": "postgres", "healthcheck": {"test": ["NONE"]}}},
        "secrets": {"s1": {"file": "/abs/s1"}, "s2": {"external": True, "name": "prod_s2"}},
        "networks": {"front": None}}
    over = {"services": {"api": {
        "environment": {"B": "3", "C": True, "D": None},
        "depends_on": {"cache": {"condition": "service_healthy"}},
        "ports": [{"target": 443, "published": "8443", "protocol": "tcp"}, "127.0.0.1:8080:80/tcp"],
        "deploy": {"resources": {"limits": {"memory": 1073741824}}},
        "networks": {"back": {}}}}}
    project = _compose(tmp_path, base, over)
    api = project.service("api")
    assert api is not None
    assert [(e.name, e.value) for e in api.environment] == [("A", "1"), ("B", "3"), ("PASS", None), ("C", "true"),
                                                           ("D", None)]
    assert [(d.service, d.condition) for d in api.depends_on] == [("db", "service_started"),
                                                                 ("cache", "service_healthy")]
    assert [(p.host_ip, p.host_port, p.container_port, p.protocol) for p in api.ports] == [
        ("127.0.0.1", 8080, 80, "tcp"), (None, 9000, 9000, "tcp"), (None, 53, 53, "udp"), (None, None, 7000, "tcp"),
        (None, 8443, 443, "tcp")]
    assert api.healthcheck is not None
    assert api.healthcheck.test == ("CMD-SHELL", "curl -f http://localhost/")
    assert [(s.source, s.target) for s in api.secrets] == [("s1", "s1"), ("s2", "/etc/s2")]
    assert api.networks == ("front", "back")
    assert (api.limits.cpus, api.limits.memory_bytes) == (1.5, 1024**3)
    assert len(api.defined_in) == 2
    db = project.service("db")
    assert db is not None
    assert db.healthcheck is not None
    assert db.healthcheck.disabled
    assert [(s.name, s.external, s.external_name, s.file) for s in project.secrets] == [
        ("s1", False, None, "/abs/s1"), ("s2", True, "prod_s2", None)]
    assert project.networks == ("front",)


def test_compose_interpolation_uses_the_spec_environment(tmp_path: Path) -> None:
    doc = {"services": {"api": {"image": "api:${TAG:-latest}", "ports": ["${HOST_PORT:-8080}:80"],
                                "environment": {"COST": "$$5"}}},
           "x-template": {"value": "${NOT_INTERPOLATED"}}
    project = _compose(tmp_path, doc, env={"HOST_PORT": "9090"})
    api = project.service("api")
    assert api is not None
    assert api.image == "api:latest"
    assert api.ports[0].host_port == 9090
    assert api.environment[0].value == "$5"
    keys = sorted(r.key for r in project.interpolations)
    assert keys == ["services.api.environment.COST", "services.api.image", "services.api.ports[0]"]


def test_compose_interpolation_error_is_a_located_spec_error(tmp_path: Path) -> None:
    doc = {"services": {"api": {"image": "api", "environment": {"KEY": "${API_KEY:?set API_KEY}"}}}}
    with pytest.raises(SpecError, match=r"compose interpolation failed in services\.api\.environment\.KEY") as info:
        _compose(tmp_path, doc)
    assert "set API_KEY" in info.value.one_line()
    assert info.value.location == loc_at(tmp_path, "proj/c0.yml", "services", "api", "environment", "KEY")


@pytest.mark.parametrize(("svc", "words"), [
    ({"image": "x", "ports": ["eighty"]}, "unreadable port"),
    ({"image": "x", "ports": [{"published": 80}]}, "needs an integer 'target'"),
    ({"image": "x", "ports": "80:80"}, "ports must be a list"),
    ({"image": "x", "environment": "A=1"}, "environment must be a list or mapping"),
    ({"image": "x", "depends_on": "db"}, "depends_on must be a list or mapping"),
    ({"image": "x", "depends_on": {"db": "healthy"}}, "must be a mapping \\(long form\\)"),
    ({"image": "x", "healthcheck": {"test": 5}}, "healthcheck.test must be a list or a string"),
    ({"image": "x", "networks": "front"}, "networks must be a list or mapping"),
    ({"image": "x", "deploy": {"resources": {"limits": {"cpus": "many"}}}}, "cpus must be a (finite )?number"),
    ({"image": "x", "deploy": {"resources": {"limits": {"memory": "lots"}}}}, "memory must be a size"),
    ({"image": "x", "deploy": {"resources": {"reservations": {"devices": [{"device_ids": "0"}]}}}},
     "device_ids and capabilities must be lists"),
    ({"image": "x", "secrets": [{"target": "t"}]}, "secret source must be text"),
    ({"image": ["x"]}, "image must be text"),
])
def test_compose_errors(tmp_path: Path, svc: dict[str, Any], words: str) -> None:
    with pytest.raises(SpecError, match=words):
        _compose(tmp_path, {"services": {"api": svc}})


@pytest.mark.parametrize(("value", "expected"), [
    ("512m", 512 * 1024**2), ("2g", 2 * 1024**3), ("2GB", 2 * 1024**3), ("1.5g", int(1.5 * 1024**3)),
    ("100", 100), ("10k", 10240), (" 1t ", 1024**4), (4096, 4096)])
def test_memory_sizes(tmp_path: Path, value: Any, expected: int) -> None:
    project = _compose(tmp_path, {"services": {"api": {
        "image": "x", "deploy": {"resources": {"limits": {"memory": value}}}}}})
    assert project.services[0].limits.memory_bytes == expected


# --- SLO configs --------------------------------------------------------------------------------

@pytest.mark.parametrize(("slo", "words"), [
    ({"type": "availability", "threshold": 99, "window": "5m"}, "has no 'service'"),
    ({"service": "x", "type": "uptime", "threshold": 99, "window": "5m"}, "unknown type 'uptime'"),
    ({"service": "x", "type": "availability", "threshold": "high", "window": "5m"},
     "threshold must be a (finite )?number"),
    ({"service": "x", "type": "availability", "threshold": 99, "window": "five minutes"}, "must be a duration"),
    ({"service": "x", "type": "availability", "threshold": 99, "window": "5m", "lower_threshold": "x"},
     "lower_threshold must be a (finite )?number"),
])
def test_slo_config_errors(tmp_path: Path, slo: dict[str, Any], words: str) -> None:
    with pytest.raises(SpecError, match=words):
        load(tmp_path, {"slo.yaml": {"slos": {"s": slo}}})


@pytest.mark.parametrize(("window", "seconds"), [("30s", 30), ("5m", 300), ("1h30m", 5400), ("7d", 604800),
                                                 ("1w", 604800), ("250ms", 0.25), (90, 90)])
def test_slo_windows(tmp_path: Path, window: Any, seconds: float) -> None:
    topology = load(tmp_path, {"slo.yaml": {"slos": {"s": {"service": "x", "type": "latency", "threshold": 0.5,
                                                           "window": window}}}})
    assert topology.slo_config is not None
    assert topology.slo_config.slos[0].window_s == seconds


def test_find_agent_prefers_the_host_then_a_unique_name(tmp_path: Path) -> None:
    files = {"a/startup_config.yaml": {"agent_groups": {"s": {"X": agent_body(7200), "Y": agent_body(7201)}}},
             "b/startup_config.yaml": {"agent_groups": {"s": {"X": agent_body(7300)}}}}
    topology = load(tmp_path, files)
    assert topology.find_agent("X", "b").key == "b/X"  # type: ignore[union-attr]
    assert topology.find_agent("X") is None  # ambiguous
    assert topology.find_agent("Y", "b").key == "a/Y"  # type: ignore[union-attr]
    assert topology.find_agent("Z") is None
    assert topology.host("nope") is None


def test_extension_and_known_service_keys_are_not_unknown_keys(tmp_path: Path) -> None:
    spec = baseline()
    service(spec, "core_group")["restart"] = "always"
    service(spec, "core_group")["x-note"] = "extension"
    topology = load(tmp_path, spec)
    assert [f for f in topology.notes if f.rule == "SPEC001"] == []
