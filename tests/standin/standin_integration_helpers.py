"""Helpers for the stand-in integration tests: running a cluster with guaranteed teardown,
talking to agents over ZeroMQ and HTTP, reading span files, and inspecting processes.

Everything a helper starts it also stops (``running_cluster`` stops every process in a
``finally``), so a failing test never leaves a redis-server or a group process behind.
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import socket
import struct
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any, TypeVar

import zmq

from aisys_verify.standin import protocol
from aisys_verify.standin.cluster import LocalCluster
from aisys_verify.standin.wiring import agents_of_group, groups_to_run

REPO = Path(__file__).resolve().parents[2]
OWN_SPEC = REPO / "system"
START_TIMEOUT_S = 60.0  # 18-19 Python processes importing pyzmq/redis/opentelemetry on 2 cores
HEALTHY_TIMEOUT_S = 40.0
TEST_SOURCE = "pytest-standin"

T = TypeVar("T")


# --- cluster lifecycle -------------------------------------------------------------------


@contextlib.contextmanager
def running_cluster(specs: Sequence[Path | str], workdir: Path, trace: str = "none") -> Iterator[LocalCluster]:
    """A started, healthy LocalCluster; every process it (or the test) registered is stopped on exit."""
    cluster = LocalCluster([str(s) for s in specs], workdir, trace=trace)
    try:
        cluster.start(timeout=START_TIMEOUT_S)
        cluster.wait_healthy(HEALTHY_TIMEOUT_S)
        yield cluster
    finally:
        cluster.stop()


def agent(cluster: LocalCluster, key: str) -> Any:
    return cluster.topology.agents_by_key[key]


def address_of(cluster: LocalCluster, key: str) -> str:
    return cluster.plan.host_addresses[agent(cluster, key).host]


def group_members(cluster: LocalCluster) -> dict[tuple[str, str], list[str]]:
    """(host, group) -> agent keys, for every group process the cluster runs (ungrouped included)."""
    return {(h.name, g): [a.key for a in agents_of_group(cluster.topology, h.name, g)]
            for h in cluster.topology.hosts for g in groups_to_run(cluster.topology, h.name)}


# --- ZeroMQ ------------------------------------------------------------------------------


def zmq_raw(address: str, port: int, frames: list[bytes], timeout: float = 5.0) -> bytes | None:
    """Send ``frames`` as one message on a REQ socket; the reply's bytes, or None when none came."""
    context: zmq.Context[Any] = zmq.Context.instance()
    sock = context.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    try:
        sock.connect(f"tcp://{address}:{port}")
        sock.send_multipart(frames)
        if not sock.poll(int(timeout * 1000)):
            return None
        return sock.recv()
    finally:
        sock.close(0)


def zmq_call(address: str, port: int, message: dict[str, Any] | bytes, timeout: float = 5.0) -> dict[str, Any]:
    """One request/reply; the reply must come and be a JSON object (anything else fails the test)."""
    frame = message if isinstance(message, bytes) else protocol.encode(message)
    raw = zmq_raw(address, port, [frame], timeout)
    assert raw is not None, f"no reply from tcp://{address}:{port} within {timeout:g} s"
    reply = json.loads(raw)
    assert isinstance(reply, dict), f"reply from tcp://{address}:{port} is not a JSON object: {raw[:200]!r}"
    return reply


def call_agent(cluster: LocalCluster, key: str, action: str, timeout: float = 5.0, **fields: Any) -> dict[str, Any]:
    a = agent(cluster, key)
    return zmq_call(address_of(cluster, key), a.port.number, protocol.envelope(action, TEST_SOURCE, **fields),
                    timeout)


def health_of(cluster: LocalCluster, key: str, timeout: float = 2.0) -> dict[str, Any]:
    a = agent(cluster, key)
    raw = zmq_raw(address_of(cluster, key), a.health_port.number, [protocol.encode({"action": "health_check"})],
                  timeout)
    return json.loads(raw) if raw is not None else {"status": "down", "error": "no reply"}


# --- HTTP --------------------------------------------------------------------------------


def http_request(address: str, port: int, method: str, path: str, body: Any = None,
                 timeout: float = 15.0) -> tuple[int, dict[str, str], bytes]:
    """One HTTP/1.1 exchange with http.client; body: None, raw bytes, or a JSON-serialisable value."""
    payload = None if body is None else body if isinstance(body, bytes) else json.dumps(body).encode()
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request(method, path, body=payload, headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
        return response.status, {k.lower(): v for k, v in response.getheaders()}, data
    finally:
        conn.close()


def http_json(address: str, port: int, method: str, path: str, body: Any = None,
              timeout: float = 15.0) -> tuple[int, dict[str, Any]]:
    status, headers, data = http_request(address, port, method, path, body, timeout)
    assert headers.get("content-type", "").startswith("application/json"), (status, headers, data[:200])
    parsed = json.loads(data)
    assert isinstance(parsed, dict), data[:200]
    return status, parsed


def http_of(cluster: LocalCluster, key: str) -> tuple[str, int]:
    return address_of(cluster, key), cluster.plan.http_ports[key]


# --- traces ------------------------------------------------------------------------------


def read_spans(trace_dir: Path) -> list[dict[str, Any]]:
    spans = []
    for path in sorted(trace_dir.glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                spans.append(json.loads(line))
    return spans


def spans_of_trace(trace_dir: Path, trace_id: str) -> list[dict[str, Any]]:
    return [s for s in read_spans(trace_dir) if s["trace_id"] == trace_id]


# --- processes and sockets ---------------------------------------------------------------


def processes_in_session(sid: int) -> list[int]:
    """Every live process whose session id is ``sid`` (each group process leads its own session)."""
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        with contextlib.suppress(OSError):
            stat = Path(f"/proc/{entry}/stat").read_text()
            fields = stat.rsplit(")", 1)[1].split()
            if fields[0] != "Z" and int(fields[3]) == sid:
                found.append(int(entry))
    return found


def listening_sockets(pids: Sequence[int]) -> dict[tuple[str, int], int]:
    """(IPv4 address, port) -> pid, for every listening TCP socket the given processes hold."""
    by_inode: dict[str, tuple[str, int]] = {}
    for line in Path("/proc/net/tcp").read_text().splitlines()[1:]:
        parts = line.split()
        if parts[3] != "0A":  # LISTEN
            continue
        ip_hex, port_hex = parts[1].split(":")
        by_inode[parts[9]] = (socket.inet_ntoa(struct.pack("<I", int(ip_hex, 16))), int(port_hex, 16))
    result: dict[tuple[str, int], int] = {}
    for pid in pids:
        with contextlib.suppress(OSError):
            for fd in os.listdir(f"/proc/{pid}/fd"):
                with contextlib.suppress(OSError):
                    target = os.readlink(f"/proc/{pid}/fd/{fd}")
                    if target.startswith("socket:[") and target[8:-1] in by_inode:
                        result[by_inode[target[8:-1]]] = pid
    return result


def tcp_open(address: str, port: int, timeout: float = 0.5) -> bool:
    with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=timeout):
        return True
    return False
