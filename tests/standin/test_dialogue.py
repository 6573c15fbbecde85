"""Dialogue through the web gateway (PC2 UnifiedWebAgent's HTTP API, TOPOLOGY.md 6.5), one
trace per turn across every hop and both hosts, the gateway's error statuses, and how agents
answer unknown actions and garbage on their ZeroMQ sockets.
"""

from __future__ import annotations

import json
import re
import socket
import time
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from standin_integration_helpers import (
    OWN_SPEC,
    address_of,
    call_agent,
    http_json,
    http_of,
    http_request,
    running_cluster,
    spans_of_trace,
    zmq_call,
    zmq_raw,
)

from aisys_verify.standin import protocol
from aisys_verify.standin.cluster import LocalCluster

pytestmark = pytest.mark.integration

GATEWAY = "pc2/UnifiedWebAgent"


@pytest.fixture(scope="module")
def trace_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("dialogue-traces")


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory, trace_dir: Path) -> Iterator[LocalCluster]:
    with running_cluster([OWN_SPEC], tmp_path_factory.mktemp("dialogue"), trace=f"file:{trace_dir}") as cluster:
        yield cluster


def gateway(cluster: LocalCluster, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    address, port = http_of(cluster, GATEWAY)
    return http_json(address, port, method, path, body)


def turn(cluster: LocalCluster, text: str, session: str) -> dict[str, Any]:
    status, body = gateway(cluster, "POST", "/dialogue/process", {"text": text, "session_id": session})
    assert status == 200, (text, status, body)
    assert body["status"] == "ok", body
    assert isinstance(body["response"], str) and body["response"], body
    assert isinstance(body["confidence"], (int, float)) and 0.0 <= body["confidence"] <= 1.0, body
    assert isinstance(body["processing_time_ms"], (int, float)) and body["processing_time_ms"] >= 0, body
    assert re.fullmatch(r"[0-9a-f]{32}", body["trace_id"]) and body["trace_id"] != "0" * 32, body
    return body


# --- the dialogue ------------------------------------------------------------------------


@pytest.fixture(scope="module")
def ada_dialogue(cluster: LocalCluster) -> list[dict[str, Any]]:
    session = f"ada-{uuid.uuid4().hex[:8]}"
    return [turn(cluster, "Hi, my name is Ada and I like chess", session),
            turn(cluster, "The weather is lovely today", session),
            turn(cluster, "What is my name?", session)]


def test_multi_turn_dialogue_remembers_the_name(ada_dialogue: list[dict[str, Any]]) -> None:
    first, second, third = ada_dialogue
    assert "Ada" in first["response"]
    assert "Ada" not in second["response"]
    assert "Ada" in third["response"], third
    assert len({t["trace_id"] for t in ada_dialogue}) == 3, "each turn is its own trace"
    assert not any(t["degraded"] for t in ada_dialogue), ada_dialogue


def test_sessions_are_isolated(cluster: LocalCluster, ada_dialogue: list[dict[str, Any]]) -> None:
    other = turn(cluster, "What is my name?", f"other-{uuid.uuid4().hex[:8]}")
    assert "Ada" not in other["response"], other
    assert other["degraded"] is False


# --- one trace per turn ------------------------------------------------------------------

HOPS = [  # (caller, callee, action): every hop of a turn with a session
    ("UnifiedWebAgent", "RequestCoordinator", "process_dialogue"),
    ("RequestCoordinator", "NLUAgent", "analyze"),
    ("RequestCoordinator", "MemoryClient", "get_context"),
    ("MemoryClient", "MemoryOrchestratorService", "get_context"),
    ("RequestCoordinator", "ChitchatAgent", "generate_response"),
    ("RequestCoordinator", "MemoryClient", "store_turn"),
    ("MemoryClient", "MemoryOrchestratorService", "store_turn"),
]


def _trace(trace_dir: Path, trace_id: str) -> list[dict[str, Any]]:
    """The turn's spans; the exporter writes each span when it ends, which is before the reply, but
    allow a moment for the last writes to land."""
    deadline = time.monotonic() + 3.0
    spans = spans_of_trace(trace_dir, trace_id)
    while len(spans) < 1 + 2 * len(HOPS) and time.monotonic() < deadline:
        time.sleep(0.1)
        spans = spans_of_trace(trace_dir, trace_id)
    return spans


def test_one_trace_covers_every_hop_of_a_turn(cluster: LocalCluster, trace_dir: Path,
                                              ada_dialogue: list[dict[str, Any]]) -> None:
    trace_id = ada_dialogue[2]["trace_id"]
    spans = _trace(trace_dir, trace_id)
    by_id = {s["span_id"]: s for s in spans}
    assert len(by_id) == len(spans), "span ids are unique"
    shown = "\n".join(f"{s['kind']:6} {s['service']:22} {s['name']}" for s in spans)

    roots = [s for s in spans if s["parent_id"] is None]
    assert len(roots) == 1, f"one root expected:\n{shown}"
    root = roots[0]
    assert root["kind"] == "SERVER" and root["attributes"].get("agent") == "UnifiedWebAgent", root
    assert root["name"] == "UnifiedWebAgent HTTP POST /dialogue/process", root
    assert root["service"] == "pc2/web_interface", root

    orphans = [s["name"] for s in spans if s["parent_id"] is not None and s["parent_id"] not in by_id]
    assert not orphans, f"spans whose parent is not in the trace: {orphans}\n{shown}"
    errors = [(s["name"], s["error"]) for s in spans if s["status"] == "ERROR"]
    assert not errors, f"spans marked ERROR on a healthy turn: {errors}"

    def server_span_of(agent: str, action: str | None = None) -> list[dict[str, Any]]:
        return [s for s in spans if s["kind"] == "SERVER" and s["attributes"].get("agent") == agent
                and (action is None or s["attributes"].get("action") == action)]

    for caller, callee, action in HOPS:
        clients = [s for s in spans if s["kind"] == "CLIENT" and s["attributes"].get("agent") == caller
                   and s["attributes"].get("peer") == callee and s["attributes"].get("action") == action]
        assert len(clients) == 1, f"client span {caller} -> {callee} {action}: {len(clients)}\n{shown}"
        client = clients[0]
        parent = by_id[client["parent_id"]]
        assert parent["kind"] == "SERVER" and parent["attributes"].get("agent") == caller, (
            f"{client['name']} is not under a {caller} server span but under {parent['name']}")
        servers = [s for s in server_span_of(callee, action) if s["parent_id"] == client["span_id"]]
        assert len(servers) == 1, f"server span of {callee} {action} under {client['name']}: {len(servers)}\n{shown}"
        callee_host = cluster.topology.find_agent(callee, None)
        assert callee_host is not None
        assert servers[0]["service"].startswith(f"{callee_host.host}/"), servers[0]
        assert parent["service"].startswith(f"{cluster.topology.find_agent(caller, None).host}/"), parent

    # the cross-host hops really cross hosts, inside the one trace
    mos = [s for s in server_span_of("MemoryOrchestratorService")]
    assert {s["service"] for s in mos} == {"pc2/memory_stack"}
    assert {s["service"].split("/")[0] for s in server_span_of("MemoryClient")} == {"mainpc"}
    assert {s["service"].split("/")[0] for s in server_span_of("RequestCoordinator")} == {"mainpc"}
    # the coordinator's server span (whose trace id the reply carries) hangs under the gateway's client span
    (rc,) = server_span_of("RequestCoordinator", "process_dialogue")
    assert by_id[rc["parent_id"]]["parent_id"] == root["span_id"]
    assert len(spans) == 1 + 2 * len(HOPS), f"unexpected extra spans:\n{shown}"


def test_gateway_reports_the_trace_id_in_a_header(cluster: LocalCluster) -> None:
    address, port = http_of(cluster, GATEWAY)
    status, headers, data = http_request(address, port, "POST", "/dialogue/process",
                                         {"text": "Hello", "session_id": f"hdr-{uuid.uuid4().hex[:8]}"})
    assert status == 200
    assert headers.get("x-trace-id") == json.loads(data)["trace_id"]


# --- the gateway's error statuses and memory API -----------------------------------------


@pytest.mark.parametrize("body", [b"{not json", b'{"text": "unterminated', b"\xff\xfe garbage"],
                         ids=["broken-object", "truncated", "not-utf8"])
def test_invalid_json_body_is_400(cluster: LocalCluster, body: bytes) -> None:
    status, reply = gateway(cluster, "POST", "/dialogue/process", body)
    assert status == 400, reply
    assert isinstance(reply.get("error"), str) and "json" in reply["error"].lower(), reply


@pytest.mark.parametrize("body", [{"session_id": "s"}, {"text": ""}, {"text": "   "}, {"text": None}, {"text": 42},
                                  {"text": "x" * 10_001}, {"text": "hi", "session_id": 5}],
                         ids=["missing", "empty", "blank", "null", "number", "too-long", "session-not-string"])
def test_missing_or_invalid_fields_are_422(cluster: LocalCluster, body: dict[str, Any]) -> None:
    status, reply = gateway(cluster, "POST", "/dialogue/process", body)
    assert status == 422, reply
    field = "session_id" if "session_id" in body and "text" in body else "text"
    assert field in reply.get("error", ""), reply


@pytest.mark.parametrize("body", [b"[1, 2]", b'"text"', b"null"], ids=["array", "string", "null"])
def test_json_that_is_not_an_object_is_400(cluster: LocalCluster, body: bytes) -> None:
    status, reply = gateway(cluster, "POST", "/dialogue/process", body)
    assert status == 400, reply
    assert reply.get("error"), reply


@pytest.mark.parametrize(("method", "path"), [("GET", "/no/such/route"), ("POST", "/dialogue/unknown"),
                                              ("GET", "/dialogue/process")])
def test_unknown_route_is_404(cluster: LocalCluster, method: str, path: str) -> None:
    status, reply = gateway(cluster, method, path, {} if method == "POST" else None)
    assert status == 404, reply
    assert reply.get("error"), reply


def test_memory_store_and_read_back(cluster: LocalCluster) -> None:
    content = f"remember the milk {uuid.uuid4().hex}"
    status, stored = gateway(cluster, "POST", "/memory/store", {"content": content, "session_id": "mem-api"})
    assert status == 201, stored
    memory_id = stored["memory_id"]
    assert isinstance(memory_id, str) and memory_id
    status, read = gateway(cluster, "GET", f"/memory/{memory_id}")
    assert status == 200, read
    assert read["memory"]["memory_id"] == memory_id
    assert read["memory"]["content"] == content
    assert read["memory"]["session_id"] == "mem-api"


def test_memory_unknown_id_is_404(cluster: LocalCluster) -> None:
    status, reply = gateway(cluster, "GET", f"/memory/{uuid.uuid4().hex}")
    assert status == 404, reply
    assert reply.get("error"), reply


def test_memory_store_without_content_is_422(cluster: LocalCluster) -> None:
    status, reply = gateway(cluster, "POST", "/memory/store", {"session_id": "x"})
    assert status == 422, reply


# --- ZeroMQ: unknown actions and garbage -------------------------------------------------


def test_unknown_action_names_the_known_actions_on_every_agent(cluster: LocalCluster) -> None:
    bad = {}
    for a in cluster.topology.agents:
        reply = call_agent(cluster, a.key, "frobnicate_the_widget", timeout=3.0)
        error = str(reply.get("error", ""))
        if not (reply.get("status") == "error" and "frobnicate_the_widget" in error
                and all(known in error for known in ("ping", "health_check", "work"))):
            bad[a.key] = reply
    assert not bad, f"unknown action not answered with the known actions: {dict(list(bad.items())[:5])}"
    registry = call_agent(cluster, "mainpc/ServiceRegistry", "frobnicate_the_widget")
    assert "list_agents" in registry["error"] and "get_agent_endpoint" in registry["error"], registry
    coordinator = call_agent(cluster, "mainpc/RequestCoordinator", "frobnicate_the_widget")
    assert "process_dialogue" in coordinator["error"], coordinator


GARBAGE = {
    "not-json": (b"hello agent", "not_json"),
    "binary": (bytes(range(256)), "not_json"),
    "empty": (b"", "not_json"),
    "json-array": (b'["action", "ping"]', "bad_request"),
    "json-string": (b'"ping"', "bad_request"),
    "no-action": (b'{"source_agent": "x"}', "bad_request"),
    "action-not-string": (b'{"action": 7}', "bad_request"),
    "too-large": (b'{"action": "ping", "pad": "' + b"x" * (protocol.MAX_MESSAGE_BYTES + 10) + b'"}', "too_large"),
}


@pytest.mark.parametrize("target", ["mainpc/RequestCoordinator", "pc2/MemoryOrchestratorService",
                                    "mainpc/ServiceRegistry"])
def test_garbage_on_the_main_socket_gets_an_error_reply(cluster: LocalCluster, target: str) -> None:
    a = cluster.topology.agents_by_key[target]
    address = address_of(cluster, target)
    for name, (payload, code) in GARBAGE.items():
        reply = zmq_call(address, a.port.number, payload)
        assert reply.get("status") == "error", (name, reply)
        assert reply.get("error_code") == code and reply.get("error"), (name, reply)
    # a multi-frame message from a REQ socket is answered too (the last frame is the request)
    raw = zmq_raw(address, a.port.number, [b"junk", b"more junk"])
    assert raw is not None and json.loads(raw)["status"] == "error"
    # raw bytes that are not ZMTP at all: the agent drops the connection and keeps serving
    with socket.create_connection((address, a.port.number), timeout=2.0) as sock:
        sock.sendall(b"GET / HTTP/1.1\r\nHost: x\r\n\r\n" + bytes(range(256)) * 4)
        sock.settimeout(2.0)
        try:
            while sock.recv(4096):
                pass
        except (TimeoutError, ConnectionError):
            pass
    after = call_agent(cluster, target, "ping")
    assert after["status"] == "ok" and after["agent"] == a.name, after


def test_garbage_on_the_health_socket_is_a_health_check(cluster: LocalCluster) -> None:
    a = cluster.topology.agents_by_key["mainpc/NLUAgent"]
    reply = zmq_call(address_of(cluster, a.key), a.health_port.number, bytes(range(256)))
    assert reply["status"] == "ok" and reply["agent"] == "NLUAgent"
