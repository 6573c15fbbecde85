"""One stand-in agent: its ZeroMQ main socket, health socket and HTTP side, readiness and registration.

The main socket is a ROUTER, which REQ clients (the real agents' client) talk to exactly
as to a REP, but it lets slow actions run concurrently. The health socket is a REP, as
in the real system. Every request is answered, including garbage (with an error reply).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import time
from typing import Any

import zmq
import zmq.asyncio

from aisys_verify.standin import protocol, tracing
from aisys_verify.standin.calls import CallFailed, CallPolicy
from aisys_verify.standin.httpd import HttpRequest, HttpResponse, serve
from aisys_verify.standin.roles import make_role
from aisys_verify.standin.roles.base import AgentContext, Role
from aisys_verify.standin.roles.table import role_for
from aisys_verify.standin.wiring import CallEdge

READY_KEY = "agent:ready:{name}"
HEALTH_PROBE = CallPolicy(timeout_s=0.5, retries=0)
REGISTER = CallPolicy(timeout_s=2.0, retries=0)
UNREGISTER = CallPolicy(timeout_s=0.3, retries=0)
CLIENT_ERRORS = frozenset({"bad_request", "not_found", "unknown_action", "not_json", "too_large"})


class AgentRuntime:
    def __init__(self, ctx: AgentContext, bind_address: str, http_port: int, edges: list[CallEdge],
                 advertised_address: str | None = None) -> None:
        self.ctx = ctx
        self.name = ctx.agent.name
        self.bind_address = bind_address
        self.advertised_address = advertised_address or bind_address  # what registration tells others
        self.http_port = http_port
        self.dependencies = [e for e in edges if e.caller == ctx.agent.key and e.purpose == "dependency"]
        # every agent registers with every registry, whatever else its edge to a registry is for
        self.registries = [a.name for a in ctx.topology.agents
                           if a.key != ctx.agent.key and role_for(a.name, a.role).role in ("registry", "twin")]
        self.role: Role = make_role(ctx)
        self.checks: dict[str, protocol.HealthCheck] = {}
        self.required_checks = {"redis", "ready_key"} | {
            f"dependency:{e.callee.split('/', 1)[1]}" for e in self.dependencies if e.critical}
        self.initialized = False
        self.registered: set[str] = set()
        self.tasks: list[asyncio.Task[Any]] = []
        self.sockets: list[zmq.asyncio.Socket] = []
        self.http_server: asyncio.AbstractServer | None = None
        self.stopping = False

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        context = self.ctx.caller.context
        main = context.socket(zmq.ROUTER)
        health = context.socket(zmq.REP)
        for sock in (main, health):
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.MAXMSGSIZE, 4 * protocol.MAX_MESSAGE_BYTES)  # drop absurd frames at the transport
            self.sockets.append(sock)
        agent = self.ctx.agent
        try:
            main.bind(f"tcp://{self.bind_address}:{agent.port.number}")
            health.bind(f"tcp://{self.bind_address}:{agent.health_port.number}")
            self.http_server = await serve(self.handle_http, self.bind_address, self.http_port)
        except (zmq.ZMQError, OSError) as exc:
            await self.stop()
            raise OSError(f"{agent.name}: cannot bind on {self.bind_address} (ports {agent.port.number}, "
                          f"{agent.health_port.number}, {self.http_port}): {exc}") from exc
        await self.role.start()
        self.tasks += [asyncio.create_task(self.serve_main(main), name=f"{self.name}-main"),
                       asyncio.create_task(self.serve_health(health), name=f"{self.name}-health"),
                       asyncio.create_task(self.readiness_loop(), name=f"{self.name}-ready"),
                       asyncio.create_task(self.register_loop(), name=f"{self.name}-register")]
        self.initialized = True
        self.ctx.log("started", port=agent.port.number, health_port=agent.health_port.number,
                     http_port=self.http_port, role=self.role.name, address=self.bind_address)

    async def stop(self) -> None:
        self.stopping = True
        started = self.initialized  # a start that failed to bind must not touch the running twin's key
        for target in sorted(self.registered):  # best effort: a stopped agent should not stay listed
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ctx.caller.call(target, "unregister_agent", policy=UNREGISTER,
                                                            agent_name=self.name, host=self.ctx.agent.host), 0.5)
        for task in self.tasks:
            task.cancel()
        if self.tasks:  # bounded: a task that swallowed its cancel must not hold the shutdown for ever
            await asyncio.wait(self.tasks, timeout=2.0)
        if self.http_server is not None:
            self.http_server.close()
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.http_server.wait_closed(), 1.0)
        with contextlib.suppress(Exception):
            await self.role.stop()
        if started:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ctx.redis.delete(READY_KEY.format(name=self.name)), 0.5)
        for sock in self.sockets:
            sock.close(0)
        self.ctx.log("stopped")

    # --- ZeroMQ ------------------------------------------------------------------------

    async def serve_main(self, sock: zmq.asyncio.Socket) -> None:
        pending: set[asyncio.Task[None]] = set()
        while True:
            frames = await sock.recv_multipart()
            if len(frames) < 2:
                continue  # not from a REQ/DEALER peer: nothing to route a reply to
            identity, payload = frames[0], frames[-1]
            delimiter = [b""] if len(frames) >= 3 else []
            task = asyncio.create_task(self._answer(sock, identity, delimiter, payload))
            pending.add(task)
            task.add_done_callback(pending.discard)

    async def _answer(self, sock: zmq.asyncio.Socket, identity: bytes, delimiter: list[bytes], payload: bytes) -> None:
        reply = await self.dispatch(payload)
        with contextlib.suppress(zmq.ZMQError):
            await sock.send_multipart([identity, *delimiter, protocol.encode(reply)])

    async def dispatch(self, payload: bytes) -> dict[str, Any]:
        started = time.perf_counter()
        try:
            request = protocol.parse_request(payload)
        except protocol.ProtocolError as exc:
            self.ctx.metrics.observe("invalid", "4xx", time.perf_counter() - started)
            return protocol.error(str(exc), exc.code)
        if request.action in protocol.HEALTH_ACTIONS:
            return self.health()
        handler = self.role.actions.get(request.action)
        with tracing.server_span(self.ctx.tracer, self.name, request.action, request.traceparent) as span:
            if handler is None:
                reply = protocol.error(f"unknown action '{request.action}'; {self.name} knows: "
                                       f"{', '.join(sorted([*self.role.actions, *protocol.HEALTH_ACTIONS]))}",
                                       "unknown_action")
                status = "4xx"
            else:
                try:
                    reply = await handler(request)
                    if reply.get("status") != "error":
                        status = "2xx"
                    else:
                        status = "4xx" if reply.get("error_code") in CLIENT_ERRORS else "5xx"
                except protocol.ProtocolError as exc:
                    reply, status = protocol.error(str(exc), exc.code), "4xx"
                except CallFailed as exc:
                    reply, status = protocol.error(f"dependency unavailable: {exc}", "dependency_unavailable"), "5xx"
                except Exception as exc:  # a role bug: answer, log, keep serving
                    self.ctx.log("handler_error", "error", action=request.action, error=repr(exc))
                    reply, status = protocol.error(f"internal error: {type(exc).__name__}", "internal"), "5xx"
            if status == "5xx":  # a client's mistake is not this hop's failure
                tracing.mark_error(span, str(reply.get("error")))
        reply["request_id"] = request.request_id  # the caller's id, even on a forwarded reply
        # unknown actions share one label value: clients must not be able to mint metric series
        label = request.action if handler is not None else "unknown"
        self.ctx.metrics.observe(label, status, time.perf_counter() - started)
        return reply

    async def serve_health(self, sock: zmq.asyncio.Socket) -> None:
        while True:
            await sock.recv()  # any message is a health check, as in the real BaseAgent
            await sock.send(protocol.encode(self.health()))

    def health(self) -> dict[str, Any]:
        checks = list(self.checks.values()) + self.role.checks()
        reply = protocol.health_reply(self.name, self.ctx.started, self.initialized, checks, self.required_checks)
        reply["registered_with"] = sorted(self.registered)
        return reply

    # --- HTTP ------------------------------------------------------------------------------

    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/health" and request.method == "GET":
            reply = self.health()
            # unlike the real agent (always 200), a degraded agent answers 503 so probes can tell
            return HttpResponse.of_json(200 if reply["status"] == "ok" else 503, reply)
        if request.path == "/metrics" and request.method == "GET":
            return HttpResponse(200, self.ctx.metrics.render().encode(), "text/plain; version=0.0.4")
        response = await self.role.http(request)
        return response or HttpResponse.of_json(404, {"error": f"no route {request.method} {request.path}"})

    # --- readiness and registration ----------------------------------------------------

    async def readiness_loop(self) -> None:
        plan = self.ctx.plan
        key = READY_KEY.format(name=self.name)
        last_refresh = 0.0
        # `while not stopping`, not `while True`: on 3.11 asyncio.wait_for can swallow the cancel
        # sent by stop() when its inner call finishes in the same step, which would leave this loop running
        while not self.stopping:
            redis_ok = await self._redis_ok()
            self._set("redis", redis_ok, "reachable" if redis_ok else f"unreachable at {self._redis_where()}")
            missing = not self.checks.get("ready_key", protocol.HealthCheck("", False, "")).ok
            if redis_ok and (missing or time.monotonic() - last_refresh >= plan.ready_refresh_s):
                with contextlib.suppress(Exception):
                    value = json.dumps({"agent": self.ctx.agent.key, "ts": time.time()})
                    await asyncio.wait_for(self.ctx.redis.set(key, value, ex=int(plan.ready_ttl_s)), 0.5)
                    last_refresh = time.monotonic()
            exists = False
            if redis_ok:
                with contextlib.suppress(Exception):
                    exists = bool(await asyncio.wait_for(self.ctx.redis.exists(key), 0.5))
            self._set("ready_key", exists, f"{key} present" if exists else f"{key} missing")
            await asyncio.gather(*(self._check_dependency(e) for e in self.dependencies))
            await asyncio.sleep(plan.health_interval_s)

    async def _check_dependency(self, edge: CallEdge) -> None:
        name = edge.callee.split("/", 1)[1]
        try:
            reply = await self.ctx.caller.call(name, "health_check", health=True, policy=HEALTH_PROBE)
            self._set(f"dependency:{name}", True, f"answers ({reply.get('status')})")
        except CallFailed as exc:
            self._set(f"dependency:{name}", False, exc.reason)

    async def _redis_ok(self) -> bool:
        try:
            return bool(await asyncio.wait_for(self.ctx.redis.ping(), 0.5))
        except Exception:
            return False

    def _redis_where(self) -> str:
        host, port = self.ctx.plan.redis.get(self.ctx.agent.host, ("?", 0))
        return f"{host}:{port}"

    def _set(self, name: str, ok: bool, detail: str) -> None:
        self.checks[name] = protocol.HealthCheck(name, ok, detail)

    async def register_loop(self) -> None:
        agent = self.ctx.agent
        fields: dict[str, Any] = {"agent_name": agent.name, "host": agent.host, "location": agent.host,
                  "address": self.advertised_address, "port": agent.port.number,
                  "health_check_port": agent.health_port.number, "http_port": self.http_port}
        delay = 0.2
        while len(self.registered) < len(self.registries) and not self.stopping:
            for target in self.registries:
                if target in self.registered:
                    continue
                try:
                    reply = await self.ctx.caller.call(target, "register_agent", policy=REGISTER, **fields)
                    if reply.get("status") == "success":
                        self.registered.add(target)
                except CallFailed:
                    pass
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
