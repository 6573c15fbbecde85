"""The unified health probe: HTTP and ZeroMQ targets, one JSON line each, an exit code.

A target is ``http://host:port/path`` (GET) or ``zmq://host:port`` / ``tcp://host:port`` (a
``{"action": "health_check"}`` request to an agent's health socket). Both are read by
``aisys_verify.health``, whichever reply shape the agent speaks (ideal or the real agents'): HTTP is
judged by the body as well as the code, so a 200 whose body says ``degraded`` is ``degraded``, never
``up`` (the real agents answer 200 while degraded, PROTOCOL.md §1; the real probe script counts that as
up). Usable as a container HEALTHCHECK (exit 0 only when every target is up), and it can push each
result to the observability hub's ``/ingest``.
"""

from __future__ import annotations

import json
import time
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from typing import Protocol
from urllib.parse import urlsplit

from aisys_verify import health as _health
from aisys_verify.errors import UsageError
from aisys_verify.health import DEGRADED, DOWN, UP
from aisys_verify.httpjson import JSON_HEADERS, http_direct, http_raw

__all__ = ["DEGRADED", "DOWN", "UP", "ProbeResult", "all_healthy", "http_health", "parse_target", "probe", "push",
           "still_answering"]


@dataclass(frozen=True)
class ProbeResult:
    target: str
    kind: str  # http | zmq
    status: str  # up | degraded | down
    latency_ms: float
    timestamp: float
    health: str | None = None  # the agent's own status word (ok, degraded, ...)
    http_status: int | None = None
    error: str | None = None

    def line(self) -> str:
        return json.dumps({k: v for k, v in asdict(self).items() if v is not None})


def parse_target(target: str) -> tuple[str, str, int, str]:
    """(kind, host, port, path) of a target, or UsageError saying what forms are accepted."""
    parts = urlsplit(target)
    kind = {"http": "http", "https": "http", "zmq": "zmq", "tcp": "zmq"}.get(parts.scheme)
    if kind is None or not parts.hostname:
        raise UsageError(f"bad probe target {target!r}: use http://HOST:PORT/PATH or zmq://HOST:PORT")
    try:
        port = parts.port
    except ValueError:
        port = None
    if port is None:
        raise UsageError(f"bad probe target {target!r}: it needs a port")
    return kind, parts.hostname, port, parts.path or "/health"


def probe(target: str, timeout: float = 5.0) -> ProbeResult:
    kind, host, port, _path = parse_target(target)
    started = time.perf_counter()
    stamp = time.time()
    try:
        if kind == "http":
            reading = _http(target, timeout)
            return ProbeResult(target, kind, reading.state, _ms(started), stamp, reading.word, reading.http_status,
                               _why(reading))
        reading = _zmq(host, port, timeout)
        return ProbeResult(target, kind, reading.state, _ms(started), stamp, reading.word, None, _why(reading))
    except (OSError, ValueError) as exc:  # e.g. a non-HTTP listener (httpjson.HttpNoReply, an OSError)
        return ProbeResult(target, kind, DOWN, _ms(started), stamp, error=(str(exc) or type(exc).__name__)[:256])


def _why(reading: _health.HealthReading) -> str | None:
    """The error field of a result: only for a target that is not up (an up line stays as it was)."""
    if reading.up:
        return None
    return (reading.message or f"health status {reading.word!r}")[:256]


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _http(url: str, timeout: float) -> _health.HealthReading:
    reply = http_raw("GET", url, timeout=timeout)  # 503 from a degraded agent still carries its health reply
    return _health.read_http(reply.status, reply.body)


def _zmq(host: str, port: int, timeout: float) -> _health.HealthReading:
    from aisys_verify.standin.client import HEALTH_CHECK, request_once

    return _health.read_reply(request_once(f"tcp://{host}:{port}", HEALTH_CHECK, timeout))


def push(result: ProbeResult, url: str, timeout: float = 2.0) -> str | None:
    """Best effort: POST the result to the hub; returns an error text instead of raising."""
    try:
        return http_raw("POST", url, result.line().encode(), timeout=timeout, headers=JSON_HEADERS).status_error()
    except OSError as exc:
        return str(exc)


def http_health(address: str, port: int, timeout: float = 0.5) -> tuple[str, str]:
    """An agent's HTTP /health as (``ok`` | ``degraded`` | ``down``, message), judged by the body as well as
    the code through ``aisys_verify.health`` (a 200 whose body says degraded is ``degraded``)."""
    reading = _health.http_health(address, port, timeout)
    return reading.word_or_state, reading.message


def speaks_http(address: str, port: int, timeout: float = 0.5) -> bool:
    """Whether an HTTP server answers on address:port (any status): the real ObservabilityHub serves HTTP on
    its configured port where other agents have a ZeroMQ main socket (PROTOCOL.md §5), so a client must not
    send it ZeroMQ requests. A ZeroMQ socket drops the connection at the first bytes: False."""
    try:
        http_direct(address, port, "/health", timeout=timeout)
        return True
    except OSError:
        return False


class Reachable(Protocol):
    """What the checks below need of an agent's endpoint (``stack.AgentEndpoint`` has it)."""

    @property
    def host(self) -> str: ...
    @property
    def agent(self) -> str: ...
    @property
    def address(self) -> str: ...
    @property
    def http_port(self) -> int: ...
    @property
    def health_url(self) -> str: ...


def all_healthy(endpoints: Sequence[Reachable]) -> bool:
    """Every agent's HTTP /health reads up (by the body as well as the code: a 200 saying degraded is not)."""
    return all(_health.http_health(ep.address, ep.http_port).up for ep in endpoints)


def still_answering(endpoints: Sequence[Reachable], timeout: float = 0.3) -> list[str]:
    """The agents (host/name) that still answer a health check; empty when every one is silent."""
    from aisys_verify.standin.client import HEALTH_CHECK, request_once

    def answers(ep: Reachable) -> bool:
        try:
            request_once(ep.health_url, HEALTH_CHECK, timeout)
            return True
        except TimeoutError:
            return False

    with ThreadPoolExecutor(max_workers=min(16, max(1, len(endpoints)))) as pool:  # one timeout, not one per agent
        replies = list(pool.map(answers, endpoints))
    return [f"{ep.host}/{ep.agent}" for ep, up in zip(endpoints, replies) if up]
