"""The default spec stands up on the configured backend with every edge proxied, and is healthy.

Run by the main job (scripts/main) against the embedded local backend; `--aisys-backend compose`
runs the same checks against containers.
"""

from __future__ import annotations

from aisys_verify import Stack, probe_health, read_reply
from aisys_verify.standin import call_edges


def test_every_agent_answers_health_ok(aisys_stack: Stack) -> None:
    replies = probe_health(aisys_stack)  # read by aisys_verify.read_reply: either reply shape
    bad = {k: read_reply(v).shown() for k, v in replies.items() if not read_reply(v).up}
    assert len(replies) == len(aisys_stack.topology.agents)
    assert not bad, f"{len(bad)} agent(s) not ok: {bad}"


def test_every_edge_goes_through_toxiproxy(aisys_stack: Stack) -> None:
    proxied = {(p.caller, p.callee) for p in aisys_stack.proxies if p.socket == "main"}
    expected = {(e.caller, e.callee) for e in call_edges(aisys_stack.topology)}
    assert proxied == expected
    assert all(p.proxy.name in aisys_stack.toxiproxy_client.proxies() for p in aisys_stack.proxies)
    cross_host = [p for p in aisys_stack.proxies if p.cross_host]
    assert cross_host, "the default spec has cross-host edges (MemoryClient -> MemoryOrchestratorService)"
