"""The span tree of one dialogue turn: every hop present, each call's server span under its
client span and each client span under its caller's server span, on the right host, no errors;
and with the MemoryClient -> MemoryOrchestratorService edge cut, the degraded turn's trace marks
the failing hops ERROR while the rest of the turn stays clean.
"""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import pytest

from aisys_verify import Span, Stack, Trace, attach_text, labels, poll, step

from .support import Gateway

pytestmark = pytest.mark.e2e

GATEWAY, COORDINATOR, CLIENT, STORE = "UnifiedWebAgent", "RequestCoordinator", "MemoryClient", \
    "MemoryOrchestratorService"
# every hop of a turn with a session, in order: (caller, callee, action)
TURN_HOPS = [
    (GATEWAY, COORDINATOR, "process_dialogue"),
    (COORDINATOR, "NLUAgent", "analyze"),
    (COORDINATOR, CLIENT, "get_context"),
    (CLIENT, STORE, "get_context"),
    (COORDINATOR, "ChitchatAgent", "generate_response"),
    (COORDINATOR, CLIENT, "store_turn"),
    (CLIENT, STORE, "store_turn"),
]
FAULT_EDGE = (f"mainpc/{CLIENT}", f"pc2/{STORE}")


def _tree_problems(stack: Stack, trace: Trace) -> list[str]:
    """Parent and child right: client spans under their caller's server span, server spans under the
    client span that called them, each server span on the callee's host."""
    problems = []
    by_id = {s.span_id: s for s in trace.spans}
    roots = trace.roots
    if len(roots) != 1 or roots[0].kind != "SERVER" or roots[0].agent != GATEWAY:
        problems.append(f"the root should be the gateway's HTTP server span, got {[r.name for r in roots]}")
    for span in trace.spans:
        parent = by_id.get(span.parent_id or "")
        if span.kind == "CLIENT":
            if parent is None or parent.kind != "SERVER" or parent.agent != span.agent:
                problems.append(f"client span {span.name!r} is not under a {span.agent} server span "
                                f"(parent: {parent.name if parent else None!r})")
            for child in trace.children(span):
                if child.kind == "SERVER" and child.agent != span.attributes.get("peer"):
                    problems.append(f"server span {child.name!r} is under the call to {span.attributes.get('peer')}")
        if span.kind == "SERVER" and span is not roots[0]:
            if parent is None or parent.kind != "CLIENT":
                problems.append(f"server span {span.name!r} is not under a client span")
            callee = stack.topology.find_agent(span.agent, span.service.split("/")[0])
            if callee is None or not span.service.startswith(f"{callee.host}/"):
                problems.append(f"server span {span.name!r} ran on {span.service}, not on its agent's host")
    return problems


def test_span_tree_of_one_turn(gateway: Gateway, aisys_stack: Stack,
                               aisys_trace: Callable[[str], Trace]) -> None:
    labels(host="mainpc", group="coordination", agent=COORDINATOR)
    body = gateway.answered_turn("Hello, my name is Alan", f"trace-{uuid.uuid4().hex[:10]}")
    trace = aisys_trace(body["trace_id"])
    attach_text("span tree", trace.render())
    # present, each answered by a server span, no errors, one root
    trace.assert_hops(list(dict.fromkeys((caller, callee) for caller, callee, _ in TURN_HOPS)))
    hops = [(h.caller, h.callee, h.action) for h in trace.hops()]
    assert sorted(hops) == sorted(TURN_HOPS), (
        f"the turn's hops differ from the expected ones:\n  missing: {sorted(set(TURN_HOPS) - set(hops))}\n"
        f"  extra: {sorted(set(hops) - set(TURN_HOPS))}\n{trace.render()}")
    problems = _tree_problems(aisys_stack, trace)
    assert not problems, "the span tree is wrong:\n  " + "\n  ".join(problems) + "\n" + trace.render()
    crossing = [s for s in trace.spans if s.kind == "SERVER" and s.agent == STORE]
    assert crossing, f"no {STORE} server span in the turn:\n{trace.render()}"
    assert all(s.service.startswith("pc2/") for s in crossing), trace.render()
    assert all(by.service.startswith("mainpc/") for s in crossing for by in trace.spans if by.span_id == s.parent_id)


def _error_hops(trace: Trace, caller: str, callee: str) -> list[Span]:
    return [s for s in trace.spans if s.kind == "CLIENT" and s.agent == caller
            and s.attributes.get("peer") == callee and s.status == "ERROR"]


def test_failing_hop_is_marked_error(gateway: Gateway, aisys_stack: Stack, aisys_trace: Callable[[str], Trace],
                                     toxiproxy_reset: None) -> None:
    labels(host="mainpc", group="memory_stack", agent=CLIENT)
    proxy = next((p.proxy.name for p in aisys_stack.proxies
                  if (p.caller, p.callee, p.socket) == (*FAULT_EDGE, "main")), None)
    assert proxy is not None, f"no Toxiproxy proxy on the edge {FAULT_EDGE[0]} -> {FAULT_EDGE[1]} (main socket): " \
                              "the spec has no such call"
    session = f"trace-fault-{uuid.uuid4().hex[:10]}"
    try:
        with step(f"disable {proxy}"):
            aisys_stack.toxiproxy_client.set_enabled(proxy, False)
        body = gateway.answered_turn("What is my name?", session, title="turn with the memory edge cut")
        assert body.get("degraded") is True, f"the memory edge is cut but the turn is not degraded: {body}"
        # the coordinator gives up on memory first; MemoryClient's own call times out a few seconds later
        deadline = time.monotonic() + 15
        trace = aisys_trace(body["trace_id"])
        while not _error_hops(trace, CLIENT, STORE) and time.monotonic() < deadline:
            time.sleep(0.5)
            trace = aisys_trace(body["trace_id"])
    finally:
        aisys_stack.toxiproxy_client.set_enabled(proxy, True)
    attach_text("degraded span tree", trace.render())
    assert _error_hops(trace, CLIENT, STORE), f"the failing hop {CLIENT} -> {STORE} is not marked ERROR:\n" \
                                              f"{trace.render()}"
    assert _error_hops(trace, COORDINATOR, CLIENT), f"the coordinator's memory call is not marked ERROR:\n" \
                                                    f"{trace.render()}"
    bad = [s.name for s in trace.errors() if not (s.attributes.get("peer") in (CLIENT, STORE)
                                                   or (s.kind == "SERVER" and s.agent == CLIENT))]
    assert not bad, f"spans outside the failing hops are marked ERROR: {bad}\n{trace.render()}"
    healthy = [(h.caller, h.callee) for h in trace.hops() if h.ok]
    for hop in [(GATEWAY, COORDINATOR), (COORDINATOR, "NLUAgent"), (COORDINATOR, "ChitchatAgent")]:
        assert hop in healthy, f"hop {hop[0]} -> {hop[1]} should be unaffected:\n{trace.render()}"
    coordinator = [s for s in trace.spans if s.kind == "SERVER" and s.agent == COORDINATOR]
    assert coordinator, f"no {COORDINATOR} server span:\n{trace.render()}"
    assert "memory" in str(coordinator[0].attributes.get("degraded", "")), \
        f"the coordinator's span does not say it degraded on memory: {coordinator[0].attributes}"

    with step("edge restored: turns are whole again"):
        def whole() -> str | None:
            reply = gateway.turn("Hello", session, title="turn after the edge is restored")
            return None if reply.status == 200 and reply.json_object().get("degraded") is False else str(reply.body)

        problem = poll(whole, 20.0, 0.3, until=lambda left: left is None).last  # None: done
        assert problem is None, f"turns still degraded after re-enabling {proxy}: {problem}"
