"""The one health reader (aisys_verify.health) and the reply reader (aisys_verify.replies): both reply shapes,
HTTP judged by the body as well as the code, and no JSON whatever makes either raise."""

from __future__ import annotations

import json
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aisys_verify import health, replies
from aisys_verify.health import DEGRADED, DOWN, UP, http_policy_violation, read_http, read_reply

IDEAL_OK = {"status": "ok", "agent": "NLUAgent", "ready": True, "initialized": True, "message": "all checks pass",
            "health_status": "healthy", "health_checks": {"redis": True, "ready_key": True},
            "health_details": {"redis": "reachable", "ready_key": "agent:ready:NLUAgent present"}}
IDEAL_DEGRADED = {**IDEAL_OK, "status": "degraded", "ready": False, "health_status": "degraded",
                  "message": "dependency:ModelManagerSuite: no reply", "health_checks": {"redis": True,
                                                                                         "dependency:X": False}}
REAL_OK = {"status": "ok", "ready": True, "initialized": True, "message": "NLUAgent is healthy",
           "timestamp": "2025-08-19T10:00:00.123456", "uptime": 12.345678, "active_threads": 3,
           "health_checks": {"port_accessible": True, "redis_connected": True, "ready_signal": True},
           "health_details": {"port": 5709, "redis_host": "127.0.0.1:6379",
                              "ready_signal": {"status": "ready", "timestamp": "2025-08-19T10:00:00", "port": 5709,
                                               "details": {}}}}
REAL_DEGRADED = {**REAL_OK, "status": "degraded", "ready": False, "message": "NLUAgent is degraded: redis unreachable",
                 "health_checks": {"port_accessible": True, "redis_connected": False, "ready_signal": False}}
CONTRADICTORY = {**REAL_OK, "status": "degraded", "ready": True, "message": "SystemDigitalTwin is healthy"}


@pytest.mark.parametrize(("reply", "state"), [
    (IDEAL_OK, UP), (IDEAL_DEGRADED, DEGRADED), (REAL_OK, UP), (REAL_DEGRADED, DEGRADED), (CONTRADICTORY, DEGRADED),
    ({"status": "ok", "message": "pong", "timestamp": "2025-08-19T10:00:00"}, UP),  # the twin's ping
    ({"status": "error", "error": "Unknown action: health"}, DOWN),  # the twin's main socket: not a health reply
    ({"status": "error", **{k: REAL_OK[k] for k in ("health_checks", "ready")}}, DEGRADED),  # error from a live agent
    ([1, 2], DOWN), ("ok", DOWN), ({}, DOWN),
], ids=["ideal-ok", "ideal-degraded", "real-ok", "real-degraded", "contradictory", "twin-ping", "twin-main-health",
        "real-error", "list", "string", "empty"])
def test_either_reply_shape_reads_to_one_state(reply: Any, state: str) -> None:
    assert read_reply(reply).state == state


def test_real_shape_gives_checks_and_name_from_the_message() -> None:
    reading = read_reply(REAL_DEGRADED)
    assert reading.checks == {"port_accessible": True, "redis_connected": False, "ready_signal": False}
    assert reading.ready is False and reading.word == "degraded" and not reading.contradictions
    assert read_reply(REAL_OK).agent == "NLUAgent"  # the real reply has no agent field: "<Name> is healthy"
    assert read_reply(IDEAL_OK).agent == "NLUAgent"


def test_contradictory_fields_are_named() -> None:
    found = read_reply(CONTRADICTORY).contradictions
    assert any("ready true" in c for c in found), found
    assert any("is healthy" in c for c in found), found
    ok_but_failing = {**REAL_OK, "health_checks": {**REAL_OK["health_checks"], "redis_connected": False}}
    assert any("redis_connected" in c for c in read_reply(ok_but_failing).contradictions)


@pytest.mark.parametrize(("code", "body", "state"), [
    (200, REAL_OK, UP), (503, REAL_DEGRADED, DEGRADED), (503, IDEAL_DEGRADED, DEGRADED),
    (200, REAL_DEGRADED, DEGRADED),  # the real agents' 200 while degraded: degraded, never up
    (200, CONTRADICTORY, DEGRADED), (503, REAL_OK, DEGRADED),  # a 5xx whose body says ok: the code wins
    (200, "", UP), (500, "", DOWN), (404, "not found", DOWN),
], ids=["200-ok", "503-degraded", "503-ideal-degraded", "200-degraded", "200-contradictory", "503-ok", "200-empty",
        "500-empty", "404-text"])
def test_http_is_judged_by_the_body_as_well_as_the_code(code: int, body: Any, state: str) -> None:
    raw = json.dumps(body) if isinstance(body, dict) else body
    reading = read_http(code, raw.encode())
    assert reading.state == state, reading
    assert reading.http_status == code


def test_http_policy_names_a_200_while_degraded() -> None:
    assert http_policy_violation(read_http(200, json.dumps(REAL_DEGRADED))) is not None
    assert http_policy_violation(read_http(503, json.dumps(REAL_DEGRADED))) is None
    assert http_policy_violation(read_http(200, json.dumps(REAL_DEGRADED)), "body") is None
    with pytest.raises(ValueError, match="unknown HTTP health policy"):
        http_policy_violation(read_http(200, b""), "nonsense")


def test_legacy_words_and_shown_line() -> None:
    assert read_reply(REAL_OK).word_or_state == "ok"
    assert read_http(200, json.dumps(REAL_DEGRADED)).word_or_state == "degraded"
    assert read_reply(None).word_or_state == "down"
    shown = read_http(200, json.dumps(CONTRADICTORY)).shown()
    assert shown.startswith("degraded") and "HTTP 200" in shown, shown


def test_nothing_listening_reads_down() -> None:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert health.http_health("127.0.0.1", port, 0.3).state == DOWN
    reading = health.zmq_health(f"tcp://127.0.0.1:{port}", 0.2)
    assert reading.state == DOWN and "no reply" in reading.message


JSON = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=True) | st.text(),
                    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=12), inner,
                                                                                 max_size=6), max_leaves=20)
HEALTHISH = st.fixed_dictionaries({}, optional={
    "status": JSON | st.sampled_from(["ok", "degraded", "error", "OK ", "healthy"]), "ready": JSON,
    "message": JSON, "error": JSON, "health_checks": JSON | st.dictionaries(st.text(max_size=8), st.booleans()),
    "agent": JSON, "metadata": JSON, "port": JSON, "agents": JSON, "count": JSON})


@settings(max_examples=300, deadline=None)
@given(JSON | HEALTHISH)
def test_no_json_makes_the_readers_raise(value: Any) -> None:
    reading = read_reply(value)
    assert reading.state in (UP, DEGRADED, DOWN)
    assert isinstance(reading.shown(), str)
    for code in (200, 503):
        assert read_http(code, json.dumps(value)).state in (UP, DEGRADED, DOWN)
    verdicts = (replies.succeeded(value), replies.failed(value), replies.client_error(value))
    assert all(isinstance(v, bool) for v in verdicts)
    assert isinstance(replies.error_text(value), str)
    record = replies.agent_record(value)
    assert record is None or record.port is not None
    assert all(isinstance(n, str) for n in replies.listed_names(value))
    assert isinstance(replies.listed_count(value), int)


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=64), st.integers(min_value=100, max_value=599))
def test_no_bytes_make_the_http_reader_raise(body: bytes, code: int) -> None:
    assert read_http(code, body).state in (UP, DEGRADED, DOWN)


# --- replies: either dialect ------------------------------------------------------------------------

def test_success_and_error_text_of_either_dialect() -> None:
    assert replies.succeeded({"status": "success"}) and replies.succeeded({"status": "ok", "text": "hi"})
    assert not replies.succeeded({"status": "error"}) and replies.failed("not an object")
    ideal = {"status": "error", "error": "unknown action 'x'; NLUAgent knows: ping", "error_code": "unknown_action"}
    real = {"status": "error", "error": "Unknown action: x"}
    memory = {"status": "error", "message": "Memory not found"}
    assert replies.error_text(real) == "Unknown action: x" and replies.error_text(memory) == "Memory not found"
    assert all(replies.client_error(r) for r in (ideal, real, memory))
    assert not replies.client_error({"status": "error", "error": "dependency unavailable: x",
                                     "error_code": "dependency_unavailable"})
    assert not replies.client_error({"status": "error", "error": "'str' object cannot be interpreted as an integer"})
    assert replies.mentions(real, "x") and not replies.mentions(real, "ping")


def test_registry_records_of_either_field_set() -> None:
    ideal = {"status": "success", "agent_name": "NLUAgent", "host": "127.9.9.2", "port": 5709,
             "health_check_port": 6709, "http_port": 6710, "location": "mainpc"}
    real = {"status": "success", "host": "127.9.9.2", "port": 5709, "health_check_port": 6709, "agent_type": "NLUAgent",
            "capabilities": [], "metadata": {"http_port": 6710}, "last_registered": "2025-08-19T10:00:00",
            "status_": "HEALTHY"}
    a, b = replies.agent_record(ideal), replies.agent_record(real, "NLUAgent")
    assert a is not None and b is not None
    assert (a.name, a.address, a.port, a.health_check_port, a.http_port, a.location) == \
        ("NLUAgent", "127.9.9.2", 5709, 6709, 6710, "mainpc")
    assert (b.name, b.address, b.ports(), b.http_port, b.location, b.agent_type) == \
        ("NLUAgent", "127.9.9.2", (5709, 6709), 6710, None, "NLUAgent")
    assert replies.agent_record({"status": "error", "error": "Agent X not found"}) is None


def test_listings_of_either_shape() -> None:
    names = {"status": "success", "agents": ["A", "B"], "count": 2}
    records = {"status": "success", "agents": [{"agent_id": "A", "port": 1}, {"agent_name": "B", "port": 2}]}
    mapping = {"status": "success", "agents": {"A": {"location": "MainPC", "status": "HEALTHY"}, "B": {}}}
    for listing in (names, records, mapping):
        assert replies.listed_names(listing) == ["A", "B"], listing
        assert replies.listed_count(listing) == 2, listing
