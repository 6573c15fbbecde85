"""What a role can use (AgentContext) and what it provides (Role)."""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aisys_verify.standin import protocol, tracing
from aisys_verify.standin.calls import Caller, CallFailed, CallPolicy, Endpoint
from aisys_verify.standin.httpd import HttpRequest, HttpResponse
from aisys_verify.standin.logs import JsonLog
from aisys_verify.standin.metrics import Metrics
from aisys_verify.standin.profile import StandinProfile

if TYPE_CHECKING:
    import redis.asyncio as aioredis
    from opentelemetry.trace import Tracer

    from aisys_verify.plan.run import RunPlan
    from aisys_verify.spec.model import Agent, Topology

Action = Callable[[protocol.Request], Awaitable[dict[str, Any]]]
SUCCESS_WORDS = frozenset({"success", "ok"})  # the real NLUAgent answers 'ok' (PROTOCOL.md §5)


def succeeded(reply: Mapping[str, Any]) -> bool:
    """A reply of either dialect that did what was asked: status success (ideal, BaseAgent) or ok (NLUAgent)."""
    return str(reply.get("status", "")).lower() in SUCCESS_WORDS


def error_text(reply: Mapping[str, Any]) -> str:
    """An error reply's text: ``error`` (BaseAgent), else ``message`` (the memory orchestrator, the coordinator)."""
    for key in ("error", "message"):
        value = reply.get(key)
        if isinstance(value, str) and value:
            return value
    return str(reply.get("status") or "no error text")


@dataclass
class AgentContext:
    agent: Agent
    topology: Topology
    plan: RunPlan
    caller: Caller
    redis: aioredis.Redis
    tracer: Tracer
    log: JsonLog
    metrics: Metrics
    data_dir: Path
    started: float = field(default_factory=time.time)
    profile: StandinProfile = field(default_factory=StandinProfile)  # ideal, or the real protocol + defects

    async def call(self, target: str, action: str, *, policy: CallPolicy | None = None,
                   fields: Mapping[str, Any] | None = None, **more: Any) -> dict[str, Any]:
        """Call another agent with a client span and the W3C trace context in the envelope.

        A target with no address in this agent's book (not a declared edge) is discovered
        through the registries, as the real agents discover theirs.
        """
        if target not in self.caller.book.main:
            await self.discover(target)
        with tracing.client_span(self.tracer, self.agent.name, target, action) as carrier:
            try:
                payload: dict[str, Any] = {**(fields or {}), **more, **carrier}
                reply = await self.caller.call(target, action, policy=policy, fields=payload)
            except CallFailed as exc:
                self.log("call_failed", "warning", target=target, action=action, reason=exc.reason)
                raise
            if reply.get("status") == "error":
                from opentelemetry import trace

                tracing.mark_error(trace.get_current_span(), error_text(reply))
            return reply

    async def discover(self, target: str) -> None:
        """Ask ServiceRegistry, then SystemDigitalTwin, for ``target``'s endpoint and remember it."""
        for registry in ("ServiceRegistry", "SystemDigitalTwin"):
            if registry not in self.caller.book.main or registry == target:
                continue
            try:
                reply = await self.caller.call(registry, "get_agent_endpoint", agent_name=target,
                                               host=self.agent.host, policy=CallPolicy(timeout_s=1.0, retries=0))
            except CallFailed:
                continue
            endpoints = endpoints_of(reply)
            if endpoints is None:
                continue
            main, health, http = endpoints
            self.caller.book.main[target] = main
            if health is not None:
                self.caller.book.health[target] = health
            if http is not None:
                self.caller.book.http[target] = http
            self.log("discovered", target=target, via=registry, address=f"{main.host}:{main.port}")
            return


def endpoints_of(reply: Mapping[str, Any]) -> tuple[Endpoint, Endpoint | None, Endpoint | None] | None:
    """(main, health, http) endpoints from a ``get_agent_endpoint`` reply of either field set: the ideal one
    (host = the address, http_port) or the real registry's (host, port, health_check_port, and the HTTP port
    and address the stand-ins put in ``metadata``); None when the reply holds no endpoint."""
    port = reply.get("port")
    if not succeeded(reply) or not isinstance(port, int) or isinstance(port, bool):
        return None
    found = reply.get("metadata")
    metadata: Mapping[str, Any] = found if isinstance(found, Mapping) else {}
    host = str(metadata.get("address") or reply.get("host"))

    def at(value: Any) -> Endpoint | None:
        return Endpoint(host, value) if isinstance(value, int) and not isinstance(value, bool) else None

    http = reply.get("http_port", metadata.get("http_port"))
    return Endpoint(host, port), at(reply.get("health_check_port")), at(http)


class Role:
    """A behaviour: ZeroMQ actions, optional HTTP routes, optional health checks, start and stop."""

    name = "generic"
    # What the runtime reads from a role in the reference profile (aisys_verify.standin.reference):
    # None keeps the real BaseAgent's behaviour. main_health_verbs: the main-socket verbs answered with the
    # health reply; unserialisable_actions: the actions the unserialisable_reply defect breaks (None: every
    # role action); main_is_http: the main port speaks HTTP (the real ObservabilityHub is a FastAPI app).
    main_health_verbs: frozenset[str] | None = None
    unserialisable_actions: frozenset[str] | None = None
    main_is_http = False

    def __init__(self, ctx: AgentContext) -> None:
        self.ctx = ctx
        self.actions: dict[str, Action] = {"work": self.work}
        self.work_delay_s = float(ctx.agent.config.get("work_delay_ms", 0) or 0) / 1000 if isinstance(
            ctx.agent.config.get("work_delay_ms", 0), (int, float)) else 0.0

    async def start(self) -> None:
        return None

    async def stop(self) -> None:
        return None

    async def http(self, request: HttpRequest) -> HttpResponse | None:
        """Extra HTTP routes; None means 'not mine' (404)."""
        return None

    def checks(self) -> list[protocol.HealthCheck]:
        return []

    async def work(self, request: protocol.Request) -> dict[str, Any]:
        """The configurable 'work' action every stand-in has: echo the payload after work_delay_ms."""
        import asyncio

        if self.work_delay_s:
            await asyncio.sleep(self.work_delay_s)
        return protocol.success(agent=self.ctx.agent.name, echo=request.body.get("payload"))


def require(request: protocol.Request, key: str, kind: type | tuple[type, ...] = str) -> Any:
    """A field of the request, or ProtocolError naming it and the expected type."""
    value = request.body.get(key)
    if not isinstance(value, kind) or (isinstance(value, bool) and kind is not bool):
        names = kind.__name__ if isinstance(kind, type) else " or ".join(k.__name__ for k in kind)
        raise protocol.ProtocolError(f"'{request.action}' needs '{key}' ({names})", "bad_request")
    return value
