"""Stand-in group processes configured as the real agents are (their environment variables), in both
profiles, and a reference-profile cluster whose agent exits at start (double_bind) while its group runs."""

from __future__ import annotations

import contextlib
import json
import os
import random
import shutil
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import redis
import yaml
import zmq

from aisys_verify.standin.cluster import LocalCluster, wait_port

pytestmark = pytest.mark.integration

OFFSET = 7


def free_port(avoid: set[int]) -> int:
    """A port p such that p and p + OFFSET are free on 127.0.0.1, below Linux's ephemeral range (an
    outgoing connection cannot take it between this check and the real bind)."""
    rng = random.Random()
    while True:
        port = rng.randrange(21000, 32000)
        if any(p in avoid for p in range(port, port + OFFSET + 3)):
            continue
        ok = True
        for candidate in (port, port + OFFSET):
            with socket.socket() as probe:
                try:
                    probe.bind(("127.0.0.1", candidate))
                except OSError:
                    ok = False
        if ok:
            avoid.update(range(port, port + OFFSET + 3))
            return port


def write_spec(root: Path, standin: dict[str, Any], ports: dict[str, int]) -> None:
    """Host mainpc: ServiceRegistry alone in 'registry' (never started here), Worker in 'work'."""
    agents = {name: {"script_path": f"{name}.py", "port": f"${{PORT_OFFSET}}+{ports[name]}",
                     "health_check_port": f"${{PORT_OFFSET}}+{ports[name + '.health']}",
                     "http_port": f"${{PORT_OFFSET}}+{ports[name + '.http']}", "required": False,
                     "config": {"standin": dict(standin)}} for name in ("ServiceRegistry", "Worker")}
    startup = {"agent_groups": {"core": agents},
               "docker_groups": {"registry": {"description": "r", "agents": ["ServiceRegistry"]},
                                 "work": {"description": "w", "agents": ["Worker"]}}}
    (root / "mainpc").mkdir(parents=True, exist_ok=True)
    (root / "aisys-spec.yaml").write_text(yaml.safe_dump({
        "kind": "aisys-verify/spec", "name": "env", "description": "environment configuration",
        "hosts": {"mainpc": {"startup_config": "mainpc/startup_config.yaml"}}}), encoding="utf-8")
    (root / "mainpc" / "startup_config.yaml").write_text(yaml.safe_dump(startup), encoding="utf-8")


@contextlib.contextmanager
def redis_server(workdir: Path, port: int) -> Iterator[None]:
    binary = shutil.which("redis-server")
    if binary is None:
        pytest.skip("redis-server is not installed")
    workdir.mkdir(parents=True, exist_ok=True)
    proc = subprocess.Popen([binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly",
                             "no", "--dir", str(workdir)], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        assert wait_port("127.0.0.1", port, 5.0), "redis-server did not start"
        yield
    finally:
        proc.terminate()
        proc.wait(5)


class FakeRegistry:
    """A REP socket standing where SERVICE_REGISTRY_HOST/PORT point: records every request, says success."""

    def __init__(self, port: int) -> None:
        self.context: zmq.Context[Any] = zmq.Context()
        self.sock = self.context.socket(zmq.REP)
        self.sock.setsockopt(zmq.LINGER, 0)
        self.sock.bind(f"tcp://127.0.0.1:{port}")
        self.requests: list[dict[str, Any]] = []
        self.stopping = False
        self.thread = threading.Thread(target=self.run, daemon=True)
        self.thread.start()

    def run(self) -> None:
        while not self.stopping:
            if self.sock.poll(100):
                self.requests.append(json.loads(self.sock.recv()))
                self.sock.send(b'{"status": "success"}')

    def close(self) -> None:
        self.stopping = True
        self.thread.join(5)
        self.sock.close(0)
        self.context.term()


@pytest.mark.parametrize("profile", ["ideal", "reference"])
@pytest.mark.parametrize("redis_vars", ["host_port", "url"])
def test_real_environment_variables_configure_a_group(tmp_path: Path, profile: str, redis_vars: str) -> None:
    taken: set[int] = set()
    ports = {k: free_port(taken) for k in ("ServiceRegistry", "ServiceRegistry.health", "ServiceRegistry.http",
                                           "Worker", "Worker.health", "Worker.http", "redis", "fake")}
    write_spec(tmp_path / "spec", {"profile": profile, "serving_loop_ms": 10}, ports)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("REDIS_", "SERVICE_", "DIGITAL_"))}
    env |= {"PORT_OFFSET": str(OFFSET), "BIND_ADDRESS": "127.0.0.1", "MAIN_PC_IP": "127.0.0.1",
            "SERVICE_REGISTRY_HOST": "127.0.0.1", "SERVICE_REGISTRY_PORT": str(ports["fake"])}
    env |= ({"REDIS_HOST": "127.0.0.1", "REDIS_PORT": str(ports["redis"])} if redis_vars == "host_port"
            else {"REDIS_URL": f"redis://127.0.0.1:{ports['redis']}/0", "REDIS_PORT": "1"})  # the URL wins
    fake = FakeRegistry(ports["fake"])
    log = (tmp_path / "group.log").open("wb")
    proc: subprocess.Popen[bytes] | None = None
    try:
        with redis_server(tmp_path / "redis", ports["redis"]):
            proc = subprocess.Popen([sys.executable, "-m", "aisys_verify.standin", "run", "--spec",
                                     str(tmp_path / "spec"), "--host", "mainpc", "--group", "work",
                                     "--data-dir", str(tmp_path / "data")],
                                    stdout=log, stderr=log, env=env, cwd=tmp_path)
            worker = ports["Worker"] + OFFSET  # PORT_OFFSET moved it; BIND_ADDRESS put it on 127.0.0.1
            assert wait_port("127.0.0.1", ports["Worker.http"] + OFFSET, 30.0), (tmp_path / "group.log").read_text()
            client = redis.Redis(port=ports["redis"], decode_responses=True)
            deadline = time.monotonic() + 15
            while not client.exists("agent:ready:Worker") or not fake.requests:
                assert time.monotonic() < deadline, (tmp_path / "group.log").read_text()
                time.sleep(0.1)
            registration = next(r for r in fake.requests if r.get("action") == "register_agent")
            assert registration["source_agent"] == "Worker"
            assert isinstance(registration["timestamp"], str if profile == "reference" else float)
            ready = json.loads(client.get("agent:ready:Worker"))
            if profile == "reference":
                assert ready["status"] == "ready" and ready["port"] == worker
            context: zmq.Context[Any] = zmq.Context()
            sock = context.socket(zmq.REQ)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(f"tcp://127.0.0.1:{ports['Worker.health'] + OFFSET}")
            sock.send(b"ping")
            assert sock.poll(3000)
            health = json.loads(sock.recv())
            sock.close(0)
            context.term()
            redis_host = f"127.0.0.1:{ports['redis']}"
            assert (health["health_details"]["redis_host"] == redis_host) if profile == "reference" else (
                health["health_checks"]["redis"] is True)
            assert "environment" in (tmp_path / "group.log").read_text()
    finally:
        if proc is not None:
            proc.terminate()
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        fake.close()
        log.close()


def test_reference_cluster_with_an_agent_that_exits_at_start(tmp_path: Path) -> None:
    taken: set[int] = set()
    ports = {k: free_port(taken) for k in ("ServiceRegistry", "ServiceRegistry.health", "ServiceRegistry.http",
                                           "Worker", "Worker.health", "Worker.http")}
    write_spec(tmp_path / "spec", {"serving_loop_ms": 10}, ports)
    startup = tmp_path / "spec" / "mainpc" / "startup_config.yaml"
    data = yaml.safe_load(startup.read_text())
    data["agent_groups"]["core"]["Worker"]["config"]["standin"]["defects"] = ["double_bind"]
    startup.write_text(yaml.safe_dump(data))
    with LocalCluster([str(tmp_path / "spec")], tmp_path / "run", spec_vars={"PORT_OFFSET": "0"},
                      standin_profile="reference") as cluster:
        health = cluster.health(timeout=1.0)
        assert health["mainpc/Worker"]["status"] == "down"  # nothing listens on its ports
        assert "ServiceRegistry is" in str(health["mainpc/ServiceRegistry"].get("message"))
        log = (tmp_path / "run" / "logs" / "mainpc" / "work.process.log").read_text()
        assert "Worker exited at start" in log and "EADDRINUSE" in log
        assert cluster.groups[("mainpc", "work")].popen.poll() is None  # its group process keeps running
        # the container HEALTHCHECK uses the stack's gate: the agent that cannot answer is skipped, not failed
        check = subprocess.run([sys.executable, "-m", "aisys_verify.standin", "healthcheck", "--spec",
                                str(tmp_path / "spec"), "--host", "mainpc", "--group", "work", "--plan",
                                str(cluster.plan_path), "--var", "PORT_OFFSET=0"],
                               capture_output=True, text=True, timeout=60)
        assert check.returncode == 0, check.stdout + check.stderr
        assert json.loads(check.stdout.splitlines()[0]) == {"target": "Worker", "status": "skipped",
                                                             "defect": "double_bind"}
