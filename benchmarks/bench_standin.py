"""Stand-in agents: start-up time, memory per group process and per agent, main-socket throughput.

Usage (from the repository root): python benchmarks/bench_standin.py [--runs N] [--seconds S] [SPEC ...]
(default specs: system/ and ../shared/reference-system, when present; about 2 minutes in all)

(a) start-up: ``LocalCluster(spec).start()`` (Redis per host, one process per docker group) until every
    group printed group_ready ("bound"), and until ``wait_healthy`` sees every agent's health 'ok'
    ("healthy"); the median of N fresh clusters per spec.
(b) memory: VmRSS (/proc/<pid>/status) of each group process of the last system/ cluster, once healthy,
    and that divided by the group's agent count; Redis processes are listed apart.
(c) throughput of one agent's ZeroMQ main socket on loopback (a generic agent, whose group process also
    hosts its other agents): one REQ client in a loop for S seconds doing ``ping`` and doing ``work``, then
    4 concurrent REQ clients (4 processes) doing the same; requests/s are per 1-second window, median.

Every process started here is stopped (LocalCluster.stop: SIGTERM, then SIGKILL) even on failure.
"""

from __future__ import annotations

import argparse
import json
import multiprocessing
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from aisys_verify.spec.model import Topology  # noqa: E402
from aisys_verify.standin.cluster import LocalCluster  # noqa: E402
from aisys_verify.standin.roles.table import role_for  # noqa: E402
from aisys_verify.standin.wiring import agents_of_group  # noqa: E402

CLIENTS = 4


def vm_rss_kib(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1])
    raise RuntimeError(f"no VmRSS for pid {pid}")


def median(values: list[float]) -> float:
    return statistics.median(values) if values else float("nan")


# --- (c) clients: module-level so that 'spawn' children can import them -----------------------------------


def client_loop(address: str, port: int, action: str, seconds: float, start: Any = None) -> dict[str, Any]:
    """One REQ socket, one request at a time, for ``seconds``. ``start``: None (start now) or a
    (ready queue, go event, shared start time) triple, so that several processes measure the same window."""
    import zmq

    context = zmq.Context()
    sock = context.socket(zmq.REQ)
    sock.setsockopt(zmq.LINGER, 0)
    sock.setsockopt(zmq.RCVTIMEO, 5000)
    sock.connect(f"tcp://{address}:{port}")
    body: dict[str, Any] = {"action": action, "source_agent": "bench", "request_id": "bench"}
    if action == "work":
        body["payload"] = {"n": 1, "text": "x" * 64}
    frame = json.dumps(body).encode()
    for _ in range(20):  # warm up the connection
        sock.send(frame)
        sock.recv()
    if start is None:
        start_at = time.time()
    else:
        ready, go, shared_start = start
        ready.put(os.getpid())
        go.wait(60)
        start_at = shared_start.value
    while time.time() < start_at:
        time.sleep(0.0005)
    done: list[float] = []
    latencies: list[float] = []
    errors = 0
    end = start_at + seconds
    try:
        while True:
            t0 = time.perf_counter()
            sock.send(frame)
            reply = sock.recv()
            latencies.append(time.perf_counter() - t0)
            now = time.time()
            if b'"status":"error"' in reply:
                errors += 1
            if now >= end:
                break
            done.append(now)
    finally:
        sock.close(0)
        context.term()
    return {"done": done, "latencies": latencies, "errors": errors, "start_at": start_at}


def _client_entry(args: tuple[str, int, str, float], start: Any, results: Any) -> None:
    results.put(client_loop(*args, start=start))


def per_second(timestamps: list[float], start_at: float, seconds: float) -> list[int]:
    windows = [0] * int(seconds)
    for ts in timestamps:
        index = int(ts - start_at)
        if 0 <= index < len(windows):
            windows[index] += 1
    return windows


def throughput(address: str, port: int, action: str, seconds: float, clients: int) -> dict[str, Any]:
    args = (address, port, action, seconds)
    if clients == 1:
        results = [client_loop(*args)]
    else:
        ctx = multiprocessing.get_context("spawn")  # a clean interpreter: no inherited ZeroMQ state
        ready, results_queue, go = ctx.Queue(), ctx.Queue(), ctx.Event()
        shared_start = ctx.Value("d", 0.0)
        procs = [ctx.Process(target=_client_entry, args=(args, (ready, go, shared_start), results_queue))
                 for _ in range(clients)]
        for proc in procs:
            proc.start()
        try:
            for _ in procs:  # every client connected and warmed up before the clock starts
                ready.get(timeout=60)
            shared_start.value = time.time() + 0.2
            go.set()
            results = [results_queue.get(timeout=seconds + 30) for _ in procs]
        finally:
            for proc in procs:
                proc.join(10)
                if proc.is_alive():
                    proc.kill()
                    proc.join()
    start_at = results[0]["start_at"]
    windows = [0] * int(seconds)
    for result in results:
        for i, n in enumerate(per_second(result["done"], start_at, seconds)):
            windows[i] += n
    latencies = sorted(x for r in results for x in r["latencies"])
    return {"rps": median([float(w) for w in windows]), "windows": windows,
            "p50_ms": latencies[len(latencies) // 2] * 1000 if latencies else float("nan"),
            "p99_ms": latencies[int(len(latencies) * 0.99)] * 1000 if latencies else float("nan"),
            "errors": sum(r["errors"] for r in results)}


# --- (a) and (b) -------------------------------------------------------------------------------------------


def one_start(spec: str, keep: bool) -> tuple[float, float, int, int, LocalCluster | None]:
    """Start a fresh cluster; return (s until bound, s until healthy, groups, agents, the cluster if kept)."""
    workdir = Path(tempfile.mkdtemp(prefix="bench-standin-"))
    cluster = LocalCluster([spec], workdir)
    try:
        began = time.perf_counter()
        cluster.start(timeout=60)
        bound = time.perf_counter() - began
        cluster.wait_healthy(timeout=60)
        healthy = time.perf_counter() - began
        summary = cluster.summary()
    except BaseException:
        cluster.stop()
        shutil.rmtree(workdir, ignore_errors=True)
        raise
    if keep:
        return bound, healthy, summary["groups"], summary["agents"], cluster
    cluster.stop()
    shutil.rmtree(workdir, ignore_errors=True)
    return bound, healthy, summary["groups"], summary["agents"], None


def memory_table(cluster: LocalCluster) -> None:
    topology: Topology = cluster.topology
    print(f"\n(b) memory (VmRSS) per group process, spec {cluster.spec[0]}")
    print(f"    {'group':<32} {'agents':>6} {'RSS MiB':>9} {'MiB/agent':>10}")
    total_kib = 0
    total_agents = 0
    for (host, group), proc in sorted(cluster.groups.items()):
        rss = vm_rss_kib(proc.popen.pid)
        agents = len(list(agents_of_group(topology, host, group)))
        total_kib += rss
        total_agents += agents
        print(f"    {host + '/' + group:<32} {agents:>6} {rss / 1024:>9.1f} {rss / 1024 / agents:>10.2f}")
    print(f"    {'total (group processes)':<32} {total_agents:>6} {total_kib / 1024:>9.1f} "
          f"{total_kib / 1024 / total_agents:>10.2f}")
    for host, proc in sorted(cluster.redis.items()):
        print(f"    {'redis-server@' + host:<32} {'':>6} {vm_rss_kib(proc.popen.pid) / 1024:>9.1f}")


def pick_agent(cluster: LocalCluster) -> tuple[str, str, int]:
    topology = cluster.topology
    agent = next(a for a in topology.agents if role_for(a.name, a.role).role == "generic")
    return agent.key, cluster.plan.host_addresses[agent.host], agent.port.number


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("specs", nargs="*")
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--seconds", type=float, default=5.0, help="length of each throughput measurement")
    args = parser.parse_args()
    specs = args.specs or [str(ROOT / "system"), str(ROOT.parent / "shared" / "reference-system")]
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    print(f"machine: {os.cpu_count()} CPUs (nproc {len(os.sched_getaffinity(0))}), {platform.machine()}, "
          f"Linux {platform.release()}, Python {platform.python_version()}; load average at start {load}")

    print(f"\n(a) start-up of every group and agent (LocalCluster), median of {args.runs} runs")
    print(f"    {'spec':<28} {'groups':>6} {'agents':>6} {'bound s':>8} {'healthy s':>9}   runs (bound/healthy)")
    kept: LocalCluster | None = None
    try:
        for spec in specs:
            if not Path(spec).exists():
                print(f"    {Path(spec).name:<28} missing, skipped")
                continue
            samples = []
            groups = agents = 0
            for run in range(args.runs):
                keep = kept is None and run == args.runs - 1  # keep the first spec's last cluster for (b), (c)
                bound, healthy, groups, agents, cluster = one_start(spec, keep)
                samples.append((bound, healthy))
                kept = cluster or kept
            runs = " ".join(f"{b:.2f}/{h:.2f}" for b, h in samples)
            print(f"    {Path(spec).name:<28} {groups:>6} {agents:>6} {median([b for b, _ in samples]):>8.2f} "
                  f"{median([h for _, h in samples]):>9.2f}   {runs}")
        if kept is None:
            return
        time.sleep(1.0)  # let start-up work (registration, first scrapes) settle
        memory_table(kept)
        key, address, port = pick_agent(kept)
        print(f"\n(c) main-socket throughput of {key} (tcp://{address}:{port}), {args.seconds:g} s each, "
              f"loopback; req/s = median of 1-s windows")
        print(f"    {'action':<6} {'clients':>7} {'req/s':>8} {'p50 ms':>7} {'p99 ms':>7}   windows")
        for clients in (1, CLIENTS):
            for action in ("ping", "work"):
                result = throughput(address, port, action, args.seconds, clients)
                errors = f"  ({result['errors']} error replies)" if result["errors"] else ""
                print(f"    {action:<6} {clients:>7} {result['rps']:>8.0f} {result['p50_ms']:>7.2f} "
                      f"{result['p99_ms']:>7.2f}   {result['windows']}{errors}")
        print(f"    (clients and the {len(kept.groups)} group processes share the machine's "
              f"{len(os.sched_getaffinity(0))} CPUs; each group is one single-threaded asyncio process)")
    finally:
        if kept is not None:
            kept.stop()
            shutil.rmtree(kept.workdir, ignore_errors=True)


if __name__ == "__main__":
    main()
