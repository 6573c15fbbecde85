"""RequestCoordinator: one dialogue turn through language, memory and optionally TTS or reasoning.

language (NLUAgent, ChitchatAgent) is critical: without it there is no answer (an error
reply). memory, TTS and reasoning are not: when one is down the turn is still answered,
flagged ``degraded`` with the reasons. ``standin: {degrade: false}`` in the agent's config
removes that degradation path (an optional hop failing fails the turn), as a coordinator
written without it would behave: the chaos suite's mutation test uses it.

The dialogue is the stand-ins' own in both profiles (the real RequestCoordinator's was never
measured: it exits at start-up, PROTOCOL.md §4); every reply it reads may be of either dialect
(status success or ok, the error text in ``error`` or ``message``, no error code).
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import trace

from aisys_verify.standin import protocol, tracing
from aisys_verify.standin.calls import CallFailed, CallPolicy
from aisys_verify.standin.roles.base import AgentContext, Role, error_text, require, succeeded

MAX_TEXT = 10_000
NON_CRITICAL = CallPolicy(timeout_s=2.0, retries=0)  # a slow optional hop must not stall the answer


class CoordinatorRole(Role):
    name = "coordinator"

    def __init__(self, ctx: AgentContext) -> None:
        super().__init__(ctx)
        for action in ("process_dialogue", "process_request", "dialogue"):
            self.actions[action] = self.turn
        options = ctx.agent.config.get("standin", {}) if hasattr(ctx.agent.config, "get") else {}
        self.degrade = not (hasattr(options, "get") and options.get("degrade") is False)

    async def turn(self, request: protocol.Request) -> dict[str, Any]:
        started = time.perf_counter()
        text = require(request, "text")
        if not text.strip() or len(text) > MAX_TEXT:
            raise protocol.ProtocolError(f"'text' must be 1-{MAX_TEXT} characters of non-blank text")
        session = request.body.get("session_id")
        session = session if isinstance(session, str) and 0 < len(session) <= 200 else None
        metrics = self.ctx.metrics
        metrics.count("ai_conversation_started_total")
        degraded: list[str] = []

        nlu = await self.ctx.call("NLUAgent", "analyze", text=text)
        if not succeeded(nlu):  # either dialect: the real NLUAgent says 'ok'
            metrics.count("ai_conversation_completed_total", status="error")
            return protocol.error(f"language unavailable: {error_text(nlu)}", "dependency_unavailable")
        facts: dict[str, Any] = {}
        if session:
            try:
                context = await self.ctx.call("MemoryClient", "get_context", session_id=session, policy=NON_CRITICAL)
                if succeeded(context):
                    facts = context.get("facts") or {}
                    self.ctx.metrics.count("ai_memory_retrieval_total", accuracy="high")
                else:
                    degraded.append(f"memory: {error_text(context)}")
            except CallFailed as exc:
                degraded.append(f"memory: {exc.reason}")
        reply = await self.ctx.call("ChitchatAgent", "generate_response", text=text, intent=nlu.get("intent"),
                                    entities=nlu.get("entities"), facts=facts)
        if not succeeded(reply):
            metrics.count("ai_conversation_completed_total", status="error")
            return protocol.error(f"response generation unavailable: {error_text(reply)}", "dependency_unavailable")
        extras: dict[str, Any] = {}
        if nlu.get("intent") == "reasoning":
            extras["reasoning"] = await self._optional("ChainOfThoughtAgent", "reason", degraded, text=text)
        if request.body.get("tts") is True:
            extras["speech"] = await self._optional("StreamingTTSAgent", "synthesize", degraded,
                                                    text=reply.get("response"))
        if session:
            try:
                stored = await self.ctx.call("MemoryClient", "store_turn", session_id=session, user=text,
                                             response=reply.get("response"), intent=nlu.get("intent"),
                                             entities=nlu.get("entities"), policy=NON_CRITICAL)
                if not succeeded(stored):
                    degraded.append(f"memory: {error_text(stored)}")
            except CallFailed as exc:
                degraded.append(f"memory: {exc.reason}")
        if degraded and not self.degrade:
            metrics.count("ai_conversation_completed_total", status="error")
            return protocol.error(f"turn failed: {'; '.join(sorted(set(degraded)))}", "dependency_unavailable")
        metrics.count("ai_conversation_completed_total", status="degraded" if degraded else "success")
        if degraded:
            trace.get_current_span().set_attribute("degraded", "; ".join(degraded))
        return protocol.success(
            response=reply.get("response"), confidence=min(float(nlu.get("confidence", 0.5)),
                                                           float(reply.get("confidence", 0.5))),
            intent=nlu.get("intent"), entities=nlu.get("entities"), session_id=session,
            processing_time_ms=round((time.perf_counter() - started) * 1000, 3),
            trace_id=tracing.current_trace_id(), degraded=bool(degraded), degraded_reasons=sorted(set(degraded)),
            **{k: v for k, v in extras.items() if v is not None})

    async def _optional(self, target: str, action: str, degraded: list[str], **fields: Any) -> Any:
        try:
            reply = await self.ctx.call(target, action, policy=NON_CRITICAL, **fields)
        except CallFailed as exc:
            degraded.append(f"{target}: {exc.reason}")
            return None
        if not succeeded(reply):
            degraded.append(f"{target}: {error_text(reply)}")
            return None
        return {k: reply.get(k) for k in ("output", "service_time_ms")}
