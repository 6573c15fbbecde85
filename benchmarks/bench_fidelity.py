"""Fault fidelity: does Toxiproxy add what we ask for? (issue 6 target: latency p50 within 5 ms per
direction for 10, 100 and 500 ms; bandwidth within 10 %).

Usage: python benchmarks/bench_fidelity.py [--n 30]
A real toxiproxy-server on a private loopback address, a TCP echo server behind one proxy;
for each latency and direction: the p50 of the added round-trip time (toxic minus no toxic,
measured back to back); for bandwidth: the measured rate of a 2 MB download against the toxic's rate.
"""

from __future__ import annotations

import argparse
import random
import statistics
import sys
import tempfile
from pathlib import Path

from aisys_verify.faults.echo import EchoServer, download, round_trips
from aisys_verify.faults.toxics import Stream, Toxic
from aisys_verify.stack.toxiproxy import ProxySpec, ToxiproxyServer


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--n", type=int, default=30, help="round trips per measurement")
    args = parser.parse_args()
    net = f"127.{random.randint(10, 250)}.{random.randint(1, 250)}"
    with tempfile.TemporaryDirectory() as tmp:
        server = ToxiproxyServer(f"{net}.1", 8474, Path(tmp) / "toxiproxy.log")
        server.start()
        echo = EchoServer(f"{net}.2")
        blob = EchoServer(f"{net}.2", send_bytes=2_000_000)
        client = server.client
        try:
            client.populate([ProxySpec("echo", f"{net}.3:20001", f"{echo.host}:{echo.port}"),
                             ProxySpec("blob", f"{net}.3:20002", f"{blob.host}:{blob.port}")])
            print(f"bench_fidelity: toxiproxy {client.version()}, n={args.n} round trips per point")
            print(f"{'toxic':<28}{'added p50 ms':>14}{'error ms':>10}  within 5 ms")
            worst = 0.0
            for ms in (10, 100, 500):
                for stream in (Stream.UPSTREAM, Stream.DOWNSTREAM):
                    n = max(5, args.n // (5 if ms == 500 else 1))
                    base = statistics.median(round_trips(f"{net}.3", 20001, n))
                    client.add_toxic("echo", Toxic.latency(ms, stream=stream))
                    try:
                        with_toxic = statistics.median(round_trips(f"{net}.3", 20001, n))
                    finally:
                        client.remove_toxic("echo", f"latency_{stream.value}")
                    added = (with_toxic - base) * 1000
                    worst = max(worst, abs(added - ms))
                    print(f"latency {ms:>3} ms {stream.value:<11}{added:>14.2f}{added - ms:>10.2f}  "
                          f"{'yes' if abs(added - ms) <= 5 else 'NO'}")
            rate = 1000  # KB/s
            client.add_toxic("blob", Toxic.bandwidth(rate))
            try:
                size, seconds = download(f"{net}.3", 20002)
            finally:
                client.remove_toxic("blob", "bandwidth_downstream")
            measured = size / 1000 / seconds
            ok = "yes" if abs(measured / rate - 1) <= .1 else "NO"
            print(f"bandwidth {rate} KB/s: measured {measured:.0f} KB/s over {size} bytes "
                  f"({(measured / rate - 1) * 100:+.1f} %, within 10 %: {ok})")
            print(f"worst latency error: {worst:.2f} ms; toxics left: {client.active_toxics() or 'none'}")
        finally:
            echo.close()
            blob.close()
            server.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
