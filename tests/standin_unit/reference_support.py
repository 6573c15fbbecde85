"""A small in-process group speaking the reference profile, one agent per defect switch (per-agent
``config.standin``), for tests that observe each behaviour from outside: real REQ sockets, real HTTP,
a real redis-server."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import redis
import yaml
import zmq
from standin_support import LoopThread, RedisServer, free_ports, zmq_request

from aisys_verify.spec.loader import load_spec
from aisys_verify.spec.model import Topology
from aisys_verify.standin.group import GroupRuntime
from aisys_verify.standin.wiring import RunPlan, resolve_http_ports

HOST, GROUP, ABSENT_GROUP = "ref", "ref_group", "absent_group"
LOOP_MS = 100  # the measured serving loop, for the agents whose timing the tests read
FAST_MS = 10  # everyone else: keeps registration and the suite quick

# name -> (role, dependencies, config.standin); every agent speaks reference (the run's profile)
AGENTS: dict[str, tuple[str, tuple[str, ...], dict[str, Any]]] = {
    "ServiceRegistry": ("registry", (), {"serving_loop_ms": FAST_MS}),
    "SystemDigitalTwin": ("twin", (), {"serving_loop_ms": FAST_MS}),
    "Worker": ("generic", (), {"serving_loop_ms": LOOP_MS}),
    "Degraded": ("generic", ("Absent",), {"serving_loop_ms": FAST_MS}),
    "Http200": ("generic", ("Absent",), {"serving_loop_ms": FAST_MS, "defects": ["http_health_always_200"]}),
    "Contra": ("generic", (), {"serving_loop_ms": FAST_MS, "defects": ["contradictory_health"]}),
    "TtlOnce": ("generic", (), {"serving_loop_ms": FAST_MS, "defects": ["ready_ttl_not_refreshed"],
                                "ready_ttl_s": 3}),
    "Stale": ("generic", (), {"serving_loop_ms": FAST_MS, "defects": ["stale_ready_key_after_crash"]}),
    "Wrong": ("generic", (), {"serving_loop_ms": FAST_MS, "defects": ["binds_wrong_port"]}),
    "Double": ("generic", (), {"serving_loop_ms": FAST_MS, "defects": ["double_bind"]}),
    "Utf8Wedge": ("generic", (), {"serving_loop_ms": FAST_MS, "defects": ["invalid_utf8_wedges"]}),
    "Unser": ("generic", (), {"serving_loop_ms": FAST_MS, "defects": ["unserialisable_reply"]}),
    "TwinUnser": ("twin", (), {"serving_loop_ms": FAST_MS, "defects": ["unserialisable_reply"]}),
}
# in a group nobody starts: a required dependency that never answers
ABSENT: dict[str, tuple[str, tuple[str, ...], dict[str, Any]]] = {"Absent": ("generic", (), {})}
CLEAN = ("ServiceRegistry", "SystemDigitalTwin", "Worker", "Stale", "Utf8Wedge", "Unser", "TwinUnser")


def write_spec(root: Path, redis_port: int) -> dict[str, tuple[int, int, int]]:
    everyone = {**AGENTS, **ABSENT}
    flat = free_ports(3 * len(everyone))
    ports = {name: (flat[3 * i], flat[3 * i + 1], flat[3 * i + 2]) for i, name in enumerate(everyone)}
    agents = {}
    for name, (role, deps, standin) in everyone.items():
        port, health, http = ports[name]
        agents[name] = {"script_path": f"agents/{name}.py", "port": port, "health_check_port": health,
                        "http_port": http, "required": True, "role": role, "dependencies": list(deps),
                        "config": {"standin": standin}}
    startup = {"agent_groups": {"ref": agents},
               "docker_groups": {GROUP: {"description": "reference", "agents": list(AGENTS)},
                                 ABSENT_GROUP: {"description": "never started", "agents": list(ABSENT)}}}
    manifest = {"kind": "aisys-verify/spec", "name": "ref", "description": "reference profile tests",
                "hosts": {HOST: {"startup_config": "ref/startup_config.yaml", "redis_port": redis_port}}}
    (root / "ref").mkdir(parents=True, exist_ok=True)
    (root / "aisys-spec.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    (root / "ref" / "startup_config.yaml").write_text(yaml.safe_dump(startup, sort_keys=False), encoding="utf-8")
    return ports


@dataclass
class RefLab:
    root: Path
    topology: Topology
    plan: RunPlan
    ports: dict[str, tuple[int, int, int]]
    loop: LoopThread
    runtime: GroupRuntime
    redis: RedisServer
    zmq: zmq.Context[Any]

    def request(self, name: str, frame: bytes, timeout: float = 2.0, port: int | None = None) -> bytes | None:
        return zmq_request(self.zmq, port or self.ports[name][0], frame, timeout)

    def ask(self, name: str, message: dict[str, Any], timeout: float = 2.0) -> dict[str, Any]:
        raw = self.request(name, json.dumps(message).encode(), timeout)
        assert raw is not None, f"{name}: no reply to {str(message)[:120]} within {timeout} s"
        reply = json.loads(raw)
        assert isinstance(reply, dict)
        return reply

    def health(self, name: str, timeout: float = 2.0, port: int | None = None) -> dict[str, Any]:
        raw = zmq_request(self.zmq, port or self.ports[name][1], b"ping", timeout)
        assert raw is not None, f"{name}: no health reply"
        reply = json.loads(raw)
        assert isinstance(reply, dict)
        return reply

    def redis_client(self) -> Any:  # redis.Redis (untyped generics across redis-py versions)
        return redis.Redis(port=self.redis.port, decode_responses=True)

    def wait(self, what: str, check: Any, timeout: float = 15.0) -> None:
        deadline = time.monotonic() + timeout
        while not check():
            assert time.monotonic() < deadline, f"not within {timeout} s: {what}"
            time.sleep(0.1)


def start_ref_lab(root: Path) -> Iterator[RefLab]:
    redis_server = RedisServer(root / "redis", free_ports(1)[0])
    loop: LoopThread | None = None
    runtime: GroupRuntime | None = None
    context: zmq.Context[Any] = zmq.Context()
    try:
        ports = write_spec(root / "spec", redis_server.port)
        topology = load_spec([root / "spec"])
        plan = RunPlan({HOST: "127.0.0.1"}, {HOST: ("127.0.0.1", redis_server.port)}, resolve_http_ports(topology),
                       data_dir=str(root / "data"), log_dir=str(root / "logs"), ready_ttl_s=120.0,
                       ready_refresh_s=60.0, health_interval_s=0.2, standin_profile="reference")
        loop = LoopThread()
        runtime = GroupRuntime(topology, plan, HOST, GROUP)
        loop.run(runtime.start())
        lab = RefLab(root, topology, plan, ports, loop, runtime, redis_server, context)
        lab.wait("the clean agents ok", lambda: all(lab.health(n)["status"] == "ok" for n in CLEAN))
        yield lab
    finally:
        try:
            if runtime is not None and loop is not None:
                loop.stop_group(runtime)
        finally:
            if loop is not None:
                loop.close()
            context.destroy(linger=0)
            redis_server.stop()
