"""Lint against the real system's published spec: every rule family it triggers, exactly.

Lines are found by reading the reference files in the test (conftest.RefFiles),
never hard-coded, and counts are derived from the YAML or from the reference's
TOPOLOGY.md, so a finding at the wrong place or one too many fails here.
"""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from collections import Counter
from pathlib import Path
from urllib.parse import urlsplit

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
)

from aisys_verify.findings import Severity

pytestmark = [pytest.mark.integration, requires_reference]

E, W, N = Severity.ERROR, Severity.WARNING, Severity.NOTE


def _rel(path: str, rf) -> str:
    return Path(path).resolve().relative_to(rf.root.resolve()).as_posix()


def _where(finding, rf) -> tuple[str, int]:
    return _rel(finding.loc.path, rf), finding.loc.line


# --- the whole report ---------------------------------------------------------------------------

EXPECTED_RULES = {
    ("CMP001", E): 1, ("DEP003", W): 11, ("DEP004", E): 1, ("DEP005", N): 2, ("GPU003", W): 1,
    ("GRP001", W): 2, ("HLTH001", W): 3, ("HLTH002", E): 15, ("HLTH002", W): 17, ("HLTH003", W): 18,
    ("INT001", E): 20, ("PORT001", E): 1, ("PORT002", E): 1, ("PORT003", W): 2, ("PORT004", W): 2,
    ("RES004", N): 2, ("SEC001", E): 2, ("SEC002", E): 1, ("SEC004", W): 6, ("SLO001", E): 1,
    ("SPEC003", N): 1,
}


def test_exactly_these_rules_fire_on_the_reference(report):
    assert Counter((f.rule, f.severity) for f in report.findings) == EXPECTED_RULES
    assert report.counts() == {"error": 43, "warning": 62, "note": 5}


def test_every_finding_says_why_and_how_to_fix(report):
    for f in report.findings:
        assert f.why.strip(), f.one_line()
        assert f.fix.strip(), f.one_line()
        assert f.message.strip(), f.one_line()
        assert f.loc.line >= 1, f.one_line()
        assert f.loc.column >= 1, f.one_line()
        for rel in f.related:
            assert rel.line >= 1, f.one_line()


def test_findings_are_sorted_and_unique(report):
    keys = [f.sort_key() for f in report.findings]
    assert keys == sorted(keys)
    assert len({(f.rule, f.loc, f.message) for f in report.findings}) == len(report.findings)


# --- ports --------------------------------------------------------------------------------------


def test_port001_error_bus_clashes_with_vision_processing_agent(report, rf, topology):
    (f,) = report.by_rule("PORT001")
    assert f.severity is E
    assert _where(f, rf) == (PC2_STARTUP, rf.line_of(PC2_STARTUP, r"^error_bus_port:"))
    assert "error_bus_port 7150" in f.message
    assert "VisionProcessingAgent port" in f.message
    vision = topology.find_agent("VisionProcessingAgent", "pc2")
    assert f.related == (vision.port.loc,)
    assert _where_loc(f.related[0], rf) == (PC2_STARTUP, rf.agent_key_line("pc2", "VisionProcessingAgent", "port"))


def _where_loc(loc, rf) -> tuple[str, int]:
    return _rel(loc.path, rf), loc.line


def test_port001_is_the_only_bind_clash_in_the_yaml(rf):
    """Independent check that PORT001 misses nothing: only 7150 is bound twice on any host."""
    for host in ("mainpc", "pc2"):
        bound = Counter(port_value(a.spec[k], 0) for a in rf.raw_agents[host] for k in ("port", "health_check_port"))
        if host == "pc2":
            bound[port_value(rf.yaml(PC2_STARTUP)["error_bus_port"], 0)] += 1
        assert {p for p, n in bound.items() if n > 1} == ({7150} if host == "pc2" else set())


def test_port002_tempo_and_otel_collector_both_publish_4317(report, rf):
    (f,) = report.by_rule("PORT002")
    assert f.severity is E
    tempo = rf.service_block(OBS_COMPOSE, "tempo")
    otel = rf.service_block(OBS_COMPOSE, "otel-collector")
    assert _where(f, rf) == (OBS_COMPOSE, rf.line_of(OBS_COMPOSE, r'"4317:4317"', *tempo))
    assert "tempo" in f.message
    assert "4317" in f.message
    assert "otel-collector" in f.message
    assert [_where_loc(r, rf) for r in f.related] == [(OBS_COMPOSE, rf.line_of(OBS_COMPOSE, r'"4317:4317"', *otel))]


def test_port003_pc2_observability_hub_outside_declared_ranges(report, rf):
    found = {(_where(f, rf), f.message) for f in report.by_rule("PORT003")}
    port_line = rf.agent_key_line("pc2", "ObservabilityHub", "port")
    health_line = rf.agent_key_line("pc2", "ObservabilityHub", "health_check_port")
    assert {w for w, _ in found} == {(PC2_STARTUP, port_line), (PC2_STARTUP, health_line)}
    messages = " | ".join(m for _, m in found)
    assert "9100 is outside the declared agent_ports range 7100-7199" in messages
    assert "9110 is outside the declared health_check_ports range 8100-8199" in messages
    # related: the declared range blocks of pc2_network
    for f in report.by_rule("PORT003"):
        (rel,) = f.related
        kind = "agent_ports" if "agent_ports" in f.message else "health_check_ports"
        start = rf.line_of(PC2_STARTUP, rf"^  {kind}:")
        assert _rel(rel.path, rf) == PC2_STARTUP
        assert start <= rel.line <= start + 2


def test_port004_request_coordinator_ignores_port_offset(report, rf):
    found = sorted(_where(f, rf) for f in report.by_rule("PORT004"))
    assert found == [(MAINPC_STARTUP, rf.agent_key_line("mainpc", "RequestCoordinator", "port")),
                     (MAINPC_STARTUP, rf.agent_key_line("mainpc", "RequestCoordinator", "health_check_port"))]
    assert all("RequestCoordinator" in f.message for f in report.by_rule("PORT004"))
    assert {re.search(r"port (\d+)", f.message).group(1) for f in report.by_rule("PORT004")} == {"26002", "27002"}


# --- health ---------------------------------------------------------------------------------------


def test_hlth001_the_three_exceptions_to_port_plus_1000(report, rf):
    found = {(_where(f, rf), re.match(r"(\w+) ", f.message).group(1)) for f in report.by_rule("HLTH001")}
    assert found == {
        ((MAINPC_STARTUP, rf.agent_key_line("mainpc", "ObservabilityHub", "health_check_port")), "ObservabilityHub"),
        ((MAINPC_STARTUP, rf.agent_key_line("mainpc", "LearningOrchestrationService", "health_check_port")),
         "LearningOrchestrationService"),
        ((PC2_STARTUP, rf.agent_key_line("pc2", "ObservabilityHub", "health_check_port")), "ObservabilityHub"),
    }
    # independently: exactly the agents whose YAML health port is not port+1000
    odd = {(h, a.name) for h in ("mainpc", "pc2") for a in rf.raw_agents[h]
           if port_value(a.spec["health_check_port"], 0) != port_value(a.spec["port"], 0) + 1000}
    assert odd == {("mainpc", "ObservabilityHub"), ("mainpc", "LearningOrchestrationService"),
                   ("pc2", "ObservabilityHub")}


def _expected_http_collisions(rf, host: str) -> dict[str, tuple[str, bool]]:
    """Agent -> (agent whose port or health port equals its health+1, same docker group?), from the YAML."""
    agents = rf.raw_agents[host]
    owner = {}
    for a in agents:
        owner.setdefault(port_value(a.spec["port"], 0), a.name)
        owner.setdefault(port_value(a.spec["health_check_port"], 0), a.name)
    group_of = {m: g for g, members in rf.raw_groups(host).items() for m in members}
    result = {}
    for a in agents:
        other = owner.get(port_value(a.spec["health_check_port"], 0) + 1)
        if other and other != a.name:
            result[a.name] = (other, a.name in group_of and group_of.get(a.name) == group_of.get(other))
    return result


@pytest.mark.parametrize(("host", "count"), [("mainpc", 22), ("pc2", 10)])
def test_hlth002_http_health_port_collisions(report, rf, topology, host, count):
    """TOPOLOGY.md §4.3: health+1 is another agent's port in 22 places on MainPC and 10 on PC2."""
    expected = _expected_http_collisions(rf, host)
    assert len(expected) == count
    findings = [f for f in report.by_rule("HLTH002") if _rel(f.loc.path, rf) == STARTUP[host]]
    assert len(findings) == count
    got = {}
    for f in findings:
        match = re.match(r"(\w+)'s HTTP health server would bind health_check_port\+1 = (\d+), which is (\w+)'s",
                         f.message)
        assert match, f.message
        agent, port, other = match.groups()
        got[agent] = (other, f.severity is E)
        raw = rf.raw_agent(host, agent)
        assert int(port) == port_value(raw.spec["health_check_port"], 0) + 1
        assert f.loc.line == rf.agent_key_line(host, agent, "health_check_port")
        assert f.related == (topology.find_agent(other, host).loc,)
    assert got == expected


@pytest.mark.parametrize(
    ("host", "agent", "port", "other", "severity"),
    [
        ("mainpc", "ServiceRegistry", 8201, "UnifiedSystemAgent", W),  # UnifiedSystemAgent is in no group
        ("mainpc", "NLUAgent", 6710, "AdvancedCommandHandler", E),
        ("mainpc", "STTService", 6801, "TTSService", E),
        ("mainpc", "AudioCapture", 7551, "FusedAudioPreprocessor", E),
        ("mainpc", "ModelManagerSuite", 8212, "LearningOrchestrationService", W),
        ("pc2", "TieredResponder", 8101, "AsyncProcessor", E),
        ("pc2", "ContextManager", 8112, "ExperienceTracker", E),
        ("pc2", "UnifiedWebAgent", 8127, "DreamingModeAgent", W),
    ],
)
def test_hlth002_named_pairs(report, rf, host, agent, port, other, severity):
    matches = [f for f in report.by_rule("HLTH002") if f.message.startswith(f"{agent}'s ")
               and _rel(f.loc.path, rf) == STARTUP[host]]
    assert len(matches) == 1
    f = matches[0]
    assert f"= {port}, which is {other}'s health_check_port" in f.message
    assert f.severity is severity
    assert f.loc.line == rf.agent_key_line(host, agent, "health_check_port")


def _probed_port(rf, host: str, service: str) -> int:
    test = rf.yaml(COMPOSE[host])["services"][service]["healthcheck"]["test"]
    match = re.search(r"localhost:\$\{PORT_OFFSET:-0\}(\d+)/health", " ".join(test))
    assert match, test
    return int(match.group(1))


def test_hlth003_every_group_healthcheck_probes_the_wrong_thing(report, rf):
    findings = report.by_rule("HLTH003")
    services = [(h, s) for h in ("mainpc", "pc2") for s in rf.yaml(COMPOSE[h])["services"]]
    assert len(findings) == len(services) == 18
    for host, service in services:
        port = _probed_port(rf, host, service)
        first, last = rf.service_block(COMPOSE[host], service)
        test_line = rf.line_of(COMPOSE[host], r"^\s+test:", first, last)
        (f,) = [f for f in findings if _where(f, rf) == (COMPOSE[host], test_line)]
        assert f.message.startswith(f"group {service}'s healthcheck probes port {port}: ")
        owners = {m: rf.raw_agent(host, m) for m in rf.raw_groups(host)[service]}
        main = [m for m, a in owners.items() if port_value(a.spec["port"], 0) == port]
        zmq = [m for m, a in owners.items() if port_value(a.spec["health_check_port"], 0) == port]
        if main:
            assert f"{main[0]}'s main service port, not a health endpoint" in f.message
        else:
            assert zmq, f"{host}/{service} probes {port}, which no agent of the group owns"
            assert f"{zmq[0]}'s health_check_port, a ZeroMQ REP socket" in f.message
            assert f"its HTTP /health is on {port + 1}" in f.message


def test_hlth003_learning_gpu_probes_learning_manager_service_port(report, rf):
    first, last = rf.service_block(MAINPC_COMPOSE, "learning_gpu")
    (f,) = [f for f in report.by_rule("HLTH003") if "group learning_gpu's" in f.message
            and _rel(f.loc.path, rf) == MAINPC_COMPOSE]
    assert f.loc.line == rf.line_of(MAINPC_COMPOSE, r"^\s+test:.*5580/health", first, last)
    assert "probes port 5580: LearningManager's main service port, not a health endpoint" in f.message


def test_hlth003_infra_core_probes_a_zmq_health_socket(report, rf):
    first, last = rf.service_block(MAINPC_COMPOSE, "infra_core")
    (f,) = [f for f in report.by_rule("HLTH003") if "group infra_core's" in f.message
            and _rel(f.loc.path, rf) == MAINPC_COMPOSE]
    assert f.loc.line == rf.line_of(MAINPC_COMPOSE, r"^\s+test:.*8200/health", first, last)
    assert ("probes port 8200: ServiceRegistry's health_check_port, a ZeroMQ REP socket that does not speak HTTP "
            "(its HTTP /health is on 8201)") in f.message


# --- interpolation ------------------------------------------------------------------------------


def test_int001_every_port_offset_pasted_before_digits(report, rf):
    expected = Counter((rel, line) for rel in (MAINPC_COMPOSE, PC2_COMPOSE) for line, _ in rf.iter_offset_pastes(rel))
    assert sum(expected.values()) == 20
    # no other compose file pastes the offset
    for rel in (SECRETS_COMPOSE, TEST_COMPOSE, OBS_COMPOSE):
        assert not list(rf.iter_offset_pastes(rel))
    findings = report.by_rule("INT001")
    assert Counter(_where(f, rf) for f in findings) == expected
    for f in findings:
        digits = re.search(r"\$\{PORT_OFFSET:-0\}(\d+)", rf.line(_rel(f.loc.path, rf), f.loc.line)).group(1)
        assert re.search(rf"PORT_OFFSET=0 gives '[^']*\b0{digits}\b", f.message), f.message
        assert re.search(rf"PORT_OFFSET=1000 gives '[^']*\b1000{digits}\b", f.message), f.message


def test_int001_infra_core_health_url(report, rf):
    line = rf.line_of(MAINPC_COMPOSE, r"8200/health")
    (f,) = [f for f in report.by_rule("INT001") if _where(f, rf) == (MAINPC_COMPOSE, line)]
    assert "'http://localhost:${PORT_OFFSET:-0}8200/health'" in f.message
    assert "'http://localhost:08200/health'" in f.message
    assert "'http://localhost:10008200/health'" in f.message


# --- dependencies and groups ------------------------------------------------------------------

# TOPOLOGY.md §2.3, "missing" edges: group -> group an agent needs but compose depends_on does not cover.
# PC2 utility_cpu also needs memory_stack (ProactiveContextMonitor -> ContextManager): §2.3 lists it as
# derived, and its declared depends_on (infra_core only) does not reach it.
MISSING_GROUP_EDGES = {
    ("mainpc", "memory_stack", "coordination"),
    ("mainpc", "utility_cpu", "coordination"),
    ("mainpc", "speech_gpu", "utility_cpu"),
    ("mainpc", "language_stack", "coordination"),
    ("mainpc", "language_stack", "speech_gpu"),
    ("mainpc", "language_stack", "vision_gpu"),
    ("mainpc", "language_stack", "utility_cpu"),
    ("mainpc", "emotion_system", "speech_gpu"),
    ("pc2", "utility_cpu", "async_pipeline"),
    ("pc2", "utility_cpu", "memory_stack"),
    ("pc2", "web_interface", "memory_stack"),
}
INVERTED_GROUP_EDGES = {("mainpc", "language_stack", "emotion_system")}
# declared depends_on that no agent dependency needs ("extra" / "different" in §2.3); the inverted
# emotion_system -> language_stack edge is not among them: it is reported once, as DEP004
UNNEEDED_GROUP_EDGES = {
    ("mainpc", "speech_gpu", "vision_gpu"),
    ("mainpc", "reasoning_gpu", "memory_stack"),
}
# No agent of async_pipeline needs memory_stack, and none of memory_stack needs infra_core, but these two
# edges are PC2's only path for async_pipeline -> infra_core (AsyncProcessor's dependency): removing them
# would break a needed order, so DEP005 must not advise it (issue 14).
CARRYING_GROUP_EDGES = {("pc2", "async_pipeline", "memory_stack"), ("pc2", "memory_stack", "infra_core")}


def _reach(start: str, graph: dict[str, set[str]]) -> set[str]:
    seen: set[str] = set()
    todo = list(graph.get(start, ()))
    while todo:
        node = todo.pop()
        if node not in seen:
            seen.add(node)
            todo.extend(graph.get(node, ()))
    return seen


def _group_order_from_yaml(rf):
    missing, inverted, unneeded = set(), set(), set()
    for host in ("mainpc", "pc2"):
        group_of = {m: g for g, members in rf.raw_groups(host).items() for m in members}
        needed: dict[str, set[str]] = {}
        for a in rf.raw_agents[host]:
            for d in a.deps:
                src, dst = group_of.get(a.name), group_of.get(d)
                if src and dst and src != dst:
                    needed.setdefault(src, set()).add(dst)
        declared = {s: set(b.get("depends_on") or []) for s, b in rf.yaml(COMPOSE[host])["services"].items()}
        for src, dsts in needed.items():
            for dst in dsts:
                if dst in _reach(src, declared):
                    continue
                (inverted if src in _reach(dst, declared) else missing).add((host, src, dst))
        for src, dsts in declared.items():
            for dst in dsts:
                if src in needed.get(dst, set()):
                    continue  # the inverted edge: DEP004's
                if dst not in needed.get(src, set()) and not any(dst in _reach(m, declared)
                                                                 for m in needed.get(src, set())):
                    unneeded.add((host, src, dst))
        # only edges that can go all together: drop each (in order) unless a needed order then breaks
        held = [(s, d) for s, ds in needed.items() for d in ds if d in _reach(s, declared)]
        for _, src, dst in sorted(e for e in unneeded if e[0] == host):
            declared[src].discard(dst)
            if not all(d in _reach(s, declared) for s, d in held):
                declared[src].add(dst)
                unneeded.discard((host, src, dst))
    return missing, inverted, unneeded


def test_group_order_expectations_match_the_yaml(rf):
    assert _group_order_from_yaml(rf) == (MISSING_GROUP_EDGES, INVERTED_GROUP_EDGES, UNNEEDED_GROUP_EDGES)


_GROUP_NEED = re.compile(r"group (\w+) needs group (\w+) \((\w+) depends on (\w+)\)")


def test_dep003_missing_group_edges(report, rf):
    got = set()
    for f in report.by_rule("DEP003"):
        host = "mainpc" if _rel(f.loc.path, rf) == MAINPC_STARTUP else "pc2"
        assert _rel(f.loc.path, rf) == STARTUP[host]
        src, dst, agent, dep = _GROUP_NEED.match(f.message).groups()
        got.add((host, src, dst))
        # located at the dependency entry that creates the need
        assert rf.agent_name_line(host, agent) < f.loc.line
        assert re.search(rf"\b{dep}\b", rf.line(STARTUP[host], f.loc.line))
        assert f.loc.line < rf.agent_name_line(host, agent) + 12
        assert dep in rf.raw_groups(host)[dst]
        assert agent in rf.raw_groups(host)[src]
        assert f"add {dst} to depends_on of service {src}" in f.fix
        (rel,) = f.related
        first, last = rf.service_block(COMPOSE[host], src)
        assert _rel(rel.path, rf) == COMPOSE[host]
        assert first <= rel.line <= last
    assert got == MISSING_GROUP_EDGES
    assert len(report.by_rule("DEP003")) == len(MISSING_GROUP_EDGES)


def test_dep003_memory_stack_needs_coordination_at_session_memory_agent(report, rf):
    (f,) = [f for f in report.by_rule("DEP003") if f.message.startswith("group memory_stack needs group coordination")]
    assert "(SessionMemoryAgent depends on RequestCoordinator)" in f.message
    assert _where(f, rf) == (MAINPC_STARTUP, rf.line_of(MAINPC_STARTUP, r"^\s+- RequestCoordinator",
                                                        rf.agent_name_line("mainpc", "SessionMemoryAgent")))


def test_dep004_language_stack_and_emotion_system_inverted(report, rf):
    (f,) = report.by_rule("DEP004")
    assert f.severity is E
    assert _GROUP_NEED.match(f.message).groups() == ("language_stack", "emotion_system", "Responder", "EmotionEngine")
    assert "emotion_system depends_on language_stack" in f.message
    assert _where(f, rf) == (MAINPC_STARTUP, rf.line_of(MAINPC_STARTUP, r"^\s+- EmotionEngine",
                                                        rf.agent_name_line("mainpc", "Responder")))
    (rel,) = f.related
    first, last = rf.service_block(MAINPC_COMPOSE, "emotion_system")
    assert _rel(rel.path, rf) == MAINPC_COMPOSE
    assert first <= rel.line <= last


def test_dep005_unneeded_group_edges(report, rf):
    got = set()
    for f in report.by_rule("DEP005"):
        host = "mainpc" if _rel(f.loc.path, rf) == MAINPC_COMPOSE else "pc2"
        assert _rel(f.loc.path, rf) == COMPOSE[host]
        src, dst = re.match(r"group (\w+) depends_on (\w+), but no agent", f.message).groups()
        got.add((host, src, dst))
        first, last = rf.service_block(COMPOSE[host], src)
        assert first <= f.loc.line <= last
        assert re.search(rf"\b{dst}\b", rf.line(COMPOSE[host], f.loc.line))
    assert got == UNNEEDED_GROUP_EDGES
    assert not got & CARRYING_GROUP_EDGES


def test_grp001_agents_in_no_docker_group(report, rf):
    grouped = {m for members in rf.raw_groups("mainpc").values() for m in members}
    ungrouped = [a.name for a in rf.raw_agents["mainpc"] if a.name not in grouped]
    assert ungrouped == ["UnifiedSystemAgent", "TinyLlamaServiceEnhanced"]
    assert all(a.name in {m for ms in rf.raw_groups("pc2").values() for m in ms} for a in rf.raw_agents["pc2"])
    found = sorted((f.loc.line, f.message) for f in report.by_rule("GRP001"))
    assert all(_rel(f.loc.path, rf) == MAINPC_STARTUP for f in report.by_rule("GRP001"))
    assert [m for _, m in found] == [f"agent {n} is in no docker group" for n in ungrouped]
    # the finding points at the agent, i.e. the line where its name is written
    assert [line for line, _ in found] == [rf.agent_name_line("mainpc", n) for n in ungrouped], (
        [rf.line(MAINPC_STARTUP, line).strip() for line, _ in found])


# --- GPU, secrets, compose overlays, SLOs, resources --------------------------------------------


def test_gpu003_five_mainpc_services_share_gpu0_without_a_plan(report, rf):
    (f,) = report.by_rule("GPU003")
    gpu_services = [s for s, b in rf.yaml(MAINPC_COMPOSE)["services"].items()
                    if b["deploy"]["resources"].get("reservations")]
    assert gpu_services == ["coordination", "vision_gpu", "speech_gpu", "learning_gpu", "reasoning_gpu"]
    assert f.message.startswith("5 services on host mainpc reserve the whole of GPU 0 ")
    assert f"({', '.join(gpu_services)})" in f.message
    first, last = rf.service_block(MAINPC_COMPOSE, "coordination")
    assert _where(f, rf) == (MAINPC_COMPOSE, rf.line_of(MAINPC_COMPOSE, r"^\s+- driver: nvidia", first, last))
    # PC2 has one GPU group only: nothing shared
    assert "pc2" not in f.message


def test_sec001_plain_passwords(report, rf):
    found = {(_where(f, rf), f.message) for f in report.by_rule("SEC001")}
    assert found == {
        ((OBS_COMPOSE, rf.line_of(OBS_COMPOSE, r"GF_SECURITY_ADMIN_PASSWORD=")),
         "GF_SECURITY_ADMIN_PASSWORD in service grafana-enhanced is a secret given as a plain value"),
        ((TEST_COMPOSE, rf.line_of(TEST_COMPOSE, r"^\s+POSTGRES_PASSWORD:")),
         "POSTGRES_PASSWORD in service test_postgres is a secret given as a plain value"),
    }


def test_sec002_db_url_with_password(report, rf):
    (f,) = report.by_rule("SEC002")
    assert _where(f, rf) == (TEST_COMPOSE, rf.line_of(TEST_COMPOSE, r"DB_URL=postgresql://"))
    assert f.message == "DB_URL in service test_memory_stack embeds a literal password in a URL"
    # the report must not repeat the secrets it complains about
    for g in report.by_rule("SEC001") + report.by_rule("SEC002"):
        assert "testpass" not in g.message + g.why + g.fix
        assert "ai-system-2024" not in g.message + g.why + g.fix


def test_sec004_six_external_secrets(report, rf):
    raw = rf.yaml(SECRETS_COMPOSE)["secrets"]
    assert len(raw) == 6
    findings = report.by_rule("SEC004")
    assert len(findings) == 6
    for name, body in raw.items():
        (f,) = [f for f in findings if f.message == f"secret {name} is external ({body['name']})"]
        name_line = rf.line_of(SECRETS_COMPOSE, rf"^  {name}:")
        # at the secret's definition: its name, or the 'external: true' that is the problem
        assert _rel(f.loc.path, rf) == SECRETS_COMPOSE
        assert f.loc.line in (name_line, name_line + 1)


def test_cmp001_pc2_service_in_the_mainpc_secrets_overlay(report, rf):
    (f,) = report.by_rule("CMP001")
    assert f.severity is E
    assert f.message.startswith("service pc2_memory_stack is configured in ")
    assert "no base file of project mainpc defines it" in f.message
    assert _where(f, rf) == (SECRETS_COMPOSE, rf.line_of(SECRETS_COMPOSE, r"^  pc2_memory_stack:")), (
        rf.line(SECRETS_COMPOSE, f.loc.line))


def test_slo001_model_inference_success_names_gpu_services(report, rf):
    (f,) = report.by_rule("SLO001")
    slo_line = rf.line_of(SLO_CONFIG, r"^\s+model_inference_success:")
    assert _where(f, rf) == (SLO_CONFIG, rf.line_of(SLO_CONFIG, r'^\s+service: "gpu-services"', slo_line))
    assert "SLO model_inference_success names service 'gpu-services'" in f.message
    # gpu_services_error_rate names the same label but selects services with service=~".*-gpu": not flagged
    assert not [g for g in report.findings if "gpu_services_error_rate" in g.message]


def test_res004_no_host_facts(report, rf):
    found = sorted((_where(f, rf), f.message) for f in report.by_rule("RES004"))
    assert [w for w, _ in found] == [(MAINPC_STARTUP, 1), (PC2_STARTUP, 1)]
    assert "host mainpc declares no RAM, CPU or GPU facts" in found[0][1]
    assert "host pc2 declares no RAM, CPU or GPU facts" in found[1][1]


def test_spec003_tracing_config(report, rf):
    (f,) = report.by_rule("SPEC003")
    assert _where(f, rf) == (TRACING_CONFIG, 1)


# --- output formats -----------------------------------------------------------------------------


def _cli(*args: str, cwd: str | None = None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AISYS_")}
    return subprocess.run([sys.executable, "-m", "aisys_verify", *args], capture_output=True, text=True,
                          cwd=cwd or os.getcwd(), env=env, timeout=120, check=False)


def test_json_output_has_the_same_findings(report, ref):
    result = _cli("lint", str(ref), "--format", "json")
    assert result.returncode == 1, result.stderr
    data = json.loads(result.stdout)
    assert data["counts"] == report.counts()

    def norm(path: str) -> str:
        return str(Path(path).resolve())

    got = [(d["rule"], d["severity"], d["message"], d["why"], d["fix"], norm(d["file"]), d["line"], d["column"],
            tuple((norm(r["file"]), r["line"], r["column"]) for r in d["related"])) for d in data["findings"]]
    expected = [(f.rule, f.severity.label, f.message, f.why, f.fix, norm(f.loc.path), f.loc.line, f.loc.column,
                 tuple((norm(r.path), r.line, r.column) for r in f.related)) for f in report.findings]
    assert got == expected
    assert sorted(norm(p) for p in data["files"]) == sorted(norm(p) for p in report.files)


def test_sarif_output_is_structurally_valid_sarif_2_1_0(report, ref):
    result = _cli("lint", str(ref), "--format", "sarif")
    assert result.returncode == 1, result.stderr
    sarif = json.loads(result.stdout)
    assert sarif["version"] == "2.1.0"
    assert "sarif" in sarif["$schema"]
    assert "2.1.0" in sarif["$schema"]
    assert isinstance(sarif["runs"], list)
    assert len(sarif["runs"]) == 1
    run = sarif["runs"][0]
    driver = run["tool"]["driver"]
    assert driver["name"] == "aisys-verify"
    assert driver["version"]
    rules = driver["rules"]
    ids = [r["id"] for r in rules]
    assert len(ids) == len(set(ids))
    for rule in rules:
        assert rule["shortDescription"]["text"]
        assert rule["defaultConfiguration"]["level"] in ("none", "note", "warning", "error")
    results = run["results"]
    assert len(results) == len(report.findings)
    for res, f in zip(results, report.findings):
        assert res["ruleId"] == f.rule
        assert isinstance(res["ruleIndex"], int)
        assert 0 <= res["ruleIndex"] < len(rules)
        assert rules[res["ruleIndex"]]["id"] == res["ruleId"]
        assert res["level"] == {"error": "error", "warning": "warning", "note": "note"}[f.severity.label]
        assert res["message"]["text"].startswith(f.message)
        locations = res["locations"]
        assert len(locations) == 1
        for loc in locations + res.get("relatedLocations", []):
            physical = loc["physicalLocation"]
            uri = physical["artifactLocation"]["uri"]
            assert uri
            assert "\\" not in uri
            assert " " not in uri
            assert urlsplit(uri).path
            assert isinstance(physical["region"]["startLine"], int)
            assert physical["region"]["startLine"] >= 1
            assert physical["region"].get("startColumn", 1) >= 1
        assert Path(locations[0]["physicalLocation"]["artifactLocation"]["uri"]).resolve() == Path(
            f.loc.path).resolve()
        related = res.get("relatedLocations", [])
        assert len(related) == len(f.related)
        assert [r["id"] for r in related] == list(range(len(related)))
