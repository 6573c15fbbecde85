"""The real clients' requests of PROTOCOL.md §5, byte for byte as those clients build them, sent to stand-ins.

Against the reference profile each must get the real agent's answer. The same request goes to the ideal
profile too: where the ideal answers otherwise, the test asserts the ideal's actual answer and records the
difference (printed at the end of the run, and kept in docs/standins.md).
"""

from __future__ import annotations

import json
import uuid

import pytest
from reference_fixtures import CLIENT, Stand, differs, http, real_envelope

from aisys_verify import wait_for

pytestmark = pytest.mark.integration  # real sockets, real redis-servers, group processes

REAL_ENDPOINT_FIELDS = {"status", "host", "port", "health_check_port", "agent_type", "capabilities", "metadata",
                        "last_registered"}


def _record(name: str, port: int, **more: object) -> dict[str, object]:
    return {"agent_id": name, "agent_type": name, "host": "127.0.0.1", "port": port, "health_check_port": port + 1,
            "capabilities": ["work"], "metadata": {}, **more}


def test_base_agent_registers_with_the_twin_which_forwards_to_the_registry(stand: Stand) -> None:
    """BaseAgent start-up: register_agent to the twin with agent_name, status HEALTHY, location MainPC and
    registration_data; the twin stores the agent and forwards the record to ServiceRegistry."""
    name = f"Fixture{uuid.uuid4().hex[:8]}"
    request = real_envelope("register_agent", agent_name=name, status="HEALTHY", location="MainPC",
                            registration_data=_record(name, 25001))
    reply = stand.send("SystemDigitalTwin", request)
    assert reply["status"] == "success", reply  # the real client logs success without reading it (a defect)
    listed = stand.send("SystemDigitalTwin", real_envelope("get_all_agents"))
    if stand.reference:
        assert listed["status"] == "success" and isinstance(listed["agents"], dict), listed
        entry = listed["agents"][name]
        assert entry["status"] == "HEALTHY" and entry["location"] == "MainPC" and entry["last_seen"], entry
        found = wait_for(lambda: (r := stand.send("ServiceRegistry", real_envelope(
            "get_agent_endpoint", agent_name=name))).get("status") == "success" and r, 15.0,
            what=f"{name} forwarded by the twin to ServiceRegistry")
        assert (found["host"], found["port"], found["agent_type"]) == ("127.0.0.1", 25001, name), found
        return
    assert isinstance(listed["agents"], list), listed
    entry = next(e for e in listed["agents"] if e.get("agent_name") == name)
    assert entry["port"] is None and entry["status"] == "HEALTHY", entry  # registration_data is ignored
    lookup = stand.send("ServiceRegistry", real_envelope("get_agent_endpoint", agent_name=name))
    assert lookup["status"] == "error", lookup  # nothing forwarded
    differs("BaseAgent start-up -> SystemDigitalTwin", "register_agent with registration_data",
            "the twin stores {location, status, last_seen}; get_all_agents is a mapping; the record is forwarded "
            "to ServiceRegistry", "stored flat with port null; get_all_agents is a list; nothing forwarded")


def test_discovery_client_registration_without_agent_type_is_refused(stand: Stand) -> None:
    """The discovery client registers with agent_id and no agent_type: the real registry refuses it (the
    client's defect); the refusal names agent_type."""
    name = f"Discovered{uuid.uuid4().hex[:8]}"
    record = _record(name, 25003)
    del record["agent_type"]
    reply = stand.send("ServiceRegistry", real_envelope("register_agent", **record))
    assert reply["status"] == "error", reply
    if stand.reference:
        assert reply["error"] == "validation error: missing fields: agent_type", reply
        assert "error_code" not in reply and "request_id" not in reply, reply
        return
    assert "agent_name" in reply["error"] and reply["error_code"] == "bad_request", reply
    differs("discovery client -> ServiceRegistry", "register_agent with agent_id, no agent_type",
            "refused: `validation error: missing fields: agent_type`",
            f"refused for another reason: `{reply['error']}` (+ error_code)")


def test_get_agent_endpoint_by_agent_name(stand: Stand) -> None:
    """The discovery client / BaseAgent look an agent up with agent_name alone."""
    nlu = stand.agent("NLUAgent")
    reply = wait_for(lambda: (r := stand.send("ServiceRegistry", real_envelope(
        "get_agent_endpoint", agent_name="NLUAgent"))).get("status") == "success" and r, 20.0,
        what="NLUAgent registered")
    assert (reply["port"], reply["health_check_port"]) == (nlu.port.number, nlu.health_port.number), reply
    missing = stand.send("ServiceRegistry", real_envelope("get_agent_endpoint", agent_name="NoSuchAgent"))
    assert missing["status"] == "error", missing
    if stand.reference:
        assert set(reply) == REAL_ENDPOINT_FIELDS, reply
        assert reply["host"] == stand.address and reply["agent_type"] == "language", reply
        assert "analyze" in reply["capabilities"], reply
        assert reply["metadata"]["http_port"] == stand.http_port("NLUAgent"), reply  # what the framework routes by
        assert reply["metadata"]["host_name"] == "mainpc", reply
        assert missing == {"status": "error", "error": "Agent NoSuchAgent not found"}, missing
        return
    assert not {"agent_type", "capabilities", "metadata", "last_registered"} & set(reply), reply
    differs("discovery client / BaseAgent -> ServiceRegistry", "get_agent_endpoint {agent_name}",
            "host, port, health_check_port, agent_type, capabilities, metadata, last_registered; "
            "not found: `Agent X not found`",
            f"{', '.join(sorted(set(reply) - {'status', 'request_id'}))}; not found: `{missing['error']}`")


@pytest.mark.parametrize("command", ["DISCOVER", "REGISTER"])
def test_discovery_fallback_command_dialect_is_dead(stand: Stand, command: str) -> None:
    """The discovery client's fallback to the twin sends {"command": ...} with no action: Unknown action: None."""
    reply = stand.send("SystemDigitalTwin", {"command": command, "agent_name": "NLUAgent", "source": CLIENT})
    assert reply["status"] == "error", reply
    if stand.reference:
        assert reply == {"status": "error", "error": "Unknown action: None"}, reply
        return
    assert reply["error"] != "Unknown action: None" and reply.get("error_code"), reply
    differs("discovery client fallback -> SystemDigitalTwin", f'{{"command": "{command}"}}',
            "`Unknown action: None`", f"`{reply['error']}` (+ error_code)")


def test_memory_client_requests_with_data(stand: Stand) -> None:
    """MemoryClient: add_memory, search_memory, get_memory with their fields inside data; errors in message;
    create_session is no action of the orchestrator."""
    mos = "MemoryOrchestratorService"
    word = f"zebra{uuid.uuid4().hex[:6]}"
    added = stand.send(mos, real_envelope("add_memory", data={
        "content": f"the {word} likes tea", "memory_type": "general", "importance": 0.5, "metadata": {}, "tags": []}))
    session = stand.send(mos, real_envelope("create_session", data={"user_id": "ada", "session_type": "chat"}))
    if not stand.reference:
        assert added["status"] == "error" and added["error_code"] == "unknown_action", added
        assert session["status"] == "error" and session["error_code"] == "unknown_action", session
        differs("MemoryClient -> MemoryOrchestratorService", "add_memory / search_memory {data: ...}",
                "success, fields read inside `data`", "unknown action (+ error_code)")
        return
    assert added["status"] == "success" and added["memory_id"], added
    found = stand.send(mos, real_envelope("search_memory", data={"query": word, "limit": 5}))
    assert found["status"] == "success" and [r["memory_id"] for r in found["results"]] == [added["memory_id"]], found
    got = stand.send(mos, real_envelope("get_memory", data={"memory_id": added["memory_id"]}))
    assert got["status"] == "success" and got["memory"]["content"] == f"the {word} likes tea", got
    absent = stand.send(mos, real_envelope("get_memory", data={"memory_id": "no-such-id"}))
    assert absent == {"status": "error", "message": "Memory no-such-id not found"}, absent
    assert session["status"] == "error" and "Unknown action: create_session" in (
        session.get("error") or session.get("message") or ""), session


def test_memory_client_get_memory_with_data_on_ideal(ideal_stand: Stand) -> None:
    """get_memory is an action of both; the ideal reads memory_id at the top level only."""
    reply = ideal_stand.send("MemoryOrchestratorService", real_envelope("get_memory", data={"memory_id": "x"}))
    assert reply["status"] == "error" and "memory_id" in reply["error"] and "message" not in reply, reply
    differs("MemoryClient -> MemoryOrchestratorService", "get_memory {data: {memory_id}}; errors",
            "reads `data.memory_id`; errors in `message`", f"`{reply['error']}`: errors in `error` + error_code")


def test_nlu_analyze_answers_ok_with_the_text(stand: Stand) -> None:
    text = "Hello, my name is Ada"
    reply = stand.send("NLUAgent", real_envelope("analyze", text=text))
    assert reply["intent"] == "introduce" and reply["entities"]["name"] == "Ada", reply
    if stand.reference:
        assert reply["status"] == "ok" and reply["text"] == text, reply
        return
    assert reply["status"] == "success" and "text" not in reply, reply
    differs("any client -> NLUAgent", "analyze {text}", "`status: ok`, `text` echoed", "`status: success`, no `text`")


def test_synthesize_emotion(stand: Stand) -> None:
    """Both profiles answer as the real EmotionSynthesisAgent."""
    reply = stand.send("EmotionSynthesisAgent", real_envelope("synthesize_emotion", text="I won the race",
                                                               emotion="happy", intensity=0.9))
    assert reply["status"] == "success", reply
    assert {k: reply[k] for k in ("original_text", "emotion", "intensity")} == {
        "original_text": "I won the race", "emotion": "happy", "intensity": 0.9}, reply
    assert isinstance(reply["modified_text"], str) and reply["modified_text"] != "I won the race", reply


def test_health_probe_script_http_get(stand: Stand) -> None:
    """scripts/health_probe.py --url http://HOST:PORT/health: HTTP GET on the agent's HTTP health port (200 and
    the health body when healthy); its documented default points at the ZeroMQ health port, where no HTTP
    answers (the script's defect, in both profiles)."""
    nlu = stand.agent("NLUAgent")
    status, body = http(stand.address, stand.http_port("NLUAgent"), "GET", "/health")
    health = json.loads(body)
    assert status == 200 and health["status"] == "ok" and health["ready"] is True, (status, body[:300])
    zmq_status, _ = http(stand.address, nlu.health_port.number, "GET", "/health", timeout=2.0)
    assert zmq_status is None
    if stand.reference:
        assert set(health["health_checks"]) == {"port_accessible", "redis_connected", "ready_signal"}, health
        assert "agent" not in health and health["message"] == "NLUAgent is healthy", health
        return
    assert health["agent"] == "NLUAgent", health
    differs("health probe script", "GET /health (HTTP port)", "health_checks port_accessible, redis_connected, "
            "ready_signal; no `agent`", f"health_checks {', '.join(sorted(health['health_checks']))}; `agent` field")


def test_health_probe_push_to_ingest(stand: Stand) -> None:
    """--push-metrics posts to the hub's /ingest, which the real hub does not have."""
    hub = stand.agent("ObservabilityHub")
    port = hub.port.number if stand.reference else stand.http_port("ObservabilityHub")
    status, _ = http(stand.address, port, "POST", "/ingest", {"agent": "NLUAgent", "status": "ok"})
    if stand.reference:
        assert status == 404
        return
    assert status == 200
    differs("health probe script --push-metrics", "POST /ingest on the hub", "404: no such route", "200: stored")


def test_observability_hub_speaks_http_on_its_port(stand: Stand) -> None:
    hub = stand.agent("ObservabilityHub")
    status, body = http(stand.address, hub.port.number, "GET", "/health_summary", timeout=2.0)
    if stand.reference:
        assert status == 200 and json.loads(body)["host"] == "mainpc", (status, body[:300])
        status, _ = http(stand.address, hub.port.number, "GET", "/health")
        assert status == 200
        return
    assert status is None, (status, body[:200])  # a ZeroMQ socket: no HTTP
    reply = stand.send("ObservabilityHub", real_envelope("get_summary"))
    assert reply["status"] == "success", reply
    differs("any client -> ObservabilityHub", "HTTP on its configured port", "HTTP (FastAPI routes)",
            "ZeroMQ (HTTP only on its HTTP health port)")
