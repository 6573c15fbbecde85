"""The reference profile (PROTOCOL.md as measured) and each defect switch, observed from outside:
real ZeroMQ REQ sockets, real HTTP, a real redis-server (reference_support.py)."""

from __future__ import annotations

import asyncio
import json
import socket
import threading
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest
import zmq
import zmq.asyncio
from reference_support import FAST_MS, LOOP_MS, RefLab, start_ref_lab
from standin_support import http_request

from aisys_verify.health import read_http, read_reply
from aisys_verify.standin import protocol, reference
from aisys_verify.standin.calls import AddressBook, Caller, Endpoint

pytestmark = pytest.mark.integration  # real sockets, a real redis-server

HEALTH_KEYS = {"status", "ready", "initialized", "message", "timestamp", "uptime", "active_threads",
               "health_checks", "health_details"}


@pytest.fixture(scope="module")
def ref(tmp_path_factory: pytest.TempPathFactory) -> Iterator[RefLab]:
    yield from start_ref_lab(tmp_path_factory.mktemp("ref"))


def envelope(action: str, **fields: Any) -> dict[str, Any]:
    return protocol.reference_envelope(action, "test", fields)


def is_naive_iso(value: Any) -> bool:
    return isinstance(value, str) and datetime.fromisoformat(value).tzinfo is None


def tcp_open(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.3)
        return sock.connect_ex(("127.0.0.1", port)) == 0


# --- the protocol without defects -------------------------------------------------------------------


def test_health_reply_has_the_real_shape_on_both_sockets_and_http(ref: RefLab) -> None:
    port, _, http = ref.ports["Worker"]
    replies = (ref.health("Worker"), ref.ask("Worker", envelope("health_check")), ref.ask("Worker", envelope("ping")),
               json.loads(http_request(http, "GET", "/health")[1]))
    for reply in replies:
        assert set(reply) == HEALTH_KEYS, reply
        assert reply["status"] == "ok" and reply["ready"] is True and reply["initialized"] is True
        assert reply["message"] == "Worker is healthy" and "agent" not in reply
        assert is_naive_iso(reply["timestamp"]) and isinstance(reply["uptime"], float)
        assert reply["health_checks"] == {"port_accessible": True, "redis_connected": True, "ready_signal": True}
        details = reply["health_details"]
        assert details["port"] == port and details["redis_host"] == f"127.0.0.1:{ref.redis.port}"
        assert set(details["ready_signal"]) == {"status", "timestamp", "port", "details"}
        assert read_reply(reply).up and not read_reply(reply).contradictions
    assert http_request(http, "GET", "/health")[0] == 200


def test_main_socket_serves_one_request_per_serving_loop(ref: RefLab) -> None:
    t0 = time.perf_counter()
    assert ref.ask("Worker", envelope("work", payload=1))["status"] == "success"
    single = time.perf_counter() - t0
    assert LOOP_MS / 1000 * 0.9 <= single < LOOP_MS / 1000 + 0.5, single
    done: list[float] = []
    start = time.perf_counter()

    def one() -> None:
        ref.ask("Worker", envelope("work", payload=2), timeout=5.0)
        done.append(time.perf_counter() - start)

    threads = [threading.Thread(target=one) for _ in range(5)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    assert len(done) == 5
    done.sort()
    # strictly one at a time: the n-th answer comes no sooner than n serving loops after the burst
    for n, at in enumerate(done, 1):
        assert at >= n * LOOP_MS / 1000 * 0.9, done


def test_health_socket_answers_at_once_while_the_main_socket_is_busy(ref: RefLab) -> None:
    clients = [threading.Thread(target=ref.ask, args=("Worker", envelope("work")), kwargs={"timeout": 5.0})
               for _ in range(4)]
    for t in clients:
        t.start()
    time.sleep(0.05)
    t0 = time.perf_counter()
    assert ref.health("Worker")["status"] == "ok"
    assert time.perf_counter() - t0 < LOOP_MS / 1000
    for t in clients:
        t.join(10)


@pytest.mark.parametrize(("frame", "generic", "twin"), [
    (b"not json", "Invalid JSON request", "Invalid JSON format."),
    (b"[1, 2]", "'list' object has no attribute 'get'", "Invalid request format"),
    (b'"text"', "'str' object has no attribute 'get'", "Invalid request format"),
    (b'{"payload": 1}', "Unknown action: None", "Unknown action: None"),
    (b'{"action": "x"}', "Unknown action: x", "Unknown action: x"),
    (b"\xff\xfe{", "Invalid UTF-8 request", "Invalid UTF-8 request"),
])
def test_error_replies_have_the_real_texts_and_no_code(ref: RefLab, frame: bytes, generic: str, twin: str) -> None:
    for name, text in (("Worker", generic), ("SystemDigitalTwin", twin)):
        raw = ref.request(name, frame)
        assert raw is not None, f"{name}: no reply to {frame!r}"
        assert json.loads(raw) == {"status": "error", "error": text}, name


def test_replies_echo_no_request_id(ref: RefLab) -> None:
    reply = ref.ask("Worker", envelope("work", payload="x"))
    assert reply["status"] == "success" and "request_id" not in reply and "error_code" not in reply


def test_large_requests_are_processed(ref: RefLab) -> None:
    big = "x" * (3 << 19)  # 1.5 MiB: processed normally, no size limit (PROTOCOL.md §1)
    reply = ref.ask("Worker", envelope("work", payload=big), timeout=10.0)
    assert reply["status"] == "success" and reply.get("echo") == big
    raw = ref.request("Worker", b"y" * (2 << 20), timeout=10.0)  # a 2 MiB frame gets a reply too
    assert raw is not None and json.loads(raw)["error"] == "Invalid JSON request"


def test_twin_ping_is_pong_and_its_main_socket_has_no_health_verbs(ref: RefLab) -> None:
    pong = ref.ask("SystemDigitalTwin", envelope("ping"))
    assert pong["status"] == "ok" and pong["message"] == "pong" and is_naive_iso(pong["timestamp"])
    for verb in ("health", "health_check"):
        assert ref.ask("SystemDigitalTwin", envelope(verb)) == {"status": "error", "error": f"Unknown action: {verb}"}
    assert ref.health("SystemDigitalTwin")["message"] == "SystemDigitalTwin is healthy"  # its health socket does


def test_ready_key_is_the_real_record_with_the_plans_ttl(ref: RefLab) -> None:
    r = ref.redis_client()
    record = json.loads(r.get("agent:ready:Worker"))
    assert record["status"] == "ready" and record["port"] == ref.ports["Worker"][0]
    assert is_naive_iso(record["timestamp"])
    assert 0 < r.ttl("agent:ready:Worker") <= ref.plan.ready_ttl_s


def test_degraded_agent_answers_503_with_a_degraded_message(ref: RefLab) -> None:
    code, body = http_request(ref.ports["Degraded"][2], "GET", "/health")
    reply = json.loads(body)
    assert code == 503 and reply["status"] == "degraded" and reply["ready"] is False
    assert "is healthy" not in reply["message"] and "Absent" in reply["message"]
    assert read_http(code, body).state == "degraded" and not read_reply(reply).contradictions


def test_outgoing_envelope_has_an_iso_timestamp() -> None:
    async def scenario() -> dict[str, Any]:
        context = zmq.asyncio.Context()
        server = context.socket(zmq.REP)
        port = server.bind_to_random_port("tcp://127.0.0.1")
        caller = Caller("Me", context, AddressBook(main={"Peer": Endpoint("127.0.0.1", port)}), reference=True)
        call = asyncio.create_task(caller.call("Peer", "work", payload=1))
        received = json.loads(await server.recv())
        await server.send(b'{"status": "success"}')
        await call
        server.close(0)
        context.term()
        return dict(received)

    sent = asyncio.run(scenario())
    assert sent["action"] == "work" and sent["source_agent"] == "Me" and is_naive_iso(sent["timestamp"])
    assert len(sent["request_id"]) == 36


# --- the defect switches ------------------------------------------------------------------------------


def test_http_health_always_200(ref: RefLab) -> None:
    code, body = http_request(ref.ports["Http200"][2], "GET", "/health")
    assert code == 200 and json.loads(body)["status"] == "degraded"


def test_contradictory_health(ref: RefLab) -> None:
    for reply in (ref.health("Contra"), ref.ask("Contra", envelope("health_check"))):
        assert (reply["status"], reply["ready"], reply["message"]) == ("degraded", True, "Contra is healthy")
        assert read_reply(reply).contradictions


def test_ready_ttl_not_refreshed(ref: RefLab) -> None:
    r = ref.redis_client()
    first = r.pttl("agent:ready:TtlOnce")
    assert 0 < first <= 3000
    time.sleep(1.2)
    later = r.pttl("agent:ready:TtlOnce")
    assert later < first  # only goes down: never refreshed
    ref.wait("TtlOnce's key expires and it turns degraded",
             lambda: r.exists("agent:ready:TtlOnce") == 0 and ref.health("TtlOnce")["status"] == "degraded")
    time.sleep(0.5)  # and it is not written again
    assert r.exists("agent:ready:TtlOnce") == 0
    assert ref.health("TtlOnce")["health_checks"]["ready_signal"] is False


def test_stale_ready_key_after_crash(ref: RefLab) -> None:
    ttl = ref.redis_client().ttl("agent:ready:Stale")
    assert reference.REAL_READY_TTL_S - 30 < ttl <= reference.REAL_READY_TTL_S


def test_binds_wrong_port(ref: RefLab) -> None:
    port, health, http = ref.ports["Wrong"]
    assert not any(tcp_open(p) for p in (port, health, http))
    moved = [p - reference.WRONG_PORT_SHIFT for p in (port, health, http)]
    reply = ref.health("Wrong", port=moved[1])
    assert reply["health_details"]["port"] == moved[0]
    raw = ref.request("Wrong", json.dumps(envelope("work")).encode(), port=moved[0])
    assert raw is not None and json.loads(raw)["status"] == "success"
    assert json.loads(ref.redis_client().get("agent:ready:Wrong"))["port"] == moved[0]
    assert http_request(moved[2], "GET", "/health")[0] in (200, 503)


def test_double_bind_exits_at_start_and_the_group_keeps_running(ref: RefLab) -> None:
    port, health, http = ref.ports["Double"]
    assert not any(tcp_open(p) for p in (port, health, http))
    assert ref.redis_client().exists("agent:ready:Double") == 0
    log = (ref.root / "logs" / "ref" / "Double.log").read_text()
    assert "exited at start" in log and "EADDRINUSE" in log
    assert ref.health("Worker")["status"] == "ok"


def test_invalid_utf8_wedges(ref: RefLab) -> None:
    assert ref.ask("Utf8Wedge", envelope("work"))["status"] == "success"
    assert ref.request("Utf8Wedge", b"\xff\xfe", timeout=FAST_MS / 1000 + 1.0) is None
    assert ref.request("Utf8Wedge", json.dumps(envelope("ping")).encode(), timeout=1.0) is None  # stuck for good
    assert ref.health("Utf8Wedge")["status"] == "ok"  # the health socket still answers


@pytest.mark.parametrize(("name", "action"), [("Unser", "work"), ("TwinUnser", "get_metrics")])
def test_unserialisable_reply_wedges_the_main_socket(ref: RefLab, name: str, action: str) -> None:
    assert ref.ask(name, envelope("ping"))["status"] == "ok"  # health verbs (the twin's pong) still work
    assert ref.request(name, json.dumps(envelope(action)).encode(), timeout=1.0) is None
    assert ref.request(name, json.dumps(envelope("ping")).encode(), timeout=1.0) is None
    assert ref.health(name)["status"] == "ok"


def test_twin_unserialisable_covers_only_its_three_actions(ref: RefLab) -> None:
    twin = next(a for a in ref.runtime.agents if a.name == "TwinUnser")
    assert reference.unserialisable_actions(twin.role) == {"get_metrics", "get_history", "simulate_load"}
    worker = next(a for a in ref.runtime.agents if a.name == "Unser")
    assert "work" in reference.unserialisable_actions(worker.role)


def test_wrong_ports_avoid_the_spec_ports(tmp_path: Path) -> None:
    from aisys_verify.spec.loader import load_spec
    from aisys_verify.standin.profile import StandinProfile

    spec = tmp_path / "aisys-spec.yaml"
    (tmp_path / "h").mkdir()
    spec.write_text("kind: aisys-verify/spec\nname: t\nhosts:\n  h: {startup_config: h/s.yaml}\n")
    (tmp_path / "h" / "s.yaml").write_text(
        "agent_groups:\n  g:\n"
        "    A: {script_path: a.py, port: 5706, health_check_port: 6706}\n"
        "    B: {script_path: b.py, port: 5643, health_check_port: 6643}\n"
        "    C: {script_path: c.py, port: 1050, health_check_port: 1060}\n")
    topology = load_spec([tmp_path])
    wrong = StandinProfile("reference", frozenset({"binds_wrong_port"}), 0.1)
    a, b, c = (topology.find_agent(n, "h") for n in "ABC")
    assert a is not None and b is not None and c is not None
    assert reference.bound_ports(topology, b, 6644, wrong) == (5580, 6580, 6581)
    ported = reference.bound_ports(topology, a, 6707, wrong)
    assert ported[0] not in (5643, 6643) and ported[0] == 1024 + (5706 + 20000 - 1024) % (65536 - 1024)
    assert reference.bound_ports(topology, c, 1061, wrong)[0] >= 1024
    assert reference.bound_ports(topology, a, 6707, StandinProfile()) == (5706, 6706, 6707)
