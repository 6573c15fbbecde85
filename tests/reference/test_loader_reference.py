"""The loader against the real system's published spec (../shared/reference-system).

Every expectation is either read from the YAML independently (yaml.safe_load and
line scanning, see conftest.RefFiles) or is a fact stated in the reference's
TOPOLOGY.md, so the tests check aisys_verify against the files, not against itself.
"""

from __future__ import annotations

import re
from collections import Counter
from pathlib import Path

import pytest
from reference_spec import (
    COMPOSE,
    MAINPC_COMPOSE,
    MAINPC_STARTUP,
    OBS_COMPOSE,
    PC2_COMPOSE,
    PC2_STARTUP,
    SECRETS_COMPOSE,
    SLO_CONFIG,
    STARTUP,
    TEST_COMPOSE,
    TRACING_CONFIG,
    port_value,
    requires_reference,
    uses_offset,
)

from aisys_verify.findings import Severity
from aisys_verify.spec.model import EdgeKind, SloType

pytestmark = [pytest.mark.integration, requires_reference]

GIB = 1024**3


# --- agents and groups ------------------------------------------------------------------------


def test_reads_every_agent_of_both_startup_configs(topology, rf):
    mainpc, pc2 = topology.host("mainpc"), topology.host("pc2")
    assert mainpc is not None
    assert pc2 is not None
    assert [h.name for h in topology.hosts] == ["mainpc", "pc2"]
    assert len(mainpc.agents) == 54
    assert len(pc2.agents) == 23
    assert len(topology.agents) == 77
    # the same agents, in file order, as an independent reading of the YAML
    assert [a.name for a in mainpc.agents] == [a.name for a in rf.raw_agents["mainpc"]]
    assert [a.name for a in pc2.agents] == [a.name for a in rf.raw_agents["pc2"]]
    assert rf.is_file(mainpc.startup_config, MAINPC_STARTUP)
    assert rf.is_file(pc2.startup_config, PC2_STARTUP)


def test_reads_every_docker_group(topology, rf):
    for host, count in (("mainpc", 11), ("pc2", 7)):
        h = topology.host(host)
        assert len(h.groups) == count
        assert {g.name: [r.name for r in g.agents] for g in h.groups} == rf.raw_groups(host)
        assert all(g.host == host for g in h.groups)


SAMPLE_AGENTS = [
    ("mainpc", "RequestCoordinator", 26002, 27002, True, ["SystemDigitalTwin"],
     "main_pc_code/agents/request_coordinator.py", "foundation_services"),
    ("mainpc", "GoTToTAgent", 5646, 6646, False, ["ModelManagerSuite", "SystemDigitalTwin", "ChainOfThoughtAgent"],
     "main_pc_code/FORMAINPC/got_tot_agent.py", "reasoning_services"),
    ("mainpc", "LearningOrchestrationService", 7210, 8212, True, ["ModelManagerSuite", "SystemDigitalTwin"],
     "main_pc_code/agents/learning_orchestration_service.py", "learning_knowledge"),
    ("mainpc", "ServiceRegistry", 7200, 8200, True, [],
     "main_pc_code/agents/service_registry_agent.py", "foundation_services"),
    ("mainpc", "TinyLlamaServiceEnhanced", 5615, 6615, False, ["ModelManagerSuite", "SystemDigitalTwin"],
     "main_pc_code/FORMAINPC/tiny_llama_service_enhanced.py", "utility_services"),
    ("mainpc", "Responder", 5637, 6637, True,
     ["EmotionEngine", "FaceRecognitionAgent", "NLUAgent", "StreamingTTSAgent", "SystemDigitalTwin", "TTSService"],
     "main_pc_code/agents/responder.py", "language_processing"),
    ("mainpc", "AudioCapture", 6550, 7550, True, ["SystemDigitalTwin"],
     "main_pc_code/agents/streaming_audio_capture.py", "audio_interface"),
    ("mainpc", "EmpathyAgent", 5703, 6703, True, ["EmotionEngine", "StreamingTTSAgent", "SystemDigitalTwin"],
     "main_pc_code/agents/EmpathyAgent.py", "emotion_system"),
    ("pc2", "ObservabilityHub", 9100, 9110, True, [],
     "phase1_implementation/consolidated_agents/observability_hub/backup_observability_hub/observability_hub.py",
     "pc2_services"),
    ("pc2", "VisionProcessingAgent", 7150, 8150, True, ["CacheManager"],
     "pc2_code/agents/VisionProcessingAgent.py", "pc2_services"),
    ("pc2", "UnifiedWebAgent", 7126, 8126, True, ["FileSystemAssistantAgent", "MemoryOrchestratorService"],
     "pc2_code/agents/unified_web_agent.py", "pc2_services"),
    ("pc2", "RemoteConnectorAgent", 7124, 8124, True, ["AdvancedRouter"],
     "pc2_code/agents/remote_connector_agent.py", "pc2_services"),
]


@pytest.mark.parametrize(
    ("host", "name", "port", "health", "required", "deps", "script", "section"),
    SAMPLE_AGENTS, ids=[f"{s[0]}-{s[1]}" for s in SAMPLE_AGENTS],
)
def test_sample_agent_values(topology, rf, host, name, port, health, required, deps, script, section):
    agent = topology.find_agent(name, host)
    assert agent is not None
    assert agent.host == host
    assert agent.key == f"{host}/{name}"
    assert (agent.port.number, agent.health_port.number) == (port, health)
    assert agent.required is required
    assert [d.name for d in agent.dependencies] == deps
    assert agent.script_path == script
    assert agent.section == section
    # the table above is itself checked against the YAML
    raw = rf.raw_agent(host, name)
    assert raw.section == section
    assert port_value(raw.spec["port"], 0) == port
    assert port_value(raw.spec["health_check_port"], 0) == health
    assert raw.spec.get("required", True) is required
    assert raw.deps == deps
    assert raw.spec["script_path"] == script


def test_request_coordinator_ports_are_literals_without_offset(topology):
    agent = topology.find_agent("RequestCoordinator", "mainpc")
    assert not agent.port.uses_offset
    assert not agent.health_port.uses_offset
    assert agent.port.expr.raw == "26002"
    assert agent.health_port.expr.raw == "27002"
    other = topology.find_agent("ServiceRegistry", "mainpc")
    assert other.port.uses_offset
    assert other.port.expr.raw == "${PORT_OFFSET}+7200"


def test_pc2_observability_hub_config(topology, rf):
    hub = topology.find_agent("ObservabilityHub", "pc2")
    assert hub.config["cross_machine_sync"] is True
    assert hub.config["scope"] == "pc2_agents"
    assert hub.config["mainpc_hub_endpoint"] == "${MAINPC_OBS_HUB}"
    assert hub.config["prometheus_port"] == "${PORT_OFFSET}+9100"
    assert dict(hub.config) == rf.raw_agent("pc2", "ObservabilityHub").spec["config"]
    # MainPC's hub is a different agent with its own config
    assert topology.find_agent("ObservabilityHub") is None  # ambiguous across hosts
    main_hub = topology.find_agent("ObservabilityHub", "mainpc")
    assert (main_hub.port.number, main_hub.health_port.number) == (9000, 9001)
    assert "cross_machine_sync" not in main_hub.config


@pytest.mark.parametrize("offset", [0, 20000])
def test_every_port_matches_the_yaml(request, rf, offset):
    topo = request.getfixturevalue("topology" if offset == 0 else "topology_offset")
    checked = 0
    for host in ("mainpc", "pc2"):
        for raw in rf.raw_agents[host]:
            agent = topo.find_agent(raw.name, host)
            for what, key, port in (("port", "port", agent.port), ("health", "health_check_port", agent.health_port)):
                expected = port_value(raw.spec[key], offset)
                assert port.number == expected, f"{host}/{raw.name} {what}: {port.number} != {expected}"
                assert port.uses_offset is uses_offset(raw.spec[key])
                checked += 1
    assert checked == 2 * 77
    # the literals are exactly RequestCoordinator's two ports: nothing else escapes the offset
    literals = [(a.name, p.number) for a in topo.agents for p in (a.port, a.health_port) if not p.uses_offset]
    assert literals == [("RequestCoordinator", 26002), ("RequestCoordinator", 27002)]
    bus = next(n for n in topo.host("pc2").named_ports if n.name == "error_bus")
    assert bus.port.number == 7150 + offset
    assert topo.env == ({} if offset == 0 else {"PORT_OFFSET": "20000"})


def test_every_dependency_is_an_agent_edge(topology, rf):
    expected = Counter((f"{a.host}/{a.name}", f"{a.host}/{d}") for h in ("mainpc", "pc2")
                       for a in rf.raw_agents[h] for d in a.deps)
    assert sum(expected.values()) == 139
    agent_edges = [e for e in topology.edges if e.kind is EdgeKind.AGENT]
    assert Counter((e.source, e.target) for e in agent_edges) == expected
    assert len(agent_edges) == 139
    assert not [e for e in topology.edges if e.kind is EdgeKind.CROSS_HOST]  # none is declared at afcc8738
    # each edge points at the line that names the dependency
    for edge in agent_edges:
        host, dep = edge.target.split("/")
        assert rf.is_file(edge.loc.path, STARTUP[host])
        assert re.search(rf"\b{dep}\b", rf.line(STARTUP[host], edge.loc.line)), edge
    # every agent also needs its host's Redis (readiness keys)
    stores = [e for e in topology.edges if e.kind is EdgeKind.STORE]
    assert len(stores) == 77
    assert {s.key for s in topology.stores} == {"mainpc/redis:6379", "pc2/redis:6379"}


# --- locations ----------------------------------------------------------------------------------


@pytest.mark.parametrize("host", ["mainpc", "pc2"])
def test_agent_loc_points_at_the_agent_name(topology, rf, host):
    wrong = []
    for agent in topology.host(host).agents:
        assert rf.is_file(agent.loc.path, STARTUP[host])
        expected = rf.agent_name_line(host, agent.name)
        if agent.loc.line != expected:
            wrong.append(f"{agent.name}: line {agent.loc.line} ({rf.line(STARTUP[host], agent.loc.line).strip()!r}),"
                         f" name is on line {expected}")
    assert not wrong, f"{len(wrong)} of {len(topology.host(host).agents)} agents:\n" + "\n".join(wrong[:5])


@pytest.mark.parametrize("host", ["mainpc", "pc2"])
def test_port_locs_point_at_the_port_values(topology, rf, host):
    for agent in topology.host(host).agents:
        raw = rf.raw_agent(host, agent.name)
        for key, port in (("port", agent.port), ("health_check_port", agent.health_port)):
            expected = rf.agent_key_line(host, agent.name, key)
            assert rf.is_file(port.loc.path, STARTUP[host])
            assert port.loc.line == expected, f"{agent.name} {key}"
            assert str(raw.spec[key]) in rf.line(STARTUP[host], port.loc.line)


def test_named_port_and_ranges_locations(topology, rf):
    pc2 = topology.host("pc2")
    bus = next(n for n in pc2.named_ports if n.name == "error_bus")
    assert bus.port.loc.line == rf.line_of(PC2_STARTUP, r"^error_bus_port:")
    assert {(r.name, r.start, r.end) for r in pc2.port_ranges} == {
        ("agent_ports", 7100, 7199), ("health_check_ports", 8100, 8199)}
    assert topology.host("mainpc").named_ports == ()
    hint = topology.host("mainpc").gpu_model_hint
    assert hint is not None
    assert hint.name == "RTX_4090"
    assert hint.loc.line == rf.line_of(MAINPC_STARTUP, r"^\s+gpu_device: RTX_4090")


# --- compose ------------------------------------------------------------------------------------


def test_both_host_compose_files_are_read(topology, rf):
    projects = {p.name: p for p in topology.projects}
    for host in ("mainpc", "pc2"):
        project = projects[host]
        assert project.host == host
        assert rf.is_file(project.files[0], COMPOSE[host])
        base = [s for s in project.services if _rel(s.defined_in[0], rf) == COMPOSE[host]]
        assert [s.name for s in base] == list(rf.yaml(COMPOSE[host])["services"])
        for service in base:
            raw = rf.yaml(COMPOSE[host])["services"][service.name]
            assert service.image == raw["image"]
            assert [d.service for d in service.depends_on] == list(raw.get("depends_on") or [])
            assert service.healthcheck is not None
            assert not service.healthcheck.disabled
            assert service.networks == ("agent_net",)


def _rel(path: str, rf) -> str:
    return Path(path).resolve().relative_to(rf.root.resolve()).as_posix()


def _size(text: str) -> int:
    match = re.fullmatch(r"(\d+(?:\.\d+)?)([kmg])", text.strip().lower())
    assert match, text
    return int(float(match.group(1)) * {"k": 1024, "m": 1024**2, "g": 1024**3}[match.group(2)])


@pytest.mark.parametrize(("host", "gib", "cpus"), [("mainpc", 53.5, 35.0), ("pc2", 15.5, 15.5)])
def test_memory_and_cpu_limits(topology, rf, host, gib, cpus):
    services = [s for p in topology.host_projects(host) for s in p.services if not s.is_override_only]
    assert sum(s.limits.memory_bytes or 0 for s in services) == gib * GIB
    assert sum(s.limits.cpus or 0 for s in services) == cpus
    raw = rf.yaml(COMPOSE[host])["services"]
    independent = sum(_size(body["deploy"]["resources"]["limits"]["memory"]) for body in raw.values())
    assert independent == gib * GIB
    for service in services:
        limits = raw[service.name]["deploy"]["resources"]["limits"]
        assert service.limits.memory_bytes == _size(limits["memory"])
        assert service.limits.cpus == float(limits["cpus"])
        assert service.limits.memory_loc.line == rf.line_of(
            COMPOSE[host], r"^\s+memory:", *rf.service_block(COMPOSE[host], service.name))


def test_secrets_overlay_is_attached_to_mainpc(topology, rf):
    projects = {p.name: p for p in topology.projects}
    mainpc, pc2 = projects["mainpc"], projects["pc2"]
    assert [_rel(f, rf) for f in mainpc.files] == [MAINPC_COMPOSE, SECRETS_COMPOSE]
    assert [_rel(f, rf) for f in pc2.files] == [PC2_COMPOSE]
    assert "docker-compose.secrets" not in projects
    raw = rf.yaml(SECRETS_COMPOSE)
    assert {s.name: s.external_name for s in mainpc.secrets} == {n: b["name"] for n, b in raw["secrets"].items()}
    assert all(s.external for s in mainpc.secrets)
    assert len(mainpc.secrets) == 6
    coordination = mainpc.service("coordination")
    assert [_rel(f, rf) for f in coordination.defined_in] == [MAINPC_COMPOSE, SECRETS_COMPOSE]
    assert coordination.image == "ai_system/coordination:latest"  # the base's image survives the merge
    assert [s.source for s in coordination.secrets] == ["openai_api_key", "anthropic_api_key"]
    env = {v.name: v.value for v in coordination.environment}
    assert env["OPENAI_API_KEY_FILE"] == "/run/secrets/openai_api_key"
    assert env["PYTHONPATH"] == "/app"  # the base's environment is kept
    assert coordination.devices
    assert coordination.devices[0].device_ids == ("0",)
    # the overlay's PC2 service lands on mainpc, where nothing defines it (CMP001 in lint)
    stray = mainpc.service("pc2_memory_stack")
    assert stray is not None
    assert stray.is_override_only
    assert pc2.service("pc2_memory_stack") is None


def test_test_and_observability_compose_files_are_standalone_projects(topology, rf):
    projects = {p.name: p for p in topology.projects}
    assert sorted(projects) == ["docker-compose.observability", "docker-compose.test", "mainpc", "pc2"]
    for name, rel in (("docker-compose.test", TEST_COMPOSE), ("docker-compose.observability", OBS_COMPOSE)):
        project = projects[name]
        assert project.host is None
        assert [_rel(f, rf) for f in project.files] == [rel]
        assert [s.name for s in project.services] == list(rf.yaml(rel)["services"])
    runner = projects["docker-compose.test"].service("e2e_test_runner")
    assert runner.has_build
    assert runner.image is None
    assert not runner.is_override_only
    assert {d.service: d.condition for d in runner.depends_on} == {
        "test_infra_core": "service_healthy", "test_memory_stack": "service_healthy",
        "test_language_stack": "service_healthy"}
    tempo = projects["docker-compose.observability"].service("tempo")
    assert [(p.host_port, p.container_port) for p in tempo.ports] == [(3200, 3200), (4317, 4317)]
    # standalone projects contribute no group edges
    group_edges = [e for e in topology.edges if e.kind is EdgeKind.GROUP]
    expected = {(f"{h}/{svc}", f"{h}/{dep}") for h in ("mainpc", "pc2")
                for svc, body in rf.yaml(COMPOSE[h])["services"].items() for dep in (body.get("depends_on") or [])}
    assert {(e.source, e.target) for e in group_edges} == expected
    assert len(group_edges) == len(expected) == 19


# --- SLOs and ignored files ---------------------------------------------------------------------

_UNIT_S = {"m": 60, "h": 3600, "d": 86400}


def test_slo_config_has_all_33_slos_matching_the_yaml(topology, rf):
    slo = topology.slo_config
    assert slo is not None
    assert rf.is_file(slo.path, SLO_CONFIG)
    assert len(slo.slos) == 33
    raw = rf.yaml(SLO_CONFIG)
    sections = ("slos", "error_rate_slos", "business_slos", "resource_slos")
    expected = {name: (section, body) for section in sections for name, body in raw[section].items()}
    assert [s.name for s in slo.slos] == list(expected)
    for s in slo.slos:
        section, body = expected[s.name]
        assert s.category == section
        assert s.service == body["service"]
        assert s.type is SloType(body["type"])
        assert s.threshold == float(body["threshold"])
        assert s.lower_threshold == (float(body["lower_threshold"]) if "lower_threshold" in body else None)
        assert s.window_raw == body["window"]
        assert s.window_s == int(body["window"][:-1]) * _UNIT_S[body["window"][-1]]
        assert s.service_loc.line == rf.line_of(SLO_CONFIG, r"^\s+service:", rf.line_of(SLO_CONFIG, rf"^\s+{s.name}:"))
    assert (slo.error_budget_window_s, slo.alert_threshold, slo.critical_threshold) == (30 * 86400, 95.0, 90.0)
    assert Counter(s.category for s in slo.slos) == {"slos": 21, "error_rate_slos": 3, "business_slos": 3,
                                                    "resource_slos": 6}


@pytest.mark.parametrize(
    ("name", "service", "type_", "threshold", "lower", "window_s"),
    [
        ("coordination_availability", "coordination", SloType.AVAILABILITY, 99.9, None, 86400),
        ("coordination_latency", "coordination", SloType.LATENCY, 0.5, None, 300),
        ("memory_stack_availability", "memory-stack", SloType.AVAILABILITY, 99.95, None, 86400),
        ("pc2_web_interface_latency", "pc2-web-interface", SloType.LATENCY, 0.3, None, 300),
        ("gpu_services_error_rate", "gpu-services", SloType.ERROR_RATE, 0.2, None, 300),
        ("conversation_success_rate", "coordination", SloType.BUSINESS, 95.0, None, 3600),
        ("model_inference_success", "gpu-services", SloType.BUSINESS, 99.0, None, 300),
        ("rtx4090_gpu_utilization", "mainpc-gpu", SloType.RESOURCE, 85.0, 60.0, 300),
        ("memory_usage_pc2", "pc2", SloType.RESOURCE, 75.0, None, 300),
    ],
)
def test_sample_slos(topology, name, service, type_, threshold, lower, window_s):
    slo = next(s for s in topology.slo_config.slos if s.name == name)
    assert (slo.service, slo.type, slo.threshold, slo.lower_threshold, slo.window_s) == (
        service, type_, threshold, lower, window_s)


def test_tracing_config_is_ignored_with_a_spec003_note(topology, rf):
    notes = [n for n in topology.notes if n.rule == "SPEC003"]
    assert len(notes) == 1
    note = notes[0]
    assert note.severity is Severity.NOTE
    assert rf.is_file(note.loc.path, TRACING_CONFIG)
    assert note.loc.line == 1
    assert not any(rf.is_file(f, TRACING_CONFIG) for f in topology.files)
    assert sorted(_rel(f, rf) for f in topology.files) == sorted([
        MAINPC_STARTUP, PC2_STARTUP, MAINPC_COMPOSE, PC2_COMPOSE, SECRETS_COMPOSE, TEST_COMPOSE, OBS_COMPOSE,
        SLO_CONFIG])
    # nothing else is noted while loading the reference
    assert [n.rule for n in topology.notes] == ["SPEC003"]
