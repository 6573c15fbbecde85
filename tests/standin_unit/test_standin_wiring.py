"""How stand-ins find each other: HTTP port resolution, call edges and the run plan."""

from __future__ import annotations

from collections import Counter
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

from aisys_verify.errors import UsageError
from aisys_verify.spec.loader import load_spec
from aisys_verify.spec.model import HttpPortSource, Topology
from aisys_verify.standin.roles.table import ROLE_CALLS, role_for
from aisys_verify.standin.wiring import (
    UNGROUPED,
    RunPlan,
    address_book,
    agents_of_group,
    call_edges,
    default_plan,
    groups_to_run,
    resolve_http_ports,
)

ROOT = Path(__file__).resolve().parents[2]
SYSTEM = ROOT / "system"


@pytest.fixture(scope="module")
def system() -> Topology:
    return load_spec([SYSTEM])


@pytest.fixture(scope="module")
def reference(reference_system: Path) -> Topology:
    return load_spec([reference_system])


@pytest.fixture(params=["system", pytest.param("reference", marks=pytest.mark.integration)])
def topology(request: pytest.FixtureRequest) -> Topology:
    return request.getfixturevalue(request.param)  # type: ignore[no-any-return]


# --- resolve_http_ports ------------------------------------------------------------------------------


def assert_http_ports_sound(topology: Topology, ports: dict[str, int]) -> None:
    assert set(ports) == {a.key for a in topology.agents}, "every agent gets an HTTP port"
    for host in topology.hosts:
        mine = {a.key: ports[a.key] for a in host.agents}
        dupes = [p for p, n in Counter(mine.values()).items() if n > 1]
        assert not dupes, f"{host.name}: two agents share HTTP port(s) {dupes}"
        others = {a.port.number: f"{a.name} port" for a in host.agents}
        others |= {a.health_port.number: f"{a.name} health port" for a in host.agents}
        others |= {n.port.number: f"named port {n.name}" for n in host.named_ports}
        for agent in host.agents:
            port = mine[agent.key]
            assert 0 < port <= 65535
            assert port not in others, f"{agent.key}: HTTP port {port} is {others[port]}"
            if agent.http_port_source is HttpPortSource.EXPLICIT:
                assert port == agent.http_port.number, "an explicit http_port is used as written"


def test_http_ports_never_collide(topology: Topology) -> None:
    ports = resolve_http_ports(topology)
    assert_http_ports_sound(topology, ports)
    assert len(ports) == 77
    assert resolve_http_ports(topology) == ports, "deterministic: every process must agree"


@pytest.mark.integration
def test_reference_spec_keeps_the_real_rule_where_it_is_free(reference: Topology) -> None:
    """health_check_port + 1 (the real BaseAgent's HTTP port) is kept unless something else holds it."""
    ports = resolve_http_ports(reference)
    moved = 0
    for host in reference.hosts:
        taken = {p for a in host.agents for p in (a.port.number, a.health_port.number)}
        taken |= {n.port.number for n in host.named_ports}
        for agent in host.agents:
            if agent.http_port_source is not HttpPortSource.IMPLICIT:
                continue
            real = agent.health_port.number + 1
            if real in taken:
                moved += 1
                assert ports[agent.key] != real
            elif not any(ports[o.key] == real for o in host.agents if o.key != agent.key):
                assert ports[agent.key] == real, agent.key
    assert moved > 0, "the reference spec has health+1 collisions (TOPOLOGY.md §4.3): some ports must move"


def _spec_with_ports(root: Path, agents: list[tuple[int, int, int | None]], named: dict[str, int] | None = None,
                     redis_port: int | None = None) -> Topology:
    body: dict[str, Any] = {}
    for i, (port, health, http) in enumerate(agents):
        entry: dict[str, Any] = {"script_path": f"a{i}.py", "port": port, "health_check_port": health}
        if http is not None:
            entry["http_port"] = http
        body[f"A{i}"] = entry
    startup: dict[str, Any] = {"agent_groups": {"s": body}, **{f"{k}_port": v for k, v in (named or {}).items()}}
    host: dict[str, Any] = {"startup_config": "h/startup_config.yaml"}
    if redis_port is not None:
        host["redis_port"] = redis_port
    (root / "h").mkdir(parents=True, exist_ok=True)
    (root / "aisys-spec.yaml").write_text(yaml.safe_dump({"kind": "aisys-verify/spec", "name": "p",
                                                          "hosts": {"h": host}}), encoding="utf-8")
    (root / "h" / "startup_config.yaml").write_text(yaml.safe_dump(startup), encoding="utf-8")
    return load_spec([root])


def test_implicit_http_port_moves_off_a_taken_port(tmp_path: Path) -> None:
    # A0's real HTTP port (health+1 = 6001) is A1's port; A1's (7001) is free
    topology = _spec_with_ports(tmp_path, [(5000, 6000, None), (6001, 7000, None)], named={"error_bus": 7001})
    ports = resolve_http_ports(topology)
    assert ports["h/A0"] == 5000 + 10000
    assert ports["h/A1"] == 6001 + 10000  # 7001 is the named port
    assert_http_ports_sound(topology, ports)


def test_fallback_range_when_port_plus_10000_is_too_big(tmp_path: Path) -> None:
    # A0: health+1 = 60002 is A1's port, and 60000 + 10000 is over 65535: the first free port from 20000
    topology = _spec_with_ports(tmp_path, [(60000, 60001, None), (60002, 1030, None)])
    ports = resolve_http_ports(topology)
    assert (ports["h/A0"], ports["h/A1"]) == (20000, 1031)
    assert_http_ports_sound(topology, ports)


def test_fallback_range_when_port_plus_10000_is_taken(tmp_path: Path) -> None:
    # A0: health+1 = 6001 is A1's port, and 5000 + 10000 is A1's health port
    topology = _spec_with_ports(tmp_path, [(5000, 6000, None), (6001, 15000, None)])
    ports = resolve_http_ports(topology)
    assert (ports["h/A0"], ports["h/A1"]) == (20000, 15001)
    assert_http_ports_sound(topology, ports)


def test_explicit_http_port_is_reserved_before_implicit_ones(tmp_path: Path) -> None:
    # A1 declares 6001, which is also A0's implicit health+1: A0 must move, A1 keeps it
    topology = _spec_with_ports(tmp_path, [(5000, 6000, None), (5001, 6500, 6001)])
    ports = resolve_http_ports(topology)
    assert ports["h/A1"] == 6001 and ports["h/A0"] == 15000
    assert_http_ports_sound(topology, ports)


@pytest.mark.parametrize("redis_port", [6379, 16379])
def test_implicit_http_port_never_lands_on_the_hosts_redis_port(tmp_path: Path, redis_port: int) -> None:
    """BUG (wiring.resolve_http_ports): the host's Redis (plan.redis: same address, the spec's redis_port) is
    not counted as taken, so an agent whose health port is redis_port - 1 gets redis_port as its HTTP port;
    LocalCluster then starts redis-server and the agent's HTTP server on the same address and port."""
    topology = _spec_with_ports(tmp_path, [(redis_port - 1000 - 1, redis_port - 1, None)], redis_port=redis_port)
    assert [s.port for s in topology.stores] == [redis_port]
    assert resolve_http_ports(topology)["h/A0"] != redis_port
    plan = default_plan(topology)
    assert plan.http_ports["h/A0"] != plan.redis["h"][1]


_PORTS = st.integers(min_value=1024, max_value=1070)  # a narrow range: many health+1 collisions


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(st.lists(st.tuples(_PORTS, _PORTS, st.none() | st.just(None)), min_size=1, max_size=6),
       st.dictionaries(st.sampled_from(["error_bus", "metrics"]), _PORTS, max_size=2))
def test_http_ports_property(tmp_path_factory: pytest.TempPathFactory, agents: list[tuple[int, int, None]],
                             named: dict[str, int]) -> None:
    flat = [p for a, h, _ in agents for p in (a, h)]
    # a spec that itself double-books a port is lint's job: nothing to resolve around
    assume(len(set(flat)) == len(flat) and not set(named.values()) & set(flat))
    topology = _spec_with_ports(tmp_path_factory.mktemp("spec"), agents, named)
    assert_http_ports_sound(topology, resolve_http_ports(topology))


# --- call_edges --------------------------------------------------------------------------------------


def test_call_edges_contain_every_dependency(topology: Topology) -> None:
    edges = {(e.caller, e.callee): e for e in call_edges(topology)}
    for agent in topology.agents:
        for dep in agent.dependencies:
            target = topology.find_agent(dep.name, agent.host)
            if target is None or target.key == agent.key:
                continue
            edge = edges.get((agent.key, target.key))
            assert edge is not None, f"no edge {agent.key} -> {target.key}"
            assert edge.purpose == "dependency" and edge.critical is target.required


def test_call_edges_contain_the_coordinators_calls(topology: Topology) -> None:
    edges = {(e.caller, e.callee) for e in call_edges(topology)}
    coordinators = [a for a in topology.agents if role_for(a.name, a.role).role == "coordinator"]
    assert coordinators
    for agent in coordinators:
        for name, _critical in ROLE_CALLS["coordinator"]:
            target = topology.find_agent(name, agent.host)
            assert target is not None, f"{name} is not in the spec"
            assert (agent.key, target.key) in edges
    # the cross-host memory hop: MainPC MemoryClient -> PC2 MemoryOrchestratorService
    assert ("mainpc/MemoryClient", "pc2/MemoryOrchestratorService") in edges
    assert ("pc2/UnifiedWebAgent", "mainpc/RequestCoordinator") in edges


def test_every_agent_has_an_edge_to_every_registry(topology: Topology) -> None:
    edges = {(e.caller, e.callee): e for e in call_edges(topology)}
    registries = [a for a in topology.agents if role_for(a.name, a.role).role in ("registry", "twin")]
    assert {r.name for r in registries} == {"ServiceRegistry", "SystemDigitalTwin"}
    for agent in topology.agents:
        for registry in registries:
            if agent.key != registry.key:
                assert (agent.key, registry.key) in edges, f"{agent.key} never reaches {registry.key}"
    registrations = [e for e in edges.values() if e.purpose == "registration"]
    assert registrations and all(not e.critical for e in registrations)


def test_pc2_hub_syncs_to_the_mainpc_hub(topology: Topology) -> None:
    sync = [e for e in call_edges(topology) if e.purpose == "sync"]
    assert [(e.caller, e.callee, e.critical) for e in sync] == [("pc2/ObservabilityHub", "mainpc/ObservabilityHub",
                                                                 False)]


def test_call_edges_are_unique_and_never_self_loops(topology: Topology) -> None:
    edges = call_edges(topology)
    pairs = [(e.caller, e.callee) for e in edges]
    assert len(pairs) == len(set(pairs))
    assert all(e.caller != e.callee for e in edges)
    assert all(e.purpose in ("dependency", "call", "registration", "sync") for e in edges)
    assert all(e.name == f"{e.caller.replace('/', '.')}--{e.callee.replace('/', '.')}" for e in edges)


def test_address_book_points_at_the_callees_host_and_honours_overrides(system: Topology) -> None:
    plan = default_plan(system)
    plan.overrides = {"mainpc/MemoryClient": {"pc2/MemoryOrchestratorService": {"main": ("127.0.0.99", 4242)}}}
    edges = call_edges(system)
    client = system.agents_by_key["mainpc/MemoryClient"]
    book = address_book(system, plan, client, edges)
    mos = system.agents_by_key["pc2/MemoryOrchestratorService"]
    assert (book.main["MemoryOrchestratorService"].host, book.main["MemoryOrchestratorService"].port) == (
        "127.0.0.99", 4242)
    assert book.health["MemoryOrchestratorService"].url == f"tcp://{plan.host_addresses['pc2']}:{mos.health_port.number}"
    assert book.http["MemoryOrchestratorService"].port == plan.http_ports[mos.key]
    assert "ServiceRegistry" in book.main and "SystemDigitalTwin" in book.main


# --- groups and plan ---------------------------------------------------------------------------------


def test_groups_cover_every_agent_once(topology: Topology) -> None:
    seen: list[str] = []
    for host in topology.hosts:
        for group in groups_to_run(topology, host.name):
            seen += [a.key for a in agents_of_group(topology, host.name, group)]
    assert sorted(seen) == sorted(a.key for a in topology.agents)


def test_unknown_host_or_group_is_a_usage_error(system: Topology) -> None:
    with pytest.raises(UsageError, match="no host 'nope'"):
        list(agents_of_group(system, "nope", "infra_core"))
    with pytest.raises(UsageError, match="no docker group 'nope'"):
        list(agents_of_group(system, "mainpc", "nope"))
    assert UNGROUPED not in groups_to_run(system, "mainpc")


def test_default_plan_gives_each_host_its_own_loopback_address(system: Topology) -> None:
    plan = default_plan(system)
    assert plan.host_addresses == {"mainpc": "127.0.0.2", "pc2": "127.0.0.3"}
    assert plan.redis == {"mainpc": ("127.0.0.2", 6379), "pc2": ("127.0.0.3", 6379)}
    assert plan.http_ports == resolve_http_ports(system)


def test_run_plan_json_round_trip(system: Topology, tmp_path: Path) -> None:
    plan = default_plan(system, data_dir=str(tmp_path / "data"))
    plan.log_dir = str(tmp_path / "logs")
    plan.trace = f"file:{tmp_path / 'traces'}"
    plan.health_interval_s = 0.25
    plan.overrides = {"mainpc/MemoryClient": {"pc2/MemoryOrchestratorService": {"main": ("127.0.0.1", 30001),
                                                                               "health": ("127.0.0.1", 30002)}}}
    path = tmp_path / "plan.json"
    path.write_text(plan.to_json(), encoding="utf-8")
    again = RunPlan.from_file(path)
    assert again == plan
    assert isinstance(again.redis["pc2"], tuple)
    assert isinstance(again.overrides["mainpc/MemoryClient"]["pc2/MemoryOrchestratorService"]["main"], tuple)


@pytest.mark.parametrize("content", ["not json", "[]", '{"host_addresses": {}}', '{"bogus": 1}'])
def test_bad_run_plan_is_a_usage_error(tmp_path: Path, content: str) -> None:
    path = tmp_path / "plan.json"
    path.write_text(content, encoding="utf-8")
    with pytest.raises(UsageError, match="cannot read run plan"):
        RunPlan.from_file(path)


def test_missing_run_plan_is_a_usage_error(tmp_path: Path) -> None:
    with pytest.raises(UsageError, match="cannot read run plan"):
        RunPlan.from_file(tmp_path / "absent.json")
