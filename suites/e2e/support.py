"""How the e2e suite talks to the stack: HTTP to the web gateway, ZeroMQ requests to agents,
and waiting for the stack to be well again after a fault. Built on the public API only
(the stack's endpoints, ``aisys_verify.standin.envelope``, ``aisys_verify.probe``), with the
request and response of every exchange attached to the Allure report.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from aisys_verify import UP, HttpReply, attach_json, http_json, poll, probe, speaks_http, step
from aisys_verify.standin import envelope, request_once

SOURCE = "aisys-verify-e2e"
TURN_TIMEOUT_S = 30.0


def exchange(title: str, method: str, url: str, body: Any = None) -> HttpReply:
    """One HTTP exchange (never raises on a 4xx/5xx) as an Allure step with the request and response attached."""
    with step(title):
        shown = body.decode("utf-8", "replace") if isinstance(body, bytes) else body
        attach_json("request", {"method": method, "url": url, "body": shown})
        reply = http_json(method, url, body, timeout=TURN_TIMEOUT_S)
        attach_json("response", {"status": reply.status, "body": reply.body,
                                 "x-trace-id": reply.headers.get("x-trace-id")})
    return reply


class Gateway:
    """The web gateway (PC2 UnifiedWebAgent) as a user's client sees it."""

    def __init__(self, base_url: str) -> None:
        self.base_url = base_url.rstrip("/")

    def turn(self, text: str, session_id: str | None, title: str | None = None) -> HttpReply:
        body: dict[str, Any] = {"text": text}
        if session_id is not None:
            body["session_id"] = session_id
        return exchange(title or f"say {text!r}", "POST", f"{self.base_url}/dialogue/process", body)

    def answered_turn(self, text: str, session_id: str | None, title: str | None = None) -> dict[str, Any]:
        """A turn that must be answered (200 with a response); the reply's JSON."""
        reply = self.turn(text, session_id, title)
        if reply.status != 200 or not isinstance(reply.json_object().get("response"), str):
            raise AssertionError(f"POST /dialogue/process {text!r} (session {session_id}) was not answered: "
                                 f"HTTP {reply.status} {reply.body!r}")
        return reply.json_object()

    def post(self, path: str, body: Any, title: str | None = None) -> HttpReply:
        return exchange(title or f"POST {path}", "POST", f"{self.base_url}{path}", body)

    def get(self, path: str, title: str | None = None) -> HttpReply:
        return exchange(title or f"GET {path}", "GET", f"{self.base_url}{path}")


def zmq_request(url: str, action: str, fields: Mapping[str, Any] | None = None, *, timeout: float = 5.0,
                traceparent: str | None = None, title: str | None = None) -> dict[str, Any]:
    """One request on an agent's main socket (``tcp://host:port``), as another agent would send it.

    Raises AssertionError when no reply comes within ``timeout``.
    """
    message = envelope(action, SOURCE, dict(fields or {}))
    if traceparent:
        message["traceparent"] = traceparent
    with step(title or f"{action} -> {url}"):
        attach_json("request", {"url": url, "message": message})
        try:
            reply = request_once(url, message, timeout)
        except TimeoutError:
            raise AssertionError(f"no reply to {action!r} from {url} within {timeout:g} s") from None
        attach_json("response", reply)
    return reply


def zmq_endpoints(stack: Any) -> tuple[list[Any], list[str]]:
    """(the endpoints whose main port is a ZeroMQ socket, 'host/Agent' of those serving HTTP there instead):
    the real ObservabilityHub is an HTTP app on its configured port (PROTOCOL.md §5), not a ZeroMQ agent."""
    endpoints = stack.endpoints()
    with ThreadPoolExecutor(max_workers=16) as pool:
        http = list(pool.map(lambda e: speaks_http(e.address, e.port), endpoints))
    return ([e for e, h in zip(endpoints, http) if not h],
            [f"{e.host}/{e.agent}" for e, h in zip(endpoints, http) if h])


def new_traceparent() -> tuple[str, str]:
    """(trace id, W3C traceparent) for a request the test starts itself, so its trace can be read back."""
    trace_id, span_id = os.urandom(16).hex(), os.urandom(8).hex()
    return trace_id, f"00-{trace_id}-{span_id}-01"


def probe_all(targets: list[str], timeout: float = 2.0, workers: int = 16) -> dict[str, Any]:
    """Every target through ``aisys_verify.probe``, in parallel; {target: ProbeResult}."""
    with ThreadPoolExecutor(max_workers=workers) as pool:
        return dict(zip(targets, pool.map(lambda t: probe(t, timeout), targets)))


def unhealthy_agents(stack: Any) -> list[str]:
    """'host/Agent: status' for every agent whose ZeroMQ health socket does not say ok right now."""
    endpoints = stack.endpoints()
    results = probe_all([f"zmq://{e.address}:{e.health_port}" for e in endpoints], timeout=1.0)
    return [f"{e.host}/{e.agent}: {r.status} {r.error or ''}".strip()
            for e, r in zip(endpoints, results.values()) if r.status != UP]


def wait_stack_healthy(stack: Any, timeout: float = 20.0) -> None:
    """Until every agent says ok again (after a fault); AssertionError naming the laggards."""
    def check() -> str | None:
        bad = unhealthy_agents(stack)
        return f"{len(bad)} agent(s) not ok: {', '.join(bad[:10])}" if bad else None

    problem = poll(check, timeout, 0.3, until=lambda left: left is None).last  # None: done
    if problem:
        raise AssertionError(f"the stack did not recover within {timeout:g} s: {problem}")
