"""Helpers for the stand-in unit tests: an event loop in a thread, free ports, a redis-server,
a small synthetic spec with one agent of every role, and blocking ZeroMQ / HTTP clients.

Everything that starts something has a matching stop that is safe to call when the start
failed half-way, so fixtures can always tear down.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import json
import random
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, TypeVar

import pytest
import yaml
import zmq

from aisys_verify.spec.model import Topology
from aisys_verify.standin.cluster import wait_port
from aisys_verify.standin.wiring import RunPlan, resolve_http_ports

if TYPE_CHECKING:
    from aisys_verify.standin.agent import AgentRuntime
    from aisys_verify.standin.group import GroupRuntime

T = TypeVar("T")

HOST = "lab"
GROUP = "lab_group"
SOLO_GROUP = "solo_group"

# (name, role, dependencies, standin config); names are the ones the roles call at run time
AGENTS: tuple[tuple[str, str, tuple[str, ...], dict[str, Any]], ...] = (
    ("ServiceRegistry", "registry", (), {}),
    ("SystemDigitalTwin", "twin", (), {}),
    ("RequestCoordinator", "coordinator", ("NLUAgent", "ChitchatAgent"), {}),
    ("MemoryOrchestratorService", "memory", (), {}),
    ("MemoryClient", "memory-client", ("MemoryOrchestratorService",), {}),
    ("NLUAgent", "language", (), {}),
    ("ChitchatAgent", "language", (), {}),
    ("StreamingTTSAgent", "gpu", (), {"service_time_ms": 2, "service_time_sigma": 0.2, "max_concurrency": 4}),
    ("ChainOfThoughtAgent", "gpu", (), {"service_time_ms": 2, "service_time_sigma": 0.2, "max_concurrency": 4}),
    ("UnifiedWebAgent", "gateway", ("RequestCoordinator",), {}),
    ("ObservabilityHub", "observability", (), {"scrape_interval_s": 0.5}),
    # depends on the registry it must also register with (see test_registration_of_dependents)
    ("Worker", "generic", ("ServiceRegistry",), {}),
)
SOLO_AGENTS = (("SoloWorker", "generic", (), {}),)


# --- an asyncio loop in a background thread -------------------------------------------------------

class LoopThread:
    """Runs coroutines on a private event loop in a daemon thread (so sync tests and hypothesis can drive it)."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self.thread = threading.Thread(target=self._run, name="standin-test-loop", daemon=True)
        self.thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def run(self, coro: Coroutine[Any, Any, T], timeout: float = 30.0) -> T:
        return self.submit(coro).result(timeout)

    def submit(self, coro: Coroutine[Any, Any, T]) -> concurrent.futures.Future[T]:
        return asyncio.run_coroutine_threadsafe(coro, self.loop)

    def stop_group(self, runtime: Any, timeout: float = 5.0) -> None:
        """``runtime.stop()``, re-cancelling the agents' tasks if it does not finish in time: on Python 3.11
        asyncio.wait_for can swallow a cancellation, and AgentRuntime.stop then waits for ever (see
        test_stop_finishes_even_when_wait_for_swallows_the_cancel)."""
        future = self.submit(runtime.stop())
        for _ in range(3):
            try:
                future.result(timeout)
                return
            except concurrent.futures.TimeoutError:

                async def cancel_again() -> None:
                    for agent in runtime.agents:
                        for task in agent.tasks:
                            task.cancel()

                self.run(cancel_again(), timeout)
        future.result(timeout)

    def close(self) -> None:
        if self.loop.is_closed():
            return

        async def cancel_rest() -> None:
            tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)

        with contextlib.suppress(Exception):
            self.run(cancel_rest(), timeout=10)
        self.loop.call_soon_threadsafe(self.loop.stop)
        self.thread.join(10)
        if not self.thread.is_alive():
            self.loop.close()


# --- ports and redis --------------------------------------------------------------------------------

def free_ports(count: int, low: int = 21000, high: int = 32000) -> list[int]:
    """``count`` distinct TCP ports bindable on 127.0.0.1, below Linux's ephemeral range (so outgoing
    connections do not grab them between this check and the real bind)."""
    rng = random.Random()
    chosen: list[int] = []
    tried = 0
    while len(chosen) < count:
        tried += 1
        if tried > 20 * count + 1000:
            raise RuntimeError(f"could not find {count} free ports in {low}-{high}")
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


class RedisServer:
    def __init__(self, workdir: Path, port: int) -> None:
        binary = shutil.which("redis-server")
        if binary is None:
            pytest.skip("redis-server is not installed (apt-get install redis-server)")
        workdir.mkdir(parents=True, exist_ok=True)
        self.port = port
        self.log = workdir / "redis.log"
        self.proc = subprocess.Popen(
            [binary, "--bind", "127.0.0.1", "--port", str(port), "--save", "", "--appendonly", "no",
             "--dir", str(workdir), "--logfile", str(self.log)],
            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        if not wait_port("127.0.0.1", port, 5.0):
            self.stop()
            raise RuntimeError(f"redis-server did not listen on 127.0.0.1:{port}: "
                               f"{self.log.read_text(errors='replace')[-500:] if self.log.exists() else ''}")

    def stop(self) -> None:
        if self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


# --- the synthetic spec -----------------------------------------------------------------------------

def write_lab_spec(root: Path, redis_port: int) -> dict[str, tuple[int, int, int]]:
    """One host 'lab' with two docker groups (every role in lab_group, one generic agent in solo_group)
    on free ports; returns name -> (port, health port, http port)."""
    everyone = (*AGENTS, *SOLO_AGENTS)
    flat = free_ports(3 * len(everyone))
    ports = {name: (flat[3 * i], flat[3 * i + 1], flat[3 * i + 2]) for i, (name, *_) in enumerate(everyone)}
    agents: dict[str, Any] = {}
    for name, role, deps, standin in everyone:
        port, health, http = ports[name]
        body: dict[str, Any] = {"script_path": f"agents/{name}.py", "port": port, "health_check_port": health,
                                "http_port": http, "required": True, "role": role, "dependencies": list(deps)}
        if standin:
            body["config"] = {"standin": standin}
        agents[name] = body
    groups = {GROUP: {"description": "every role", "agents": [a[0] for a in AGENTS]},
              SOLO_GROUP: {"description": "one generic agent", "agents": [a[0] for a in SOLO_AGENTS]}}
    startup = {"agent_groups": {"lab": agents}, "docker_groups": groups}
    manifest = {"kind": "aisys-verify/spec", "name": "lab", "description": "stand-in unit test spec",
                "hosts": {HOST: {"startup_config": "lab/startup_config.yaml", "redis_port": redis_port}}}
    (root / "lab").mkdir(parents=True, exist_ok=True)
    (root / "aisys-spec.yaml").write_text(yaml.safe_dump(manifest, sort_keys=False), encoding="utf-8")
    (root / "lab" / "startup_config.yaml").write_text(yaml.safe_dump(startup, sort_keys=False), encoding="utf-8")
    return ports


# --- the in-process group (the ``lab`` fixture in conftest.py) --------------------------------------------

@dataclass
class Lab:
    root: Path
    topology: Topology
    plan: RunPlan
    ports: dict[str, tuple[int, int, int]]  # agent name -> (main, health, http)
    loop: LoopThread
    runtime: GroupRuntime
    redis: RedisServer
    zmq: zmq.Context[Any]

    def main(self, name: str) -> int:
        return self.ports[name][0]

    def health_port(self, name: str) -> int:
        return self.ports[name][1]

    def http(self, name: str) -> int:
        return self.ports[name][2]

    def agent(self, name: str) -> AgentRuntime:
        return next(a for a in self.runtime.agents if a.name == name)

    @property
    def names(self) -> list[str]:
        return [a.name for a in self.runtime.agents]

    def health(self, name: str, timeout: float = 2.0) -> dict[str, Any]:
        raw = zmq_request(self.zmq, self.health_port(name), b'{"action": "health_check"}', timeout)
        return json.loads(raw) if raw is not None else {"status": "down", "message": "no reply"}

    def wait_healthy(self, timeout: float = 20.0, names: list[str] | None = None) -> None:
        deadline = time.monotonic() + timeout
        while True:
            bad = {n: h for n in names or self.names if (h := self.health(n))["status"] != "ok"}
            if not bad:
                return
            if time.monotonic() > deadline:
                shown = "; ".join(f"{n}: {h.get('status')} ({h.get('message')})" for n, h in bad.items())
                raise AssertionError(f"{len(bad)} agents not healthy after {timeout} s: {shown}")
            time.sleep(0.1)


def make_plan(topology: Topology, redis_port: int, root: Path) -> RunPlan:
    return RunPlan({HOST: "127.0.0.1"}, {HOST: ("127.0.0.1", redis_port)}, resolve_http_ports(topology),
                   data_dir=str(root / "data"), log_dir=str(root / "logs"), ready_ttl_s=120.0, ready_refresh_s=60.0,
                   health_interval_s=0.2)



# --- blocking clients -------------------------------------------------------------------------------

def zmq_request(context: zmq.Context[Any], port: int, frame: bytes | list[bytes], timeout: float = 2.0,
                host: str = "127.0.0.1") -> bytes | None:
    """One request on a fresh REQ socket; the raw reply, or None when none came within ``timeout``."""
    sock = context.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(f"tcp://{host}:{port}")
        if isinstance(frame, list):
            sock.send_multipart(frame)
        else:
            sock.send(frame)
        if not sock.poll(int(timeout * 1000)):
            return None
        return sock.recv()
    finally:
        sock.close(0)


def zmq_json(context: zmq.Context[Any], port: int, message: dict[str, Any], timeout: float = 2.0) -> dict[str, Any]:
    raw = zmq_request(context, port, json.dumps(message).encode(), timeout)
    assert raw is not None, f"no reply from port {port} to {str(message)[:200]} within {timeout} s"
    reply = json.loads(raw)
    assert isinstance(reply, dict)
    return reply


def check_zmq_reply(raw: bytes | None, what: str, health: bool = False) -> dict[str, Any]:
    """The contract for every request: a JSON object reply with status success or error, never silence
    (a health verb, ``health=True``, gets the health reply, status ok or degraded, unless the request is
    refused before its action is read: then it is an error reply like any other)."""
    assert raw is not None, f"no reply within the timeout (a hang) to {what}"
    try:
        reply = json.loads(raw)
    except ValueError:
        pytest.fail(f"reply is not JSON ({raw[:200]!r}) to {what}")
    assert isinstance(reply, dict), f"reply is not a JSON object ({raw[:200]!r}) to {what}"
    allowed = ("ok", "degraded", "error") if health else ("success", "error")
    assert reply.get("status") in allowed, f"status not in {allowed} in {str(reply)[:300]} to {what}"
    if reply.get("status") == "error":
        assert isinstance(reply.get("error"), str) and reply["error"], f"error reply without a message: {reply!r}"
    return reply


def http_raw(port: int, data: bytes, timeout: float = 5.0, host: str = "127.0.0.1") -> bytes:
    """Send ``data`` on a new connection, half-close, and read until the server closes (or ``timeout``)."""
    with socket.create_connection((host, port), timeout=timeout) as sock:
        with contextlib.suppress(OSError):
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        chunks = []
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                break
            except OSError:
                break
            if not chunk:
                break
            chunks.append(chunk)
        return b"".join(chunks)


def http_request(port: int, method: str, path: str, body: bytes = b"", timeout: float = 5.0,
                 headers: Iterable[tuple[str, str]] = ()) -> tuple[int, bytes]:
    head = [f"{method} {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", f"Content-Length: {len(body)}",
            "Connection: close", "Content-Type: application/json", *(f"{k}: {v}" for k, v in headers)]
    raw = http_raw(port, ("\r\n".join(head) + "\r\n\r\n").encode("latin-1") + body, timeout)
    return parse_response(raw)


def parse_response(raw: bytes) -> tuple[int, bytes]:
    status_line, _, rest = raw.partition(b"\r\n")
    parts = status_line.split(b" ")
    assert len(parts) >= 2 and parts[1].isdigit(), f"no HTTP response (got {raw[:200]!r})"
    return int(parts[1]), rest.partition(b"\r\n\r\n")[2]
