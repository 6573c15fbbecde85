"""The wire protocol (TOPOLOGY.md §4.1-4.2): request parsing, reply wrapping and the health reply."""

from __future__ import annotations

import json
import time

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aisys_verify.standin import protocol
from aisys_verify.standin.protocol import (
    MAX_MESSAGE_BYTES,
    ProtocolError,
    Request,
    envelope,
    health_reply,
    parse_reply,
    parse_request,
)
from aisys_verify.standin.protocol import (
    HealthCheck as Check,
)

# --- parse_request -----------------------------------------------------------------------------------


def test_valid_envelope_parses_with_its_metadata() -> None:
    message = envelope("get_context", "RequestCoordinator", session_id="s1", traceparent="00-" + "a" * 32 + "-"
                       + "b" * 16 + "-01")
    request = parse_request(protocol.encode(message))
    assert request.action == "get_context"
    assert request.body == message
    assert request.source == "RequestCoordinator"
    assert request.request_id == message["request_id"] and len(request.request_id) == 36
    assert request.traceparent == message["traceparent"]
    assert abs(message["timestamp"] - time.time()) < 5


def test_minimal_envelope_has_empty_metadata() -> None:
    request = parse_request(b'{"action": "ping"}')
    assert (request.action, request.source, request.request_id, request.traceparent) == ("ping", "", "", None)


def test_non_string_traceparent_is_ignored() -> None:
    assert parse_request(b'{"action": "x", "traceparent": 5}').traceparent is None


@pytest.mark.parametrize("frame", [b"", b"ping", b"{", b"{'action': 'x'}", b"\xff\xfe\x00garbage", b"\x80",
                                   b'{"action": "x"} trailing', b"NaNx"])
def test_non_json_is_not_json(frame: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_request(frame)
    assert info.value.code == "not_json"
    assert "JSON" in str(info.value)


@pytest.mark.parametrize("frame", [b"[]", b'["action", "ping"]', b'"ping"', b"42", b"null", b"true", b"1.5"])
def test_non_object_json_is_bad_request(frame: bytes) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_request(frame)
    assert info.value.code == "bad_request"
    assert "JSON object" in str(info.value)
    assert type(json.loads(frame)).__name__ in str(info.value)


@pytest.mark.parametrize("body", [{}, {"action": ""}, {"action": None}, {"action": 5}, {"action": ["ping"]},
                                  {"action": {"name": "ping"}}, {"action": True}, {"command": "ping"}])
def test_missing_blank_or_non_string_action_is_bad_request(body: dict[str, object]) -> None:
    with pytest.raises(ProtocolError) as info:
        parse_request(json.dumps(body).encode())
    assert info.value.code == "bad_request"
    assert "'action'" in str(info.value)


def test_oversize_frame_is_too_large_before_parsing() -> None:
    frame = b'{"action": "work", "payload": "' + b"x" * MAX_MESSAGE_BYTES + b'"}'
    with pytest.raises(ProtocolError) as info:
        parse_request(frame)
    assert info.value.code == "too_large"
    assert str(len(frame)) in str(info.value) and str(MAX_MESSAGE_BYTES) in str(info.value)
    # garbage over the limit is 'too_large' too: the size is checked first
    with pytest.raises(ProtocolError) as garbage:
        parse_request(b"\xff" * (MAX_MESSAGE_BYTES + 1))
    assert garbage.value.code == "too_large"


def test_frame_at_the_limit_is_parsed() -> None:
    prefix, suffix = b'{"action": "work", "payload": "', b'"}'
    frame = prefix + b"x" * (MAX_MESSAGE_BYTES - len(prefix) - len(suffix)) + suffix
    assert len(frame) == MAX_MESSAGE_BYTES
    assert parse_request(frame).action == "work"


def test_default_error_code_is_bad_request() -> None:
    assert ProtocolError("x").code == "bad_request"


@pytest.mark.parametrize("depth", [2_000, 100_000])
def test_deeply_nested_json_is_a_protocol_error(depth: int) -> None:
    """BUG (protocol.parse_request): json.loads raises RecursionError, not ValueError, on deep nesting; it escapes
    parse_request, so AgentRuntime.dispatch never answers (the client's REQ hangs)."""
    for frame in (b"[" * depth + b"]" * depth,
                  b'{"action": "work", "payload": ' + b"[" * depth + b"]" * depth + b"}"):
        with pytest.raises(ProtocolError):
            parse_request(frame)


@pytest.mark.parametrize("frame", [
    b'{"action": "x", "s": "\\ud800"}',
    b'{"action": "x", "\\uDFFF": 1}',
    b'{"action": "x", "s": "\xed\xa0\x80"}',  # the surrogate as raw (CESU-style) UTF-8 bytes
    '{"action": "x", "s": "\\ud800"}'.encode("utf-16-le"),
    '{"action": "x", "s": "\\ud800"}'.encode("utf-32"),
], ids=["escape", "escaped-key", "raw-bytes", "utf-16", "utf-32"])
def test_lone_surrogates_never_reach_a_handler(frame: bytes) -> None:
    """parse_request refuses lone surrogates (no store or UTF-8 encoder accepts them). BUG: the check only
    runs when the frame's UTF-8 text contains a '\\ud' escape, so a surrogate sent as raw bytes (json.loads
    decodes bytes with 'surrogatepass') or in a UTF-16/32 frame gets through, and crashes sqlite later."""
    outcome = _outcome(frame)
    if isinstance(outcome, ProtocolError):
        assert outcome.code == "bad_request"
    else:
        assert not _has_surrogate(outcome.body), f"a lone surrogate reached the handler: {outcome.body!r}"


def _outcome(frame: bytes) -> Request | ProtocolError:
    try:
        return parse_request(frame)
    except ProtocolError as exc:
        return exc


def _has_surrogate(value: object) -> bool:
    if isinstance(value, str):
        return any(0xD800 <= ord(ch) <= 0xDFFF for ch in value)
    if isinstance(value, dict):
        return any(_has_surrogate(k) or _has_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_surrogate(v) for v in value)
    return False


def _json_values() -> st.SearchStrategy[object]:
    return st.recursive(st.none() | st.booleans() | st.integers() | st.floats() | st.text(max_size=20),
                        lambda kids: st.lists(kids, max_size=4) | st.dictionaries(st.text(max_size=8), kids,
                                                                                  max_size=4), max_leaves=12)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.one_of(
    st.binary(max_size=512),
    st.text(max_size=200).map(str.encode),
    _json_values().map(lambda v: json.dumps(v).encode()),
    st.dictionaries(st.sampled_from(["action", "source_agent", "request_id", "traceparent", "x"]), _json_values(),
                    max_size=5).map(lambda v: json.dumps(v).encode()),
    st.integers(0, 3).map(lambda n: b"x" * (MAX_MESSAGE_BYTES + n)),
    st.builds(lambda action, text, raw: (
        json.dumps({"action": action, "text": text}, ensure_ascii=not raw).encode("utf-8", "surrogatepass")),
        st.sampled_from(["ping", "analyze"]), st.text(st.characters(min_codepoint=0xD7F0, max_codepoint=0xE010),
                                                      max_size=5), st.booleans()),
))
def test_parse_request_raises_only_protocol_error(frame: bytes) -> None:
    request = _outcome(frame)  # anything else raised fails the test
    if isinstance(request, ProtocolError):
        assert request.code in ("not_json", "bad_request", "too_large") and str(request)
        return
    assert isinstance(request, Request)
    assert isinstance(request.action, str) and request.action
    assert isinstance(request.body, dict) and request.body["action"] == request.action
    assert not _has_surrogate(request.body), "a lone surrogate reached the handler"


# --- parse_reply -------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", [[1, 2], "pong", 42, 1.5, None, True, []])
def test_parse_reply_wraps_non_objects_like_base_agent(value: object) -> None:
    assert parse_reply(json.dumps(value).encode()) == {"status": "success", "data": value}


def test_parse_reply_keeps_objects_as_they_are() -> None:
    reply = {"status": "error", "error": "nope", "extra": [1]}
    assert parse_reply(json.dumps(reply).encode()) == reply
    assert parse_reply(b"{}") == {}


def test_parse_reply_of_non_json_is_an_error_with_the_text() -> None:
    reply = parse_reply(b"OK not json")
    assert reply["status"] == "error" and "not JSON" in reply["error"] and reply["data"] == "OK not json"
    assert parse_reply(b"\xff\xfe" + b"z" * 500)["data"].endswith("z")  # undecodable bytes: replaced, clipped
    assert len(parse_reply(b"z" * 5000)["data"]) == 200


@settings(max_examples=200, deadline=None)
@given(st.binary(max_size=300))
def test_parse_reply_never_raises(frame: bytes) -> None:
    reply = parse_reply(frame)
    assert isinstance(reply, dict)


# --- health_reply ------------------------------------------------------------------------------------

REQUIRED = {"redis", "ready_key"}


def _reply(initialized: bool, *checks: Check, required: set[str] = REQUIRED) -> dict[str, object]:
    return health_reply("Agent", time.time() - 2.0, initialized, list(checks), required, threads=3)


def test_health_ok_when_every_required_check_passes() -> None:
    reply = _reply(True, Check("redis", True, "reachable"), Check("ready_key", True, "present"))
    assert reply["status"] == "ok" and reply["health_status"] == "healthy" and reply["ready"] is True
    assert reply["initialized"] is True and reply["message"] == "all checks pass"
    assert reply["health_checks"] == {"redis": True, "ready_key": True}
    assert reply["health_details"] == {"redis": "reachable", "ready_key": "present"}
    assert reply["agent"] == "Agent" and reply["active_threads"] == 3
    assert isinstance(reply["uptime"], float) and 1.5 < reply["uptime"] < 30
    assert isinstance(reply["timestamp"], str) and "T" in reply["timestamp"]


def test_health_degraded_names_the_failing_required_checks() -> None:
    reply = _reply(True, Check("redis", False, "unreachable at 127.0.0.1:6379"),
                   Check("ready_key", False, "agent:ready:Agent missing"), Check("dependency:X", True, "answers"))
    assert reply["status"] == "degraded" and reply["health_status"] == "degraded" and reply["ready"] is False
    assert "redis: unreachable at 127.0.0.1:6379" in str(reply["message"])
    assert "ready_key: agent:ready:Agent missing" in str(reply["message"])
    assert "dependency:X" not in str(reply["message"])
    assert reply["health_checks"] == {"redis": False, "ready_key": False, "dependency:X": True}


def test_health_unknown_before_initialisation() -> None:
    reply = _reply(False, Check("redis", True, "reachable"), Check("ready_key", True, "present"))
    assert reply["status"] == "degraded" and reply["health_status"] == "unknown"
    assert reply["ready"] is False and reply["initialized"] is False and reply["message"] == "initialising"
    assert _reply(False)["health_status"] == "unknown"


def test_optional_failing_checks_do_not_degrade() -> None:
    reply = _reply(True, Check("redis", True, "ok"), Check("ready_key", True, "ok"),
                   Check("dependency:Optional", False, "no reply within 0.5 s"), Check("store", False, "not open"))
    assert reply["status"] == "ok" and reply["health_status"] == "healthy"
    assert reply["message"] == "optional checks failing: dependency:Optional, store"
    assert reply["health_checks"]["dependency:Optional"] is False  # type: ignore[index]


def test_a_required_check_that_has_not_reported_is_failing() -> None:
    """BUG (protocol.health_reply): only checks that have reported are judged, so an initialised agent whose
    readiness loop has not run yet (no checks at all) answers 'ok'. 'ok only when every required check
    passes': a required check with no result has not passed."""
    reply = _reply(True)
    assert reply["status"] == "degraded" and reply["ready"] is False
    assert "redis" in str(reply["message"]) and "ready_key" in str(reply["message"])
    partial = _reply(True, Check("redis", True, "reachable"))
    assert partial["status"] == "degraded" and "ready_key" in str(partial["message"])


@settings(max_examples=200, deadline=None)
@given(st.booleans(), st.lists(st.tuples(st.sampled_from(["redis", "ready_key", "dependency:A", "store", "x"]),
                                         st.booleans()), max_size=6, unique_by=lambda t: t[0]),
       st.sets(st.sampled_from(["redis", "ready_key", "dependency:A", "store", "x"])))
def test_health_status_rule(initialized: bool, raw: list[tuple[str, bool]], required: set[str]) -> None:
    checks = [Check(name, ok, f"{name} detail") for name, ok in raw]
    reply = health_reply("A", time.time(), initialized, checks, required)
    passing = {c.name for c in checks if c.ok}
    expected = "ok" if initialized and required <= passing else "degraded"
    assert reply["status"] == expected
    assert reply["ready"] is (expected == "ok")
    if initialized:
        for check in checks:
            if check.name in required and not check.ok:
                assert f"{check.name}: {check.detail}" in reply["message"]
    json.dumps(reply)  # always serialisable
