"""Helpers for the real-client fixtures: a small spec of the agents PROTOCOL.md §5 measured, a stand-in
cluster of it in either profile, the requests exactly as the real clients build them, and the collected
differences between the ideal profile's answers and the real ones.

The spec has one host, ``mainpc`` (so agents register with location "MainPC" as the real ones do), and
two docker groups: ServiceRegistry alone (so a test can kill and restart it) and everyone else.
"""

from __future__ import annotations

import contextlib
import json
import random
import socket
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any, TypeVar

import yaml
import zmq

from aisys_verify.standin.cluster import LocalCluster

T = TypeVar("T")
HOST = "mainpc"
# name -> role (the default table's; written out so the spec says what it tests), dependencies
AGENTS: dict[str, tuple[str, tuple[str, ...]]] = {
    "ServiceRegistry": ("registry", ()),
    "SystemDigitalTwin": ("twin", ()),
    "MemoryOrchestratorService": ("memory", ()),
    "MemoryClient": ("memory-client", ("MemoryOrchestratorService",)),
    "NLUAgent": ("language", ()),
    "ChitchatAgent": ("language", ()),
    "EmotionSynthesisAgent": ("emotion", ()),
    "RequestCoordinator": ("coordinator", ("NLUAgent", "ChitchatAgent")),
    "UnifiedWebAgent": ("gateway", ("RequestCoordinator",)),
    "ObservabilityHub": ("observability", ()),
}
GROUPS = {"registry_group": ["ServiceRegistry"], "core_group": [n for n in AGENTS if n != "ServiceRegistry"]}
START_TIMEOUT_S = 60.0
HEALTHY_TIMEOUT_S = 60.0
CLIENT = "RealClientFixture"


def free_ports(count: int, low: int = 21000, high: int = 32000) -> list[int]:
    """Distinct ports bindable now, below Linux's ephemeral range (outgoing connections never take them)."""
    rng, chosen = random.Random(), list[int]()
    while len(chosen) < count:
        port = rng.randrange(low, high)
        if port in chosen:
            continue
        with socket.socket() as sock:
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                continue
        chosen.append(port)
    return chosen


def write_spec(root: Path, members: dict[str, tuple[str, tuple[str, ...]]] | None = None,
               docker_groups: dict[str, list[str]] | None = None,
               standin: dict[str, dict[str, Any]] | None = None) -> None:
    """The fixture spec (or ``members`` in ``docker_groups``, with ``standin`` config per agent) under ``root``."""
    members = AGENTS if members is None else members
    flat = free_ports(3 * len(members) + 1)
    agents: dict[str, Any] = {}
    for i, (name, (role, deps)) in enumerate(members.items()):
        agents[name] = {"script_path": f"agents/{name}.py", "port": flat[3 * i], "health_check_port": flat[3 * i + 1],
                        "http_port": flat[3 * i + 2], "required": True, "role": role, "dependencies": list(deps)}
        if name in (standin or {}):
            agents[name]["config"] = {"standin": (standin or {})[name]}
    groups = {g: {"description": g, "agents": names} for g, names in (docker_groups or GROUPS).items()}
    manifest = {"kind": "aisys-verify/spec", "name": "real-clients", "description": "PROTOCOL.md §5 fixtures",
                "hosts": {HOST: {"startup_config": "mainpc/startup_config.yaml", "redis_port": flat[-1]}}}
    (root / "mainpc").mkdir(parents=True, exist_ok=True)
    (root / "aisys-spec.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    (root / "mainpc" / "startup_config.yaml").write_text(
        yaml.safe_dump({"agent_groups": {"core": agents}, "docker_groups": groups}, sort_keys=False), encoding="utf-8")


@contextlib.contextmanager
def running(profile: str, workdir: Path) -> Iterator[Stand]:
    """A healthy cluster of the fixture spec in ``profile``; every process stopped on exit."""
    write_spec(workdir / "spec")
    cluster = LocalCluster([str(workdir / "spec")], workdir / "run", standin_profile=profile)
    try:
        cluster.start(timeout=START_TIMEOUT_S)
        cluster.wait_healthy(HEALTHY_TIMEOUT_S)
        yield Stand(profile, cluster)
    finally:
        cluster.stop()


# --- the requests, as the real clients build them -----------------------------------------------------


def real_envelope(action: str | None = None, **fields: Any) -> dict[str, Any]:
    """BaseAgent's request: the fields, ``source_agent``, a uuid4 ``request_id``, an ISO ``timestamp`` (no zone)."""
    head = {"action": action} if action is not None else {}
    return {**head, **fields, "source_agent": CLIENT, "request_id": str(uuid.uuid4()),
            "timestamp": datetime.now().isoformat()}


@dataclass
class Stand:
    profile: str
    cluster: LocalCluster
    context: zmq.Context[Any] = field(default_factory=zmq.Context.instance)

    @property
    def reference(self) -> bool:
        return self.profile == "reference"

    def agent(self, name: str) -> Any:
        return self.cluster.topology.find_agent(name, HOST)

    @property
    def address(self) -> str:
        return self.cluster.plan.host_addresses[HOST]

    def http_port(self, name: str) -> int:
        return self.cluster.plan.http_ports[f"{HOST}/{name}"]

    def raw(self, port: int, frame: bytes, timeout: float = 5.0) -> bytes | None:
        sock = self.context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        try:
            sock.connect(f"tcp://{self.address}:{port}")
            sock.send(frame)
            if not sock.poll(int(timeout * 1000)):
                return None
            return sock.recv()
        finally:
            sock.close(0)

    def send(self, name: str, message: dict[str, Any], timeout: float = 5.0, health: bool = False) -> dict[str, Any]:
        agent = self.agent(name)
        port = agent.health_port.number if health else agent.port.number
        raw = self.raw(port, json.dumps(message).encode(), timeout)
        assert raw is not None, f"{name} did not answer {message.get('action')!r} within {timeout:g} s ({self.profile})"
        reply = json.loads(raw)
        assert isinstance(reply, dict), raw[:200]
        return reply


def http(address: str, port: int, method: str, path: str, body: Any = None,
         timeout: float = 5.0) -> tuple[int | None, bytes]:
    """One HTTP/1.1 exchange on a raw socket: (status, body), status None when what came back is not HTTP
    (a ZeroMQ port answers an HTTP request with its own greeting, or closes)."""
    data = b"" if body is None else json.dumps(body).encode()
    head = (f"{method} {path} HTTP/1.1\r\nHost: {address}:{port}\r\nContent-Type: application/json\r\n"
            f"Content-Length: {len(data)}\r\nConnection: close\r\n\r\n").encode()
    chunks = []
    with socket.create_connection((address, port), timeout=timeout) as sock:
        sock.sendall(head + data)
        deadline = time.monotonic() + timeout
        with contextlib.suppress(OSError):
            while time.monotonic() < deadline:
                chunk = sock.recv(65536)
                if not chunk:
                    break
                chunks.append(chunk)
    raw = b"".join(chunks)
    if not raw.startswith(b"HTTP/1."):
        return None, raw
    status_line, _, rest = raw.partition(b"\r\n")
    return int(status_line.split()[1]), rest.partition(b"\r\n\r\n")[2]


# --- the differences table ----------------------------------------------------------------------------


@dataclass
class Difference:
    client: str
    request: str
    real: str
    ideal: str


DIFFERENCES: list[Difference] = []


def differs(client: str, request: str, real: str, ideal: str) -> None:
    """Record that the ideal profile answers ``request`` otherwise than the real agent (for docs/standins.md)."""
    DIFFERENCES.append(Difference(client, request, real, ideal))


def table(rows: list[Difference]) -> str:
    lines = ["| real client | request | real agent (reference profile) | ideal profile |", "|---|---|---|---|"]
    lines += [f"| {d.client} | {d.request} | {d.real} | {d.ideal} |" for d in rows]
    return "\n".join(lines)
