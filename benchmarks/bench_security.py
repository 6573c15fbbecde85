"""The per-request cost of TLS, mTLS and CurveZMQ against plaintext, side by side in one run.

Usage (from the repository root): python benchmarks/bench_security.py [--requests N] [--json FILE]
(about 20 s with the default 300 requests per row)

The servers are the stand-ins' own code, in this process on loopback, on one asyncio loop in a thread:
the HTTP side is ``standin.httpd.serve`` (a ``/health``-like JSON reply) with no TLS, with TLS (no client
certificate asked) and with mTLS (``client_auth required``), keys from ``security.pki.make_pki``; the
ZeroMQ side is a REP socket, plaintext or a CURVE server (``standin.curve.secure_server``) checked by the
ZAP authenticator with the allow-list.

HTTP rows open a fresh connection per request (as the framework's clients and ``security.tls.attempt``
do), so the handshake is in each request. ZeroMQ rows come twice: a fresh REQ socket per request (as the
stand-ins' ``Caller.call`` does: the CurveZMQ handshake and the ZAP round trip in each request) and one
connected socket reused (the steady cost: encryption only). Each row: median and p90 of the request's
wall time in microseconds, and the median's ratio to its plaintext row.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import sys
import tempfile
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zmq  # noqa: E402
import zmq.asyncio  # noqa: E402

from aisys_verify.security.pki import make_pki  # noqa: E402
from aisys_verify.security.tls import attempt, client_context  # noqa: E402
from aisys_verify.standin.curve import (  # noqa: E402
    load_keys,
    make_certificates,
    secure_client,
    secure_server,
    start_authenticator,
)
from aisys_verify.standin.httpd import HttpRequest, HttpResponse, serve  # noqa: E402
from aisys_verify.standin.tls import TlsEndpoint, server_context  # noqa: E402

REPLY = {"status": "ok", "agent": "Bench", "checks": [{"name": "redis", "ok": True}]}


class Servers:
    """Every server of the comparison on one loop in a thread; ``ports`` by row name."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.pki = make_pki(folder / "pki", {"bench": ["127.0.0.1", "localhost"]})
        self.curve = make_certificates(folder / "zmq", clients=("client",), allowed=("client",))
        self.ports: dict[str, int] = {}
        self.loop = asyncio.new_event_loop()
        self.ready = threading.Event()
        self.stop = asyncio.Event()
        self.thread = threading.Thread(target=self.loop.run_until_complete, args=(self.main(),), daemon=True)

    async def main(self) -> None:
        cred = self.pki.server("bench")
        contexts = {"http": None,
                    "https": server_context(TlsEndpoint(cred.cert, cred.key, self.pki.ca, "none")),
                    "mtls": server_context(TlsEndpoint(cred.cert, cred.key, self.pki.ca, "required"))}
        servers = []
        for name, tls in contexts.items():
            server = await serve(self.http, "127.0.0.1", 0, tls)
            self.ports[name] = server.sockets[0].getsockname()[1]
            servers.append(server)
        ctx = zmq.asyncio.Context()
        keys = load_keys(self.curve)
        auth = start_authenticator(ctx, keys, {})
        socks = []
        for name, secure in (("zmq", False), ("curve", True)):
            sock = ctx.socket(zmq.REP)
            sock.setsockopt(zmq.LINGER, 0)
            if secure:
                secure_server(sock, keys)
            self.ports[name] = sock.bind_to_random_port("tcp://127.0.0.1")
            socks.append(sock)
        tasks = [asyncio.create_task(self.rep(s)) for s in socks]
        self.ready.set()
        await self.stop.wait()
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)
        for server in servers:
            server.close()
        auth.stop()
        for sock in socks:
            sock.close(0)
        ctx.term()

    async def http(self, request: HttpRequest) -> HttpResponse:
        return HttpResponse.of_json(200, REPLY)

    async def rep(self, sock: Any) -> None:
        while True:
            await sock.recv()
            await sock.send(json.dumps(REPLY).encode())


def timed(fn: Callable[[], None], n: int) -> list[float]:
    fn()  # warm: the first request pays for imports and caches
    out = []
    for _ in range(n):
        t = time.perf_counter()
        fn()
        out.append((time.perf_counter() - t) * 1e6)
    return out


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--requests", type=int, default=300, help="requests per row (default 300)")
    parser.add_argument("--json", type=Path, help="also write the rows here")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-security-") as tmp:
        servers = Servers(Path(tmp))
        servers.thread.start()
        if not servers.ready.wait(30):
            print("servers did not start", file=sys.stderr)
            return 1
        try:
            rows = measure(servers, args.requests)
        finally:
            servers.loop.call_soon_threadsafe(servers.stop.set)
            servers.thread.join(10)
    print(f"{'row':<34} {'median us':>10} {'p90 us':>10} {'x plaintext':>12}")
    for row in rows:
        print(f"{row['row']:<34} {row['median_us']:>10.0f} {row['p90_us']:>10.0f} {row['ratio']:>12.2f}")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=1), encoding="utf-8")
    return 0


def measure(servers: Servers, n: int) -> list[dict[str, Any]]:
    pki, ports = servers.pki, servers.ports
    with_cert = client_context(pki.ca, pki.client("aisys-verify"))
    no_cert = client_context(pki.ca, None)

    def http(port: int, ctx: Any) -> Callable[[], None]:
        def once() -> None:
            outcome = attempt("127.0.0.1", port, "/health", context=ctx, server_hostname="127.0.0.1")
            if outcome.status != 200:
                raise SystemExit(f"port {port}: {outcome.shown()}")
        return once

    keys = load_keys(servers.curve)
    zctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()

    def zmq_fresh(port: int, secure: bool) -> Callable[[], None]:
        def once() -> None:
            sock = zctx.socket(zmq.REQ)
            sock.setsockopt(zmq.LINGER, 0)
            secure_client(sock, keys if secure else None)
            sock.connect(f"tcp://127.0.0.1:{port}")
            sock.send(b'{"action": "health_check"}')
            if not sock.poll(5000):
                raise SystemExit(f"port {port}: no reply")
            sock.recv()
            sock.close(0)
        return once

    kept: list[zmq.Socket[bytes]] = []

    def zmq_kept(port: int, secure: bool) -> Callable[[], None]:
        sock = zctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        secure_client(sock, keys if secure else None)
        sock.connect(f"tcp://127.0.0.1:{port}")
        kept.append(sock)

        def once() -> None:
            sock.send(b'{"action": "health_check"}')
            if not sock.poll(5000):
                raise SystemExit(f"port {port}: no reply")
            sock.recv()
        return once

    plan = [("http plaintext (fresh connection)", "http", http(ports["http"], None)),
            ("https TLS (fresh connection)", "http", http(ports["https"], no_cert)),
            ("https mTLS (fresh connection)", "http", http(ports["mtls"], with_cert)),
            ("zmq plaintext (fresh socket)", "zmq-fresh", zmq_fresh(ports["zmq"], False)),
            ("zmq CurveZMQ (fresh socket)", "zmq-fresh", zmq_fresh(ports["curve"], True)),
            ("zmq plaintext (kept socket)", "zmq-kept", zmq_kept(ports["zmq"], False)),
            ("zmq CurveZMQ (kept socket)", "zmq-kept", zmq_kept(ports["curve"], True))]
    rows: list[dict[str, Any]] = []
    base: dict[str, float] = {}
    try:
        for name, family, fn in plan:
            samples = timed(fn, n)
            median = statistics.median(samples)
            base.setdefault(family, median)  # each family's first row is its plaintext
            rows.append({"row": name, "median_us": median, "p90_us": statistics.quantiles(samples, n=10)[-1],
                         "ratio": median / base[family], "requests": n})
    finally:
        for sock in kept:
            sock.close(0)
    return rows


if __name__ == "__main__":
    sys.exit(main())
