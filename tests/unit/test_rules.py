"""Every lint rule fires exactly where it should on a small synthetic spec, and is silent once corrected.

Each case takes the clean ``baseline()`` spec, applies one mutation, and checks
that the rule reports exactly the expected locations (read back from the
written file with the located loader). The corrected variant (the baseline, or
a specific fix) must give no finding of that rule.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
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
    group,
    host,
    lint_files,
    load,
    loc_at,
    rule_locs,
    rules_of,
    service,
    slos,
    startup,
)

from aisys_verify import LintReport, Severity, SpecError, UsageError, lint
from aisys_verify.lint.registry import RULES
from aisys_verify.spec.source import load_yaml

Spec = dict[str, Any]
LocPath = tuple[Any, ...]  # (file, key, key, ...)


@dataclass
class Case:
    rule: str
    mutate: Callable[[Spec], None]
    where: list[LocPath]  # the expected finding locations, in report order
    fix: Callable[[Spec], None] | None = None  # the corrected version; None: the baseline itself
    message: str = ""  # a substring every finding of the rule has
    severity: Severity | None = None
    env: dict[str, str] = field(default_factory=dict)  # spec variables for the mutated version only


# --- mutations ---------------------------------------------------------------------------------

def _set(getter: Callable[[Spec], dict[str, Any]], key: str, value: Any) -> Callable[[Spec], None]:
    def mutate(spec: Spec) -> None:
        getter(spec)[key] = value
    return mutate


def _drop(getter: Callable[[Spec], dict[str, Any]], *keys: str) -> Callable[[Spec], None]:
    def mutate(spec: Spec) -> None:
        for key in keys:
            del getter(spec)[key]
    return mutate


def _all(*mutations: Callable[[Spec], None]) -> Callable[[Spec], None]:
    def mutate(spec: Spec) -> None:
        for m in mutations:
            m(spec)
    return mutate


def _env(name: str, value: str) -> Callable[[Spec], None]:
    def mutate(spec: Spec) -> None:
        service(spec, "core_group")["environment"][name] = value
    return mutate


def _add_agent(name: str, port: int, groups: tuple[str, ...] = (), deps: list[str] | None = None,
               section: str = "core") -> Callable[[Spec], None]:
    def mutate(spec: Spec) -> None:
        startup(spec)["agent_groups"].setdefault(section, {})[name] = agent_body(port, deps)
        for g in groups:
            group(spec, g)["agents"].append(name)
    return mutate


def _add_group(name: str, agents: list[str], with_service: bool) -> Callable[[Spec], None]:
    def mutate(spec: Spec) -> None:
        startup(spec)["docker_groups"][name] = {"description": name, "agents": agents}
        if with_service:
            spec[COMPOSE]["services"][name] = {
                "image": f"tiny/{name}:1",
                "healthcheck": {"test": ["CMD", "curl", "-f", "http://localhost:9202/health"]}}
    return mutate


def _plan(spec: Spec) -> dict[str, Any]:
    return host(spec)["gpu_plan"]


def _devices(name: str) -> Callable[[Spec], None]:
    def mutate(spec: Spec) -> None:
        service(spec, name).setdefault("deploy", {}).setdefault("resources", {})["reservations"] = {
            "devices": [{"driver": "nvidia", "count": 1, "capabilities": ["gpu"]}]}
    return mutate


def _backend(spec: Spec) -> dict[str, Any]:
    return startup(spec)["hybrid_inference_policy"]["local_backend"]


def _h100(spec: Spec) -> None:
    host(spec)["gpus"][0].update(model="H100", vram_gb=80)
    _backend(spec)["gpu_device"] = "H100"


def _reservation(spec: Spec) -> dict[str, Any]:
    device = service(spec, "core_group")["deploy"]["resources"]["reservations"]["devices"][0]
    device.setdefault("device_ids", [])
    device.pop("count", None)  # compose: count and device_ids are exclusive
    return device


def _override(services: dict[str, Any]) -> Callable[[Spec], None]:
    def mutate(spec: Spec) -> None:
        spec["main/docker-compose.override.yml"] = {"services": services}
        host(spec)["compose"].append("main/docker-compose.override.yml")
    return mutate


def _slo(section: str, name: str, **body: Any) -> Callable[[Spec], None]:
    def mutate(spec: Spec) -> None:
        entry = {"service": "core-group", "type": "availability", "threshold": 99.0, "window": "5m"}
        entry.update(body)
        slos(spec).setdefault(section, {})[name] = entry
    return mutate


def _secret(name: str, body: dict[str, Any]) -> Callable[[Spec], None]:
    def mutate(spec: Spec) -> None:
        spec[COMPOSE]["secrets"][name] = body
    return mutate


A = ("agent_groups", "core")
SVC = "services"

CASES = [
    # ports
    Case("PORT001", _set(startup, "error_bus_port", "${PORT_OFFSET}+7200"), [(STARTUP, "error_bus_port")],
         fix=_set(startup, "error_bus_port", "${PORT_OFFSET}+7300"),
         message="error_bus_port 7200 on host main is already used by Alpha port", severity=Severity.ERROR),
    Case("PORT002", lambda s: service(s, "edge_group").__setitem__("ports", ["9200:9201"]),
         [(COMPOSE, SVC, "edge_group", "ports", 0)], message="already published by core_group"),
    Case("PORT003", _set(startup, "pc2_network", {"agent_ports": {"start": 7200, "end": 7200},
                                                  "health_check_ports": {"start": 8200, "end": 8300}}),
         [(STARTUP, *A, "Beta", "port")],
         fix=_set(startup, "pc2_network", {"agent_ports": {"start": 7200, "end": 7300},
                                           "health_check_ports": {"start": 8200, "end": 8300}}),
         message="outside the declared agent_ports range 7200-7200"),
    Case("PORT004", lambda s: agent(s, "Alpha").__setitem__("port", 7200), [(STARTUP, *A, "Alpha", "port")],
         message="Alpha port 7200 is a literal"),
    Case("PORT006", lambda s: None, [(STARTUP, *A, "Alpha", "port")], env={"PORT_OFFSET": "30000"},
         message="6 port(s) on host main lie in the ephemeral range 32768-60999: Alpha port 37200"),
    Case("PORT005", lambda s: agent(s, "Beta").__setitem__("http_port", "${PORT_OFFSET}+70000"),
         [(STARTUP, *A, "Beta", "http_port")], message="outside 1-65535"),
    # health
    Case("HLTH001", lambda s: agent(s, "Beta").__setitem__("health_check_port", "${PORT_OFFSET}+8301"),
         [(STARTUP, *A, "Beta", "health_check_port")], message="not port+1000 = 8201"),
    Case("HLTH002", lambda s: agent(s, "Alpha").pop("http_port"), [(STARTUP, *A, "Alpha", "health_check_port")],
         fix=lambda s: agent(s, "Alpha").__setitem__("http_port", "${PORT_OFFSET}+9200"),
         message="health_check_port+1 = 8201, which is Beta's health_check_port", severity=Severity.WARNING),
    Case("HLTH003", lambda s: service(s, "core_group")["healthcheck"].__setitem__(
        "test", ["CMD", "curl", "-f", "http://localhost:8200/health"]),
        [(COMPOSE, SVC, "core_group", "healthcheck", "test")], message="a ZeroMQ REP socket"),
    Case("HLTH004", lambda s: service(s, "edge_group").pop("healthcheck"), [(COMPOSE, SVC, "edge_group")],
         message="group edge_group has no healthcheck"),
    # deps
    Case("DEP001", lambda s: agent(s, "Beta").__setitem__("dependencies", ["Alpah"]),
         [(STARTUP, *A, "Beta", "dependencies", 0)], message="(did you mean 'Alpha'?)"),
    Case("DEP002", lambda s: agent(s, "Alpha").__setitem__("dependencies", ["Beta"]),
         [(STARTUP, *A, "Alpha")], message="dependency cycle: Alpha -> Beta -> Alpha"),
    Case("DEP003", lambda s: service(s, "edge_group").pop("depends_on"),
         [(STARTUP, *A, "Beta", "dependencies", 0)],
         message="group edge_group needs group core_group (Beta depends on Alpha)", severity=Severity.WARNING),
    Case("DEP004", _all(lambda s: service(s, "edge_group").pop("depends_on"),
                        lambda s: service(s, "core_group").__setitem__("depends_on", ["edge_group"])),
         [(STARTUP, *A, "Beta", "dependencies", 0)], message="but compose starts edge_group first"),
    Case("DEP005", lambda s: agent(s, "Beta").__setitem__("dependencies", []),
         [(COMPOSE, SVC, "edge_group", "depends_on", "core_group")],
         message="no agent of edge_group needs an agent of core_group", severity=Severity.NOTE),
    Case("DEP006", lambda s: service(s, "edge_group")["depends_on"].__setitem__("cache", None),
         [(COMPOSE, SVC, "edge_group", "depends_on", "cache")], message="depends_on unknown service 'cache'"),
    Case("DEP007", lambda s: agent(s, "Alpha").__setitem__("dependencies", ["Alpha"]),
         [(STARTUP, *A, "Alpha", "dependencies", 0)], message="Alpha depends on itself"),
    Case("DEP008", lambda s: agent(s, "Beta").__setitem__("calls", ["Alpah"]),
         [(STARTUP, *A, "Beta", "calls", 0)], fix=lambda s: agent(s, "Beta").__setitem__("calls", ["Alpha"]),
         message="Beta calls unknown agent 'Alpah': no host of the spec defines it"),
    # groups
    Case("GRP001", _add_agent("Gamma", 7202), [(STARTUP, *A, "Gamma")],
         fix=_add_agent("Gamma", 7202, ("core_group",)), message="agent Gamma is in no docker group"),
    Case("GRP002", lambda s: group(s, "edge_group")["agents"].append("Alpha"), [(STARTUP, *A, "Alpha")],
         message="agent Alpha is in 2 docker groups: core_group, edge_group"),
    Case("GRP003", lambda s: group(s, "core_group")["agents"].append("Ghost"),
         [(STARTUP, "docker_groups", "core_group", "agents", 1)], message="lists unknown agent 'Ghost'"),
    Case("GRP004", _all(_add_agent("Gamma", 7202), _add_group("extra_group", ["Gamma"], with_service=False)),
         [(STARTUP, "docker_groups", "extra_group")],
         fix=_all(_add_agent("Gamma", 7202), _add_group("extra_group", ["Gamma"], with_service=True)),
         message="docker group extra_group has no compose service"),
    Case("GRP005", lambda s: startup(s)["agent_groups"].__setitem__("more", {"Alpha": agent_body(7300)}),
         [(STARTUP, "agent_groups", "more", "Alpha")], message="agent Alpha is defined twice on host main"),
    # resources
    # reported at the largest limit (the YAML to change); the host's facts are a related location
    Case("RES001", lambda s: service(s, "core_group")["deploy"]["resources"]["limits"].__setitem__("memory", "100g"),
         [(COMPOSE, SVC, "core_group", "deploy", "resources", "limits", "memory")],
         message="add up to 104.0 GiB, more than its 64 GiB of RAM"),
    Case("RES002", lambda s: service(s, "core_group")["deploy"]["resources"]["limits"].__setitem__("cpus", "15"),
         [(COMPOSE, SVC, "core_group", "deploy", "resources", "limits", "cpus")],
         message="add up to 17, more than its 16 CPUs"),
    Case("RES003", lambda s: _plan(s)["slices"]["core_group"].update(share_pct=150, vram_gb=30),
         [(MANIFEST, "hosts", "main", "gpu_plan")] * 2, message="GPU plan on host main gives out"),
    Case("RES004", _drop(host, "ram_gb", "cpus", "gpus", "sources"), [(MANIFEST, "hosts", "main")],
         message="host main declares no RAM, CPU or GPU facts", severity=Severity.NOTE),
    # gpu
    Case("GPU001", lambda s: _plan(s).__setitem__("mode", "mig"), [(MANIFEST, "hosts", "main", "gpu_plan")],
         message="the GeForce RTX 4090 has no MIG"),
    Case("GPU002", lambda s: host(s)["gpus"][0].__setitem__("model", "Voodoo 5 6000"),
         [(MANIFEST, "hosts", "main", "gpus", 0)], message="GPU model 'Voodoo 5 6000' on host main"),
    Case("GPU003", _all(lambda s: host(s).pop("gpu_plan"), _devices("edge_group")),
         [(COMPOSE, SVC, "core_group", "deploy", "resources", "reservations", "devices", 0)],
         fix=lambda s: host(s).pop("gpu_plan"), message="2 services on host main reserve the whole of GPU all"),
    Case("GPU004", _devices("edge_group"), [(MANIFEST, "hosts", "main", "gpu_plan")],
         fix=_all(_devices("edge_group"), lambda s: _plan(s)["slices"].__setitem__("edge_group", {"share_pct": 20})),
         message="service edge_group reserves a GPU but the GPU plan on host main gives it no slice"),
    Case("GPU005", _all(_h100, lambda s: _plan(s).update(mode="mig", slices={
        f"g{i}": {"profile": "1g.10gb"} for i in range(8)})),
         [(MANIFEST, "hosts", "main", "gpu_plan")],
         fix=_all(_h100, lambda s: _plan(s).update(mode="mig", slices={"core_group": {"profile": "3g.40gb"}})),
         message="has 8 instances; the H100 supports at most 7"),
    Case("GPU006", lambda s: _backend(s).__setitem__("gpu_device", "A100 80GB"),
         [(STARTUP, "hybrid_inference_policy", "local_backend", "gpu_device")],
         message="names GPU 'A100 80GB' but host main's facts say 'GeForce RTX 4090'"),
    Case("GPU007", lambda s: _reservation(s)["device_ids"].append("1"),
         [(COMPOSE, SVC, "core_group", "deploy", "resources", "reservations", "devices", 0)],
         fix=lambda s: _reservation(s)["device_ids"].append("0"),
         message="service core_group reserves GPU 1, but host main has 1 GPU(s)"),
    # secrets and compose
    Case("SEC001", _env("API_TOKEN", "abc123"), [(COMPOSE, SVC, "core_group", "environment", "API_TOKEN")],
         fix=_env("API_TOKEN", "${API_TOKEN:-}"), message="API_TOKEN in service core_group is a secret"),
    Case("SEC002", _env("DATABASE_URL", "postgres://app:hunter2@db:5432/app"),
         [(COMPOSE, SVC, "core_group", "environment", "DATABASE_URL")],
         fix=_env("DATABASE_URL", "postgres://app@db:5432/app"), message="embeds a literal password in a URL"),
    Case("SEC003", _secret("tls_key", {"file": "./secrets/tls.key"}), [(COMPOSE, "secrets", "tls_key")],
         fix=_secret("tls_key", {"file": "/etc/tiny-secrets/tls.key"}), message="inside the spec tree"),
    Case("SEC004", _secret("vault", {"external": True}), [(COMPOSE, "secrets", "vault")],
         fix=_secret("vault", {"environment": "VAULT_TOKEN"}), message="secret vault is external"),
    Case("SEC005", _env("DB_PASSWORD_FILE", "/run/secrets/other"),
         [(COMPOSE, SVC, "core_group", "environment", "DB_PASSWORD_FILE")],
         message="points at /run/secrets/other, but service core_group does not mount that secret"),
    Case("SEC006", lambda s: service(s, "core_group")["secrets"].append("nosuch"),
         [(COMPOSE, SVC, "core_group", "secrets", 1)], message="uses secret 'nosuch'"),
    Case("CMP001", _override({"ghost": {"environment": {"A": "1"}}}),
         [("main/docker-compose.override.yml", SVC, "ghost")],
         fix=_override({"core_group": {"environment": {"A": "1"}}}),
         message="service ghost is configured in"),
    # interpolation
    Case("INT001", _env("PORT", "${PORT_OFFSET}7200"), [(COMPOSE, SVC, "core_group", "environment", "PORT")],
         fix=_env("PORT", "${PORT_OFFSET:-0}"),
         message="PORT_OFFSET=0 gives '07200', PORT_OFFSET=1000 gives '10007200'"),
    Case("INT002", _env("MODE", "${RUN_MODE}"), [(COMPOSE, SVC, "core_group", "environment", "MODE")],
         fix=_env("MODE", "${RUN_MODE:-prod}"), message="${RUN_MODE} in services.core_group.environment.MODE"),
    # SLOs
    Case("SLO001", lambda s: slos(s)["slos"]["core_availability"].__setitem__("service", "core-grup"),
         [(SLO, "slos", "core_availability", "service")], message="(did you mean 'core-group'?)"),
    Case("SLO002", lambda s: slos(s)["slos"]["core_availability"].__setitem__("threshold", 150),
         [(SLO, "slos", "core_availability")], message="a percentage must be in (0, 100]"),
    Case("SLO003", lambda s: service(s, "edge_group").pop("healthcheck"),
         [(SLO, "error_rate_slos", "edge_errors", "service")],
         message="covers main/edge_group, whose compose service has no healthcheck"),
    Case("SLO004", _slo("business_slos", "core_availability", type="business"),
         [(SLO, "business_slos", "core_availability")], fix=_slo("business_slos", "core_business", type="business"),
         message="SLO 'core_availability' is defined twice"),
    # loader findings
    Case("SPEC001", lambda s: agent(s, "Beta").__setitem__("heath_check_port", 8201),
         [(STARTUP, *A, "Beta", "heath_check_port")], message="did you mean 'health_check_port'?"),
    Case("SPEC004", lambda s: startup(s)["agent_groups"].__setitem__("docker_groups", startup(s).pop("docker_groups")),
         [(STARTUP, "agent_groups", "docker_groups")], message="docker_groups is nested inside agent_groups"),
]


def _ids() -> list[str]:
    return [c.rule for c in CASES]


def test_baseline_is_clean(tmp_path: Path) -> None:
    report = lint_files(tmp_path, baseline())
    assert report.findings == ()
    report.assert_clean("note")


BRIEF_RULES = {f"PORT00{i}" for i in range(1, 6)} | {f"HLTH00{i}" for i in range(1, 5)} | {
    f"DEP00{i}" for i in range(1, 8)} | {f"GRP00{i}" for i in range(1, 6)} | {f"RES00{i}" for i in range(1, 5)} | {
    f"GPU00{i}" for i in range(1, 7)} | {f"SEC00{i}" for i in range(1, 7)} | {"CMP001", "INT001", "INT002"} | {
    f"SLO00{i}" for i in range(1, 5)} | {f"SPEC00{i}" for i in range(1, 5)}


def test_every_rule_has_a_case() -> None:
    covered = {c.rule for c in CASES} | {"SPEC002", "SPEC003"}  # those two are in test_loader.py
    assert BRIEF_RULES <= set(RULES), "a rule this suite covers was removed or renamed"
    assert BRIEF_RULES <= covered


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_rule_fires_exactly_there(case: Case, tmp_path: Path) -> None:
    spec = baseline()
    case.mutate(spec)
    report = lint_files(tmp_path, spec, case.env)
    expected = [loc_at(tmp_path, file, *path) for file, *path in case.where]
    assert rule_locs(report, case.rule) == expected, [f.one_line() for f in report.findings]
    for finding in report.by_rule(case.rule):
        assert case.message in f"{finding.message} {finding.fix}"
        assert finding.severity is (case.severity or RULES[case.rule].severity)
        assert finding.why, "every finding says why it matters"
        assert finding.fix, "every finding says how to fix it"


@pytest.mark.parametrize("case", CASES, ids=_ids())
def test_rule_silent_when_corrected(case: Case, tmp_path: Path) -> None:
    spec = baseline()
    if case.fix is not None:
        case.fix(spec)
    report = lint_files(tmp_path, spec)  # the corrected version runs without the case's variables
    assert case.rule not in rules_of(report), [f.one_line() for f in report.findings]


# --- rules that need more than a one-line mutation ---------------------------------------------

def _three_agent_startup(deps: dict[str, list[str]]) -> dict[str, Any]:
    return {"agent_groups": {"core": {name: agent_body(7200 + i, deps.get(name, []))
                                      for i, name in enumerate(("A", "B", "C"))}}}


def test_cycle_of_three_lists_the_cycle(tmp_path: Path) -> None:
    files = {"h/startup_config.yaml": _three_agent_startup({"A": ["B"], "B": ["C"], "C": ["A"]})}
    report = lint_files(tmp_path, files)
    [finding] = report.by_rule("DEP002")
    assert finding.message == "dependency cycle: A -> B -> C -> A"
    assert finding.loc == loc_at(tmp_path, "h/startup_config.yaml", "agent_groups", "core", "A")
    assert finding.related == (loc_at(tmp_path, "h/startup_config.yaml", "agent_groups", "core", "B"),
                               loc_at(tmp_path, "h/startup_config.yaml", "agent_groups", "core", "C"))
    assert finding.severity is Severity.ERROR


def test_chain_without_back_edge_is_no_cycle(tmp_path: Path) -> None:
    report = lint_files(tmp_path, {"h/startup_config.yaml": _three_agent_startup({"A": ["B"], "B": ["C"]})})
    assert report.by_rule("DEP002") == ()
    assert report.by_rule("DEP001") == ()


def test_two_separate_cycles_are_two_findings(tmp_path: Path) -> None:
    body = {"agent_groups": {"core": {
        "A": agent_body(7200, ["B"]), "B": agent_body(7201, ["A"]),
        "C": agent_body(7202, ["D"]), "D": agent_body(7203, ["C"]), "E": agent_body(7204, ["A"])}}}
    report = lint_files(tmp_path, {"h/startup_config.yaml": body})
    assert sorted(f.message for f in report.by_rule("DEP002")) == [
        "dependency cycle: A -> B -> A", "dependency cycle: C -> D -> C"]


def test_cross_host_dependency_resolves_and_ambiguous_one_is_unknown(tmp_path: Path) -> None:
    files = {
        "one/startup_config.yaml": {"agent_groups": {"s": {"A": agent_body(7200, ["Remote", "Twin"])}}},
        "two/startup_config.yaml": {"pc2_services": [{"name": "Remote", **agent_body(7300)},
                                                     {"name": "Twin", **agent_body(7301)}]},
        "three/startup_config.yaml": {"pc2_services": [{"name": "Twin", **agent_body(7400)}]},
    }
    topology = load(tmp_path, files)
    report = lint(topology)
    assert [(e.source, e.target, e.kind.value) for e in topology.edges if e.kind.value == "cross-host"] == [
        ("one/A", "two/Remote", "cross-host")]
    [finding] = report.by_rule("DEP001")
    assert "'Twin'" in finding.message
    assert "several other hosts" in finding.message
    assert finding.loc == loc_at(tmp_path, "one/startup_config.yaml", "agent_groups", "s", "A", "dependencies", 1)


def test_hlth002_is_an_error_inside_one_group(tmp_path: Path) -> None:
    spec = baseline()
    agent(spec, "Alpha").pop("http_port")
    group(spec, "core_group")["agents"].append("Beta")
    group(spec, "edge_group")["agents"] = []
    [finding] = lint_files(tmp_path, spec).by_rule("HLTH002")
    assert finding.severity is Severity.ERROR
    assert "same docker group" in finding.why


def test_port_rules_follow_the_port_offset(tmp_path: Path) -> None:
    spec = baseline()
    startup(spec)["error_bus_port"] = "${PORT_OFFSET}+7200"
    [finding] = lint_files(tmp_path, spec, {"PORT_OFFSET": "1000"}).by_rule("PORT001")
    assert "error_bus_port 8200 on host main is already used by Alpha port" in finding.message


def test_port005_for_an_offset_that_pushes_past_65535(tmp_path: Path) -> None:
    report = lint_files(tmp_path, baseline(), {"PORT_OFFSET": "57000"})  # 7200 -> 64200, 9200 -> 66200
    assert {f.message.split(" is ")[0] for f in report.by_rule("PORT005")} == {"Alpha http_port", "Beta http_port"}
    assert lint_files(tmp_path / "ok", baseline(), {"PORT_OFFSET": "56000"}).by_rule("PORT005") == ()


def test_sec001_in_agent_config(tmp_path: Path) -> None:
    spec = baseline()
    agent(spec, "Alpha")["config"] = {"llm": {"api_key": "sk-live-123", "api_key_env": "OPENAI_KEY"}}
    [finding] = lint_files(tmp_path, spec).by_rule("SEC001")
    assert finding.message == "agent Alpha config.llm.api_key holds a literal secret"
    assert finding.loc == loc_at(tmp_path, STARTUP, *A, "Alpha")
    agent(spec, "Alpha")["config"] = {"llm": {"api_key_env": "OPENAI_KEY", "url": "http://user@host/"}}
    assert lint_files(tmp_path / "fixed", spec).by_rule("SEC001") == ()


def test_sec001_not_raised_for_a_value_interpolated_from_the_environment(tmp_path: Path) -> None:
    """'API_TOKEN: ${API_TOKEN}' is exactly what SEC001's fix recommends ("at least interpolate it from the
    deployer's environment"); it must not become a "plain value" finding just because the deployer set it."""
    spec = baseline()
    service(spec, "core_group")["environment"]["API_TOKEN"] = "${API_TOKEN}"
    report = lint_files(tmp_path, spec, {"API_TOKEN": "s3cr3t"})
    assert report.by_rule("SEC001") == (), [f.one_line() for f in report.findings]


def test_int001_with_a_required_variable_elsewhere_in_the_string(tmp_path: Path) -> None:
    """INT001 re-interpolates the raw string with only the pasted variable set; a ':?' variable elsewhere in
    the same string must not make lint itself crash."""
    spec = baseline()
    service(spec, "core_group")["environment"]["ADDR"] = "${HOST:?set HOST}:${PORT_OFFSET}80"
    report = lint_files(tmp_path, spec, {"HOST": "db", "PORT_OFFSET": "1"})
    [finding] = report.by_rule("INT001")
    assert "PORT_OFFSET" in finding.message


def test_gpu_unknown_via_startup_hint_when_no_facts(tmp_path: Path) -> None:
    spec = baseline()
    for key in ("ram_gb", "cpus", "gpus", "sources"):
        host(spec).pop(key)
    startup(spec)["hybrid_inference_policy"]["local_backend"]["gpu_device"] = "Mystery GPU 9000"
    [finding] = lint_files(tmp_path, spec).by_rule("GPU002")
    assert finding.loc == loc_at(tmp_path, MANIFEST, "hosts", "main", "gpu_plan")


def test_slo_aggregate_regex_query(tmp_path: Path) -> None:
    spec = baseline()
    slos(spec)["resource_slos"] = {"gpu": {"service": "all-gpus", "type": "resource", "threshold": 90,
                                           "window": "5m", "query": 'max(gpu_util{service=~".*-gpu"})'},
                                   "bad": {"service": "nothing", "type": "resource", "threshold": 90,
                                           "window": "5m", "query": 'x{service=~"(["}'}}
    report = lint_files(tmp_path, spec)
    assert rule_locs(report, "SLO001") == [loc_at(tmp_path, SLO, "resource_slos", "bad", "service")]


# --- select / ignore ----------------------------------------------------------------------------

@pytest.fixture
def noisy(tmp_path: Path) -> Any:
    """A spec with PORT001 (error), PORT004 (warning), HLTH001 (warning) and SEC001 (error) findings."""
    spec = baseline()
    startup(spec)["error_bus_port"] = "${PORT_OFFSET}+7200"
    agent(spec, "Beta")["health_check_port"] = "${PORT_OFFSET}+8301"
    agent(spec, "Alpha")["port"] = 7200
    service(spec, "core_group")["environment"]["API_TOKEN"] = "abc"
    return load(tmp_path, spec)


def test_res001_relates_the_host_facts(tmp_path: Path) -> None:
    spec = baseline()
    service(spec, "core_group")["deploy"]["resources"]["limits"]["memory"] = "100g"
    [finding] = lint_files(tmp_path, spec).by_rule("RES001")
    facts_block = load_yaml(tmp_path / MANIFEST).data["hosts"]["main"]
    assert facts_block.loc in finding.related


def test_noisy_spec_has_the_expected_rules(noisy: Any) -> None:
    assert rules_of(lint(noisy)) == {"PORT001", "PORT004", "HLTH001", "SEC001"}


@pytest.mark.parametrize(("select", "ignore", "expected"), [
    (["PORT001"], [], {"PORT001"}),
    (["port-clash"], [], {"PORT001"}),
    (["ports"], [], {"PORT001", "PORT004"}),
    (["PORT"], [], {"PORT001", "PORT004"}),
    (["PORT00"], [], {"PORT001", "PORT004"}),
    (["health", "secret-in-env"], [], {"HLTH001", "SEC001"}),
    ([], ["PORT001"], {"PORT004", "HLTH001", "SEC001"}),
    ([], ["ports", "health-port-convention"], {"SEC001"}),
    ([], ["P", "H", "S"], set()),
    (["ports"], ["PORT004"], {"PORT001"}),
    (["PORT001"], ["ports"], set()),  # ignore wins
])
def test_select_and_ignore(noisy: Any, select: list[str], ignore: list[str], expected: set[str]) -> None:
    assert rules_of(lint(noisy, select=select, ignore=ignore)) == expected


@pytest.mark.parametrize("token", ["NOPE001", "portclash", "Ports", "x"])
def test_unknown_select_or_ignore_token_is_a_usage_error(noisy: Any, token: str) -> None:
    with pytest.raises(UsageError, match="unknown rule, rule name or family"):
        lint(noisy, select=[token])
    with pytest.raises(UsageError, match=token):
        lint(noisy, ignore=[token])


def test_select_spec_findings_from_the_loader(tmp_path: Path) -> None:
    spec = baseline()
    agent(spec, "Beta")["heath_check_port"] = 8201
    agent(spec, "Alpha")["port"] = 7200
    topology = load(tmp_path, spec)
    assert rules_of(lint(topology, select=["spec"])) == {"SPEC001"}
    assert rules_of(lint(topology, ignore=["unknown-key"])) == {"PORT004"}


def test_report_helpers(noisy: Any) -> None:
    report: LintReport = lint(noisy)
    assert report.counts() == {"error": 2, "warning": 2, "note": 0}
    assert {f.rule for f in report.at_or_above(Severity.ERROR)} == {"PORT001", "SEC001"}
    assert [f.loc for f in report.findings] == sorted(f.loc for f in report.findings)
    with pytest.raises(AssertionError, match=r"spec lint: 2 finding\(s\) at or above 'error'"):
        report.assert_clean()
    with pytest.raises(AssertionError, match=r"4 finding\(s\) at or above 'warning'"):
        report.assert_clean("warning")


def test_spec_error_surfaces_for_unusable_rule_input(tmp_path: Path) -> None:
    spec = baseline()
    agent(spec, "Beta")["port"] = "seventy-two hundred"
    with pytest.raises(SpecError) as info:
        load(tmp_path, spec)
    assert info.value.location == loc_at(tmp_path, STARTUP, *A, "Beta", "port")
    assert "agent Beta port" in info.value.one_line()


def test_gpu007_for_a_service_off_the_planned_gpu(tmp_path: Path) -> None:
    spec = baseline()
    host(spec)["gpus"][0]["count"] = 2
    _reservation(spec)["device_ids"].append("1")
    [finding] = lint_files(tmp_path, spec).by_rule("GPU007")
    assert "its slice in the GPU plan is on GPU 0" in finding.message


def test_lint_never_reports_a_finding_twice(noisy: Any) -> None:
    keys = [(f.rule, f.loc, f.message) for f in lint(noisy).findings]
    assert len(keys) == len(set(keys))
