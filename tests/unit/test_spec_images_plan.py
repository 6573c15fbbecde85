"""Which edges compose with the spec's own images interposes, known without Docker: exactly the cross-host
call edges, each through the shared proxy of its (source host, callee, socket); same-host edges reported
direct; a port clash inside Toxiproxy reported, never silent."""

from __future__ import annotations

from pathlib import Path

from aisys_verify.plan.edges import call_edges
from aisys_verify.spec.loader import load_spec
from aisys_verify.stack.base import StackOptions, interposable_edges
from aisys_verify.stack.compose import TOXIPROXY_PORT, ComposeStack
from aisys_verify.stack.spec_images import plan_interposition, proxied_edges

SYSTEM = Path(__file__).resolve().parents[2] / "system"


def test_spec_images_interpose_exactly_the_cross_host_pairs() -> None:
    topology = load_spec([str(SYSTEM)], {})
    hosts = {a.key: a.host for a in topology.agents}
    cross = {(e.caller, e.callee) for e in call_edges(topology) if hosts[e.caller] != hosts[e.callee]}
    assert cross and len(cross) < len(call_edges(topology))
    assert ComposeStack.interposable(topology, StackOptions(images="spec")) == frozenset(cross)
    assert interposable_edges("compose", topology, StackOptions(images="spec")) == frozenset(cross)
    assert ComposeStack.interposable(topology, StackOptions()) is None  # the stand-in image: every edge


def test_shared_proxies_per_source_host_callee_and_socket() -> None:
    topology = load_spec([str(SYSTEM)], {})
    plan = plan_interposition(topology, reserved=(TOXIPROXY_PORT,))
    edges = proxied_edges(topology, plan)
    assert {(p.caller, p.callee) for p in edges} == plan.pairs
    assert all(p.cross_host and p.socket in ("main", "health", "http") for p in edges)
    # every pc2 agent registers with mainpc's registry: one proxy per socket serves them all
    registry = [p for p in edges if p.callee == "mainpc/ServiceRegistry" and p.socket == "main"]
    assert len(registry) > 1 and len({p.proxy.name for p in registry}) == 1
    proxy = registry[0].proxy
    port = topology.agents_by_key["mainpc/ServiceRegistry"].port.number
    assert (proxy.listen, proxy.upstream) == (f"0.0.0.0:{port}", f"aisys-host-mainpc:{port}")
    same = [e.name for e in call_edges(topology) if e.caller.split("/")[0] == e.callee.split("/")[0]]
    assert set(same) == {k for k, why in plan.not_interposed.items() if why.startswith("same host")}


def test_a_port_clash_inside_toxiproxy_is_reported_not_silent() -> None:
    topology = load_spec([str(SYSTEM)], {})
    port = topology.agents_by_key["mainpc/ServiceRegistry"].port.number
    plan = plan_interposition(topology, reserved=(port,))  # as if Toxiproxy's API sat on the registry's port
    clashed = {k: v for k, v in plan.not_interposed.items() if not v.startswith("same host")}
    assert clashed and all(k.endswith("--mainpc.ServiceRegistry") for k in clashed), clashed
    assert all(f"port {port}" in why for why in clashed.values())
    assert not any(c == "mainpc/ServiceRegistry" for _, c in plan.pairs)
    assert "NOT interposed" in plan.line()
