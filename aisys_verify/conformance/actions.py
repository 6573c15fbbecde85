"""Every action the spec or the role declares returns a JSON-serialisable reply within a deadline.

The declared actions come from a static table here, keyed by role (the stand-in role table's names,
which also key the real agents, by agent name) and by agent name for agents PROTOCOL.md measured, so the
check works against real agents as well as stand-ins; the spec adds its own per agent with
``config: {actions: [name, ...]}`` (or a mapping of name -> request fields). Each request carries a
harmless payload: nothing here unregisters, deletes or retrains. An error reply is a reply (a real agent
may reject the payload); no reply at all is the failure: the real twin's get_metrics/get_history/
simulate_load build replies that cannot be serialised, send nothing, and leave the REP socket stuck
(``unserialisable_reply``).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from aisys_verify.conformance import wire
from aisys_verify.conformance.model import CheckResult, ConformanceOptions, failed, passed, skipped
from aisys_verify.conformance.ports import HTTP_MAIN, main_is_http, not_running_reason, running

CHECK = "actions"
CONTRACT = ("every action the spec or the agent's role declares gets a JSON-serialisable reply (a JSON object, "
            "success or error) within the deadline, and the main socket keeps answering")
SESSION = "aisys-conformance"
Payload = dict[str, Any]

_MEMORY: dict[str, Payload] = {
    "store_memory": {"content": "conformance probe", "session_id": SESSION, "kind": "conformance"},
    "get_memory": {"memory_id": "aisys-conformance-none"},
    "store_turn": {"session_id": SESSION, "text": "hello", "response": "hi"},
    "get_context": {"session_id": SESSION},
    "search": {"query": "conformance", "session_id": SESSION},
    "count": {"session_id": SESSION},
}

# role -> action -> harmless request fields. Health verbs are the health check's; registration writes
# (register_agent, unregister_agent) are left out: they would change what the registration check reads.
ROLE_ACTIONS: dict[str, dict[str, Payload]] = {
    "registry": {"get_agent_endpoint": {"agent_name": "ServiceRegistry"}, "list_agents": {}},
    "twin": {"get_all_agents": {}, "get_agent_info": {"agent_name": "ServiceRegistry"}, "get_metrics": {},
             "get_history": {"limit": 5}, "get_ok_agents": {},
             "publish_event": {"event": {"event_type": "conformance", "source": SESSION, "data": {}}},
             "report_error": {"error": {"error_type": "conformance", "message": "probe", "severity": "info"}},
             "update_vram_metrics": {"payload": {}, "metrics": {}}, "simulate_load": {}},
    "coordinator": {"process_dialogue": {"text": "hello", "session_id": SESSION}},
    "memory": _MEMORY,
    "memory-client": _MEMORY,
    "language": {"analyze": {"text": "hello"}, "generate_response": {"text": "hello", "session_id": SESSION}},
    "gpu": {"infer": {"input": "conformance"}, "model_status": {}},
    "observability": {"get_summary": {}},
    "gateway": {},
    "generic": {"work": {"payload": "conformance"}},
}

# agents PROTOCOL.md measured with actions of their own (§3, §5)
NAME_ACTIONS: dict[str, dict[str, Payload]] = {
    "EmotionSynthesisAgent": {"synthesize_emotion": {"text": "hello", "emotion": "joy", "intensity": 0.5}},
    "MemoryOrchestratorService": {"add_memory": {"data": {"content": "conformance probe", "session_id": SESSION}},
                                  "search_memory": {"data": {"query": "conformance"}},
                                  "get_memory": {"data": {"memory_id": "aisys-conformance-none"}}},
    "NLUAgent": {"analyze": {"text": "hello"}},
}


def declared_actions(target: wire.Target) -> dict[str, Payload]:
    """The role's actions, the agent's own (by name), then the spec's ``config.actions``: name -> fields."""
    found: dict[str, Payload] = {**ROLE_ACTIONS.get(target.role, {}), **NAME_ACTIONS.get(target.name, {})}
    config = target.agent.config
    declared = config.get("actions") if isinstance(config, Mapping) else None
    if isinstance(declared, Mapping):
        found.update({str(k): dict(v) if isinstance(v, Mapping) else {} for k, v in declared.items()})
    elif isinstance(declared, (list, tuple)):
        found.update({str(name): found.get(str(name), {}) for name in declared})
    return found


def check_actions(target: wire.Target, options: ConformanceOptions) -> CheckResult:
    if not running(target):
        return skipped(CHECK, target.key, not_running_reason(target))
    if main_is_http(target):
        return skipped(CHECK, target.key, f"{HTTP_MAIN}: no ZeroMQ frames to judge")
    actions = declared_actions(target)
    if not actions:
        return skipped(CHECK, target.key, f"its role ({target.role}) and the spec declare no actions")
    url = target.endpoint.main_url
    answered: list[str] = []
    for action, fields in actions.items():
        reply, raw = wire.request(url, wire.envelope(action, **fields), options.action_deadline_s)
        if raw is not None and isinstance(reply, Mapping):
            answered.append(action)
            continue
        if raw is not None:
            return failed(CHECK, target.key, f"{target.name}: the reply to {action!r} is not a JSON object: "
                          f"{raw[:160]!r}", CONTRACT, [], action=action)
        stuck = not wire.answers_ping(url, options.main_deadline_s)
        rest = [a for a in actions if a != action and a not in answered]
        after = ("and its main socket has answered nothing since (a ping on a fresh socket went unanswered)"
                 if stuck else "(the socket still answers a ping)")
        unchecked = f"; not checked after it: {', '.join(rest)}" if stuck and rest else ""
        return failed(CHECK, target.key, f"{target.name}: no reply to action {action!r} within "
                      f"{options.action_deadline_s:g} s {after}{unchecked}", CONTRACT,
                      ["unserialisable_reply"] if stuck else [], action=action, answered=answered)
    return passed(CHECK, target.key, f"answered all {len(answered)} declared actions: {', '.join(answered)}")
