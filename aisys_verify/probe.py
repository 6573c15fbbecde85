"""The unified health probe: HTTP and ZeroMQ targets, one JSON line each, an exit code.

A target is ``http://host:port/path`` (GET; up on 2xx) or ``zmq://host:port`` / ``tcp://host:port``
(a ``{"action": "health_check"}`` request to an agent's health socket; up when the reply says
``ok``, ``degraded`` when it says so). Usable as a container HEALTHCHECK (exit 0 only when every
target is up), and it can push each result to the observability hub's ``/ingest``.
"""

from __future__ import annotations

import http.client
import json
import time
import urllib.error
import urllib.request
from dataclasses import asdict, dataclass
from urllib.parse import urlsplit

from aisys_verify.errors import UsageError

UP, DEGRADED, DOWN = "up", "degraded", "down"


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
            http_status, health = _http(target, timeout)
            status = UP if 200 <= http_status < 300 else (DEGRADED if health == "degraded" else DOWN)
            return ProbeResult(target, kind, status, _ms(started), stamp, health, http_status)
        health = _zmq(host, port, timeout)
        status = UP if health == "ok" else DEGRADED if health == "degraded" else DOWN
        return ProbeResult(target, kind, status, _ms(started), stamp, health)
    except (OSError, TimeoutError, ValueError, http.client.HTTPException) as exc:  # e.g. a non-HTTP listener
        return ProbeResult(target, kind, DOWN, _ms(started), stamp, error=(str(exc) or type(exc).__name__)[:256])


def _ms(started: float) -> float:
    return round((time.perf_counter() - started) * 1000, 3)


def _http(url: str, timeout: float) -> tuple[int, str | None]:
    try:
        with urllib.request.urlopen(url, timeout=timeout) as resp:
            return resp.status, _status_word(resp.read())
    except urllib.error.HTTPError as exc:  # 503 from a degraded agent still carries its health reply
        return exc.code, _status_word(exc.read())


def _status_word(body: bytes) -> str | None:
    try:
        parsed = json.loads(body)
    except ValueError:
        return None
    return str(parsed.get("status")) if isinstance(parsed, dict) and "status" in parsed else None


def _zmq(host: str, port: int, timeout: float) -> str:
    from aisys_verify.standin.client import HEALTH_CHECK, request_once

    return str(request_once(f"tcp://{host}:{port}", HEALTH_CHECK, timeout).get("status", "unknown"))


def push(result: ProbeResult, url: str, timeout: float = 2.0) -> str | None:
    """Best effort: POST the result to the hub; returns an error text instead of raising."""
    req = urllib.request.Request(url, data=result.line().encode(), method="POST",
                                 headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(req, timeout=timeout):
            return None
    except (OSError, urllib.error.URLError) as exc:
        return str(exc)


def http_health(address: str, port: int, timeout: float = 0.5) -> tuple[str, str]:
    """An agent's HTTP /health as (status word, message); ("down", reason) when it does not answer."""
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request("GET", "/health")
        reply = json.loads(conn.getresponse().read() or b"{}")
        return str(reply.get("status")), str(reply.get("message"))
    except (OSError, ValueError, http.client.HTTPException) as exc:
        return "down", f"{type(exc).__name__}: {exc}"
    finally:
        conn.close()
