"""A tiny TCP echo server and a ping-pong client, to measure what a toxic does to a connection."""

from __future__ import annotations

import contextlib
import socket
import threading
import time


class EchoServer:
    """Echoes every byte back; with ``send_bytes`` set, answers each connection with that many bytes instead."""

    def __init__(self, host: str = "127.0.0.1", send_bytes: int = 0) -> None:
        self.sock = socket.create_server((host, 0))
        self.host, self.port = self.sock.getsockname()[:2]
        self.send_bytes = send_bytes
        self.thread = threading.Thread(target=self._serve, daemon=True)
        self.thread.start()

    def _serve(self) -> None:
        while True:
            try:
                conn, _ = self.sock.accept()
            except OSError:
                return
            threading.Thread(target=self._handle, args=(conn,), daemon=True).start()

    def _handle(self, conn: socket.socket) -> None:
        with conn, contextlib.suppress(OSError):
            conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            if self.send_bytes:
                conn.recv(1)
                conn.sendall(b"x" * self.send_bytes)
                return
            while data := conn.recv(65536):
                conn.sendall(data)

    def close(self) -> None:
        self.sock.close()


def round_trips(host: str, port: int, count: int, size: int = 32) -> list[float]:
    """Seconds per request/reply of ``size`` bytes on one connection (after a warm-up one)."""
    samples = []
    with socket.create_connection((host, port), timeout=10) as conn:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        payload = b"p" * size
        for i in range(count + 1):
            started = time.perf_counter()
            conn.sendall(payload)
            got = 0
            while got < size:
                chunk = conn.recv(size - got)
                if not chunk:
                    raise ConnectionError("connection closed during a round trip")
                got += len(chunk)
            if i:
                samples.append(time.perf_counter() - started)
    return samples


def download(host: str, port: int) -> tuple[int, float]:
    """(bytes, seconds) of one download from an EchoServer(send_bytes=N)."""
    with socket.create_connection((host, port), timeout=60) as conn:
        started = time.perf_counter()
        conn.sendall(b"g")
        total = 0
        while chunk := conn.recv(65536):
            total += len(chunk)
        return total, time.perf_counter() - started
