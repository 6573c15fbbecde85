"""The web gateway (PC2 UnifiedWebAgent): the HTTP API the real e2e tests expected (TOPOLOGY.md §6.5).

POST /dialogue/process   {"text": ..., "session_id": ...} -> response, confidence, processing_time_ms
POST /memory/store       {"content": ..., "session_id": ...} -> 201 {"memory_id": ...}
GET  /memory/{id}        -> the stored memory, or 404
GET  /services/list      -> every registered agent
Bad JSON is a 400, a well-formed request with missing or wrong fields a 422, each with a message.
The API is the stand-ins' own in both profiles; replies from the agents behind it may be of either
dialect (the real one has no error code: the HTTP status is then read from the error's text).
"""

from __future__ import annotations

import time
from typing import Any

from aisys_verify.errors import GatewayInvalid as _Invalid
from aisys_verify.standin import tracing
from aisys_verify.standin.calls import CallFailed, CallPolicy
from aisys_verify.standin.httpd import HttpRequest, HttpResponse
from aisys_verify.standin.roles.base import Role, error_text, succeeded

ERROR_STATUS = {"not_found": 404, "bad_request": 422, "dependency_unavailable": 503}
ONE_TURN = CallPolicy(timeout_s=15.0, retries=0)
ONE_WRITE = CallPolicy(timeout_s=5.0, retries=0)


class GatewayRole(Role):
    name = "gateway"

    async def http(self, request: HttpRequest) -> HttpResponse | None:
        route = (request.method, request.path)
        if route == ("POST", "/dialogue/process"):
            handler = self.dialogue
        elif route == ("POST", "/memory/store"):
            handler = self.store
        elif request.method == "GET" and request.path.startswith("/memory/"):
            handler = self.read
        elif route == ("GET", "/services/list"):
            handler = self.services
        else:
            return None
        traceparent = request.headers.get("traceparent")
        started = time.perf_counter()
        with tracing.server_span(self.ctx.tracer, self.ctx.agent.name, f"HTTP {request.method} "
                                 f"{request.path if not request.path.startswith('/memory/') else '/memory/{id}'}",
                                 traceparent) as span:
            try:
                response = await handler(request)
            except _Invalid as exc:
                response = HttpResponse.of_json(exc.status, {"error": str(exc)})
            except CallFailed as exc:
                response = HttpResponse.of_json(503, {"error": f"upstream unavailable: {exc}"})
            if response.status >= 500:
                tracing.mark_error(span, response.body.decode(errors="replace")[:200])
            response.headers["X-Trace-Id"] = tracing.current_trace_id()
            # the web-interface SLOs measure the HTTP API: counted like the main socket (status class 2xx/4xx/5xx)
            route_name = "/memory/{id}" if request.path.startswith("/memory/") else request.path
            self.ctx.metrics.observe(f"{request.method} {route_name}", f"{response.status // 100}xx",
                                     time.perf_counter() - started)
            return response

    async def dialogue(self, request: HttpRequest) -> HttpResponse:
        body = _json_object(request)
        text = body.get("text", body.get("message"))
        if not isinstance(text, str) or not text.strip():
            raise _Invalid(422, "'text' is required: a non-empty string")
        session = body.get("session_id")
        if session is not None and not isinstance(session, str):
            raise _Invalid(422, "'session_id' must be a string")
        fields: dict[str, Any] = {"text": text}
        if session:
            fields["session_id"] = session
        if body.get("tts") is True:
            fields["tts"] = True
        # a turn is not idempotent (it stores to memory): one attempt, with room for a slow turn
        return _reply(await self.ctx.call("RequestCoordinator", "process_dialogue", policy=ONE_TURN, **fields), 200)

    async def store(self, request: HttpRequest) -> HttpResponse:
        body = _json_object(request)
        content = body.get("content")
        if content is None or (isinstance(content, str) and not content.strip()):
            raise _Invalid(422, "'content' is required")
        fields = {"content": content, "kind": "memory"}
        if isinstance(body.get("session_id"), str):
            fields["session_id"] = body["session_id"]
        return _reply(await self.ctx.call("MemoryOrchestratorService", "store_memory", policy=ONE_WRITE, **fields),
                      201)

    async def read(self, request: HttpRequest) -> HttpResponse:
        memory_id = request.path.removeprefix("/memory/")
        if not memory_id or "/" in memory_id or len(memory_id) > 64:
            raise _Invalid(400, "use GET /memory/{memory_id}")
        return _reply(await self.ctx.call("MemoryOrchestratorService", "get_memory", memory_id=memory_id), 200)

    async def services(self, request: HttpRequest) -> HttpResponse:
        reply = await self.ctx.call("ServiceRegistry", "list_agents")
        agents = reply.get("agents")
        if succeeded(reply) and isinstance(agents, list) and "count" not in reply:  # the real registry sends none
            reply = {**reply, "count": len(agents)}
        return _reply(reply, 200)


def _json_object(request: HttpRequest) -> dict[str, Any]:
    try:
        body = request.json()
    except (ValueError, UnicodeDecodeError, RecursionError):
        raise _Invalid(400, "body is not valid JSON (or nested too deeply)") from None
    if not isinstance(body, dict):
        raise _Invalid(400, "body must be a JSON object")
    return body


def _reply(reply: dict[str, Any], ok_status: int) -> HttpResponse:
    if succeeded(reply):
        return HttpResponse.of_json(ok_status, {k: v for k, v in reply.items() if k != "status"} | {"status": "ok"})
    text = error_text(reply)
    code = reply.get("error_code")
    status = ERROR_STATUS.get(str(code), 502) if code is not None else _status_of(text)
    return HttpResponse.of_json(status, {"error": text, "error_code": code})


def _status_of(text: str) -> int:
    """The HTTP status for an error of the real dialect, which has no error code: read from its text."""
    lowered = text.lower()
    if "not found" in lowered or lowered.startswith("no memory"):
        return 404
    if any(w in lowered for w in ("unavailable", "no reply", "circuit open", "turn failed")):
        return 503
    if any(w in lowered for w in ("needs", "missing", "required", "validation error", "invalid", "must be")):
        return 422
    return 502

