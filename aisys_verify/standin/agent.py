"""One stand-in agent: its ZeroMQ main socket, health socket and HTTP side, readiness and registration.

Ideal profile: the main socket is a ROUTER, which REQ clients (the real agents' client) talk
to exactly as to a REP, but it lets slow actions run concurrently. Every request is answered,
including garbage (with an error reply).

Reference profile (``ctx.profile.reference``, PROTOCOL.md): the main socket is a REP served by
one loop, one request at a time in arrival order, each waiting the serving-loop cost
(``profile.serving_loop_s``, 100 ms measured) before it is handled; replies carry no
``error_code`` and no ``request_id``; errors use the real texts; health replies have the real
shape. The defect switches (``profile.has(...)``) reproduce the real agents' defects.

The health socket is a REP in both, as in the real system, and answers at once.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import sys
import time
from datetime import datetime
from typing import Any

import zmq
import zmq.asyncio

from aisys_verify.errors import Wedged as Wedged
from aisys_verify.plan.edges import CallEdge, registries
from aisys_verify.standin import protocol, reference, tracing
from aisys_verify.standin.calls import CallFailed, CallPolicy
from aisys_verify.standin.curve import monitor_handshakes, secure_server
from aisys_verify.standin.httpd import HttpRequest, HttpResponse, serve
from aisys_verify.standin.roles import make_role
from aisys_verify.standin.roles.base import AgentContext, Role
from aisys_verify.standin.roles.real_registry import registration_requests
from aisys_verify.standin.tls import server_context_for

READY_KEY = "agent:ready:{name}"
HEALTH_PROBE = CallPolicy(timeout_s=0.5, retries=0)
REGISTER = CallPolicy(timeout_s=2.0, retries=0)
# reference: registries serve one request per ~100 ms loop, so 77 agents registering at once queue for seconds;
# a short timeout would resend into that queue and lengthen it
REGISTER_REFERENCE = CallPolicy(timeout_s=20.0, retries=0)
UNREGISTER = CallPolicy(timeout_s=0.3, retries=0)
# until an agent's required checks first pass, its readiness rounds come this often (for at most STARTUP_S):
# a first round that fails (a probe or Redis read timing out on a loaded machine) would otherwise hold the agent,
# and every group that waits for it down the start chain, for a whole health_interval_s
STARTUP_ROUND_S, STARTUP_S = 0.1, 10.0
CLIENT_ERRORS = frozenset({"bad_request", "not_found", "unknown_action", "not_json", "too_large"})
TRANSPORT_MAX_BYTES = 4 * protocol.MAX_MESSAGE_BYTES  # frames past this are dropped by ZeroMQ itself


class AgentRuntime:
    def __init__(self, ctx: AgentContext, bind_address: str, http_port: int, edges: list[CallEdge],
                 advertised_address: str | None = None) -> None:
        self.ctx = ctx
        self.name = ctx.agent.name
        self.profile = ctx.profile
        self.bind_address = bind_address
        self.advertised_address = advertised_address or bind_address  # what registration tells others
        # the ports actually bound: the spec's, unless the binds_wrong_port defect moves them
        self.bound_port, self.bound_health_port, self.http_port = reference.bound_ports(
            ctx.topology, ctx.agent, http_port, ctx.profile)
        self.dependencies = [e for e in edges if e.caller == ctx.agent.key and e.purpose == "dependency"]
        # every agent registers with every registry, whatever else its edge to a registry is for
        self.registries = [a.name for a in registries(ctx.topology) if a.key != ctx.agent.key]
        self.role: Role = make_role(ctx)
        self.checks: dict[str, protocol.HealthCheck] = {}
        self.required_checks = {"redis", "ready_key"} | {
            f"dependency:{e.callee.split('/', 1)[1]}" for e in self.dependencies if e.critical}
        self.initialized = False
        self.registered: set[str] = set()
        self.tasks: list[asyncio.Task[Any]] = []
        self.sockets: list[zmq.asyncio.Socket] = []
        self.http_server: asyncio.AbstractServer | None = None
        self.main_http_server: asyncio.AbstractServer | None = None  # a role with main_is_http
        self.stopping = False
        self.exited: str | None = None  # why the agent exited at start (double_bind), None while it runs
        self.wedged: str | None = None  # why the main socket stopped answering for good
        self.ready_record: dict[str, Any] | None = None  # reference: the readiness record read back
        self.ready_written = False

    # --- lifecycle ---------------------------------------------------------------------

    async def start(self) -> None:
        context = self.ctx.caller.context
        # reference: a REP, so the transport itself serves one request at a time as the real agent's does
        main = context.socket(zmq.REP if self.profile.reference else zmq.ROUTER)
        health = context.socket(zmq.REP)
        curve = self.ctx.caller.curve  # the group's CurveZMQ keys (SECURE_ZMQ), None: plaintext
        for sock, sock_name in ((main, "main"), (health, "health")):
            sock.setsockopt(zmq.LINGER, 0)
            sock.setsockopt(zmq.MAXMSGSIZE, TRANSPORT_MAX_BYTES)  # drop absurd frames at the transport
            self.sockets.append(sock)
            if curve is not None:
                secure_server(sock, curve)
                self.tasks.append(asyncio.create_task(monitor_handshakes(sock, self.ctx.log, sock_name)))
        agent = self.ctx.agent
        tls = server_context_for(agent.key)  # HTTPS (mTLS) where the run's TLS plan says so
        try:
            if self.role.main_is_http:  # the real ObservabilityHub: HTTP on its port, no ZeroMQ (roles/base.py)
                self.main_http_server = await serve(self.handle_http, self.bind_address, self.bound_port, tls)
            else:
                main.bind(f"tcp://{self.bind_address}:{self.bound_port}")
            if self.profile.has("double_bind") and await self._second_bind(context):
                return
            health.bind(f"tcp://{self.bind_address}:{self.bound_health_port}")
            self.http_server = await serve(self.handle_http, self.bind_address, self.http_port, tls)
        except (zmq.ZMQError, OSError) as exc:
            await self.stop()
            raise OSError(f"{agent.name}: cannot bind on {self.bind_address} (ports {self.bound_port}, "
                          f"{self.bound_health_port}, {self.http_port}): {exc}") from exc
        await self.role.start()
        serve_main = self.serve_main_reference if self.profile.reference else self.serve_main
        self.tasks += [asyncio.create_task(serve_main(main), name=f"{self.name}-main"),
                       asyncio.create_task(self.serve_health(health), name=f"{self.name}-health"),
                       asyncio.create_task(self.readiness_loop(), name=f"{self.name}-ready"),
                       asyncio.create_task(self.register_loop(), name=f"{self.name}-register")]
        self.initialized = True
        self.ctx.log("started", port=self.bound_port, health_port=self.bound_health_port,
                     http_port=self.http_port, role=self.role.name, address=self.bind_address,
                     profile=self.profile.name, defects=sorted(self.profile.defects))

    async def _second_bind(self, context: zmq.asyncio.Context) -> bool:
        """The double_bind defect: bind the main port again, as the real twin does after BaseAgent bound it.

        EADDRINUSE ends the agent at start (its sockets closed, no ready key, nothing listening); the
        rest of its group keeps running, as each real agent is its own process. True when it exited.
        """
        second = context.socket(zmq.REP)
        second.setsockopt(zmq.LINGER, 0)
        url = f"tcp://{self.bind_address}:{self.bound_port}"
        try:
            second.bind(url)
            reason = f"binding {url} a second time unexpectedly succeeded"
        except zmq.ZMQError as exc:
            code = "EADDRINUSE" if exc.errno == zmq.EADDRINUSE else f"errno {exc.errno}"
            reason = f"binding {url} a second time: {code} ({exc})"
        finally:
            second.close(0)
        self.exited = f"exited at start: {reason}"
        self.ctx.log("exited_at_start", "error", message=f"{self.name} {self.exited}", defect="double_bind")
        print(f"{self.name} {self.exited}", file=sys.stderr, flush=True)  # the group's process log
        for sock in self.sockets:
            sock.close(0)
        self.sockets.clear()
        if self.main_http_server is not None:  # a hub whose main port is HTTP: it exits all the same
            self.main_http_server.close()
            self.main_http_server = None
        return True

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
        for server in (self.http_server, self.main_http_server):
            if server is not None:
                server.close()
                with contextlib.suppress(Exception):
                    await asyncio.wait_for(server.wait_closed(), 1.0)
        with contextlib.suppress(Exception):
            await self.role.stop()
        if started:
            with contextlib.suppress(Exception):
                await asyncio.wait_for(self.ctx.redis.delete(READY_KEY.format(name=self.name)), 0.5)
        for sock in self.sockets:
            sock.close(0)
        self.ctx.caller.close()
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

    async def serve_main_reference(self, sock: zmq.asyncio.Socket) -> None:
        """The real serving loop: receive one request, wait the loop's cost, handle it, reply; then the next.

        Messages wait in ZeroMQ's queues meanwhile (a client that gave up is dropped there, as from a
        real REP). A wedge (a reply that cannot be serialised, an invalid UTF-8 frame under its defect)
        ends the loop without replying: a REP that did not send can never receive again.
        """
        loop_s = self.profile.serving_loop_s
        while True:
            frames = await sock.recv_multipart()
            received = time.perf_counter()
            if loop_s:
                await asyncio.sleep(loop_s)
            try:
                reply = await self.dispatch(frames[-1], received)
                data = json.dumps(reply, separators=(",", ":")).encode()  # no default=: a bad reply fails here
            except Wedged as exc:
                self.wedged = str(exc)
                self.ctx.log("main_socket_stuck", "error", reason=self.wedged)
                return
            except (TypeError, ValueError, RecursionError) as exc:
                data = json.dumps(protocol.reference_error(str(exc))).encode()
            with contextlib.suppress(zmq.ZMQError):
                await sock.send(data)

    async def dispatch(self, payload: bytes, received: float | None = None) -> dict[str, Any]:
        if self.profile.reference:
            return await self._dispatch_reference(payload, received or time.perf_counter())
        started = time.perf_counter()
        try:
            request = protocol.parse_request(payload)
        except protocol.ProtocolError as exc:
            self.ctx.metrics.observe("invalid", "4xx", time.perf_counter() - started)
            return protocol.error(str(exc), exc.code)
        if request.action in protocol.HEALTH_ACTIONS:
            return self.health()
        handler = self.role.actions.get(request.action)
        reply, status = await self._handle(request, f"unknown action '{request.action}'; {self.name} knows: "
                                           f"{', '.join(sorted([*self.role.actions, *protocol.HEALTH_ACTIONS]))}")
        reply["request_id"] = request.request_id  # the caller's id, even on a forwarded reply
        # unknown actions share one label value: clients must not be able to mint metric series
        self.ctx.metrics.observe(request.action if handler is not None else "unknown", status,
                                 time.perf_counter() - started)
        return reply

    async def _handle(self, request: protocol.Request, unknown: str) -> tuple[dict[str, Any], str]:
        """The role's answer to ``request`` and its metric status (2xx/4xx/5xx); never raises."""
        handler = self.role.actions.get(request.action)
        with tracing.server_span(self.ctx.tracer, self.name, request.action, request.traceparent) as span:
            if handler is None:
                reply, status = protocol.error(unknown, "unknown_action"), "4xx"
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
        return reply, status

    async def _dispatch_reference(self, payload: bytes, received: float) -> dict[str, Any]:
        """One request as the real agent handles it (PROTOCOL.md §1-§3); raises Wedged for its defects."""
        role = self.role
        try:
            request = protocol.parse_reference_request(payload, reference.error_texts(role))
        except protocol.InvalidUtf8 as exc:
            if self.profile.has("invalid_utf8_wedges"):
                raise Wedged("a frame of invalid UTF-8 got no reply (invalid_utf8_wedges)") from None
            self.ctx.metrics.observe("invalid", "4xx", time.perf_counter() - received)
            return protocol.reference_error(str(exc))
        except protocol.ProtocolError as exc:
            self.ctx.metrics.observe("invalid", "4xx", time.perf_counter() - received)
            return protocol.reference_error(str(exc))
        if request.action in reference.main_health_verbs(role):
            return self.health()
        if request.action == "ping" and "ping" not in role.actions:  # the twin: ping is not its health verb
            return reference.pong()
        known = request.action in role.actions
        unknown = reference.error_texts(role)["unknown_action"].format(action=request.action)
        reply, status = await self._handle(request, unknown)
        self.ctx.metrics.observe(request.action if known else "unknown", status, time.perf_counter() - received)
        if known and self.profile.has("unserialisable_reply") and request.action in reference.unserialisable_actions(
                role):
            # the real twin puts datetime objects in these replies; json.dumps fails and nothing is sent
            try:
                json.dumps({**reply, "timestamp": datetime.now()})
            except TypeError as exc:
                raise Wedged(reference.unserialisable_error(request.action, exc)) from None
        return protocol.to_reference_reply(reply)  # the role's own errors lose their code, as the real ones have none

    async def serve_health(self, sock: zmq.asyncio.Socket) -> None:
        while True:
            await sock.recv()  # any message is a health check, as in the real BaseAgent
            await sock.send(protocol.encode(self.health()))

    def health(self) -> dict[str, Any]:
        if self.profile.reference:
            return self.reference_health()
        checks = list(self.checks.values()) + self.role.checks()
        reply = protocol.health_reply(self.name, self.ctx.started, self.initialized, checks, self.required_checks)
        reply["registered_with"] = sorted(self.registered)
        return reply

    def reference_health(self) -> dict[str, Any]:
        """The real BaseAgent's health reply: ok only when the port is bound, Redis answers, the ready
        key is there and every required dependency answers its health socket."""
        redis = self.checks.get("redis")
        problems = [f"{c.name.split(':', 1)[1]} not answering ({c.detail})"
                    for name in sorted(self.required_checks) if name.startswith("dependency:")
                    for c in [self.checks.get(name, protocol.HealthCheck(name, False, "not checked yet"))] if not c.ok]
        ready = self.checks.get("ready_key")
        return protocol.reference_health_reply(
            self.name, self.ctx.started, initialized=self.initialized, port=self.bound_port,
            redis_host=self._redis_where(), port_accessible=self.initialized and self.exited is None,
            redis_connected=bool(redis and redis.ok),
            ready_signal=self.ready_record if ready is not None and ready.ok else None, problems=problems,
            threads=len([t for t in self.tasks if not t.done()]) or 1,
            contradictory=self.profile.has("contradictory_health"))

    # --- HTTP ------------------------------------------------------------------------------

    async def handle_http(self, request: HttpRequest) -> HttpResponse:
        if request.path == "/health" and request.method == "GET":
            reply = self.health()
            # unlike the real agent (always 200: the http_health_always_200 defect), a degraded agent
            # answers 503 so an HTTP-level check (load balancer, HEALTHCHECK) can tell
            code = 200 if reply["status"] == "ok" or self.profile.has("http_health_always_200") else 503
            return HttpResponse.of_json(code, reply)
        if request.path == "/metrics" and request.method == "GET":
            return HttpResponse(200, self.ctx.metrics.render().encode(), "text/plain; version=0.0.4")
        response = await self.role.http(request)
        return response or HttpResponse.of_json(404, {"error": f"no route {request.method} {request.path}"})

    # --- readiness and registration ----------------------------------------------------

    async def readiness_loop(self) -> None:
        plan = self.ctx.plan
        key = READY_KEY.format(name=self.name)
        ttl = reference.ready_ttl_s(self.profile, self.ctx.agent.config, plan.ready_ttl_s)
        # the ready_ttl_not_refreshed defect: written once at start, then left to expire
        write_once = self.profile.has("ready_ttl_not_refreshed")
        last_refresh = 0.0
        began, passed = time.monotonic(), False
        # `while not stopping`, not `while True`: on 3.11 asyncio.wait_for can swallow the cancel
        # sent by stop() when its inner call finishes in the same step, which would leave this loop running
        while not self.stopping:
            # reading the ready key is the Redis check too (one round trip a round, no separate PING: Redis
            # round trips were half of a large stack's steady CPU); a refresh writes it, then reads it back
            redis_ok, exists = await self._read_ready_checked(key)
            due = not exists or time.monotonic() - last_refresh >= plan.ready_refresh_s
            if redis_ok and due and not (write_once and self.ready_written):
                with contextlib.suppress(Exception):
                    async with asyncio.timeout(0.5):
                        await self.ctx.redis.set(key, self._ready_value(), ex=ttl)
                    last_refresh, self.ready_written = time.monotonic(), True
                    redis_ok, exists = await self._read_ready_checked(key)
            self._set("ready_key", exists, f"{key} present" if exists else f"{key} missing")
            await asyncio.gather(*(self._check_dependency(e) for e in self.dependencies))
            passed = passed or all(name in self.checks and self.checks[name].ok for name in self.required_checks)
            starting = not passed and time.monotonic() - began < STARTUP_S
            await asyncio.sleep(min(plan.health_interval_s, STARTUP_ROUND_S) if starting else plan.health_interval_s)

    async def _read_ready_checked(self, key: str) -> tuple[bool, bool]:
        """(Redis answered, the ready key is there); sets the ``redis`` check."""
        try:
            exists = await self._read_ready(key)
        except Exception:
            self._set("redis", False, f"unreachable at {self._redis_where()}")
            return False, False
        self._set("redis", True, "reachable")
        return True, exists

    def _ready_value(self) -> str:
        if self.profile.reference:  # BaseAgent's record (PROTOCOL.md §5), with the port actually bound
            return json.dumps(protocol.ready_record(self.bound_port, {
                "agent_name": self.name, "health_check_port": self.bound_health_port, "host": self.ctx.agent.host}))
        return json.dumps({"agent": self.ctx.agent.key, "ts": time.time()})

    async def _read_ready(self, key: str) -> bool:
        # asyncio.timeout, not wait_for: no task per call (and no swallowed cancel on 3.11)
        async with asyncio.timeout(0.5):
            if not self.profile.reference:
                return bool(await self.ctx.redis.exists(key))
            raw = await self.ctx.redis.get(key)
        if raw is None:
            self.ready_record = None
            return False
        try:
            record = json.loads(raw)
        except ValueError:
            record = {"status": "ready", "timestamp": None, "port": self.bound_port, "details": {"raw": str(raw)}}
        self.ready_record = record if isinstance(record, dict) else {"status": str(record)}
        return True

    async def _check_dependency(self, edge: CallEdge) -> None:
        name = edge.callee.split("/", 1)[1]
        try:
            reply = await self.ctx.caller.probe(name, "health_check", HEALTH_PROBE.timeout_s)
            self._set(f"dependency:{name}", True, f"answers ({reply.get('status')})")
        except CallFailed as exc:
            self._set(f"dependency:{name}", False, exc.reason)

    def _redis_where(self) -> str:
        host, port = self.ctx.plan.redis_for(self.ctx.agent.key, self.ctx.agent.host)
        return f"{host}:{port}"

    def _set(self, name: str, ok: bool, detail: str) -> None:
        self.checks[name] = protocol.HealthCheck(name, ok, detail)

    async def register_loop(self) -> None:
        """Register with every registry and twin until each accepted: the ideal record, or (reference) the real
        BaseAgent's requests (roles.real_registry.registration_requests), which name the ports actually bound."""
        agent = self.ctx.agent
        fields: dict[str, Any] = {"agent_name": agent.name, "host": agent.host, "location": agent.host,
                  "address": self.advertised_address, "port": agent.port.number,
                  "health_check_port": agent.health_port.number, "http_port": self.http_port}
        requests = {target: fields for target in self.registries}
        policy = REGISTER
        if self.profile.reference:
            requests = registration_requests(self.ctx, self.registries, self.advertised_address,
                                             (self.bound_port, self.bound_health_port, self.http_port),
                                             list(self.role.actions))
            policy = REGISTER_REFERENCE
        delay = 0.2
        while len(self.registered) < len(self.registries) and not self.stopping:
            for target in self.registries:
                if target in self.registered:
                    continue
                try:
                    reply = await self.ctx.caller.call(target, "register_agent", policy=policy,
                                                       fields=requests[target])
                    if reply.get("status") == "success":
                        self.registered.add(target)
                except CallFailed:
                    pass
            await asyncio.sleep(delay)
            delay = min(delay * 2, 5.0)
