"""The compose backend stands the project's own spec up as containers, with the same result as the
local backend: 77 agents in 18 group containers on two host networks, every cross-host hop through
Toxiproxy, every agent reached from here only through ports published on loopback addresses.

Needs a Docker engine with Compose v2+ and the images (``scripts/docker-setup``,
``scripts/build-images``; a stale stand-in image is rebuilt by the stack itself). Without Docker the
module skips, except in CI (``CI`` set), where ``.ci/run`` provides Docker and a skip would hide a
broken setup: there it fails instead.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import textwrap
import time
import uuid
import zlib
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from pathlib import Path
from typing import Any

import pytest

from aisys_verify.stack.base import probe_health
from aisys_verify.stack.docker import LABEL_STACK, run_docker
from aisys_verify.stack.local import LocalStack, StackOptions
from aisys_verify.standin import protocol
from aisys_verify.standin.client import request_once

pytestmark = pytest.mark.integration

Labeller = Callable[[str], dict[str, list[str]]]
StartCompose = Callable[[list[str], StackOptions], AbstractContextManager[Any]]

REPO = Path(__file__).resolve().parents[2]
SYSTEM_SPEC = REPO / "system"
TEST_SOURCE = "pytest-compose"
LABEL = LABEL_STACK


def zmq_request(url: str, message: dict[str, Any], timeout: float = 30.0) -> dict[str, Any] | None:
    """One REQ/REP exchange; the parsed reply, or None when none came within ``timeout``."""
    try:
        return request_once(url, message, timeout)
    except TimeoutError:
        return None


def http_json(address: str, port: int, method: str, path: str, body: Any = None) -> tuple[int, dict[str, Any]]:
    import http.client

    conn = http.client.HTTPConnection(address, port, timeout=30)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        return response.status, json.loads(response.read() or b"{}")
    finally:
        conn.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory, start_compose: StartCompose) -> Iterator[Any]:
    with start_compose([str(SYSTEM_SPEC)], StackOptions(health_timeout=120.0,
                                                        workdir=tmp_path_factory.mktemp("compose-stack"))) as s:
        yield s


@pytest.fixture
def healed(stack: Any) -> Iterator[None]:
    stack.toxiproxy_client.reset()
    yield
    stack.toxiproxy_client.reset()


def coordinator_turn(stack: Any, text: str, session: str) -> dict[str, Any]:
    ep = stack.endpoint("RequestCoordinator", "mainpc")
    reply = zmq_request(ep.main_url, protocol.envelope("process_dialogue", TEST_SOURCE, text=text, session_id=session))
    assert reply is not None, f"no reply from {ep.main_url}"
    return reply


# --- the tests -------------------------------------------------------------------------------------


def settled_health(stack: Any, within_s: float = 20.0) -> tuple[dict[str, dict[str, Any]], list[dict[str, str]]]:
    """Every agent's health once all say ok, or as it is after ``within_s``; and the lapses seen on the way.

    Each agent re-checks its dependencies every second with a 0.5 s deadline; on a busy 2-core machine one
    check can miss it and the agent says degraded until the next one: allow a short recovery (on either
    backend: the comparison below must not hinge on which of the two stacks a busy second hit)."""
    health = probe_health(stack)
    lapses: list[dict[str, str]] = []
    deadline = time.monotonic() + within_s
    while any(v.get("status") != "ok" for v in health.values()) and time.monotonic() < deadline:
        lapses.append({k: str(v.get("message") or v.get("error")) for k, v in health.items()
                       if v.get("status") != "ok"})
        time.sleep(0.5)
        health = probe_health(stack)
    return health, lapses


def test_the_spec_comes_up_with_the_same_health_as_on_the_local_backend(stack: Any, tmp_path: Path) -> None:
    health, lapses = settled_health(stack)
    if lapses:
        print(f"transient lapses before all 77 were ok: {lapses}")
    assert len(health) == len(stack.topology.agents) == 77
    assert {k: v.get("status") for k, v in health.items() if v.get("status") != "ok"} == {}, lapses
    # the local backend, for the comparison (a couple of seconds)
    local = LocalStack([str(SYSTEM_SPEC)], options=StackOptions(workdir=tmp_path / "local"), progress=lambda _: None)
    try:
        local.start()
        local_health, local_lapses = settled_health(local)
    finally:
        local.stop()
    assert {k: v.get("status") for k, v in health.items()} == {
        k: v.get("status") for k, v in local_health.items()}, local_lapses
    # and each agent's reply is the real one, from its container
    reply = health["pc2/MemoryOrchestratorService"]
    assert reply.get("ready") is True and reply.get("initialized") is True, reply


def test_one_container_per_group_on_its_hosts_network_and_toxiproxy_between(stack: Any, labelled: Labeller) -> None:
    groups = {(h.name, g.name) for h in stack.topology.hosts for g in h.groups}
    assert set(stack.services) == groups and len(groups) == 18
    nets_of: dict[str, set[str]] = {}
    for cid in labelled(stack.stack_id)["containers"]:
        info = json.loads(run_docker("inspect", cid).stdout)[0]
        labels = info["Config"]["Labels"]
        assert info["State"]["Status"] == "running", (labels, info["State"])
        name = f"{labels['com.docker.compose.project']}/{labels['com.docker.compose.service']}"
        nets_of[name] = set(info["NetworkSettings"]["Networks"])
        # everything published goes to this stack's loopback addresses, never 0.0.0.0 or a LAN address
        for bindings in (info["HostConfig"]["PortBindings"] or {}).values():
            for binding in bindings:
                assert binding["HostIp"].startswith(f"{stack.network}."), (name, binding)
        assert not info["HostConfig"]["DeviceRequests"], f"{name}: GPU reservation without a GPU runtime"
    mainpc_net, pc2_net = stack.host_projects["mainpc"], stack.host_projects["pc2"]
    assert nets_of[f"{stack.fabric_project}/toxiproxy"] == {mainpc_net, pc2_net}
    for host, group in groups:
        name = f"{stack.host_projects[host]}/{stack.services[(host, group)]}"
        assert nets_of[name] == {stack.host_projects[host]}, name  # a host's groups see only their own host
    assert len(nets_of) == 18 + 2 + 1  # + a Redis per host + Toxiproxy
    # every edge in the plan the containers run goes through Toxiproxy, cross-host ones included
    plan = json.loads((stack.workdir / "plan.json").read_text())
    targets = {tuple(t) for callees in plan["overrides"].values() for sockets in callees.values()
               for t in sockets.values()}
    assert {host for host, _ in targets} == {"toxiproxy"}
    assert len(stack.cross_host_proxies()) >= 2 * 2  # both directions, main and health
    # the project's compose files are untouched: the generated projects live in the stack's work folder
    assert all(str(path).startswith(str(stack.workdir)) for path in stack.files.values())


def test_group_containers_are_hardened_as_docker_applied_them(stack: Any) -> None:
    """docker inspect of the stand-in containers (aisys_verify.security.hardening): not root (the image's
    USER 10001), not privileged, no added capability, no Docker socket; the MPS groups' ipc: host (accepted
    in compose/mainpc.yml with its reason) is the one finding allowed. Redis and Toxiproxy run as uid 10001 too
    (their images' USER): no container of the stack runs as root."""
    from aisys_verify.security.hardening import check_reports, stack_reports
    from aisys_verify.stack.compose_names import LABEL_ROLE

    reports = stack_reports(stack.stack_id)
    prefixes = {f"{stack.host_projects[host]}-{service}-": f"{host}/{service}"
                for (host, _), service in stack.services.items()}
    ours = {prefixes[p]: r for r in reports for p in prefixes if r.name.startswith(p)}
    assert len(ours) == 18, [r.name for r in reports]
    assert all(r.user == "10001:10001" for r in ours.values()), [(r.name, r.user) for r in ours.values()]
    assert all(r.image_id.startswith("sha256:") for r in reports)
    print(check_reports(reports, allowed={"HRD003", "HRD007"}))  # every container, Redis/Toxiproxy included
    check_reports(ours.values(), allowed={"HRD003", "HRD007"})
    infra = {role: run_docker("ps", "-q", "--filter", f"label={LABEL}={stack.stack_id}", "--filter",
                              f"label={LABEL_ROLE}={role}").stdout.split() for role in ("redis", "toxiproxy")}
    assert (len(infra["redis"]), len(infra["toxiproxy"])) == (2, 1), infra  # a Redis per host, one Toxiproxy
    for role, cid in ((role, cid) for role, ids in infra.items() for cid in ids):
        assert run_docker("inspect", "-f", "{{.Config.User}}", cid).stdout.strip() == "10001:10001", role
        assert run_docker("exec", cid, "id", "-u").stdout.strip() == "10001", role
        uids = next(line for line in run_docker("exec", cid, "cat", "/proc/1/status").stdout.splitlines()
                    if line.startswith("Uid:"))
        assert uids.split()[1:] == ["10001"] * 4, (role, uids)  # the main process: real, effective, saved, fs
    host_ipc = sorted(name for name, r in ours.items() if any(i.rule == "HRD003" for i in r.issues))
    assert host_ipc == [f"mainpc/{g}" for g in ("coordination", "learning_gpu", "reasoning_gpu", "speech_gpu",
                                                "vision_gpu")]


def test_a_dialogue_turn_through_the_gateway_crosses_both_hosts(stack: Any, healed: None) -> None:
    ep = stack.endpoint("UnifiedWebAgent", "pc2")
    session = f"compose-{uuid.uuid4().hex[:8]}"
    status, body = http_json(ep.address, ep.http_port, "POST", "/dialogue/process",
                             {"text": "Hi, my name is Grace", "session_id": session})
    assert (status, body.get("status"), body.get("degraded")) == (200, "ok", False), body
    status, body = http_json(ep.address, ep.http_port, "POST", "/dialogue/process",
                             {"text": "What is my name?", "session_id": session})
    assert status == 200 and "Grace" in body["response"], body  # PC2 gateway -> MainPC -> PC2 memory and back


def test_a_host_partition_degrades_the_memory_hop_and_healing_restores_it(stack: Any, healed: None) -> None:
    session = f"partition-{uuid.uuid4().hex[:8]}"
    before = coordinator_turn(stack, "Hi, my name is Ada", session)
    assert before["status"] == "success" and before["degraded"] is False, before
    cut = stack.partition()  # one operation: every cross-host proxy disabled
    served = stack.toxiproxy_client.proxies()
    assert cut == len(stack.cross_host_proxies()) > 0
    assert all(served[p.proxy.name]["enabled"] is False for p in stack.cross_host_proxies())
    assert all(served[p.proxy.name]["enabled"] is True for p in stack.proxies if not p.cross_host)
    started = time.monotonic()
    during = coordinator_turn(stack, "The weather is lovely today", session)
    assert during["status"] == "success", during  # MainPC's own language agents still answer
    assert during["degraded"] is True, during
    assert any(r.startswith("memory:") for r in during["degraded_reasons"]), during
    assert time.monotonic() - started < 15, "an optional hop behind a partition must not stall the turn"
    stack.partition(False)
    deadline = time.monotonic() + 30
    while True:
        after = coordinator_turn(stack, "What is my name?", session)
        if after.get("degraded") is False or time.monotonic() > deadline:
            break
        time.sleep(0.5)
    assert after["status"] == "success" and after["degraded"] is False, after
    assert "Ada" in after["response"], after  # the turn before the partition was kept on PC2


def test_a_killed_group_container_is_restarted(stack: Any, healed: None) -> None:
    mos = stack.endpoint("MemoryOrchestratorService", "pc2")
    stack.kill_group("pc2", "memory_stack", signal.SIGKILL)
    assert zmq_request(mos.health_url, {"action": "health_check"}, timeout=1.0) is None
    stack.restart_group("pc2", "memory_stack", timeout=60.0)
    reply = zmq_request(mos.health_url, {"action": "health_check"}, timeout=5.0)
    assert reply is not None and reply["status"] == "ok", reply
    log = stack.log_path("pc2", "memory_stack").read_text()
    assert log.count('"group_ready"') == 2, log[-2000:]  # the container's output: both runs


def test_the_chaos_engine_drives_containers(stack: Any, healed: None) -> None:
    """The same Chaos API on containers: a pause is docker pause (found by the hygiene check, undone on
    revert); a latency on a cross-host edge is on Toxiproxy (read back: the proxies listen inside the
    Toxiproxy container, out of this process's reach) and slows the real hop; nothing is left."""
    from aisys_verify.faults import hygiene
    from aisys_verify.faults.chaos import Chaos

    chaos = Chaos(stack, recovery_timeout=60.0)
    with chaos.pause("pc2/memory_stack") as paused:
        assert stack.group_paused("pc2", "memory_stack")
        assert hygiene.inspect(stack).paused == ["pc2/memory_stack"]
    assert paused.recovery_s is not None
    with chaos.latency("mainpc/MemoryClient->pc2/MemoryOrchestratorService", ms=300) as slow:
        assert slow.efficacy is not None
        assert "read back from Toxiproxy" in slow.efficacy.evidence, slow.efficacy.evidence
        started = time.perf_counter()
        turn = coordinator_turn(stack, "Hello there", "chaos-compose")
        assert turn["status"] == "success", turn
        assert time.perf_counter() - started >= 0.3, "the memory hop was not slowed"
    assert hygiene.inspect(stack).clean


def test_the_record_names_every_image_by_digest(stack: Any) -> None:
    """Image provenance: the stack's record (and so the Allure stack summary and `up`'s output) names each image
    its containers run by Docker's image ID, the same IDs docker inspect shows for the containers."""
    from aisys_verify.report.allure import stack_summary
    from aisys_verify.security.hardening import stack_reports

    recorded = {image["image_id"]: image["tag"] for image in stack.record.images}
    running = {r.image_id: r.image for r in stack_reports(stack.stack_id)}
    assert recorded == running
    assert all(i.startswith("sha256:") and len(i) == 71 for i in recorded), recorded
    assert stack_summary(stack, "compose", 0.0)["images"] == stack.record.images


def test_stop_leaves_no_container_network_or_volume(stack: Any, labelled: Labeller) -> None:
    before = labelled(stack.stack_id)
    # volumes: each host's data folder and its Redis's files (backup/volumes.py reads both read-only)
    assert len(before["containers"]) == 21 and len(before["networks"]) == 2 and len(before["volumes"]) == 4, before
    started = time.monotonic()
    stack.stop()
    seconds = time.monotonic() - started
    assert labelled(stack.stack_id) == {"containers": [], "networks": [], "volumes": []}
    assert not stack.record.path.exists()
    assert seconds < 60, f"teardown took {seconds:.1f} s"


def test_the_leftovers_of_a_sigkilled_owner_are_reaped(tmp_path: Path, labelled: Labeller) -> None:
    """A process labels a container, a network and a volume as its stack, is SIGKILLed; the reaper removes them."""
    from aisys_verify.stack.compose import reap_compose
    from aisys_verify.stack.images import BASE_TAG, image_id

    stack_id = f"test{zlib.crc32(tmp_path.name.encode()):08x}"
    image = BASE_TAG if image_id(BASE_TAG) else "aisys-verify/standin:latest"
    script = textwrap.dedent(f"""
        import subprocess, sys, time
        from aisys_verify.stack.compose import owner_label
        from aisys_verify.stack.images import docker_cli
        labels = ["--label", "{LABEL}={stack_id}", "--label", "com.aisys-verify.owner=" + owner_label()]
        d = docker_cli()
        subprocess.run([d, "network", "create", *labels, "{stack_id}-net"], check=True, capture_output=True)
        subprocess.run([d, "volume", "create", *labels, "{stack_id}-vol"], check=True, capture_output=True)
        subprocess.run([d, "run", "-d", *labels, "--network", "{stack_id}-net", "-v", "{stack_id}-vol:/data",
                        "{image}", "sleep", "300"], check=True, capture_output=True)
        print("ready", flush=True)
        time.sleep(300)
    """)
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline().strip() == "ready"
        assert all(x.stack_id != stack_id for x in reap_compose())  # the owner is alive: kept
        assert all(labelled(stack_id).values())
        child.send_signal(signal.SIGKILL)
        child.wait(10)
        removed = [x for x in reap_compose() if x.stack_id == stack_id]
        assert len(removed) == 1, removed
        assert labelled(stack_id) == {"containers": [], "networks": [], "volumes": []}
    finally:
        if child.poll() is None:
            child.kill()
            child.wait()
        from aisys_verify.stack.compose import labelled_objects, remove_objects

        for leftover in labelled_objects(stack_id).values():
            remove_objects(leftover)
