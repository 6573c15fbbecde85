"""The real agents' wire protocol (TOPOLOGY.md §4), for stand-ins and for suites talking to real agents.

* Requests are JSON objects ``{"action": ..., "source_agent", "request_id", "timestamp", ...}``
  on a ZeroMQ REQ/REP socket; replies are JSON objects with ``status`` "success" or "error".
* The health socket answers any message (JSON ``{"action": "health_check"}`` or plain text)
  with the health reply; the main socket answers ``ping``, ``health`` and ``health_check`` too.
* W3C trace context travels in the envelope as ``traceparent`` (and ``tracestate``).

Parsing never raises on bad input: a bad frame becomes an error reply.

Two dialects (``aisys_verify.standin.profile``): the ideal one (``envelope``, ``parse_request``,
``error`` with an ``error_code``, ``health_reply``) and the real agents' as PROTOCOL.md measures
it (``reference_envelope`` with an ISO timestamp, ``parse_reference_request`` with the real
error strings, ``reference_error`` without a code, ``reference_health_reply``).
"""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from aisys_verify.errors import InvalidUtf8 as InvalidUtf8
from aisys_verify.errors import ProtocolError as ProtocolError

MAX_MESSAGE_BYTES = 1 << 20  # larger requests get an error reply instead of being parsed
MAX_DEPTH = 64  # deeper JSON is refused: replies that echo it must stay parseable by any client
HEALTH_ACTIONS = frozenset({"ping", "health", "health_check"})


@dataclass(frozen=True)
class Request:
    action: str
    body: dict[str, Any]

    @property
    def request_id(self) -> str:
        return str(self.body.get("request_id") or "")

    @property
    def source(self) -> str:
        return str(self.body.get("source_agent") or "")

    @property
    def traceparent(self) -> str | None:
        value = self.body.get("traceparent")
        return value if isinstance(value, str) else None


def envelope(action: str, source_agent: str, fields: Mapping[str, Any] | None = None, **more: Any) -> dict[str, Any]:
    """A request as the real BaseAgent sends it: the action, who asks, a request id and a timestamp.

    Payload fields come as a mapping or keywords; the envelope's own keys always win.
    """
    return {**(fields or {}), **more, "action": action, "source_agent": source_agent,
            "request_id": str(uuid.uuid4()), "timestamp": time.time()}


def iso_timestamp() -> str:
    """The real agents' timestamp: ``datetime.now().isoformat()``, local time without a zone (PROTOCOL.md §1)."""
    return datetime.now().isoformat()


def reference_envelope(action: str, source_agent: str, fields: Mapping[str, Any] | None = None,
                       **more: Any) -> dict[str, Any]:
    """``envelope`` as the real callers build it: the same keys, the timestamp an ISO-8601 string."""
    return {**envelope(action, source_agent, fields, **more), "timestamp": iso_timestamp()}


def encode(message: dict[str, Any]) -> bytes:
    """JSON bytes; a message that cannot be encoded becomes an error reply, never an exception."""
    try:
        return json.dumps(message, separators=(",", ":"), default=str).encode()
    except (ValueError, TypeError, RecursionError) as exc:
        return json.dumps({"status": "error", "error": f"reply could not be encoded: {type(exc).__name__}",
                           "error_code": "internal"}).encode()


def parse_request(frame: bytes) -> Request:
    """A request from one frame; raises ProtocolError for anything that is not a JSON object with an action."""
    if len(frame) > MAX_MESSAGE_BYTES:
        raise ProtocolError(f"message of {len(frame)} bytes exceeds the {MAX_MESSAGE_BYTES}-byte limit", "too_large")
    try:
        body = json.loads(frame)
    except (UnicodeDecodeError, ValueError):
        raise ProtocolError("request is not JSON: send a JSON object with an 'action'", "not_json") from None
    except RecursionError:  # [[[[...]]]] nested deeper than the parser's stack
        raise ProtocolError("request JSON is nested too deeply", "bad_request") from None
    if not isinstance(body, dict):
        raise ProtocolError(f"request must be a JSON object, got {type(body).__name__}", "bad_request")
    if _depth(body) > MAX_DEPTH:
        raise ProtocolError(f"request JSON is nested deeper than {MAX_DEPTH} levels", "bad_request")
    if _has_lone_surrogate(body):  # from \\ud800 escapes, raw CESU bytes or UTF-16/32 frames alike
        raise ProtocolError("request contains invalid Unicode (a lone surrogate escape such as \\ud800)",
                            "bad_request")
    action = body.get("action")
    if not isinstance(action, str) or not action:
        raise ProtocolError("request has no 'action' string", "bad_request")
    return Request(action, body)


def _depth(value: Any) -> int:
    """Nesting depth of decoded JSON, iteratively (no recursion on hostile input)."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, level = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, level)
            if level <= MAX_DEPTH:
                stack.extend((child, level + 1) for child in (item.values() if isinstance(item, dict) else item))
    return deepest


def _has_lone_surrogate(value: Any) -> bool:
    """True when a decoded string holds a lone UTF-16 surrogate, which no store or UTF-8 encoder accepts."""
    if isinstance(value, str):
        try:
            value.encode("utf-8")
        except UnicodeEncodeError:
            return True
        return False
    if isinstance(value, dict):
        return any(_has_lone_surrogate(k) or _has_lone_surrogate(v) for k, v in value.items())
    if isinstance(value, list):
        return any(_has_lone_surrogate(v) for v in value)
    return False


def parse_reply(frame: bytes) -> dict[str, Any]:
    """A reply as the real BaseAgent reads it: a non-object reply becomes ``{"status": "success", "data": ...}``."""
    try:
        body = json.loads(frame)
    except (UnicodeDecodeError, ValueError, RecursionError):
        return {"status": "error", "error": "reply is not JSON", "data": frame[:200].decode("utf-8", "replace")}
    return body if isinstance(body, dict) else {"status": "success", "data": body}


def success(**fields: Any) -> dict[str, Any]:
    return {"status": "success", **fields}


def error(message: str, code: str = "error", **fields: Any) -> dict[str, Any]:
    return {"status": "error", "error": message, "error_code": code, **fields}


# --- the real agents' dialect (PROTOCOL.md §2) -------------------------------------------------

# The texts the real BaseAgent answers with; a role may replace some (the twin has its own, see
# AgentRuntime). '{kind}' is the Python type name of a JSON value that is not an object.
REFERENCE_ERRORS: dict[str, str] = {
    "invalid_utf8": "Invalid UTF-8 request",
    "not_json": "Invalid JSON request",
    "not_object": "'{kind}' object has no attribute 'get'",
    "unknown_action": "Unknown action: {action}",
}
TWIN_ERRORS: dict[str, str] = {**REFERENCE_ERRORS, "not_json": "Invalid JSON format.",
                               "not_object": "Invalid request format"}
# what Python calls each JSON value's type in the real agent's AttributeError
_PY_TYPE = {list: "list", str: "str", int: "int", float: "float", bool: "bool", type(None): "NoneType"}


def parse_reference_request(frame: bytes, texts: Mapping[str, str] = REFERENCE_ERRORS) -> Request:
    """A request read as the real BaseAgent reads it: decode, ``json.loads``, ``request.get("action")``.

    No size limit (a 1.5 MiB request is processed normally) and no depth limit beyond the parser's.
    ProtocolError carries the real text; its code only feeds the stand-in's own metrics.
    """
    try:
        text = frame.decode("utf-8")
    except UnicodeDecodeError:
        raise InvalidUtf8(texts["invalid_utf8"]) from None
    try:
        body = json.loads(text)
    except (ValueError, RecursionError):
        raise ProtocolError(texts["not_json"], "not_json") from None
    if not isinstance(body, dict):
        kind = _PY_TYPE.get(type(body), type(body).__name__)
        raise ProtocolError(texts["not_object"].format(kind=kind), "bad_request")
    if _has_lone_surrogate(body):  # the real agent would choke later, in a store or an encoder
        raise ProtocolError(texts["invalid_utf8"], "bad_request")
    action = body.get("action")
    if not isinstance(action, str) or not action:
        # the real lookup misses and the text shows the value as Python prints it ("None", "5")
        raise ProtocolError(texts["unknown_action"].format(action=action), "unknown_action")
    return Request(action, body)


def reference_error(message: str) -> dict[str, Any]:
    """The real error reply: no ``error_code`` field (PROTOCOL.md §2)."""
    return {"status": "error", "error": message}


def to_reference_reply(reply: dict[str, Any]) -> dict[str, Any]:
    """A reply as the real agents send it: no ``error_code`` and no ``request_id`` echo."""
    reply.pop("error_code", None)
    reply.pop("request_id", None)
    return reply


def reference_health_reply(agent: str, started: float, *, initialized: bool, port: int, redis_host: str,
                           port_accessible: bool, redis_connected: bool, ready_signal: Mapping[str, Any] | None,
                           problems: list[str], threads: int = 1, contradictory: bool = False) -> dict[str, Any]:
    """The real BaseAgent's health reply (PROTOCOL.md §2), without its defect unless ``contradictory``.

    ``ready_signal`` is the readiness record read back from Redis (None: the key is missing);
    ``problems`` are further reasons for 'degraded' (a required dependency not answering).
    ``contradictory`` reproduces the real twin: degraded, ready true, "is healthy", whatever holds.
    """
    checks = {"port_accessible": port_accessible, "redis_connected": redis_connected,
              "ready_signal": ready_signal is not None}
    why = [*(f"{name} failing" for name, ok in checks.items() if not ok), *problems]
    if not initialized:
        why.insert(0, "not initialised")
    status = "degraded" if why else "ok"
    message = f"{agent} is healthy" if not why else f"{agent} is degraded: {'; '.join(why)}"
    ready = status == "ok"
    if contradictory:
        status, ready, message = "degraded", True, f"{agent} is healthy"
    signal = dict(ready_signal) if ready_signal is not None else {
        "status": "missing", "timestamp": None, "port": port, "details": {}}
    return {
        "status": status, "ready": ready, "initialized": initialized, "message": message,
        "timestamp": iso_timestamp(), "uptime": time.time() - started, "active_threads": threads,
        "health_checks": checks,
        "health_details": {"port": port, "redis_host": redis_host, "ready_signal": signal},
    }


def ready_record(port: int, details: Mapping[str, Any]) -> dict[str, Any]:
    """The value BaseAgent writes to ``agent:ready:<Name>`` (PROTOCOL.md §5): port = the port bound."""
    return {"status": "ready", "timestamp": iso_timestamp(), "port": port, "details": dict(details)}


def iso_now() -> str:
    return datetime.now(UTC).isoformat()


@dataclass(frozen=True)
class HealthCheck:
    name: str
    ok: bool
    detail: str


def health_reply(agent: str, started: float, initialized: bool, checks: list[HealthCheck],
                 required: set[str], threads: int = 1) -> dict[str, Any]:
    """The real health reply: ``status`` ok only when every required check passes, else degraded."""
    reported = {c.name for c in checks}
    # a required check that has not run yet counts as failing: no 'ok' before the first real check
    checks = [*checks, *(HealthCheck(name, False, "not checked yet") for name in sorted(required - reported))]
    failing = [c for c in checks if not c.ok]
    required_failing = [c for c in failing if c.name in required]
    if not initialized:
        status, health_status, message = "degraded", "unknown", "initialising"
    elif required_failing:
        status, health_status = "degraded", "degraded"
        message = "; ".join(f"{c.name}: {c.detail}" for c in required_failing)
    else:
        status, health_status = "ok", "healthy"
        message = "all checks pass" if not failing else "optional checks failing: " + ", ".join(c.name for c in failing)
    return {
        "status": status, "agent": agent, "ready": status == "ok", "initialized": initialized,
        "message": message, "timestamp": iso_now(), "uptime": round(time.time() - started, 3),
        "active_threads": threads, "health_status": health_status,
        "health_checks": {c.name: c.ok for c in checks},
        "health_details": {c.name: c.detail for c in checks},
    }
