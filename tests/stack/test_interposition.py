"""Toxiproxy interposition is real: with the project's own spec (77 agents, two hosts) stood up by
LocalStack, every call edge has a main and a health proxy and every agent a proxy to its host's
Redis; the agents really dial them (disabling one edge's proxy breaks exactly that hop), and a host
partition (every cross-host proxy disabled) degrades a MainPC dialogue turn until ``reset()``.
"""

from __future__ import annotations

import threading
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
from stack_support import SYSTEM_SPEC, TEST_SOURCE, http_json, zmq_request

from aisys_verify import wait_for
from aisys_verify.stack import LocalStack, StackOptions
from aisys_verify.stack.base import probe_health
from aisys_verify.stack.interpose import ProxiedEdge, proxy_address
from aisys_verify.standin import protocol
from aisys_verify.standin.wiring import call_edges

pytestmark = pytest.mark.integration

GATEWAY = ("UnifiedWebAgent", "pc2")
COORDINATOR = ("RequestCoordinator", "mainpc")


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    lines: list[str] = []
    s = LocalStack([str(SYSTEM_SPEC)], options=StackOptions(workdir=tmp_path_factory.mktemp("system-stack")),
                   progress=lines.append)
    try:
        s.start()
        yield s
    finally:
        s.stop()


@pytest.fixture(autouse=True)
def _all_proxies_enabled(stack: LocalStack) -> Iterator[None]:
    """Each test starts, and leaves the next test, with every proxy enabled and no toxics."""
    stack.toxiproxy_client.reset()
    yield
    stack.toxiproxy_client.reset()


def edge(stack: LocalStack, caller: str, callee: str, socket: str) -> ProxiedEdge:
    found = [p for p in stack.proxies if p.caller == caller and p.callee == callee and p.socket == socket]
    assert len(found) == 1, (caller, callee, socket, found)
    return found[0]


def gateway_turn(stack: LocalStack, text: str, session: str) -> tuple[int, dict[str, Any]]:
    ep = stack.endpoint(*GATEWAY)
    return http_json(ep.address, ep.http_port, "POST", "/dialogue/process", {"text": text, "session_id": session})


def coordinator_turn(stack: LocalStack, text: str, session: str) -> dict[str, Any]:
    """A dialogue turn sent straight to MainPC's RequestCoordinator over ZeroMQ (no gateway, no cross-host hop)."""
    ep = stack.endpoint(*COORDINATOR)
    reply = zmq_request(ep.main_url, protocol.envelope("process_dialogue", TEST_SOURCE, text=text,
                                                       session_id=session), timeout=30)
    assert reply is not None, f"no reply from {ep.main_url}"
    return reply


def test_the_real_spec_is_up_and_healthy(stack: LocalStack) -> None:
    health = probe_health(stack)
    assert len(health) == len(stack.topology.agents) == 77
    assert {k: v.get("status") for k, v in health.items() if v.get("status") != "ok"} == {}


def test_every_call_edge_has_a_main_and_a_health_proxy_and_every_agent_a_redis_proxy(stack: LocalStack) -> None:
    topology, plan = stack.topology, stack.plan
    edges = [e for e in call_edges(topology) if e.purpose != "scrape"]
    assert len(edges) > 100  # the real topology: dependencies, role calls, registration, hub sync
    by_key = {(p.caller, p.callee, p.socket): p for p in stack.proxies}
    assert len(by_key) == len(stack.proxies), "two proxies for one edge and socket"
    for e in edges:
        callee = topology.agents_by_key[e.callee]
        caller = topology.agents_by_key[e.caller]
        for socket, port in (("main", callee.port.number), ("health", callee.health_port.number)):
            p = by_key.get((e.caller, e.callee, socket))
            assert p is not None, f"no {socket} proxy on edge {e.name} ({e.purpose})"
            assert p.proxy.upstream == f"{plan.address_of(callee.key, callee.host)}:{port}", p
            listen_host, listen_port = p.proxy.listen.rsplit(":", 1)
            assert listen_host == proxy_address(plan, caller.host), p  # the caller's host's proxy address
            assert plan.overrides[e.caller][e.callee][socket] == (listen_host, int(listen_port)), p
            assert p.cross_host == (caller.host != callee.host), p
    for agent in topology.agents:
        p = by_key.get((agent.key, f"{agent.host}/redis", "redis"))
        assert p is not None, f"no Redis proxy for {agent.key}"
        assert p.proxy.upstream == "{}:{}".format(*plan.redis[agent.host]), p
        assert plan.redis_overrides[agent.key] == (p.proxy.listen.rsplit(":", 1)[0],
                                                   int(p.proxy.listen.rsplit(":", 1)[1]))
    assert len(stack.proxies) == 2 * len(edges) + len(topology.agents)

    # and Toxiproxy itself serves exactly these, enabled, on the addresses the plan gives the agents
    served = stack.toxiproxy_client.proxies()
    assert set(served) == {p.proxy.name for p in stack.proxies}
    for p in stack.proxies:
        assert served[p.proxy.name]["listen"] == p.proxy.listen, served[p.proxy.name]
        assert served[p.proxy.name]["upstream"] == p.proxy.upstream, served[p.proxy.name]
        assert served[p.proxy.name]["enabled"] is True, served[p.proxy.name]
    listens = [p.proxy.listen for p in stack.proxies]
    assert len(set(listens)) == len(listens), "two proxies share a listen address"
    agent_addresses = set(plan.host_addresses.values())
    assert not {x.rsplit(":", 1)[0] for x in listens} & agent_addresses

    # both directions cross hosts in the real topology
    assert edge(stack, "pc2/UnifiedWebAgent", "mainpc/RequestCoordinator", "main").cross_host
    assert edge(stack, "mainpc/MemoryClient", "pc2/MemoryOrchestratorService", "main").cross_host


def test_disabling_the_gateway_to_coordinator_proxy_fails_the_turn_and_enabling_restores_it(
        stack: LocalStack) -> None:
    client = stack.toxiproxy_client
    hop = edge(stack, "pc2/UnifiedWebAgent", "mainpc/RequestCoordinator", "main")
    assert hop.proxy.name == "pc2.UnifiedWebAgent--mainpc.RequestCoordinator__main"
    session = f"edge-{uuid.uuid4().hex[:8]}"

    status, body = gateway_turn(stack, "Hi, my name is Ada", session)
    assert (status, body.get("status")) == (200, "ok"), body

    client.set_enabled(hop.proxy.name, False)
    assert client.proxies()[hop.proxy.name]["enabled"] is False
    status, body = gateway_turn(stack, "Hello again", session)
    assert 500 <= status < 600, (status, body)
    # the gateway failed on exactly this proxy: it dials the proxy's listen address, not the coordinator
    assert "RequestCoordinator" in str(body.get("error")) and hop.proxy.listen in str(body.get("error")), body

    client.set_enabled(hop.proxy.name, True)
    status, body = gateway_turn(stack, "What is my name?", session)
    assert (status, body.get("status")) == (200, "ok"), body
    assert "Ada" in body["response"], body  # same session: memory across both hosts works again


def test_a_host_partition_degrades_a_mainpc_turn_and_reset_restores_it(stack: LocalStack) -> None:
    client = stack.toxiproxy_client
    session = f"partition-{uuid.uuid4().hex[:8]}"
    before = coordinator_turn(stack, "Hi, my name is Grace", session)
    assert before["status"] == "success" and before["degraded"] is False, before

    cross = [p for p in stack.proxies if p.cross_host]
    hop = edge(stack, "mainpc/MemoryClient", "pc2/MemoryOrchestratorService", "main")
    assert hop in cross
    for p in cross:  # the partition: one operation
        client.set_enabled(p.proxy.name, False)
    served = client.proxies()
    assert all(served[p.proxy.name]["enabled"] is False for p in cross)
    assert all(served[p.proxy.name]["enabled"] is True for p in stack.proxies if not p.cross_host)

    # MainPC's MemoryClient -> PC2's MemoryOrchestratorService hop fails (asked directly, concurrently with the turn)
    direct: dict[str, Any] = {}
    memory_client = stack.endpoint("MemoryClient", "mainpc")

    def ask_memory_client() -> None:
        direct["reply"] = zmq_request(memory_client.main_url, protocol.envelope(
            "get_context", TEST_SOURCE, session_id=session), timeout=30)

    asker = threading.Thread(target=ask_memory_client)
    asker.start()
    during = coordinator_turn(stack, "The weather is lovely today", session)
    asker.join(40)
    assert not asker.is_alive()

    assert during["status"] == "success", during  # MainPC's own language agents still answer
    assert during["degraded"] is True, during
    assert any(r.startswith("memory:") for r in during["degraded_reasons"]), during
    reply = direct["reply"]
    assert isinstance(reply, dict) and reply["status"] == "error", reply
    assert reply.get("error_code") == "dependency_unavailable", reply
    assert "MemoryOrchestratorService" in reply["error"] and hop.proxy.listen in reply["error"], reply

    client.reset()
    served = client.proxies()
    assert all(v["enabled"] is True for v in served.values())

    def undegraded_turn() -> dict[str, Any] | None:
        reply = coordinator_turn(stack, "What is my name?", session)
        return reply if reply.get("degraded") is False else None

    after = wait_for(undegraded_turn, timeout=20, interval=0.5, what="an undegraded turn after reset()")
    assert after is not None and after["status"] == "success", after
    assert "Grace" in after["response"], after  # memory across hosts is back (the pre-partition turn was kept)
