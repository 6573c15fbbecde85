"""Bring-up: every agent of the project's spec (system/) and of the real published spec comes up
as a stand-in, healthy on its ZeroMQ health socket and its HTTP /health, one OS process per
docker group, each host on its own loopback address; registration and /metrics work.

One cluster per spec, class-scoped, so the two specs (which share port numbers) never run at
the same time.
"""

from __future__ import annotations

import ipaddress
import json
import re
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from standin_integration_helpers import (
    OWN_SPEC,
    address_of,
    call_agent,
    group_members,
    http_json,
    http_of,
    http_request,
    listening_sockets,
    processes_in_session,
    running_cluster,
    tcp_open,
    zmq_call,
)

from aisys_verify import wait_for
from aisys_verify.standin.cluster import LocalCluster
from aisys_verify.standin.wiring import UNGROUPED, groups_to_run

pytestmark = pytest.mark.integration

EXPECTED_AGENTS = 77  # both specs: 54 MainPC + 23 PC2 agents
_LABEL = r'[a-zA-Z_][a-zA-Z0-9_]*="(?:[^"\\]|\\.)*"'
PROM_LINE = re.compile(rf"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{{{_LABEL}(?:,{_LABEL})*\}})? "
                       r"(?:[-+]?[0-9.]+(?:[eE][-+]?\d+)?|NaN|[-+]Inf)$")


class BringUpChecks:
    """What holds for any spec's stand-ins; subclasses provide the class-scoped ``cluster``."""

    def test_every_agent_answers_zmq_health_ok(self, cluster: LocalCluster) -> None:
        replies = cluster.health(timeout=2.0)
        assert len(replies) == EXPECTED_AGENTS == len(cluster.topology.agents)
        bad = {k: (r.get("status"), r.get("message") or r.get("error")) for k, r in replies.items()
               if r.get("status") != "ok"}
        assert not bad, f"agents not ok on their ZeroMQ health socket: {bad}"
        for key, reply in replies.items():
            assert reply["agent"] == key.split("/", 1)[1], (key, reply)
            assert reply["ready"] is True and reply["initialized"] is True, (key, reply)
            assert reply["health_status"] == "healthy", (key, reply)
            assert reply["health_checks"].get("redis") is True, (key, reply)
            assert reply["health_checks"].get("ready_key") is True, (key, reply)

    def test_health_socket_answers_plain_text_too(self, cluster: LocalCluster) -> None:
        a = cluster.topology.agents[0]
        reply = zmq_call(address_of(cluster, a.key), a.health_port.number, b"are you there?")
        assert reply["status"] == "ok" and reply["agent"] == a.name

    def test_every_agent_http_health_is_200_ok(self, cluster: LocalCluster) -> None:
        bad = {}
        for a in cluster.topology.agents:
            address, port = http_of(cluster, a.key)
            status, body = http_json(address, port, "GET", "/health", timeout=5.0)
            if status != 200 or body.get("status") != "ok" or body.get("agent") != a.name:
                bad[a.key] = (status, body.get("status"), body.get("message"))
        assert not bad, f"HTTP /health not 200/ok: {bad}"

    def test_each_group_is_one_os_process(self, cluster: LocalCluster) -> None:
        members = group_members(cluster)
        expected = {(h.name, g) for h in cluster.topology.hosts for g in groups_to_run(cluster.topology, h.name)}
        assert set(cluster.groups) == expected
        assert len(cluster.groups) == sum(len(h.groups) for h in cluster.topology.hosts) + sum(
            1 for key in expected if key[1] == UNGROUPED)
        assert sorted(k for keys in members.values() for k in keys) == sorted(a.key for a in cluster.topology.agents)
        pids = {key: proc.popen.pid for key, proc in cluster.groups.items()}
        assert len(set(pids.values())) == len(pids)
        for key, pid in pids.items():
            assert cluster.groups[key].popen.poll() is None, f"group {key} exited"
            assert processes_in_session(pid) == [pid], f"group {key} runs more than one process"
        # every agent's three listening sockets belong to its own group's single process
        owners = listening_sockets(list(pids.values()))
        for key, agent_keys in members.items():
            for agent_key in agent_keys:
                a = cluster.topology.agents_by_key[agent_key]
                address = cluster.plan.host_addresses[a.host]
                for port in (a.port.number, a.health_port.number, cluster.plan.http_ports[a.key]):
                    assert owners.get((address, port)) == pids[key], (
                        f"{agent_key}: {address}:{port} is not held by group process {key} (pid {pids[key]})")

    def test_hosts_on_separate_loopback_addresses(self, cluster: LocalCluster) -> None:
        addresses = cluster.plan.host_addresses
        assert set(addresses) == {"mainpc", "pc2"}
        assert addresses["mainpc"] != addresses["pc2"]
        assert all(ipaddress.ip_address(a).is_loopback for a in addresses.values())
        for host, (redis_address, _) in cluster.plan.redis.items():
            assert redis_address == addresses[host]
        owners = listening_sockets([p.popen.pid for p in cluster.groups.values()])
        pid_host = {p.popen.pid: host for (host, _), p in cluster.groups.items()}
        wrong = {sock: pid_host[pid] for sock, pid in owners.items() if sock[0] != addresses[pid_host[pid]]}
        assert not wrong, f"sockets bound outside their host's address: {wrong}"
        # a MainPC agent's port is not reachable on PC2's address (unless a PC2 agent uses the same number)
        pc2_ports = {p for a in cluster.topology.agents if a.host == "pc2"
                     for p in (a.port.number, a.health_port.number, cluster.plan.http_ports[a.key])}
        probe = next(a for a in cluster.topology.agents if a.host == "mainpc" and a.health_port.number not in pc2_ports)
        assert tcp_open(addresses["mainpc"], probe.health_port.number)
        assert not tcp_open(addresses["pc2"], probe.health_port.number)


class TestOwnSpecBringUp(BringUpChecks):
    @pytest.fixture(scope="class")
    @classmethod
    def cluster(cls, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
        with running_cluster([OWN_SPEC], tmp_path_factory.mktemp("bringup-own")) as cluster:
            yield cluster

    @pytest.fixture(scope="class")
    @classmethod
    def registrations(cls, cluster: LocalCluster) -> dict[str, set[str]]:
        """What ServiceRegistry and SystemDigitalTwin list once registration settled (or after 10 s:
        every agent registers within a second of binding, so a gap left then is a real one)."""
        names = {a.name for a in cluster.topology.agents}

        def lists() -> dict[str, set[str]]:
            registry = call_agent(cluster, "mainpc/ServiceRegistry", "list_agents")
            twin = call_agent(cluster, "mainpc/SystemDigitalTwin", "get_all_agents")
            assert registry["status"] == "success" and twin["status"] == "success", (registry, twin)
            return {"ServiceRegistry": set(registry["agents"]), "registry_count": {str(registry["count"])},
                    "SystemDigitalTwin": {a["agent_name"] for a in twin["agents"]}}

        deadline = time.monotonic() + 10.0
        while True:
            seen = lists()
            if (names <= seen["ServiceRegistry"] and names <= seen["SystemDigitalTwin"]) or time.monotonic() > deadline:
                return seen
            time.sleep(0.25)

    def test_service_registry_lists_every_agent(self, cluster: LocalCluster,
                                                registrations: dict[str, set[str]]) -> None:
        names = {a.name for a in cluster.topology.agents}
        missing = sorted(names - registrations["ServiceRegistry"])
        assert not missing, f"ServiceRegistry list_agents lacks {missing}"

    def test_service_registry_counts_both_hosts_same_named_agents(self, cluster: LocalCluster,
                                                                 registrations: dict[str, set[str]]) -> None:
        # one entry per agent: MainPC's and PC2's ObservabilityHub are two agents, not one. Counted over the
        # names the registry lists, so an agent that never registered does not fail this test too.
        listed = registrations["ServiceRegistry"]
        expected = sum(1 for a in cluster.topology.agents if a.name in listed)
        twice = sorted({a.name for a in cluster.topology.agents
                        if sum(1 for b in cluster.topology.agents if b.name == a.name) > 1})
        assert registrations["registry_count"] == {str(expected)}, (
            f"ServiceRegistry counts {registrations['registry_count']} agents for {len(listed)} listed names; "
            f"the spec has {expected} agents with those names ({twice} run on more than one host)")

    def test_system_digital_twin_knows_every_agent(self, cluster: LocalCluster,
                                                   registrations: dict[str, set[str]]) -> None:
        # TOPOLOGY.md 4.4: every BaseAgent sends register_agent to SystemDigitalTwin at startup
        names = {a.name for a in cluster.topology.agents}
        missing = sorted(names - registrations["SystemDigitalTwin"])
        assert not missing, f"SystemDigitalTwin get_all_agents lacks {len(missing)} agents: {missing}"

    def test_get_agent_endpoint_for_pc2_agent(self, cluster: LocalCluster) -> None:
        key = "pc2/MemoryOrchestratorService"
        mos = cluster.topology.agents_by_key[key]

        def endpoint() -> dict | None:
            reply = call_agent(cluster, "mainpc/ServiceRegistry", "get_agent_endpoint",
                               agent_name="MemoryOrchestratorService")
            return reply if reply.get("status") == "success" else None

        reply = wait_for(endpoint, 20.0, 0.25, "MemoryOrchestratorService registered")
        assert reply["agent_name"] == "MemoryOrchestratorService"
        assert reply["host"] == cluster.plan.host_addresses["pc2"]
        assert reply["port"] == mos.port.number
        assert reply["health_check_port"] == mos.health_port.number
        assert reply["http_port"] == cluster.plan.http_ports[key]
        assert reply["location"] == "pc2"
        missing = call_agent(cluster, "mainpc/ServiceRegistry", "get_agent_endpoint", agent_name="NoSuchAgent")
        assert missing["status"] == "error" and "NoSuchAgent" in missing["error"]

    def test_metrics_are_prometheus_text_with_request_count(self, cluster: LocalCluster) -> None:
        key = "mainpc/NLUAgent"
        address, port = http_of(cluster, key)
        pattern = re.compile(r'^ai_request_count\{([^}]*)\} (\d+)$', re.MULTILINE)

        def analyze_count(text: str) -> int:
            return sum(int(n) for labels, n in pattern.findall(text)
                       if 'agent="NLUAgent"' in labels and 'action="analyze"' in labels and 'status="2xx"' in labels)

        _, _, before = http_request(address, port, "GET", "/metrics")
        reply = call_agent(cluster, key, "analyze", text="Hello there")
        assert reply["status"] == "success", reply
        status, headers, body = http_request(address, port, "GET", "/metrics")
        assert status == 200
        assert headers["content-type"].startswith("text/plain")
        text = body.decode()
        assert "# TYPE ai_request_count counter" in text
        assert analyze_count(text) == analyze_count(before.decode()) + 1
        assert re.search(r'^ai_request_duration_bucket\{[^}]*action="analyze"[^}]*le="\+Inf"\} \d+$', text,
                         re.MULTILINE)
        bad = [line for line in text.splitlines() if line and not line.startswith("#") and not PROM_LINE.match(line)]
        assert not bad, f"lines that are not Prometheus text: {bad[:5]}"


class TestReferenceSpecBringUp(BringUpChecks):
    @pytest.fixture(scope="class")
    @classmethod
    def cluster(cls, reference_system: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
        with running_cluster([reference_system], tmp_path_factory.mktemp("bringup-ref")) as cluster:
            yield cluster

    def test_agents_in_no_docker_group_run_in_a_pseudo_group(self, cluster: LocalCluster) -> None:
        ungrouped = sorted(a.name for a in cluster.topology.agents if not cluster.topology.group_of.get(a.key))
        assert ungrouped == ["TinyLlamaServiceEnhanced", "UnifiedSystemAgent"]
        assert ("mainpc", UNGROUPED) in cluster.groups
        assert sorted(k.split("/", 1)[1] for k in group_members(cluster)[("mainpc", UNGROUPED)]) == ungrouped
        replies = cluster.health()
        assert {n: replies[f"mainpc/{n}"]["status"] for n in ungrouped} == dict.fromkeys(ungrouped, "ok"), \
            json.dumps({n: replies[f"mainpc/{n}"] for n in ungrouped})[:1000]
