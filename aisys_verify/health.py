"""Reading an agent's health the same way whatever protocol it speaks: one reader for every client.

Two reply shapes exist (PROTOCOL.md §2): the stand-ins' ideal one (``agent``, ``health_status``,
named checks with their details) and the real agents' (no ``agent`` field, ``health_checks`` =
``{port_accessible, redis_connected, ready_signal}``, nested ``health_details``). Both carry
``status`` (ok / degraded / error) and ``ready``. This module turns either into a HealthReading,
and judges HTTP health by the body as well as the status code: HTTP 200 with a body that says
``degraded`` is degraded, never up (the real agents answer 200 while degraded).

Words: ``up`` (status ok), ``degraded`` (the agent answers and says it is not fully well),
``down`` (no usable answer). ``contradictions`` lists fields that disagree with each other
(status degraded with ready true, "is healthy" while degraded, ...): a conformance finding.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aisys_verify.errors import HttpNoReply, InvalidValue

UP, DEGRADED, DOWN = "up", "degraded", "down"
OK_WORDS = frozenset({"ok", "healthy", "up", "success"})
DEGRADED_WORDS = frozenset({"degraded", "warning", "unhealthy", "not_ready", "initialising", "initializing"})

# HTTP health policies (documented in docs/conformance.md):
#   status: degradation must show in the status code (non-2xx), as load balancers and container
#           HEALTHCHECKs only see the code; 200 with a degraded body is a defect (http_health_always_200)
#   body:   a 2xx whose body says degraded is acceptable; readers must look at the body (ours do)
HTTP_POLICIES = ("status", "body")


@dataclass(frozen=True)
class HealthReading:
    state: str  # up | degraded | down
    word: str | None  # the agent's own status word (ok, degraded, error, ...), None when there is none
    ready: bool | None
    message: str
    checks: Mapping[str, bool] = field(default_factory=dict)
    agent: str | None = None  # the agent's name where the reply carries it (ideal shape: 'agent'; real: message)
    contradictions: tuple[str, ...] = ()
    http_status: int | None = None

    @property
    def up(self) -> bool:
        return self.state == UP

    @property
    def answering(self) -> bool:
        """The agent answered with a health reply at all (up or degraded): it is alive and listening."""
        return self.state != DOWN

    @property
    def word_or_state(self) -> str:
        """``ok`` / ``degraded`` / ``down`` as the framework's callers compare it: the state, in the ideal
        profile's words (a 200 whose body says degraded is ``degraded`` here, whatever the code said)."""
        return {UP: "ok", DEGRADED: "degraded"}.get(self.state, "down")

    def shown(self) -> str:
        """One line for progress and failure messages: state, the agent's word, HTTP code, message."""
        parts = [self.state]
        if self.word and self.word != self.word_or_state:
            parts.append(f"(says {self.word!r})")
        if self.http_status is not None:
            parts.append(f"HTTP {self.http_status}")
        return " ".join(parts) + (f": {self.message}" if self.message else "")


def read_reply(reply: Mapping[str, Any] | Any, http_status: int | None = None) -> HealthReading:
    """A health reply of either shape as a HealthReading; anything that is not a mapping is ``down``."""
    if not isinstance(reply, Mapping):
        return HealthReading(DOWN, None, None, f"health reply is not a JSON object: {str(reply)[:120]}",
                             http_status=http_status)
    raw = reply.get("status")
    word = str(raw).strip().lower() if raw is not None else None
    ready = reply.get("ready") if isinstance(reply.get("ready"), bool) else None
    message = str(reply.get("message") or reply.get("error") or "")
    checks = _checks(reply.get("health_checks"))
    if word in OK_WORDS:
        state = UP
    elif word in DEGRADED_WORDS or (word == "error" and reply.get("health_checks") is not None):
        state = DEGRADED  # a health reply saying error still came from a live agent
    else:
        state = DOWN
    return HealthReading(state, word, ready, message, checks, _agent_name(reply), _contradictions(word, ready, message,
                                                                                                   checks),
                         http_status)


def read_http(status_code: int, body: bytes | str) -> HealthReading:
    """HTTP health judged by the body as well as the code: 2xx + 'degraded' body is degraded; 5xx + a
    health body is what the body says (a 503 from a degraded agent); no JSON body: up on 2xx, else down."""
    try:
        parsed = json.loads(body) if body else None
    except (ValueError, RecursionError):
        parsed = None
    if isinstance(parsed, Mapping) and "status" in parsed:
        reading = read_reply(parsed, status_code)
        if not 200 <= status_code < 300 and reading.state == UP:  # 5xx with a body saying ok: trust the code
            return HealthReading(DEGRADED, reading.word, reading.ready, f"HTTP {status_code} while the body says "
                                 f"{reading.word}", reading.checks, reading.agent,
                                 (*reading.contradictions, f"HTTP {status_code} with status {reading.word}"),
                                 status_code)
        return reading
    state = UP if 200 <= status_code < 300 else DOWN
    return HealthReading(state, None, None, f"HTTP {status_code}", http_status=status_code)


def zmq_health(url: str, timeout: float = 1.0) -> HealthReading:
    """One health request on a ZeroMQ health (or main) socket, read; ``down`` when no reply comes."""
    from aisys_verify.standin.client import HEALTH_CHECK, request_once

    try:
        reply = request_once(url, HEALTH_CHECK, timeout)
    except TimeoutError as exc:
        return HealthReading(DOWN, None, None, str(exc))
    except Exception as exc:  # a bad url or a closed context: still a reading, never a crash of the caller
        return HealthReading(DOWN, None, None, f"{type(exc).__name__}: {exc}")
    return read_reply(reply)


def http_health(address: str, port: int, timeout: float = 0.5, path: str = "/health") -> HealthReading:
    """GET an agent's HTTP health and read it by the body as well as the code (``read_http``);
    ``down`` with the reason when nothing (or not HTTP) answers."""
    from aisys_verify.httpjson import http_direct

    try:
        reply = http_direct(address, port, path, timeout=timeout)
    except (OSError, ValueError) as exc:
        kind = exc.kind if isinstance(exc, HttpNoReply) else type(exc).__name__  # http.client's class, as before
        return HealthReading(DOWN, None, None, f"{kind}: {exc}")
    return read_http(reply.status, reply.body)


def http_policy_violation(reading: HealthReading, policy: str = "status") -> str | None:
    """Why an HTTP health answer breaks ``policy`` (see HTTP_POLICIES), or None."""
    if policy not in HTTP_POLICIES:
        raise InvalidValue(f"unknown HTTP health policy {policy!r}: use one of {', '.join(HTTP_POLICIES)}")
    code = reading.http_status
    if policy == "status" and reading.state == DEGRADED and code is not None and 200 <= code < 300:
        return (f"HTTP {code} while the body says {reading.word!r}: an HTTP-level health check "
                "(load balancer, HEALTHCHECK) cannot see the degradation")
    return None


def _checks(value: Any) -> dict[str, bool]:
    if not isinstance(value, Mapping):
        return {}
    return {str(k): v for k, v in value.items() if isinstance(v, bool)}


def _agent_name(reply: Mapping[str, Any]) -> str | None:
    if isinstance(reply.get("agent"), str):
        return str(reply["agent"])
    message = reply.get("message")
    if isinstance(message, str) and message.endswith(" is healthy"):  # the real BaseAgent: "<Name> is healthy"
        return message[: -len(" is healthy")] or None
    return None


def _contradictions(word: str | None, ready: bool | None, message: str, checks: Mapping[str, bool]) -> tuple[str, ...]:
    found = []
    if word in OK_WORDS and ready is False:
        found.append(f"status {word!r} with ready false")
    if word in DEGRADED_WORDS and ready is True:
        found.append(f"status {word!r} with ready true")
    if word in DEGRADED_WORDS and message.endswith("is healthy"):
        found.append(f"status {word!r} with message {message!r}")
    if word in OK_WORDS and checks and ready is True and not all(checks.get(k, True) for k in _REQUIRED_REAL_CHECKS):
        failing = sorted(k for k in _REQUIRED_REAL_CHECKS if checks.get(k) is False)
        found.append(f"status {word!r} while check(s) {', '.join(failing)} fail")
    return tuple(found)


# the real reply's checks that must all hold for 'ok' (PROTOCOL.md §2); the ideal shape's optional checks may fail
_REQUIRED_REAL_CHECKS = ("port_accessible", "redis_connected", "ready_signal")
