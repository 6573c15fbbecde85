"""One in-process group with every role (see conftest.py): the protocol end to end, and the specific
bad inputs and lifecycle cases that once broke (or still break) an agent."""

from __future__ import annotations

import asyncio
import json
import re
import time
import uuid
from pathlib import Path
from typing import Any

import pytest
import redis
import zmq
import zmq.asyncio
from standin_support import (
    SOLO_GROUP,
    Lab,
    check_zmq_reply,
    free_ports,
    http_request,
    make_plan,
    zmq_json,
    zmq_request,
)

from aisys_verify.standin import protocol
from aisys_verify.standin.agent import AgentRuntime
from aisys_verify.standin.calls import AddressBook, Caller
from aisys_verify.standin.group import GroupRuntime
from aisys_verify.standin.logs import JsonLog
from aisys_verify.standin.metrics import Metrics
from aisys_verify.standin.roles.base import AgentContext
from aisys_verify.standin.tracing import make_tracer

pytestmark = pytest.mark.integration  # real sockets, a real redis-server


def send(lab: Lab, name: str, action: str, **fields: Any) -> dict[str, Any]:
    return zmq_json(lab.zmq, lab.main(name), protocol.envelope(action, "test", **fields), timeout=5.0)


# --- the protocol, end to end --------------------------------------------------------------------------


def test_every_agent_answers_ping_health_and_http(lab: Lab) -> None:
    for name in lab.names:
        for verb in ("ping", "health", "health_check"):
            reply = send(lab, name, verb)
            assert reply["status"] == "ok" and reply["agent"] == name, (name, verb, reply)
        assert lab.health(name)["status"] == "ok"
        plain = zmq_request(lab.zmq, lab.health_port(name), b"are you there?")  # any message is a health check
        assert plain is not None and json.loads(plain)["status"] == "ok"
        status, body = http_request(lab.http(name), "GET", "/health")
        assert status == 200 and json.loads(body)["agent"] == name
        status, body = http_request(lab.http(name), "GET", "/metrics")
        assert status == 200 and b"# TYPE ai_request_count counter" in body
        assert http_request(lab.http(name), "GET", "/no/such/route")[0] == 404


def test_health_reply_has_the_real_fields(lab: Lab) -> None:
    reply = lab.health("MemoryClient")
    for key in ("status", "ready", "initialized", "message", "timestamp", "uptime", "active_threads",
                "health_checks", "health_details", "health_status"):
        assert key in reply
    assert reply["health_checks"]["redis"] and reply["health_checks"]["ready_key"]
    assert reply["health_checks"]["dependency:MemoryOrchestratorService"] is True


def test_router_main_socket_serves_dealer_clients(lab: Lab) -> None:
    port = lab.main("Worker")
    for frames in ([b"", b'{"action": "work", "payload": 1}'], [b'{"action": "work", "payload": 2}']):
        sock = lab.zmq.socket(zmq.DEALER)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.connect(f"tcp://127.0.0.1:{port}")
            sock.send_multipart(frames)
            assert sock.poll(2000), f"no reply to DEALER frames {frames}"
            reply = sock.recv_multipart()
            assert reply[:-1] == frames[:-1]  # the empty delimiter comes back when it was sent
            assert json.loads(reply[-1])["echo"] in (1, 2)
        finally:
            sock.close(0)


def test_unknown_action_lists_the_known_ones(lab: Lab) -> None:
    reply = send(lab, "NLUAgent", "fly")
    assert reply["status"] == "error" and reply["error_code"] == "unknown_action"
    assert "analyze" in reply["error"] and "ping" in reply["error"] and "'fly'" in reply["error"]


def test_dialogue_through_the_gateway_remembers_facts(lab: Lab) -> None:
    session = f"s-{uuid.uuid4().hex[:8]}"
    port = lab.http("UnifiedWebAgent")
    intro = {"text": "My name is Ada and I like chess.", "session_id": session}
    status, body = http_request(port, "POST", "/dialogue/process", json.dumps(intro).encode())
    first = json.loads(body)
    assert status == 200 and first["status"] == "ok" and first["degraded"] is False, first
    assert first["response"] == "Nice to meet you, Ada. I will remember that you like chess."
    status, body = http_request(port, "POST", "/dialogue/process",
                                json.dumps({"message": "What is my name?", "session_id": session}).encode())
    assert status == 200 and json.loads(body)["response"] == "Your name is Ada."
    status, body = http_request(port, "POST", "/dialogue/process", json.dumps({"text": "why? ", "tts": True}).encode())
    turn = json.loads(body)
    assert status == 200 and turn["intent"] == "reasoning"
    assert turn["reasoning"]["output"].startswith("reason:") and turn["speech"]["output"].startswith("synthesize:")


def test_memory_through_the_gateway(lab: Lab) -> None:
    port = lab.http("UnifiedWebAgent")
    status, body = http_request(port, "POST", "/memory/store", json.dumps({"content": {"k": [1, 2]}}).encode())
    assert status == 201
    memory_id = json.loads(body)["memory_id"]
    status, body = http_request(port, "GET", f"/memory/{memory_id}")
    assert status == 200 and json.loads(body)["memory"]["content"] == {"k": [1, 2]}
    assert http_request(port, "GET", "/memory/" + "0" * 32)[0] == 404
    assert http_request(port, "GET", "/memory/" + "0" * 65)[0] == 400
    assert http_request(port, "POST", "/memory/store", b'{"content": "  "}')[0] == 422
    assert http_request(port, "POST", "/memory/store", b"{not json")[0] == 400
    assert http_request(port, "POST", "/dialogue/process", b"[1]")[0] == 400
    assert http_request(port, "POST", "/dialogue/process", b'{"text": 5}')[0] == 422
    assert http_request(port, "POST", "/dialogue/process", json.dumps({"text": "x" * 10_001}).encode())[0] == 422
    status, body = http_request(port, "GET", "/services/list")
    assert status == 200 and "UnifiedWebAgent" in json.loads(body)["agents"]


def test_registry_knows_every_agent_of_the_group(lab: Lab) -> None:
    deadline = time.monotonic() + 3
    while True:
        agents = send(lab, "ServiceRegistry", "list_agents")["agents"]
        if set(lab.names) <= set(agents) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    missing = sorted(set(lab.names) - set(agents))
    assert not missing, f"not registered with ServiceRegistry: {missing}"
    endpoint = send(lab, "ServiceRegistry", "get_agent_endpoint", agent_name="NLUAgent")
    assert (endpoint["port"], endpoint["health_check_port"], endpoint["http_port"]) == lab.ports["NLUAgent"]


def test_agents_register_with_registries_they_depend_on(lab: Lab) -> None:
    """BUG (wiring.call_edges + AgentRuntime.__init__): call_edges keeps one edge per (caller, callee), the
    first purpose wins, and AgentRuntime registers only along edges whose purpose is 'registration'. An agent
    that lists a registry in its dependencies (Worker -> ServiceRegistry here; 53 agents -> SystemDigitalTwin
    or ServiceRegistry in system/) therefore never sends register_agent to it, unlike the real BaseAgent."""
    deadline = time.monotonic() + 2
    while time.monotonic() < deadline:
        if lab.agent("Worker").registered >= {"ServiceRegistry", "SystemDigitalTwin"}:
            break
        time.sleep(0.2)
    assert sorted(lab.health("Worker")["registered_with"]) == ["ServiceRegistry", "SystemDigitalTwin"]


def test_observability_hub_scrapes_its_host(lab: Lab) -> None:
    deadline = time.monotonic() + 5
    while True:
        status, body = http_request(lab.http("ObservabilityHub"), "GET", "/health_summary")
        view = json.loads(body)
        if (status == 200 and view["up"] >= len(lab.names)) or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert view["up"] == len(lab.names) and view["agents"]["SoloWorker"]["up"] is False
    assert http_request(lab.http("ObservabilityHub"), "POST", "/ingest", b'{"probe": 1}')[0] == 200
    assert http_request(lab.http("ObservabilityHub"), "POST", "/ingest", b"[]")[0] == 422
    assert http_request(lab.http("ObservabilityHub"), "POST", "/sync_from_pc2", b"nope")[0] == 400


# --- specific bad inputs -------------------------------------------------------------------------------


@pytest.mark.parametrize("frame", [b"[" * 100_000,
                                   b'{"action": "work", "payload": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"],
                         ids=["deep-array", "deep-payload"])
def test_deeply_nested_request_gets_an_error_reply(lab: Lab, frame: bytes) -> None:
    """BUG (protocol.parse_request / AgentRuntime._answer): RecursionError from json.loads is not a ValueError,
    escapes dispatch, kills the _answer task, and the REQ client never gets a reply (it hangs)."""
    reply = check_zmq_reply(zmq_request(lab.zmq, lab.main("Worker"), frame, timeout=2.0), "a deeply nested frame")
    assert reply["status"] == "error" and reply["error_code"] in ("bad_request", "not_json")
    assert send(lab, "Worker", "ping")["status"] == "ok"


@pytest.mark.parametrize("extra", [{"policy": 1}, {"target": "Elsewhere"}, {"health": True}, {"self": 0}],
                         ids=["policy", "target", "health", "self"])
def test_memory_client_forwards_any_field_safely(lab: Lab, extra: dict[str, Any]) -> None:
    """BUG (roles/memory.MemoryClientRole.forward): the request's fields are passed as **kwargs to
    AgentContext.call(target, action, *, policy, **fields), so a request field named 'policy', 'target' or
    'self' crashes the handler (internal error) and 'health': true sends the call to the upstream's *health*
    socket, returning a health reply (status 'ok') instead of the memory answer."""
    session = f"fwd-{uuid.uuid4().hex[:6]}"
    reply = send(lab, "MemoryClient", "get_context", session_id=session, **extra)
    assert reply["status"] == "success", reply
    assert reply["session_id"] == session and reply["turns"] == [] and reply["via"] == "MemoryOrchestratorService"


@pytest.mark.parametrize(("action", "fields"), [
    ("store_memory", {"content": "x", "session_id": "\ud800"}),
    ("store_memory", {"content": "x", "kind": "\udfff"}),
    ("store_turn", {"session_id": "a\ud800b"}),
    ("get_context", {"session_id": "\ud800"}),
    ("get_memory", {"memory_id": "\ud800"}),
    ("search", {"query": "\ud800"}),
], ids=["store-session", "store-kind", "turn", "context", "get", "search"])
def test_memory_rejects_or_stores_lone_surrogates_without_crashing(lab: Lab, action: str,
                                                                  fields: dict[str, Any]) -> None:
    """BUG (roles/memory.Store): JSON may carry lone surrogates ("\\ud800"); sqlite3 cannot bind them
    (UnicodeEncodeError), so the handler crashes into an 'internal' error. Expected: stored, or rejected
    as bad_request."""
    reply = send(lab, "MemoryOrchestratorService", action, **fields)
    assert reply["status"] == "success" or reply.get("error_code") == "bad_request", reply


@pytest.mark.parametrize("frame", [
    b'{"action": "get_context", "session_id": "\xed\xa0\x80"}',
    '{"action": "get_context", "session_id": "\\ud800"}'.encode("utf-16-le"),
    b'{"action": "store_memory", "content": "x", "kind": "\xed\xbf\xbf"}',
], ids=["raw-bytes", "utf-16", "raw-bytes-kind"])
def test_memory_survives_surrogates_in_any_encoding(lab: Lab, frame: bytes) -> None:
    """BUG (protocol.parse_request's surrogate check, see test_standin_protocol): a lone surrogate sent as raw
    bytes or in a UTF-16 frame passes parse_request and crashes sqlite: an 'internal' error."""
    reply = check_zmq_reply(zmq_request(lab.zmq, lab.main("MemoryOrchestratorService"), frame), "a surrogate")
    assert reply["status"] == "success" or reply.get("error_code") == "bad_request", reply


def test_nlu_handles_a_very_long_number(lab: Lab) -> None:
    """BUG (roles/language.analyze, see test_standin_language): a 5000-digit number in a 5013-character
    text is an internal error in NLUAgent, so the gateway answers 503 'language unavailable'."""
    assert send(lab, "NLUAgent", "analyze", text="number " + "7" * 5000)["status"] == "success"
    status, body = http_request(lab.http("UnifiedWebAgent"), "POST", "/dialogue/process",
                                json.dumps({"text": "number " + "7" * 5000}).encode())
    assert status == 200, body[:300]


@pytest.mark.parametrize("body", [b"[" * 100_000, b'{"text": ' + b"[" * 5_000 + b"]" * 5_000 + b"}"],
                         ids=["deep-array", "deep-field"])
def test_gateway_deeply_nested_body_is_400(lab: Lab, body: bytes) -> None:
    """BUG (roles/gateway._json_object, roles/observability.http): RecursionError from request.json() is not
    caught (only ValueError/UnicodeDecodeError are), so the HTTP server answers 500."""
    for port, path in ((lab.http("UnifiedWebAgent"), "/dialogue/process"),
                       (lab.http("UnifiedWebAgent"), "/memory/store"),
                       (lab.http("ObservabilityHub"), "/ingest")):
        status, _ = http_request(port, "POST", path, body)
        assert status == 400, f"POST {path}: {status}"


def test_gateway_store_with_a_lone_surrogate_session_is_not_a_502(lab: Lab) -> None:
    """The same sqlite bug seen through the gateway: an upstream crash becomes 502 Bad Gateway."""
    status, body = http_request(lab.http("UnifiedWebAgent"), "POST", "/memory/store",
                                b'{"content": "x", "session_id": "\\ud800"}')
    assert status in (201, 422), body[:300]


def test_reply_carries_the_callers_request_id(lab: Lab) -> None:
    """BUG (roles/memory.MemoryClientRole.forward): the forwarded upstream reply already holds the upstream
    hop's request_id, so dispatch's setdefault keeps it: the client gets a reply whose request_id is not
    the one it sent (every other agent echoes it)."""
    for name, action, fields in (("Worker", "work", {}), ("NLUAgent", "analyze", {"text": "hi"}),
                                 ("MemoryClient", "count", {}), ("MemoryClient", "get_context", {"session_id": "r"})):
        message = protocol.envelope(action, "test", **fields)
        reply = zmq_json(lab.zmq, lab.main(name), message)
        assert reply["status"] == "success"
        assert reply["request_id"] == message["request_id"], f"{name} {action}"


def test_unknown_actions_do_not_grow_the_metrics(lab: Lab) -> None:
    """BUG (AgentRuntime.dispatch): unknown actions are recorded under their own action label, so every
    distinct garbage action name adds a counter series and a 15-line histogram to /metrics forever
    (unbounded memory and label cardinality, driven by any client). Unknown actions should share one label."""
    names = [f"nonsense-{uuid.uuid4().hex}" for _ in range(20)]
    for action in names:
        assert send(lab, "Worker", action)["error_code"] == "unknown_action"
    status, body = http_request(lab.http("Worker"), "GET", "/metrics")
    assert status == 200
    labels = set(re.findall(r'action="([^"]*)"', body.decode()))
    assert not labels & set(names), f"{len(labels & set(names))} garbage action names became metric labels"


def test_huge_frame_under_the_transport_limit_is_too_large(lab: Lab) -> None:
    frame = b'{"action": "work", "payload": "' + b"x" * (protocol.MAX_MESSAGE_BYTES + 10) + b'"}'
    reply = check_zmq_reply(zmq_request(lab.zmq, lab.main("Worker"), frame, timeout=5.0), "a 1 MiB frame")
    assert reply["error_code"] == "too_large"


def test_frame_over_the_transport_limit_is_dropped_and_the_agent_lives(lab: Lab) -> None:
    """Frames over ZMQ_MAXMSGSIZE (4 x MAX_MESSAGE_BYTES) are dropped by ZeroMQ by design: no reply comes
    (the connection is cut); the agent keeps serving everyone else."""
    frame = b"x" * (4 * protocol.MAX_MESSAGE_BYTES + 1)
    assert zmq_request(lab.zmq, lab.main("Worker"), frame, timeout=1.0) is None
    assert send(lab, "Worker", "ping")["status"] == "ok"


# --- lifecycle -----------------------------------------------------------------------------------------


def solo_runtime(lab: Lab, tag: str, redis_port: int | None = None) -> GroupRuntime:
    return GroupRuntime(lab.topology, make_plan(lab.topology, redis_port or lab.redis.port, lab.root / tag), "lab",
                        SOLO_GROUP)


def wait_ready_key(lab: Lab, name: str, timeout: float = 5.0) -> None:
    deadline = time.monotonic() + timeout
    while "present" not in lab.health(name).get("health_details", {}).get("ready_key", ""):
        assert time.monotonic() < deadline, f"{name} never saw its ready key"
        time.sleep(0.05)


def test_a_failed_duplicate_start_leaves_the_running_group_alone(lab: Lab) -> None:
    """BUG (AgentRuntime.stop via GroupRuntime.start's cleanup): a second copy of a running group fails to
    bind (correct), but its cleanup deletes the Redis ready keys 'agent:ready:<name>' that belong to the
    *running* agents, which then read 'degraded' until their next refresh (ready_refresh_s, 10 s by default).
    An agent that never started must not touch the ready key."""
    first = solo_runtime(lab, "solo1")
    client = redis.Redis(host="127.0.0.1", port=lab.redis.port, socket_timeout=2)
    try:
        lab.loop.run(first.start())
        wait_ready_key(lab, "SoloWorker")
        second = solo_runtime(lab, "solo2")
        with pytest.raises(OSError, match="SoloWorker: cannot bind"):
            lab.loop.run(second.start())
        assert client.exists("agent:ready:SoloWorker") == 1, "the running agent's ready key was deleted"
        time.sleep(0.5)  # two health intervals
        assert lab.health("SoloWorker")["status"] == "ok"
    finally:
        client.close()
        lab.loop.stop_group(first)
    assert zmq_request(lab.zmq, lab.main("SoloWorker"), b'{"action": "ping"}', timeout=0.5) is None


def test_stop_deletes_the_ready_key_and_closes_the_ports(lab: Lab) -> None:
    solo = solo_runtime(lab, "solo3")
    client = redis.Redis(host="127.0.0.1", port=lab.redis.port, socket_timeout=2)
    try:
        try:
            lab.loop.run(solo.start())
            wait_ready_key(lab, "SoloWorker")
            assert client.exists("agent:ready:SoloWorker") == 1
        finally:
            lab.loop.stop_group(solo)
        assert client.exists("agent:ready:SoloWorker") == 0
    finally:
        client.close()
    assert zmq_request(lab.zmq, lab.health_port("SoloWorker"), b"ping", timeout=0.5) is None
    assert zmq_request(lab.zmq, lab.main("SoloWorker"), b'{"action": "ping"}', timeout=0.5) is None


def test_health_is_not_ok_before_the_first_readiness_check(lab: Lab) -> None:
    """BUG (protocol.health_reply, AgentRuntime.start): 'initialized' is set before the readiness loop has
    run once, and health_reply only judges checks that have reported, so for that window (here: while the
    first Redis ping waits for an unreachable Redis, up to 0.5 s) the agent answers status 'ok' with no
    checks at all. A required check that has not passed yet must count as failing."""
    solo = solo_runtime(lab, "solo4", redis_port=free_ports(1)[0])  # nothing listens there
    try:
        lab.loop.run(solo.start())
        first = lab.health("SoloWorker")
        assert first["status"] == "degraded", f"healthy before any check ran: {first.get('health_details')}"
        time.sleep(0.8)
        later = lab.health("SoloWorker")
        assert later["status"] == "degraded" and "redis" in later["message"]
    finally:
        lab.loop.stop_group(solo)


class _FakeRedis:
    """Redis whose first command (the readiness round's read of the ready key) completes exactly when the
    test says so."""

    def __init__(self, first_read: asyncio.Future[bool]) -> None:
        self.first_read: asyncio.Future[bool] | None = first_read

    def exists(self, *args: Any) -> Any:
        fut, self.first_read = self.first_read, None
        return fut if fut is not None else self._true()

    async def _true(self, *args: Any, **kwargs: Any) -> bool:
        return True

    set = ping = delete = _true


def test_stop_finishes_even_when_wait_for_swallows_the_cancel(lab: Lab, tmp_path: Path) -> None:
    """BUG (AgentRuntime.stop / readiness_loop, Python 3.11): asyncio.wait_for returns the inner result when
    the inner awaitable completes in the same loop step as the outer task is cancelled (fixed only in 3.12),
    so the CancelledError that stop() sends to readiness_loop can be swallowed; the loop is 'while True'
    and stop() then awaits the task for ever (a group that never exits on SIGTERM; seen here as a ~1-in-10
    hang of GroupRuntime.stop). Reproduced deterministically: the round's Redis read completes, then stop() runs."""
    agent = lab.topology.agents_by_key["lab/SoloWorker"]

    async def scenario() -> bool:
        loop = asyncio.get_running_loop()
        ping: asyncio.Future[bool] = loop.create_future()
        tracer, _ = make_tracer("lab/test", "none")
        ctx = AgentContext(agent, lab.topology, lab.plan, Caller(agent.name, zmq.asyncio.Context.instance(),
                                                                 AddressBook()),
                           _FakeRedis(ping), tracer, JsonLog(agent.name, tmp_path / "solo.log"),  # type: ignore[arg-type]
                           Metrics(agent.name, "lab"), tmp_path)
        runtime = AgentRuntime(ctx, "127.0.0.1", lab.http("SoloWorker"), [])
        task = asyncio.create_task(runtime.readiness_loop())
        runtime.tasks.append(task)
        await asyncio.sleep(0.05)  # the loop now waits on its first Redis read (under a 0.5 s timeout)
        ping.set_result(True)
        stopper = asyncio.create_task(runtime.stop())
        done, _ = await asyncio.wait([stopper], timeout=3)
        if not done:  # clean up what the bug left running
            task.cancel()
            await asyncio.wait([stopper], timeout=3)
        ctx.log.close()
        return bool(done)

    assert lab.loop.run(scenario(), timeout=20), "AgentRuntime.stop() did not finish within 3 s"
