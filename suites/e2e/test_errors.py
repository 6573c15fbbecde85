"""Error handling as a client sees it: bad requests get a 4xx with a message, an unknown action
gets an error reply naming what the agent knows, an unknown memory is a 404, and a dependency
that is down gives a graceful answer flagged ``degraded`` (and the stack heals when it returns).
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from aisys_verify import (
    Stack,
    VerifyConfig,
    attach_json,
    error_text,
    failed,
    labels,
    mentions,
    poll,
    require,
    step,
)

from .support import Gateway, wait_stack_healthy, zmq_endpoints, zmq_request

pytestmark = pytest.mark.e2e

MEMORY_HOST, MEMORY_GROUP = "pc2", "memory_stack"  # MemoryOrchestratorService's group


def _has_message(body: Any) -> bool:
    return isinstance(body, dict) and isinstance(body.get("error"), str) and bool(body["error"].strip())


@pytest.mark.parametrize(("path", "body", "status", "mentions"), [
    ("/dialogue/process", b"{not json", 400, "json"),
    ("/dialogue/process", b"[1, 2]", 400, "object"),
    ("/memory/store", b"\xff\xfe garbage", 400, "json"),
    ("/dialogue/process", {"session_id": "s"}, 422, "text"),
    ("/dialogue/process", {"text": "   "}, 422, "text"),
    ("/dialogue/process", {"text": "hello", "session_id": 5}, 422, "session_id"),
    ("/memory/store", {"session_id": "s"}, 422, "content"),
], ids=["invalid-json", "not-an-object", "memory-not-utf8", "missing-text", "blank-text", "session-not-a-string",
        "memory-missing-content"])
def test_bad_request_gets_4xx_with_a_message(gateway: Gateway, path: str, body: Any, status: int,
                                             mentions: str) -> None:
    labels(host="pc2", group="web_interface", agent="UnifiedWebAgent")
    reply = gateway.post(path, body)
    assert reply.status == status, f"POST {path} {body!r}: expected HTTP {status} with a message, " \
                                   f"got HTTP {reply.status} {reply.body!r}"
    assert _has_message(reply.body), f"POST {path} {body!r}: HTTP {status} without an 'error' message: {reply.body!r}"
    assert mentions in reply.body["error"].lower(), (
        f"POST {path} {body!r}: the message {reply.body['error']!r} does not say what is wrong ({mentions!r})")


def test_unknown_memory_is_404(gateway: Gateway) -> None:
    """GET /memory/{id} answers a stored memory, and a 404 naming the id for one that does not exist."""
    labels(host="pc2", group="web_interface", agent="UnifiedWebAgent")
    stored = gateway.post("/memory/store", {"content": "a memory that exists", "session_id": "errors"})
    assert stored.status == 201, f"POST /memory/store: HTTP {stored.status} {stored.body!r}"
    found = gateway.get(f"/memory/{stored.json_object().get('memory_id')}")
    assert found.status == 200, f"GET of a stored memory: HTTP {found.status} {found.body!r}"
    missing = uuid.uuid4().hex
    reply = gateway.get(f"/memory/{missing}")
    assert reply.status == 404, f"GET /memory/{missing}: expected 404, got HTTP {reply.status} {reply.body!r}"
    assert _has_message(reply.body), f"GET /memory/{missing}: 404 without a message: {reply.body!r}"
    assert missing in reply.body["error"], (
        f"GET /memory/{missing}: the 404 does not say which memory is missing: {reply.body!r}")


def test_unknown_action_gets_an_error_reply(aisys_stack: Stack, aisys_config: VerifyConfig) -> None:
    """Every agent answers an action it does not know with an error reply naming the action (the real
    agents: ``Unknown action: x`` in ``error``, no code; PROTOCOL.md §2). The ideal stand-ins also name
    the actions they know; that is their promise only, so it is asserted for the ideal profile."""
    ideal = aisys_config.standin_profile == "ideal"
    problems = []
    endpoints, http_apps = zmq_endpoints(aisys_stack)
    attach_json("agents serving HTTP on their main port (no ZeroMQ actions)", http_apps)
    assert not (ideal and http_apps), f"ideal stand-ins all have a ZeroMQ main socket; HTTP there: {http_apps}"
    with step(f"send an unknown action to all {len(endpoints)} ZeroMQ agents"):
        for ep in endpoints:
            reply = zmq_request(ep.main_url, "no_such_action", {"x": 1},
                                title=f"no_such_action -> {ep.host}/{ep.agent}")
            if not failed(reply) or not error_text(reply):
                problems.append(f"{ep.host}/{ep.agent}: not an error reply with a message: {reply}")
            elif not mentions(reply, "no_such_action"):
                problems.append(f"{ep.host}/{ep.agent}: the error does not name the action: "
                                f"{error_text(reply)!r}")
            elif ideal and (reply.get("error_code") != "unknown_action" or not mentions(reply, "ping")):
                problems.append(f"{ep.host}/{ep.agent}: the error does not name the known actions (ideal profile): "
                                f"{reply}")
    assert not problems, f"{len(problems)} agent(s) mishandle an unknown action:\n  " + "\n  ".join(problems)
    if ideal:
        reply = zmq_request(aisys_stack.endpoint("RequestCoordinator").main_url, "no_such_action")
        assert mentions(reply, "process_dialogue"), reply


def test_memory_down_gives_a_graceful_flagged_answer(aisys_stack: Stack, gateway: Gateway) -> None:
    """Kill PC2's memory_stack: the next turn is still answered, flagged degraded naming memory; once the
    group is back the turns are whole again (restarted whatever happens)."""
    labels(host=MEMORY_HOST, group=MEMORY_GROUP, agent="MemoryOrchestratorService")
    require(aisys_stack, "kill", "restart", purpose=f"kill {MEMORY_HOST}/{MEMORY_GROUP} and start it again")
    session = f"down-{uuid.uuid4().hex[:10]}"
    gateway.answered_turn("My name is Grace", session, title="before the fault")
    killed = False
    try:
        with step(f"kill {MEMORY_HOST}/{MEMORY_GROUP}"):
            aisys_stack.kill_group(MEMORY_HOST, MEMORY_GROUP)
            killed = True
        reply = gateway.turn("What is my name?", session, title="turn while memory is down")
        assert reply.status == 200, (f"with {MEMORY_HOST}/{MEMORY_GROUP} down the turn was not answered "
                                     f"gracefully: HTTP {reply.status} {reply.body!r}")
        body = reply.json_object()
        assert isinstance(body.get("response"), str), body
        assert body["response"].strip(), f"an empty answer is not a graceful one: {body}"
        assert body.get("degraded") is True, f"memory is down but the answer is not flagged degraded: {body}"
        reasons = body.get("degraded_reasons") or []
        assert any("memory" in str(r).lower() for r in reasons), f"degraded_reasons do not name memory: {reasons}"
    finally:
        if killed:
            with step(f"restart {MEMORY_HOST}/{MEMORY_GROUP} and wait until turns are whole again"):
                aisys_stack.restart_group(MEMORY_HOST, MEMORY_GROUP)
                last: dict[str, Any] = {}

                def whole() -> str | None:
                    reply = gateway.turn("What is my name?", session, title="turn after the restart")
                    last.update(reply.json_object())
                    if reply.status != 200 or reply.json_object().get("degraded") is not False:
                        return f"HTTP {reply.status} {reply.body!r}"
                    return None

                problem = poll(whole, 20.0, 0.3, until=lambda left: left is None).last  # None: done
                attach_json("first whole turn after the restart", last)
                assert problem is None, f"turns still degraded 20 s after restarting {MEMORY_GROUP}: {problem}"
                assert "Grace" in str(last.get("response")), f"memory lost what it stored before the kill: {last}"
                wait_stack_healthy(aisys_stack)
