"""RequestCoordinator: one dialogue turn through language, memory and optionally TTS or reasoning.

language (NLUAgent, ChitchatAgent) is critical: without it there is no answer (an error
reply). memory, TTS and reasoning are not: when one is down the turn is still answered,
flagged ``degraded`` with the reasons. ``standin: {degrade: false}`` in the agent's config
removes that degradation path (an optional hop failing fails the turn), as a coordinator
written without it would behave: the chaos suite's mutation test uses it.
"""

from __future__ import annotations

import time
from typing import Any

from opentelemetry import trace

from aisys_verify.standin import protocol, tracing
from aisys_verify.standin.calls import CallFailed, CallPolicy
from aisys_verify.standin.roles.base import AgentContext, Role, require

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
        if nlu.get("status") != "success":
            metrics.count("ai_conversation_completed_total", status="error")
            return protocol.error(f"language unavailable: {nlu.get('error')}", "dependency_unavailable")
        facts: dict[str, Any] = {}
        if session:
            try:
                context = await self.ctx.call("MemoryClient", "get_context", session_id=session, policy=NON_CRITICAL)
                if context.get("status") == "success":
                    facts = context.get("facts") or {}
                    self.ctx.metrics.count("ai_memory_retrieval_total", accuracy="high")
                else:
                    degraded.append(f"memory: {context.get('error')}")
            except CallFailed as exc:
                degraded.append(f"memory: {exc.reason}")
        reply = await self.ctx.call("ChitchatAgent", "generate_response", text=text, intent=nlu.get("intent"),
                                    entities=nlu.get("entities"), facts=facts)
        if reply.get("status") != "success":
            metrics.count("ai_conversation_completed_total", status="error")
            return protocol.error(f"response generation unavailable: {reply.get('error')}", "dependency_unavailable")
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
                if stored.get("status") != "success":
                    degraded.append(f"memory: {stored.get('error')}")
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
        if reply.get("status") != "success":
            degraded.append(f"{target}: {reply.get('error')}")
            return None
        return {k: reply.get(k) for k in ("output", "service_time_ms")}
