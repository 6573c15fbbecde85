"""Each role's reference-profile behaviour (PROTOCOL.md §3, §5) on the fixture cluster: the registry's
validation and persistence, the twin's actions, memory's two dialects, the dialogue through the coordinator
and the gateway on real-shaped replies, the hub's HTTP main port."""

from __future__ import annotations

import json
import time
import uuid
from pathlib import Path

import pytest
from reference_fixtures import HOST, Stand, http, real_envelope, write_spec

from aisys_verify import wait_for
from aisys_verify.standin.cluster import LocalCluster
from aisys_verify.standin.profile import resolve
from aisys_verify.standin.reference import bound_ports

pytestmark = pytest.mark.integration


# --- ServiceRegistry ------------------------------------------------------------------------------------


def test_registry_lists_missing_and_invalid_fields(reference_stand: Stand) -> None:
    send = reference_stand.send
    reply = send("ServiceRegistry", real_envelope("register_agent", agent_name="Old", port=1, http_port=2))
    assert reply == {"status": "error", "error": "validation error: missing fields: agent_id, agent_type, host"}, reply
    reply = send("ServiceRegistry", real_envelope("register_agent", agent_id="A", agent_type="t", host="h",
                                                  port="seven", capabilities="all"))
    assert reply["status"] == "error" and reply["error"] == (
        "validation error: invalid fields: port (an integer), capabilities (a list of strings)"), reply
    reply = send("ServiceRegistry", real_envelope("register_agent", agent_id="Lax", agent_type="t", host="h",
                                                  port="7300"))  # pydantic's lax mode reads "7300" as 7300
    assert reply["status"] == "success", reply
    assert send("ServiceRegistry", real_envelope("get_agent_endpoint", agent_name="Lax"))["port"] == 7300


def test_registry_lists_every_agent_and_has_no_unregister(reference_stand: Stand) -> None:
    names = {a.name for a in reference_stand.cluster.topology.agents}
    listed = wait_for(lambda: (r := reference_stand.send("ServiceRegistry", real_envelope("list_agents")))
                      and names <= set(r.get("agents", [])) and r, 20.0, what="every agent registered")
    assert set(listed) == {"status", "agents"} and all(isinstance(n, str) for n in listed["agents"]), listed
    gone = reference_stand.send("ServiceRegistry", real_envelope("unregister_agent", agent_name="NLUAgent"))
    assert gone == {"status": "error", "error": "Unknown action: unregister_agent"}, gone


def test_an_agent_on_the_wrong_port_registers_the_port_it_bound(tmp_path: Path) -> None:
    """binds_wrong_port: the agent believes the port it bound (spec port - 63) and registers that one, with the
    twin (registration_data) and the registry alike."""
    write_spec(tmp_path / "spec", {"ServiceRegistry": ("registry", ()), "SystemDigitalTwin": ("twin", ()),
                                   "Wrong": ("generic", ())}, {"g": ["ServiceRegistry", "SystemDigitalTwin", "Wrong"]},
               {"Wrong": {"defects": ["binds_wrong_port"], "serving_loop_ms": 10}})
    cluster = LocalCluster([str(tmp_path / "spec")], tmp_path / "run", standin_profile="reference")
    try:
        cluster.start(timeout=30.0)
        stand = Stand("reference", cluster)
        wrong = stand.agent("Wrong")
        main, health, http_port = bound_ports(cluster.topology, wrong, stand.http_port("Wrong"),
                                              resolve("reference", (), wrong.config))
        assert main != wrong.port.number  # the defect is on: nothing of Wrong's listens on the spec's port
        for target in ("ServiceRegistry", "SystemDigitalTwin"):
            reply = wait_for(lambda t=target: (r := stand.send(t, real_envelope(
                "get_agent_endpoint", agent_name="Wrong"))).get("status") == "success" and r, 20.0, what=f"in {target}")
            assert (reply["port"], reply["health_check_port"], reply["metadata"]["http_port"]) == (
                main, health, http_port), (target, reply)
    finally:
        cluster.stop()


# --- SystemDigitalTwin ----------------------------------------------------------------------------------


def test_twin_ping_is_pong_and_health_verbs_are_unknown_on_its_main_socket(reference_stand: Stand) -> None:
    pong = reference_stand.send("SystemDigitalTwin", real_envelope("ping"))
    assert pong["status"] == "ok" and pong["message"] == "pong" and isinstance(pong["timestamp"], str), pong
    for verb in ("health", "health_check"):
        reply = reference_stand.send("SystemDigitalTwin", real_envelope(verb))
        assert reply == {"status": "error", "error": f"Unknown action: {verb}"}, reply
    health = reference_stand.send("SystemDigitalTwin", {"action": "health_check"}, health=True)
    assert health["status"] == "ok" and "health_checks" in health, health  # its health socket still answers


def test_twin_register_needs_name_and_status_and_never_keeps_a_null_port(reference_stand: Stand) -> None:
    send = reference_stand.send
    reply = send("SystemDigitalTwin", real_envelope("register_agent", location="MainPC"))
    assert reply == {"status": "error", "error": "Missing required fields: agent_name, status"}, reply
    name = f"NoPort{uuid.uuid4().hex[:6]}"
    reply = send("SystemDigitalTwin", real_envelope("register_agent", agent_name=name, status="HEALTHY",
                                                    registration_data={"agent_id": name, "port": None}))
    assert reply["status"] == "success", reply
    assert name in send("SystemDigitalTwin", real_envelope("get_all_agents"))["agents"]
    lookup = send("SystemDigitalTwin", real_envelope("get_agent_endpoint", agent_name=name))
    assert lookup == {"status": "error", "error": f"Agent {name} not found"}, lookup
    alone = f"DataOnly{uuid.uuid4().hex[:6]}"  # a registration_data record alone: forwarded, endpoint kept
    record = {"agent_id": alone, "agent_type": "t", "host": "127.0.0.1", "port": 25011, "health_check_port": 25012}
    reply = send("SystemDigitalTwin", real_envelope("register_agent", registration_data=record))
    assert reply["status"] == "success", reply
    assert send("SystemDigitalTwin", real_envelope("get_agent_endpoint", agent_name=alone))["port"] == 25011
    wait_for(lambda: send("ServiceRegistry", real_envelope("get_agent_endpoint", agent_name=alone)).get(
        "status") == "success", 15.0, what=f"{alone} forwarded to ServiceRegistry")


def test_twin_mapping_ok_agents_and_serialisable_replies(reference_stand: Stand) -> None:
    send = reference_stand.send
    agents = wait_for(lambda: (r := send("SystemDigitalTwin", real_envelope("get_all_agents"))["agents"])
                      and "NLUAgent" in r and r, 20.0, what="NLUAgent registered with the twin")
    assert agents["NLUAgent"]["status"] == "HEALTHY" and agents["NLUAgent"]["location"] == "MainPC", agents
    ok = send("SystemDigitalTwin", real_envelope("get_ok_agents"))
    assert ok["status"] == "success" and "NLUAgent" in ok["agents"], ok  # the real twin's is always empty
    for action in ("get_metrics", "get_history", "simulate_load"):
        reply = send("SystemDigitalTwin", real_envelope(action))
        assert reply["status"] == "success" and isinstance(reply["timestamp"], str), (action, reply)


def test_twin_validates_events_errors_and_vram_payloads(reference_stand: Stand) -> None:
    send = reference_stand.send
    bad = send("SystemDigitalTwin", real_envelope("publish_event", event={"data": {}}))
    assert bad == {"status": "error", "error": "validation error: missing fields: event_type"}, bad
    good = send("SystemDigitalTwin", real_envelope("publish_event", event={"event_type": "started", "data": {}}))
    assert good["status"] == "success", good
    history = send("SystemDigitalTwin", real_envelope("get_history"))["history"]
    assert history[-1]["event_type"] == "started" and history[-1]["source_agent"] == "RealClientFixture", history
    bad = send("SystemDigitalTwin", real_envelope("report_error", error_type="crash"))
    assert bad == {"status": "error", "error": "validation error: missing fields: message"}, bad
    assert send("SystemDigitalTwin", real_envelope("report_error", error_type="crash", message="boom"))[
        "status"] == "success"
    bad = send("SystemDigitalTwin", real_envelope("update_vram_metrics", metrics={"used": 1}))
    assert bad == {"status": "error", "error": "validation error: missing fields: payload"}, bad
    assert send("SystemDigitalTwin", real_envelope("update_vram_metrics", payload={"used_mb": 100}))[
        "status"] == "success"
    vram = send("SystemDigitalTwin", real_envelope("get_metrics"))["metrics"]["vram"]
    assert vram["RealClientFixture"] == {"used_mb": 100}, vram


# --- memory, language, dialogue, gateway, hub ------------------------------------------------------------


def test_memory_keeps_the_stand_in_actions_with_errors_in_message(reference_stand: Stand) -> None:
    send = reference_stand.send
    mos = "MemoryOrchestratorService"
    stored = send(mos, real_envelope("store_memory", content="ideal-shaped", session_id="s1"))
    assert stored["status"] == "success", stored
    got = send(mos, real_envelope("get_memory", memory_id=stored["memory_id"]))  # the ideal shape, top level
    assert got["status"] == "success" and got["memory"]["content"] == "ideal-shaped", got
    bad = send(mos, real_envelope("store_turn"))
    assert bad["status"] == "error" and "session_id" in bad["message"] and "error" not in bad, bad
    assert send(mos, real_envelope("count"))["count"] >= 1
    via_client = send("MemoryClient", real_envelope("add_memory", data={"content": "through the client"}))
    assert via_client["status"] == "success" and via_client["via"] == mos, via_client


def test_dialogue_through_the_gateway_on_real_shaped_replies(reference_stand: Stand) -> None:
    """The coordinator reads NLUAgent's status ok and memory's message errors; the gateway has no error code."""
    address, port = reference_stand.address, reference_stand.http_port("UnifiedWebAgent")
    session = f"s-{uuid.uuid4().hex[:6]}"
    status, body = http(address, port, "POST", "/dialogue/process", {"text": "My name is Ada", "session_id": session},
                        timeout=20.0)
    assert status == 200, body[:300]
    status, body = http(address, port, "POST", "/dialogue/process", {"text": "What is my name?", "session_id": session},
                        timeout=20.0)
    reply = json.loads(body)
    assert status == 200 and reply["response"] == "Your name is Ada." and reply["degraded"] is False, reply
    status, body = http(address, port, "GET", "/memory/no-such-id")
    assert status == 404 and "not found" in json.loads(body)["error"], body[:300]
    status, body = http(address, port, "GET", "/services/list")
    listed = json.loads(body)
    assert status == 200 and listed["count"] == len(listed["agents"]) >= 10, listed


def test_hub_serves_its_routes_over_http_on_its_port(reference_stand: Stand) -> None:
    hub = reference_stand.agent("ObservabilityHub")
    status, body = http(reference_stand.address, hub.port.number, "GET", "/health_summary")
    assert status == 200 and json.loads(body)["host"] == "mainpc", body[:300]
    started = time.monotonic()
    raw = reference_stand.raw(hub.port.number, json.dumps(real_envelope("ping")).encode(), timeout=1.0)
    assert raw is None and time.monotonic() - started >= 0.9  # ZeroMQ gets nothing back from an HTTP port


# --- last: it kills and restarts the registry's group -----------------------------------------------


def test_registry_keeps_records_in_redis_and_knows_them_after_a_kill(reference_stand: Stand) -> None:
    import redis

    cluster = reference_stand.cluster
    address, port = cluster.plan.redis[HOST]
    client = redis.Redis(host=address, port=port, decode_responses=True)
    try:
        stored = wait_for(lambda: client.get("service_registry:NLUAgent"), 20.0, what="NLUAgent's record in Redis")
    finally:
        client.close()
    assert json.loads(stored)["metadata"]["http_port"] == reference_stand.http_port("NLUAgent")
    cluster.kill_group(HOST, "registry_group")
    cluster.restart_group(HOST, "registry_group")
    reply = reference_stand.send("ServiceRegistry", real_envelope("get_agent_endpoint", agent_name="NLUAgent"))
    assert reply["status"] == "success" and reply["port"] == reference_stand.agent("NLUAgent").port.number, reply
