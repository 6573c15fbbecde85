"""The probe reads a reference-profile agent (the real agents' protocol, PROTOCOL.md) that is degraded as
``degraded``, over ZeroMQ and over HTTP, also when its HTTP /health answers 200 with a degraded body (the
real agents' http_health_always_200 defect), and as ``up`` while it is well; the CLI exits 1 for it.

A two-agent spec (tests/unit/spec_factory.py): Alpha has the http_health_always_200 defect (per agent in the
spec), Beta does not (503 while degraded). Stopping the host's Redis degrades both (redis_connected false).
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from aisys_verify.probe import DEGRADED, UP, ProbeResult, probe
from aisys_verify.standin.client import HEALTH_CHECK, request_once
from aisys_verify.standin.cluster import LocalCluster
from tests.unit import spec_factory as sf

DEGRADE_S = 15.0  # readiness re-checks Redis every health interval (1 s); generous for a busy 2-core box


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalCluster]:
    spec = sf.baseline()
    sf.agent(spec, "Alpha")["config"] = {"standin": {"defects": ["http_health_always_200"]}}
    root = sf.write_spec(tmp_path_factory.mktemp("spec"), spec)
    with LocalCluster([str(root)], tmp_path_factory.mktemp("run"), spec_vars={"PORT_OFFSET": "0"},
                      standin_profile="reference") as running:
        yield running


def _targets(cluster: LocalCluster, name: str) -> tuple[str, str]:
    agent = cluster.topology.find_agent(name, None)
    assert agent is not None
    address = cluster.plan.address_of(agent.key, agent.host)
    return (f"zmq://{address}:{agent.health_port.number}",
            f"http://{address}:{cluster.plan.http_ports[agent.key]}/health")


def _until(target: str, state: str, timeout: float) -> ProbeResult:
    deadline = time.monotonic() + timeout
    while True:
        result = probe(target, 2.0)
        if result.status == state or time.monotonic() > deadline:
            return result
        time.sleep(0.2)


def test_well_agents_read_up_over_both(cluster: LocalCluster) -> None:
    reply = request_once(_targets(cluster, "Beta")[0].replace("zmq://", "tcp://"), HEALTH_CHECK, 2.0)
    assert "agent" not in reply and set(reply.get("health_checks", {})) == {
        "port_accessible", "redis_connected", "ready_signal"}, f"not the real health reply: {reply}"
    for name in ("Alpha", "Beta"):
        for target in _targets(cluster, name):
            result = _until(target, UP, DEGRADE_S)  # the first readiness round may not have run yet
            assert result.status == UP, f"{name} {target}: {result.line()}"
            assert result.health == "ok", result.line()


def test_degraded_agents_read_degraded_over_zmq_and_http(cluster: LocalCluster) -> None:
    """Redis of the host stopped: both agents' health says degraded; the probe says degraded on both
    transports, whatever the HTTP code (Alpha: 200, the defect; Beta: 503), never up and never down."""
    host = cluster.topology.hosts[0].name
    cluster.redis[host].popen.terminate()
    cluster.redis[host].popen.wait(5)
    seen: dict[str, ProbeResult] = {}
    for name in ("Alpha", "Beta"):
        for target in _targets(cluster, name):
            seen[f"{name} {target}"] = result = _until(target, DEGRADED, DEGRADE_S)
            assert result.status == DEGRADED, f"{name} {target}: {result.line()}"
            assert result.health == "degraded", result.line()
            assert result.error, f"a degraded line says why: {result.line()}"
    alpha_http = seen[f"Alpha {_targets(cluster, 'Alpha')[1]}"]
    beta_http = seen[f"Beta {_targets(cluster, 'Beta')[1]}"]
    assert alpha_http.http_status == 200, f"Alpha has http_health_always_200: {alpha_http.line()}"
    assert beta_http.http_status == 503, f"Beta (no defect) answers 503 while degraded: {beta_http.line()}"

    run = subprocess.run([sys.executable, "-m", "aisys_verify", "probe", "--timeout", "2",
                          *_targets(cluster, "Alpha")], capture_output=True, text=True, timeout=60, check=False,
                         cwd=Path(__file__).resolve().parents[2])
    lines = [json.loads(line) for line in run.stdout.splitlines() if line.strip()]
    assert [line["status"] for line in lines] == [DEGRADED, DEGRADED], run.stdout + run.stderr
    assert run.returncode == 1, f"a degraded target must make the probe exit 1: {run.stdout} {run.stderr}"
