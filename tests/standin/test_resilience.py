"""Resilience of the stand-ins (own spec, a cluster of its own): acknowledged memories survive
kill -9, answers degrade instead of failing when PC2's memory is gone, readiness follows Redis,
the ready key is refreshed, and SIGTERM stops a group cleanly.

Tests run in file order and each one first waits for the state it needs, so a test that broke
something (a killed group, a killed Redis) cannot make a later one fail for the wrong reason.
The Redis kill comes last.
"""

from __future__ import annotations

import contextlib
import os
import signal
import subprocess
import time
import uuid
from collections.abc import Iterator
from typing import Any

import pytest
import redis
from standin_integration_helpers import (
    OWN_SPEC,
    call_agent,
    health_of,
    http_json,
    http_of,
    running_cluster,
)

from aisys_verify import wait_for
from aisys_verify.standin.agent import READY_KEY
from aisys_verify.standin.cluster import LocalCluster, Proc, wait_port

pytestmark = pytest.mark.integration

MOS = "pc2/MemoryOrchestratorService"
MEMORY_STACK = ("pc2", "memory_stack")
GATEWAY = "pc2/UnifiedWebAgent"


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    with running_cluster([OWN_SPEC], tmp_path_factory.mktemp("resilience")) as cluster:
        yield cluster


def redis_of(cluster: LocalCluster, host: str) -> redis.Redis:
    address, port = cluster.plan.redis[host]
    return redis.Redis(host=address, port=port, socket_timeout=2.0, socket_connect_timeout=2.0,
                       decode_responses=True)


def ok(cluster: LocalCluster, keys: list[str], timeout: float = 20.0) -> None:
    """Wait until every agent in ``keys`` reports status ok; fail naming those that do not."""
    deadline = time.monotonic() + timeout
    while True:
        replies = {k: health_of(cluster, k) for k in keys}
        bad = {k: (v.get("status"), v.get("message") or v.get("error")) for k, v in replies.items()
               if v.get("status") != "ok"}
        if not bad:
            return
        if time.monotonic() > deadline:
            pytest.fail(f"agents not ok after {timeout:g} s: {bad}")
        time.sleep(0.25)


def dialogue(cluster: LocalCluster, text: str, session: str) -> dict[str, Any]:
    address, port = http_of(cluster, GATEWAY)
    status, body = http_json(address, port, "POST", "/dialogue/process", {"text": text, "session_id": session},
                             timeout=30.0)
    assert status == 200, (status, body)
    return body


def mainpc_memory_users(cluster: LocalCluster) -> list[str]:
    """MainPC agents around memory that must not care about PC2's memory being down."""
    return [k for k in ("mainpc/MemoryClient", "mainpc/SessionMemoryAgent", "mainpc/KnowledgeBase",
                        "mainpc/RequestCoordinator") if k in cluster.topology.agents_by_key]


@pytest.fixture
def memory_stack_back(cluster: LocalCluster) -> Iterator[None]:
    """Whatever a test does to PC2's memory_stack, it runs again afterwards."""
    yield
    if MEMORY_STACK not in cluster.groups or cluster.groups[MEMORY_STACK].popen.poll() is not None:
        with contextlib.suppress(KeyError):
            cluster.kill_group(*MEMORY_STACK)
        cluster.restart_group(*MEMORY_STACK)


# --- (d) the ready key --------------------------------------------------------------------


def test_ready_key_has_a_ttl_and_is_refreshed(cluster: LocalCluster) -> None:
    ok(cluster, [MOS])
    r = redis_of(cluster, "pc2")
    key = READY_KEY.format(name="MemoryOrchestratorService")
    assert r.exists(key) == 1
    ttl_ms = r.pttl(key)
    assert 0 < ttl_ms <= cluster.plan.ready_ttl_s * 1000, ttl_ms
    assert "pc2/MemoryOrchestratorService" in r.get(key)

    seen = [ttl_ms]

    def refreshed() -> bool:
        now = r.pttl(key)
        seen.append(now)
        return now > seen[-2] + 500  # went back up (a refresh), not just rounding

    wait_for(refreshed, cluster.plan.ready_refresh_s + 5.0, 0.2, "ready key TTL refreshed")
    assert 0 < seen[-1] <= cluster.plan.ready_ttl_s * 1000


# --- (a) durability -----------------------------------------------------------------------


def test_acknowledged_memories_survive_kill_9(cluster: LocalCluster, memory_stack_back: None) -> None:
    ok(cluster, [MOS])
    before = call_agent(cluster, MOS, "count")
    assert before["status"] == "success", before
    written: dict[str, str] = {}
    for i in range(50):
        content = f"durable memory {i} {uuid.uuid4().hex}"
        reply = call_agent(cluster, MOS, "store_memory", content=content, session_id="durability", kind="fact")
        assert reply["status"] == "success", reply
        written[reply["memory_id"]] = content
    assert len(written) == 50

    cluster.kill_group(*MEMORY_STACK, signal.SIGKILL)
    assert health_of(cluster, MOS, timeout=0.5)["status"] == "down"
    assert redis_of(cluster, "pc2").flushall() is True  # reads after the restart must come from SQLite
    cluster.restart_group(*MEMORY_STACK)
    ok(cluster, [MOS])

    lost, wrong, from_cache = [], [], []
    for memory_id, content in written.items():
        reply = call_agent(cluster, MOS, "get_memory", memory_id=memory_id)
        if reply.get("status") != "success":
            lost.append((memory_id, reply.get("error")))
            continue
        if reply["memory"]["content"] != content or reply["memory"]["kind"] != "fact":
            wrong.append((memory_id, reply["memory"]))
        if reply.get("source") != "store":
            from_cache.append(memory_id)
    assert not lost, f"{len(lost)} acknowledged memories lost after kill -9: {lost[:5]}"
    assert not wrong, wrong[:5]
    assert not from_cache, "reads after FLUSHALL cannot come from the cache"
    after = call_agent(cluster, MOS, "count")
    assert after["count"] == before["count"] + 50, (before, after)


# --- (b) degraded answers -----------------------------------------------------------------


def test_dialogue_degrades_without_pc2_memory_and_recovers(cluster: LocalCluster, memory_stack_back: None) -> None:
    ok(cluster, [MOS, *mainpc_memory_users(cluster)])
    session = f"degraded-{uuid.uuid4().hex[:8]}"
    healthy = dialogue(cluster, "Hi, my name is Grace", session)
    assert healthy["degraded"] is False, healthy

    cluster.kill_group(*MEMORY_STACK, signal.SIGKILL)
    started = time.monotonic()
    answer = dialogue(cluster, "What is my name?", session)
    assert answer["status"] == "ok" and answer["response"], answer
    assert answer["degraded"] is True, answer
    reasons = answer["degraded_reasons"]
    assert reasons and all("memory" in r.lower() for r in reasons), reasons
    assert time.monotonic() - started < 10.0, "a down optional hop must not stall the answer"
    # the dependency chain on MainPC does not go down with PC2's memory
    for key in mainpc_memory_users(cluster):
        reply = health_of(cluster, key)
        assert reply["status"] == "ok", (key, reply)

    cluster.restart_group(*MEMORY_STACK)
    ok(cluster, [MOS])

    def recovered() -> dict[str, Any] | None:
        body = dialogue(cluster, "Tell me something nice", session)
        return body if body["degraded"] is False else None

    body = wait_for(recovered, 12.0, 0.5, "a turn that is not degraded after memory_stack restarted")
    assert body["degraded_reasons"] == []
    # the first turn (stored before the kill, in SQLite) is remembered again
    assert "Grace" in dialogue(cluster, "What is my name?", session)["response"]


# --- (e) clean shutdown -------------------------------------------------------------------


def test_sigterm_stops_a_group_cleanly(cluster: LocalCluster, memory_stack_back: None) -> None:
    members = [a.name for a in cluster.topology.agents if a.host == "pc2"
               and a.key in {k for k, groups in cluster.topology.group_of.items() if "pc2/memory_stack" in groups}]
    assert "MemoryOrchestratorService" in members
    ok(cluster, [f"pc2/{n}" for n in members])
    r = redis_of(cluster, "pc2")
    keys = [READY_KEY.format(name=n) for n in members]
    assert r.exists(*keys) == len(keys)

    proc = cluster.groups.pop(MEMORY_STACK)
    started = time.monotonic()
    os.kill(proc.popen.pid, signal.SIGTERM)
    try:
        code = proc.popen.wait(5.0)
    except subprocess.TimeoutExpired:
        os.killpg(proc.popen.pid, signal.SIGKILL)
        proc.popen.wait()
        pytest.fail("group memory_stack did not exit within 5 s of SIGTERM")
    finally:
        if proc.popen.stdout:
            proc.popen.stdout.close()
    assert code == 0, f"exit code {code}:\n{proc.tail()}"
    assert time.monotonic() - started < 5.0
    left = [k for k in keys if r.exists(k)]
    assert not left, f"ready keys left after a clean shutdown: {left}"
    assert '"event": "stopped"' in (cluster.workdir / "logs" / "pc2" / "MemoryOrchestratorService.log").read_text()


# --- (c) readiness follows Redis (last: it kills MainPC's Redis) --------------------------


def _restart_redis(cluster: LocalCluster, host: str) -> None:
    """A new redis-server for ``host`` with the cluster's arguments, owned by the cluster (stop() ends it)."""
    old = cluster.redis[host]
    address, port = cluster.plan.redis[host]
    popen = subprocess.Popen(old.popen.args, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
                             start_new_session=True)
    cluster.redis[host] = Proc(f"redis@{host}", popen, old.log)
    assert wait_port(address, port, 5.0), f"redis for {host} did not come back"


def test_agents_degrade_when_their_hosts_redis_dies(cluster: LocalCluster) -> None:
    cluster.wait_healthy(20.0)
    mainpc = [a.key for a in cluster.topology.agents if a.host == "mainpc"]
    pc2 = [a.key for a in cluster.topology.agents if a.host == "pc2"]
    redis_proc = cluster.redis["mainpc"]
    try:
        os.killpg(redis_proc.popen.pid, signal.SIGKILL)
        redis_proc.popen.wait(5.0)

        def all_mainpc_degraded() -> dict[str, Any] | None:
            replies = {k: health_of(cluster, k) for k in mainpc}
            return replies if all(r.get("status") == "degraded" for r in replies.values()) else None

        replies = wait_for(all_mainpc_degraded, 8.0, 0.25, "every MainPC agent degraded within a few seconds")
        no_redis = {k: r.get("message") for k, r in replies.items() if "redis" not in str(r.get("message")).lower()}
        assert not no_redis, f"degraded without naming redis: {no_redis}"
        assert all(r["health_checks"]["redis"] is False for r in replies.values())
        address, port = http_of(cluster, "mainpc/NLUAgent")
        status, body = http_json(address, port, "GET", "/health")
        assert status == 503 and body["status"] == "degraded" and "redis" in body["message"]
        # PC2 has its own Redis: its agents stay ok
        pc2_bad = {k: r.get("message") for k in pc2 if (r := health_of(cluster, k)).get("status") != "ok"}
        assert not pc2_bad, f"PC2 agents not ok while only MainPC's Redis is down: {pc2_bad}"
    finally:
        if cluster.redis["mainpc"].popen.poll() is not None:
            _restart_redis(cluster, "mainpc")
