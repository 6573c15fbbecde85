"""Observations through a proxy, from the outside: the evidence that a fault took effect.

Each helper speaks the protocol of what is behind the proxy (a stand-in's ZeroMQ health
socket, or Redis) on one connection, so a round trip measures what the toxic adds and a
reset or a refused connection is seen as such, not guessed from the Toxiproxy API.
"""

from __future__ import annotations

import contextlib
import json
import socket
import statistics
import time
from dataclasses import dataclass

ZMTP_SIGNATURE = b"\xff" + b"\x00" * 8 + b"\x7f"


@dataclass
class RoundTripper:
    """A persistent connection through one proxy that times request/reply round trips.

    ``kind`` is ``zmq`` (a REQ socket sending health checks to an agent's health socket) or
    ``redis`` (PING on a TCP connection).
    """

    address: str
    port: int
    kind: str = "zmq"

    def __post_init__(self) -> None:
        self._zmq_socket: object | None = None
        self._tcp: socket.socket | None = None

    def __enter__(self) -> RoundTripper:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def once(self, timeout: float) -> float | None:
        """Seconds for one round trip, or None when no reply came within ``timeout`` (the connection is
        then unusable and reopened on the next call)."""
        started = time.perf_counter()
        ok = self._zmq_once(timeout) if self.kind == "zmq" else self._redis_once(timeout)
        if not ok:
            self.close()
            return None
        return time.perf_counter() - started

    def median(self, count: int, timeout: float) -> float | None:
        samples = []
        for _ in range(count):
            sample = self.once(timeout)
            if sample is None:
                return None
            samples.append(sample)
        return statistics.median(samples)

    def _zmq_once(self, timeout: float) -> bool:
        import zmq

        from aisys_verify.standin.client import HEALTH_CHECK

        if self._zmq_socket is None:
            from aisys_verify.standin.curve import process_keys, secure_client

            fresh: zmq.Socket[bytes] = zmq.Context.instance().socket(zmq.REQ)
            fresh.setsockopt(zmq.LINGER, 0)
            secure_client(fresh, process_keys())  # CurveZMQ when SECURE_ZMQ=1 (the stack's keys)
            fresh.connect(f"tcp://{self.address}:{self.port}")
            self._zmq_socket = fresh
        sock = self._zmq_socket
        assert isinstance(sock, zmq.Socket)
        sock.send(json.dumps(HEALTH_CHECK).encode())
        if not sock.poll(int(timeout * 1000)):
            return False
        sock.recv()
        return True

    def _redis_once(self, timeout: float) -> bool:
        try:
            if self._tcp is None:
                self._tcp = socket.create_connection((self.address, self.port), timeout=timeout)
                self._tcp.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._tcp.settimeout(timeout)
            self._tcp.sendall(b"PING\r\n")
            return self._tcp.recv(64).startswith(b"+PONG")
        except OSError:
            return False

    def close(self) -> None:
        if self._zmq_socket is not None:
            self._zmq_socket.close()  # type: ignore[attr-defined]
            self._zmq_socket = None
        if self._tcp is not None:
            with contextlib.suppress(OSError):
                self._tcp.close()
            self._tcp = None


def connection_refused(address: str, port: int, timeout: float = 1.0) -> bool:
    """True when nothing accepts a TCP connection on address:port (a disabled proxy)."""
    try:
        with socket.create_connection((address, port), timeout=timeout):
            return False
    except ConnectionRefusedError:
        return True
    except OSError:
        return False


def reset_observed(address: str, port: int, kind: str, timeout: float) -> str | None:
    """Open a fresh connection, send the protocol's opening bytes and read: a reset or an EOF instead of
    the server's answer is returned as the evidence (None when the server answered normally)."""
    opening = ZMTP_SIGNATURE if kind == "zmq" else b"PING\r\n"
    try:
        with socket.create_connection((address, port), timeout=timeout) as conn:
            conn.settimeout(timeout)
            conn.sendall(opening)
            data = conn.recv(64)
            return "connection closed before any reply (EOF)" if not data else None
    except ConnectionResetError:
        return "connection reset by peer"
    except ConnectionRefusedError:
        return "connection refused"
    except TimeoutError:
        return None
    except OSError as exc:
        return f"connection failed: {exc}"


def no_reply(address: str, port: int, kind: str, timeout: float) -> bool:
    """True when a request through a fresh connection gets no reply within ``timeout`` (a black hole)."""
    with RoundTripper(address, port, kind) as probe:
        return probe.once(timeout) is None
