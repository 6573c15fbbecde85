"""A MainPC request that needs PC2's memory: MainPC's MemoryClient keeps no store of its own; it
forwards to PC2's MemoryOrchestratorService, so what is stored on one side is read on the other,
and the request's trace shows the hop from MainPC to PC2.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

import pytest

from aisys_verify import Stack, Trace, error_text, labels, succeeded

from .support import Gateway, new_traceparent, zmq_request

pytestmark = pytest.mark.e2e

CLIENT, STORE = "MemoryClient", "MemoryOrchestratorService"


def test_stored_on_mainpc_is_read_on_pc2(aisys_stack: Stack, gateway: Gateway,
                                       aisys_trace: Callable[[str], Trace]) -> None:
    labels(host="mainpc", group="memory_stack", agent=CLIENT)
    content = f"stored through MainPC {uuid.uuid4().hex}"
    trace_id, traceparent = new_traceparent()
    client = aisys_stack.endpoint(CLIENT, "mainpc")
    stored = zmq_request(client.main_url, "store_memory", {"content": content, "session_id": "xhost"},
                         traceparent=traceparent, title=f"store_memory via mainpc/{CLIENT}")
    assert succeeded(stored), f"mainpc/{CLIENT} store_memory failed: {error_text(stored) or stored}"
    assert stored.get("memory_id"), f"mainpc/{CLIENT} store_memory gave no memory_id: {stored}"

    reply = gateway.get(f"/memory/{stored['memory_id']}", title="read it back through the PC2 gateway")
    assert reply.status == 200, (
        f"memory {stored['memory_id']} stored through mainpc/{CLIENT} is not readable through the PC2 gateway "
        f"(pc2/{STORE}): HTTP {reply.status} {reply.body!r}")
    memory = reply.json_object().get("memory") or {}
    assert memory.get("content") == content, f"PC2 returned another memory: {memory}"

    trace: Trace = aisys_trace(trace_id)
    hops = [h for h in trace.hops() if (h.caller, h.callee) == (CLIENT, STORE)]
    assert hops, f"the store request's trace has no hop {CLIENT} -> {STORE}:\n{trace.render()}"
    assert all(h.ok for h in hops), f"the hop {CLIENT} -> {STORE} failed:\n{trace.render()}"
    crossings = [(c.service, s.service) for c in trace.spans
                 if c.kind == "CLIENT" and c.attributes.get("peer") == STORE
                 for s in trace.children(c) if s.kind == "SERVER"]
    assert any(a.startswith("mainpc/") and b.startswith("pc2/") for a, b in crossings), (
        f"no span of the trace crosses from mainpc to pc2 ({crossings}):\n{trace.render()}")


def test_stored_on_pc2_is_read_on_mainpc(aisys_stack: Stack, gateway: Gateway) -> None:
    labels(host="pc2", group="web_interface", agent="UnifiedWebAgent")
    content = f"stored through PC2 {uuid.uuid4().hex}"
    stored = gateway.post("/memory/store", {"content": content, "session_id": "xhost"},
                          title="store through the PC2 gateway")
    assert stored.status == 201, f"POST /memory/store: HTTP {stored.status} {stored.body!r}"
    assert stored.json_object().get("memory_id"), f"POST /memory/store gave no memory_id: {stored.body!r}"
    memory_id = stored.json_object()["memory_id"]
    reply = zmq_request(aisys_stack.endpoint(CLIENT, "mainpc").main_url, "get_memory", {"memory_id": memory_id},
                        title=f"get_memory via mainpc/{CLIENT}")
    assert succeeded(reply), (
        f"memory {memory_id} stored on PC2 is not readable through mainpc/{CLIENT}: {error_text(reply) or reply}")
    assert (reply.get("memory") or {}).get("content") == content, reply
    assert reply.get("via") == STORE, f"mainpc/{CLIENT} did not get it from {STORE}: {reply}"


def test_mainpc_dialogue_uses_pc2_memory(aisys_stack: Stack) -> None:
    """A turn sent straight to MainPC's RequestCoordinator answers from what PC2 remembers."""
    labels(host="mainpc", group="coordination", agent="RequestCoordinator")
    coordinator = aisys_stack.endpoint("RequestCoordinator").main_url
    session = f"xhost-{uuid.uuid4().hex[:10]}"
    first = zmq_request(coordinator, "process_dialogue", {"text": "My name is Linus", "session_id": session},
                        timeout=15, title="turn 1 on MainPC")
    assert succeeded(first), first
    assert first.get("degraded") is False, f"MainPC's first turn is degraded: {first}"
    second = zmq_request(coordinator, "process_dialogue", {"text": "What is my name?", "session_id": session},
                         timeout=15, title="turn 2 on MainPC")
    assert succeeded(second), second
    assert "Linus" in str(second.get("response")), (
        f"MainPC's answer {second.get('response')!r} lacks 'Linus' stored in PC2's memory: {second}")
    context = zmq_request(aisys_stack.endpoint(STORE, "pc2").main_url, "get_context", {"session_id": session},
                          title=f"the session on pc2/{STORE}")
    assert (context.get("facts") or {}).get("name") == "Linus", f"pc2/{STORE} does not hold the session: {context}"
