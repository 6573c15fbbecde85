"""Bad input: hypothesis throws garbage at every agent of the in-process group (conftest.py).

The contract, whatever arrives:
* every ZeroMQ request on a main socket gets a JSON object reply with status "success" or "error"
  (a health verb: the health reply), within 2 s: never silence, never a dead agent;
* every HTTP request to the gateway (and the hub) gets 2xx or 4xx; 5xx only 502/503 (an upstream
  that cannot answer), never 500;
* afterwards every agent still answers ``ping`` and reports health ok.
"""

from __future__ import annotations

import json
import math
import time
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from standin_support import AGENTS, Lab, check_zmq_reply, http_raw, http_request, parse_response, zmq_request

from aisys_verify.standin import protocol

pytestmark = pytest.mark.integration  # real sockets, a real redis-server

NAMES = [name for name, *_ in AGENTS]
FUZZ = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                                      HealthCheck.function_scoped_fixture])

# every field name some handler reads, the envelope's own, and a few that collide with Python parameters
FIELDS = ["text", "message", "session_id", "memory_id", "query", "limit", "content", "kind", "agent_name", "intent",
          "entities", "facts", "input", "payload", "tts", "event", "error", "metrics", "user", "response", "host",
          "port", "health_check_port", "capabilities", "request_id", "source_agent", "timestamp", "traceparent",
          "tracestate", "policy", "health", "target", "fields", "action"]

_SCALARS = st.one_of(
    st.none(), st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([10**4000, -(10**4000), -1, 0, 2**63, -(2**31)]),  # huge (4001 digits) and edge ints
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=40),
    st.sampled_from(["", " ", "\x00", "a\x00b", "\ud800", "x\udfffy", "😀" * 50, "\u202e", "%s%n", "' OR 1=1 --",
                     "../../etc/passwd", "00-" + "a" * 32 + "-" + "b" * 16 + "-01", "00-zz-zz-zz", "x" * 20_000,
                     "My name is Ada", "what is my name?", "why?", "7" * 5000]),
)
VALUES = st.recursive(_SCALARS, lambda kids: st.lists(kids, max_size=4) | st.dictionaries(
    st.text(max_size=8) | st.sampled_from(FIELDS), kids, max_size=4), max_leaves=10)


def _encode(message: dict[str, Any]) -> bytes:
    """Python's json writes NaN/Infinity and lone surrogates as escapes: what a sloppy client sends."""
    return json.dumps(message).encode()


def assert_all_alive(lab: Lab) -> None:
    for name in NAMES:
        raw = zmq_request(lab.zmq, lab.main(name), b'{"action": "ping"}', timeout=2.0)
        reply = check_zmq_reply(raw, f"ping to {name} after fuzzing", health=True)
        assert reply["agent"] == name
    lab.wait_healthy(timeout=10.0)


# --- ZeroMQ main sockets ---------------------------------------------------------------------------------


def test_garbage_frames(lab: Lab) -> None:
    @settings(FUZZ, max_examples=150)
    @given(name=st.sampled_from(NAMES), frame=st.one_of(
        st.binary(max_size=300),
        st.text(max_size=100).map(lambda t: t.encode("utf-8", "surrogatepass")),
        st.recursive(_SCALARS, lambda kids: st.lists(kids, max_size=3), max_leaves=6).map(_encode),  # non-objects
        st.dictionaries(st.sampled_from(["command", "verb", "Action", "request"]), _SCALARS).map(_encode),
        st.sampled_from([b"{", b"}", b"[]", b"{}", b'{"action": null}', b'{"action": ""}', b'{"action": 1}',
                         b'{"action": ["ping"]}', b"\xef\xbb\xbf{}", b"\x00" * 64, b"null", b"NaN"]),
    ))
    def fuzz(name: str, frame: bytes) -> None:
        reply = check_zmq_reply(zmq_request(lab.zmq, lab.main(name), frame), f"{name}: {frame[:80]!r}")
        assert reply["status"] == "error", f"{name} accepted {frame[:80]!r}: {str(reply)[:200]}"
        assert reply["error_code"] in ("not_json", "bad_request", "too_large")

    fuzz()
    assert_all_alive(lab)


def test_unknown_actions(lab: Lab) -> None:
    @settings(FUZZ, max_examples=100)
    @given(name=st.sampled_from(NAMES), action=st.text(min_size=1, max_size=60), extra=st.dictionaries(
        st.sampled_from(FIELDS), VALUES, max_size=3))
    def fuzz(name: str, action: str, extra: dict[str, Any]) -> None:
        known = set(lab.agent(name).role.actions) | protocol.HEALTH_ACTIONS
        frame = _encode({**extra, "action": action})
        reply = check_zmq_reply(zmq_request(lab.zmq, lab.main(name), frame), f"{name}: {frame[:80]!r}",
                                health=action in protocol.HEALTH_ACTIONS)
        if action not in known and reply["status"] == "error":
            assert reply["error_code"] in ("unknown_action", "bad_request"), reply

    fuzz()
    assert_all_alive(lab)


def test_multipart_and_oversized_frames(lab: Lab) -> None:
    """REQ multipart (the last frame is the request) and frames over MAX_MESSAGE_BYTES (too_large)."""
    for name in ("Worker", "MemoryOrchestratorService", "UnifiedWebAgent"):
        raw = zmq_request(lab.zmq, lab.main(name), [b"junk", b'{"action": "ping"}'])
        assert check_zmq_reply(raw, f"multipart to {name}", health=True)["status"] == "ok"
        for size in (protocol.MAX_MESSAGE_BYTES + 1, 3 * protocol.MAX_MESSAGE_BYTES):
            frame = b'{"action": "work", "payload": "' + b"y" * size + b'"}'
            reply = check_zmq_reply(zmq_request(lab.zmq, lab.main(name), frame, timeout=5.0), f"{size} B to {name}")
            assert reply["error_code"] == "too_large"
    assert_all_alive(lab)


def test_known_actions_with_wrong_types(lab: Lab) -> None:
    @settings(FUZZ, max_examples=300)
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        name = data.draw(st.sampled_from(NAMES), label="agent")
        actions = sorted(set(lab.agent(name).role.actions) | protocol.HEALTH_ACTIONS)
        action = data.draw(st.sampled_from(actions), label="action")
        fields = data.draw(st.dictionaries(st.sampled_from(FIELDS), VALUES, max_size=6), label="fields")
        fields.pop("action", None)
        message = {"action": action, "source_agent": "fuzz", "request_id": "fuzz-1", "timestamp": time.time(),
                   **fields}
        raw_unicode = data.draw(st.booleans(), label="raw UTF-8 (surrogates as bytes)")
        try:
            frame = (json.dumps(message, ensure_ascii=False).encode("utf-8", "surrogatepass") if raw_unicode
                     else _encode(message))
        except ValueError:  # an int over Python's digit limit inside a container: not sendable as JSON
            return
        started = time.monotonic()
        raw = zmq_request(lab.zmq, lab.main(name), frame, timeout=2.0)
        reply = check_zmq_reply(raw, f"{name}.{action} with {str(fields)[:200]}",
                                health=action in protocol.HEALTH_ACTIONS)
        assert time.monotonic() - started < 2.0
        if reply["status"] == "error":
            assert isinstance(reply.get("error_code"), str), reply
            # 'internal' is what dispatch answers when a handler raised: a role bug, never the client's fault
            assert reply["error_code"] != "internal", f"{name}.{action} crashed on {str(fields)[:300]}: {reply}"

    fuzz()
    assert_all_alive(lab)


def test_health_sockets_answer_anything(lab: Lab) -> None:
    @settings(FUZZ, max_examples=60)
    @given(name=st.sampled_from(NAMES), frame=st.binary(max_size=200))
    def fuzz(name: str, frame: bytes) -> None:
        reply = check_zmq_reply(zmq_request(lab.zmq, lab.health_port(name), frame), f"health {name}", health=True)
        assert reply["agent"] == name

    fuzz()
    assert_all_alive(lab)


# --- HTTP: the gateway's API and the hub's routes --------------------------------------------------------

GATEWAY_ROUTES = [("POST", "/dialogue/process"), ("POST", "/memory/store"), ("GET", "/services/list"),
                  ("GET", "/memory/abc"), ("GET", "/memory/"), ("GET", "/memory/a/b"), ("PUT", "/dialogue/process"),
                  ("DELETE", "/memory/store"), ("GET", "/health"), ("GET", "/metrics"), ("POST", "/health"),
                  ("GET", "/nope"), ("POST", "/dialogue/process?x=1&&y"), ("GET", "/memory/%00")]
HUB_ROUTES = [("POST", "/ingest"), ("POST", "/sync_from_pc2"), ("GET", "/health_summary"), ("POST", "/health_summary")]


def _allowed(status: int) -> bool:
    return 200 <= status < 300 or 400 <= status < 500 or status in (502, 503)


def _json_body(data: st.DataObject) -> bytes:
    kind = data.draw(st.sampled_from(["object", "value", "bytes", "empty"]), label="body kind")
    if kind == "object":
        obj = data.draw(st.dictionaries(st.sampled_from(["text", "message", "session_id", "tts", "content", "host",
                                                         "summary", "x"]), VALUES, max_size=4), label="body")
        try:
            return json.dumps(obj).encode()
        except ValueError:
            return b"{}"
    if kind == "value":
        try:
            return json.dumps(data.draw(VALUES, label="body")).encode()
        except ValueError:
            return b"[]"
    if kind == "bytes":
        return data.draw(st.binary(max_size=200), label="body")
    return b""


def test_gateway_http_bodies(lab: Lab) -> None:
    port = lab.http("UnifiedWebAgent")

    @settings(FUZZ, max_examples=200)
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        method, path = data.draw(st.sampled_from(GATEWAY_ROUTES), label="route")
        body = _json_body(data)
        status, payload = http_request(port, method, path, body, timeout=10.0)
        assert _allowed(status), f"{method} {path} {body[:120]!r} -> {status} {payload[:200]!r}"
        if path.split("?")[0] in ("/dialogue/process", "/memory/store") or path.startswith("/memory/"):
            assert isinstance(json.loads(payload), dict)

    fuzz()
    assert_all_alive(lab)


def test_gateway_dialogue_text_values(lab: Lab) -> None:
    """The one route that fans out: the turn goes through the coordinator, NLU, chitchat, memory, TTS."""
    port = lab.http("UnifiedWebAgent")

    @settings(FUZZ, max_examples=80)
    @given(text=st.one_of(st.text(min_size=1, max_size=300), _SCALARS), session=st.one_of(st.none(), _SCALARS),
           tts=st.sampled_from([None, True, False, "yes"]))
    def fuzz(text: Any, session: Any, tts: Any) -> None:
        body: dict[str, Any] = {"text": text}
        if session is not None:
            body["session_id"] = session
        if tts is not None:
            body["tts"] = tts
        try:
            raw = json.dumps(body).encode()
        except ValueError:
            return
        status, payload = http_request(port, "POST", "/dialogue/process", raw, timeout=10.0)
        assert _allowed(status), f"{str(body)[:200]} -> {status} {payload[:300]!r}"
        reply = json.loads(payload)
        if status == 200:
            assert isinstance(reply["response"], str) and reply["status"] == "ok"
            assert not (isinstance(reply.get("confidence"), float) and math.isnan(reply["confidence"]))

    fuzz()
    assert_all_alive(lab)


def test_hub_http_bodies(lab: Lab) -> None:
    port = lab.http("ObservabilityHub")

    @settings(FUZZ, max_examples=60)
    @given(data=st.data())
    def fuzz(data: st.DataObject) -> None:
        method, path = data.draw(st.sampled_from(HUB_ROUTES), label="route")
        status, payload = http_request(port, method, path, _json_body(data))
        assert _allowed(status), f"{method} {path} -> {status} {payload[:200]!r}"

    fuzz()
    status, payload = http_request(port, "GET", "/health_summary")
    assert status == 200 and isinstance(json.loads(payload), dict)  # whatever was ingested, it still renders
    assert_all_alive(lab)


def test_raw_http_garbage(lab: Lab) -> None:
    ports = [lab.http("UnifiedWebAgent"), lab.http("ObservabilityHub"), lab.http("Worker")]

    @settings(FUZZ, max_examples=80)
    @given(port=st.sampled_from(ports), data=st.binary(max_size=300))
    def fuzz(port: int, data: bytes) -> None:
        raw = http_raw(port, data, timeout=3.0)
        if raw:
            status = parse_response(raw)[0]
            assert _allowed(status), f"{data[:100]!r} -> {status}"

    fuzz()
    for port in ports:
        assert http_request(port, "GET", "/health")[0] == 200
    assert_all_alive(lab)
