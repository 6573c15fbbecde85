"""A tiny HTTP/1.1 keep-alive server for the load engine's own benchmarks and tests.

    python -m aisys_verify.load.target --port 0 --ready FILE [--stall-after S --stall-for S]

It answers every request at once with ``200 ok`` (``/status/NNN``: status NNN), except during one
stall: from ``stall-after`` seconds after its first request, for ``stall-for`` seconds, every request
is held until the stall ends. The stall's exact window (epoch seconds) goes into the ready file, which gives the ground
truth for the coordinated-omission test. Not ``http.server``: its listen backlog of 5 adds SYN
retransmits (1 s, 3 s) to latencies under load.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from aisys_verify.errors import LoadTargetError
from aisys_verify.waiting import poll

_REPLY = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Type: text/plain\r\n\r\nok"


def _status_reply(path: bytes) -> bytes:
    """``/status/503`` answers 503 (tests of what counts as a failed request)."""
    code = path.removeprefix(b"/status/")[:3]
    return b"HTTP/1.1 " + code + b" X\r\nContent-Length: 2\r\n\r\nno" if code.isdigit() else _REPLY


class _Server:
    def __init__(self, stall_after: float, stall_for: float, ready: Path) -> None:
        self.stall_after, self.stall_for, self.ready = stall_after, stall_for, ready
        self.first: float | None = None
        self.window: tuple[float, float] | None = None
        self.requests = 0
        self.port = 0

    def _write_ready(self) -> None:
        data = {"port": self.port, "pid": os.getpid(), "first_request": self.first,
                "stall": list(self.window) if self.window else None}
        tmp = self.ready.with_suffix(".tmp")
        tmp.write_text(json.dumps(data), encoding="utf-8")
        tmp.replace(self.ready)

    async def handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(ConnectionError, asyncio.IncompleteReadError):
            while True:
                line = await reader.readline()
                if not line:
                    break
                length = 0
                while True:
                    header = await reader.readline()
                    if header in (b"\r\n", b""):
                        break
                    if header[:15].lower() == b"content-length:":
                        length = int(header[15:].strip() or 0)
                if length:
                    await reader.readexactly(length)
                now = time.time()
                self.requests += 1
                if self.first is None:
                    self.first = now
                    if self.stall_for > 0:
                        self.window = (now + self.stall_after, now + self.stall_after + self.stall_for)
                    self._write_ready()
                if self.window and self.window[0] <= now < self.window[1]:
                    await asyncio.sleep(self.window[1] - now)
                path = line.split(b" ")[1] if line.count(b" ") >= 2 else b"/"
                writer.write(_status_reply(path) if path.startswith(b"/status/") else _REPLY)
                await writer.drain()
        writer.close()

    async def serve(self, port: int) -> None:
        server = await asyncio.start_server(self.handle, "127.0.0.1", port, backlog=4096)
        self.port = server.sockets[0].getsockname()[1]
        self._write_ready()
        async with server:
            await server.serve_forever()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m aisys_verify.load.target")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--ready", type=Path, required=True, help="JSON written when listening (port, stall window)")
    parser.add_argument("--stall-after", type=float, default=0.0, help="seconds after the first request")
    parser.add_argument("--stall-for", type=float, default=0.0, help="seconds every request is held (0: never)")
    args = parser.parse_args(argv)
    server = _Server(args.stall_after, args.stall_for, args.ready)
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(server.serve(args.port))
    return 0


@dataclass
class RunningTarget:
    url: str
    ready_file: Path
    process: subprocess.Popen[bytes]

    def info(self) -> dict[str, object]:
        data: dict[str, object] = json.loads(self.ready_file.read_text(encoding="utf-8"))
        return data

    def stall_window(self) -> tuple[float, float] | None:
        stall = self.info().get("stall")
        return (float(stall[0]), float(stall[1])) if isinstance(stall, list) else None


@contextlib.contextmanager
def running_target(folder: Path, stall_after: float = 0.0, stall_for: float = 0.0,
                   cpu: int | None = None) -> Iterator[RunningTarget]:
    """Start the target in a subprocess (pinned to ``cpu`` when given), yield it, stop it."""
    ready = folder / f"target-{time.monotonic_ns()}.json"
    command = [sys.executable, "-m", "aisys_verify.load.target", "--ready", str(ready),
               "--stall-after", str(stall_after), "--stall-for", str(stall_for)]
    if cpu is not None:
        command = ["taskset", "-c", str(cpu), *command]
    proc = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        if not poll(ready.exists, 15, 0.05, give_up=lambda: proc.poll() is not None).met:
            raise LoadTargetError(f"the load target did not start (exit {proc.poll()})")
        port = json.loads(ready.read_text(encoding="utf-8"))["port"]
        yield RunningTarget(f"http://127.0.0.1:{port}", ready, proc)
    finally:
        proc.terminate()
        try:
            proc.wait(5)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


if __name__ == "__main__":
    sys.exit(main())
