"""Stand-in protocol profiles side by side: per-agent throughput and p50 latency, ideal vs reference.

Usage (from the repository root): python benchmarks/bench_profiles.py [--agents N] [--seconds S]
[--clients 1,4] [--serving-loop-ms MS]   (defaults: 3 agents, 3 s per cell, 1 and 4 clients; ~1 minute)

A small spec (N generic agents in one docker group on one host) is stood up twice as processes
(LocalCluster: a Redis, one group process), once per profile, and each agent's main socket is driven by
C concurrent REQ clients (threads: pyzmq releases the GIL while waiting) sending ``work`` in a closed
loop for S seconds; one agent at a time, so a figure is one agent's. Reported per agent and client
count: requests/s (completed requests / S) and the p50 of the client-side latency. The reference
profile serves one request per serving loop (PROTOCOL.md §1: 100 ms measured), so its throughput is
about 1000 / MS req/s per agent whatever the client count, and its p50 grows with the client count
(each request waits for the ones queued before it).

Every process started here is stopped (LocalCluster.stop: SIGTERM, then SIGKILL) even on failure.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import yaml

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aisys_verify.standin import protocol  # noqa: E402
from aisys_verify.standin.cluster import LocalCluster  # noqa: E402


def write_spec(root: Path, agents: int, serving_loop_ms: float) -> list[str]:
    names = [f"BenchAgent{i}" for i in range(agents)]
    body = {name: {"script_path": f"{name}.py", "port": 41000 + i, "health_check_port": 42000 + i,
                   "http_port": 43000 + i, "required": False, "role": "generic",
                   "config": {"standin": {"serving_loop_ms": serving_loop_ms}}} for i, name in enumerate(names)}
    (root / "bench").mkdir(parents=True, exist_ok=True)
    (root / "aisys-spec.yaml").write_text(yaml.safe_dump({
        "kind": "aisys-verify/spec", "name": "bench-profiles", "description": "profiles benchmark",
        "hosts": {"bench": {"startup_config": "bench/startup_config.yaml"}}}), encoding="utf-8")
    (root / "bench" / "startup_config.yaml").write_text(yaml.safe_dump({
        "agent_groups": {"bench": body},
        "docker_groups": {"bench_group": {"description": "benchmark agents", "agents": names}}}), encoding="utf-8")
    return names


def drive(url: str, clients: int, seconds: float) -> tuple[int, list[float]]:
    """``clients`` REQ sockets in closed loops for ``seconds``; (requests completed inside the window,
    latencies in s). A request still in flight at the end counts for its latency, not for throughput."""
    import zmq

    context: zmq.Context[Any] = zmq.Context()
    latencies: list[list[float]] = [[] for _ in range(clients)]
    inside = [0] * clients
    barrier = threading.Barrier(clients + 1)
    stop_at: list[float] = [0.0]

    def loop(index: int) -> None:
        mine = latencies[index]
        sock = context.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(url)
        frame = protocol.encode(protocol.envelope("work", "bench", payload="x"))
        barrier.wait()
        while time.perf_counter() < stop_at[0]:
            t0 = time.perf_counter()
            sock.send(frame)
            if not sock.poll(10_000):
                break  # no reply: the socket is useless now (REQ state), stop this client
            sock.recv()
            end = time.perf_counter()
            mine.append(end - t0)
            inside[index] += end <= stop_at[0]
        sock.close(0)

    threads = [threading.Thread(target=loop, args=(i,)) for i in range(clients)]
    for t in threads:
        t.start()
    stop_at[0] = time.perf_counter() + seconds
    barrier.wait()
    for t in threads:
        t.join(seconds + 15)
    context.term()
    return sum(inside), [x for per in latencies for x in per]


def measure(profile: str, spec: Path, names: list[str], client_counts: list[int], seconds: float,
            workdir: Path) -> dict[tuple[str, int], tuple[float, float]]:
    results: dict[tuple[str, int], tuple[float, float]] = {}
    with LocalCluster([str(spec)], workdir / profile, standin_profile=profile) as cluster:
        cluster.wait_healthy(30.0)
        address = cluster.plan.host_addresses["bench"]
        for name in names:
            agent = cluster.topology.find_agent(name, "bench")
            assert agent is not None
            url = f"tcp://{address}:{agent.port.number}"
            drive(url, 1, 0.3)  # warm the connection path
            for clients in client_counts:
                done, latencies = drive(url, clients, seconds)
                results[(name, clients)] = (done / seconds, statistics.median(latencies) * 1000 if latencies
                                            else float("nan"))
    return results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--agents", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=3.0)
    parser.add_argument("--clients", default="1,4")
    parser.add_argument("--serving-loop-ms", type=float, default=100.0)
    parser.add_argument("--json", action="store_true", help="also print the figures as one JSON line")
    args = parser.parse_args()
    client_counts = [int(c) for c in args.clients.split(",") if c.strip()]
    with tempfile.TemporaryDirectory(prefix="bench-profiles-") as tmp:
        root = Path(tmp)
        names = write_spec(root / "spec", args.agents, args.serving_loop_ms)
        ideal = measure("ideal", root / "spec", names, client_counts, args.seconds, root)
        ref = measure("reference", root / "spec", names, client_counts, args.seconds, root)
    print(f"per-agent main-socket figures, 'work' in closed loops, {args.seconds:g} s per cell; "
          f"reference serving loop {args.serving_loop_ms:g} ms")
    head = (f"{'agent':<12} {'clients':>7} | {'ideal req/s':>11} {'ideal p50 ms':>12} | "
            f"{'ref req/s':>9} {'ref p50 ms':>10}")
    print(head)
    print("-" * len(head))
    rows = []
    for name in names:
        for clients in client_counts:
            (ir, ip), (rr, rp) = ideal[(name, clients)], ref[(name, clients)]
            print(f"{name:<12} {clients:>7} | {ir:>11.1f} {ip:>12.2f} | {rr:>9.1f} {rp:>10.1f}")
            rows.append({"agent": name, "clients": clients, "ideal_rps": round(ir, 1), "ideal_p50_ms": round(ip, 3),
                         "reference_rps": round(rr, 2), "reference_p50_ms": round(rp, 2)})
    if args.json:
        print(json.dumps(rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
