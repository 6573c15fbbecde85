"""The real agents' environment variables applied to a run plan (standin/environ.py): each variable's
effect and the precedence (the environment over the plan, --var PORT_OFFSET over the environment)."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from aisys_verify.errors import UsageError
from aisys_verify.spec.loader import load_spec
from aisys_verify.spec.model import Topology
from aisys_verify.standin.environ import apply_environment, spec_vars_with_env
from aisys_verify.standin.wiring import address_book, call_edges, default_plan


def two_hosts(root: Path) -> Topology:
    def agent(port: int) -> dict[str, object]:
        return {"script_path": "a.py", "port": f"${{PORT_OFFSET}}+{port}",
                "health_check_port": f"${{PORT_OFFSET}}+{port + 1000}"}

    main = {"agent_groups": {"core": {"ServiceRegistry": agent(7200), "SystemDigitalTwin": agent(7220),
                                      "Worker": agent(5000)}},
            "docker_groups": {"infra": {"description": "i", "agents": ["ServiceRegistry", "SystemDigitalTwin"]},
                              "work": {"description": "w", "agents": ["Worker"]}}}
    pc2 = {"agent_groups": {"pc2": {"Helper": agent(6000)}}}
    for host, body in (("mainpc", main), ("pc2", pc2)):
        (root / host).mkdir(parents=True)
        (root / host / "startup_config.yaml").write_text(yaml.safe_dump(body), encoding="utf-8")
    (root / "aisys-spec.yaml").write_text(yaml.safe_dump({
        "kind": "aisys-verify/spec", "name": "env", "description": "two hosts",
        "hosts": {"mainpc": {"startup_config": "mainpc/startup_config.yaml"},
                  "pc2": {"startup_config": "pc2/startup_config.yaml"}}}), encoding="utf-8")
    return load_spec([root], {"PORT_OFFSET": "0"})


def test_peers_redis_and_hosts_follow_the_environment(tmp_path: Path) -> None:
    topology = two_hosts(tmp_path)
    plan = default_plan(topology)
    plan.redis_overrides["mainpc/Worker"] = ("127.9.9.9", 1)  # a proxy in the plan: the environment wins
    env = {"REDIS_URL": "redis://10.0.0.5:6390/0", "REDIS_HOST": "ignored", "SERVICE_REGISTRY_HOST": "10.0.0.7",
           "SERVICE_REGISTRY_PORT": "7100", "DIGITAL_TWIN_PORT": "7120", "PC2_IP": "10.0.0.9",
           "BIND_ADDRESS": "*", "NATS_URL": "nats://x:4222"}
    applied = apply_environment(topology, plan, "mainpc", "work", env)
    assert applied == env
    assert plan.redis["mainpc"] == ("10.0.0.5", 6390) and "mainpc/Worker" not in plan.redis_overrides
    assert plan.bind_address("mainpc") == "0.0.0.0"
    assert plan.host_addresses["pc2"] == "10.0.0.9"
    worker = topology.find_agent("Worker", "mainpc")
    assert worker is not None
    book = address_book(topology, plan, worker, call_edges(topology))
    assert (book.main["ServiceRegistry"].host, book.main["ServiceRegistry"].port) == ("10.0.0.7", 7100)
    assert book.health["ServiceRegistry"].host == "10.0.0.7"
    twin_host = plan.host_addresses["mainpc"]  # only the port was given: the plan's address stays
    assert (book.main["SystemDigitalTwin"].host, book.main["SystemDigitalTwin"].port) == (twin_host, 7120)


def test_registry_redis_and_main_pc_ip(tmp_path: Path) -> None:
    topology = two_hosts(tmp_path)
    plan = default_plan(topology)
    plan.agent_addresses["mainpc/Worker"] = "work-service"
    apply_environment(topology, plan, "mainpc", "infra", {
        "SERVICE_REGISTRY_REDIS_URL": "redis://10.1.1.1:7000", "MAIN_PC_IP": "10.0.0.2",
        "REDIS_HOST": "10.0.0.3"})
    assert plan.redis_overrides["mainpc/ServiceRegistry"] == ("10.1.1.1", 7000)
    assert plan.redis["mainpc"][0] == "10.0.0.3"
    assert plan.address_of("mainpc/Worker", "mainpc") == "10.0.0.2"  # MAIN_PC_IP beats the plan's address


def test_port_offset_from_the_environment_unless_given_as_a_var() -> None:
    assert spec_vars_with_env({}, {"PORT_OFFSET": "100"}) == {"PORT_OFFSET": "100"}
    assert spec_vars_with_env({"PORT_OFFSET": "5"}, {"PORT_OFFSET": "100"}) == {"PORT_OFFSET": "5"}
    with pytest.raises(UsageError, match="PORT_OFFSET"):
        spec_vars_with_env({}, {"PORT_OFFSET": "lots"})


@pytest.mark.parametrize("env", [{"REDIS_PORT": "seventy"}, {"REDIS_URL": "http://x"},
                                 {"SERVICE_REGISTRY_PORT": "70000"}])
def test_bad_values_are_usage_errors(tmp_path: Path, env: dict[str, str]) -> None:
    topology = two_hosts(tmp_path)
    with pytest.raises(UsageError):
        apply_environment(topology, default_plan(topology), "mainpc", "work", env)


def test_nothing_set_changes_nothing(tmp_path: Path) -> None:
    topology = two_hosts(tmp_path)
    plan = default_plan(topology)
    before = plan.to_json()
    assert apply_environment(topology, plan, "mainpc", "work", {"HOME": "/root", "REDIS_HOST": " "}) == {}
    assert plan.to_json() == before


def test_the_standin_profile_and_defects_come_from_the_environment(tmp_path: Path) -> None:
    """A stand-in run as a real image is (no --plan) speaks the run's profile through two variables."""
    topology = two_hosts(tmp_path)
    plan = default_plan(topology)
    env = {"AISYS_STANDIN_PROFILE": "Reference", "AISYS_STANDIN_DEFECTS": "double_bind,contradictory_health"}
    applied = apply_environment(topology, plan, "mainpc", "work", env)
    assert set(applied) == {"AISYS_STANDIN_PROFILE", "AISYS_STANDIN_DEFECTS"}
    assert (plan.standin_profile, plan.standin_defects) == ("reference", ["double_bind", "contradictory_health"])
    with pytest.raises(UsageError, match="AISYS_STANDIN_PROFILE"):
        apply_environment(topology, default_plan(topology), "mainpc", "work", {"AISYS_STANDIN_PROFILE": "perfect"})
    with pytest.raises(UsageError, match="AISYS_STANDIN_DEFECTS"):
        apply_environment(topology, default_plan(topology), "mainpc", "work", {"AISYS_STANDIN_DEFECTS": "typo"})
