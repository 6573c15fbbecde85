"""Stand-up time, memory and per-hop proxy overhead of the local stack (targets: the full real topology,
system/ with 77 agents, up in under 5 s on a 2-core machine; 1,000 synthetic agents healthy in under 15 s).

Usage: python benchmarks/bench_stack.py [--reps 3] [--sizes 10,77,300,1000,2000] [--starts graph,layered] [-n 2000]

Each spec is stood up with every start order of ``--starts`` (graph: a group starts once the groups it
needs are healthy; layered: dependency layers one after the other), alternating orders rep by rep so both
see the same machine load; a row per spec and order, with the cost per agent and the memory per agent.

(a) For synthetic specs of 10, 77 and 300 agents and the project's own system/ (77 agents, the real
    topology): the median (and range) of ``--reps`` fresh ``LocalStack.start()`` calls, the time from
    calling start() to every agent answering ``ok`` on its ZeroMQ health socket, the time stop() takes,
    and the memory of every process of the stack (launcher, each group process, Redis, Toxiproxy) read
    from /proc: the sum of VmRSS (counts pages the forked groups share with the launcher once per
    process) and the sum of Pss (shares them out; closer to what the stack really costs).
(b) Against one running stack of system/: N ZeroMQ ``ping`` request/replies to an agent's main port
    directly and through a Toxiproxy proxy created for the purpose (``populate``, listening on a free
    port of the stack's proxy address), interleaved A B A B in one run, on one connected socket each,
    then again with a fresh socket per request (as the stand-ins make their calls); and the same for
    HTTP GET /health on a keep-alive connection. Prints p50 and p99 of each and the per-hop overhead
    (difference of the medians), in microseconds.

Everything runs with AISYS_STATE_DIR in a temporary folder (other stacks on the machine are never
seen or reaped) and every stack is stopped in a ``finally``, also on Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import argparse
import http.client
import os
import platform
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import zmq  # noqa: E402

from aisys_verify.spec.synthetic import write_synthetic_spec  # noqa: E402
from aisys_verify.stack import AgentEndpoint, LocalStack, StackOptions, StackStartError  # noqa: E402
from aisys_verify.stack.interpose import proxy_address  # noqa: E402
from aisys_verify.stack.toxiproxy import ProxySpec  # noqa: E402
from aisys_verify.standin import protocol  # noqa: E402
from aisys_verify.standin.client import HEALTH_CHECK  # noqa: E402
from aisys_verify.waiting import poll  # noqa: E402

TARGET_S = 5.0
TARGET_1000_S = 15.0  # 1,000 synthetic agents healthy
BENCH_AGENT = ("ServiceRegistry", "mainpc")


# --- machine -----------------------------------------------------------------------------------


def machine() -> list[str]:
    cpu = next((line.split(":", 1)[1].strip() for line in Path("/proc/cpuinfo").read_text().splitlines()
                if line.startswith("model name")), platform.processor() or "?")
    toxiproxy = shutil.which("toxiproxy-server") or "toxiproxy-server"
    tox = subprocess.run([toxiproxy, "-version"], capture_output=True, text=True, check=False)
    redis = subprocess.run(["redis-server", "--version"], capture_output=True, text=True, check=False)
    load = os.getloadavg()
    return [f"nproc {len(os.sched_getaffinity(0))} ({cpu}); load average {load[0]:.2f} {load[1]:.2f} {load[2]:.2f}",
            f"python {platform.python_version()} ({sys.executable}); "
            f"pyzmq {zmq.__version__}, libzmq {zmq.zmq_version()}",
            f"toxiproxy: {(tox.stdout or tox.stderr).strip()}; {redis.stdout.split(' sha=')[0].strip()}"]


# --- memory --------------------------------------------------------------------------------------


def _kib(path: str, key: str) -> int:
    try:
        for line in Path(path).read_text().splitlines():
            if line.startswith(key + ":"):
                return int(line.split()[1])
    except OSError:
        pass
    return 0


def stack_pids(stack: LocalStack) -> list[int]:
    pids = [stack.launcher.pid] if stack.launcher else []
    pids += list(stack.group_pids.values())
    pids += [p.pid for p in stack.redis.values()]
    if stack.toxiproxy is not None and stack.toxiproxy.popen is not None:
        pids.append(stack.toxiproxy.popen.pid)
    return pids


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")
STEADY_S = 3.0  # the window steady-state CPU is read over, once every agent is healthy


def cpu_s(pids: list[int]) -> float:
    """User + system CPU seconds the live processes ``pids`` have used so far (/proc/PID/stat)."""
    total = 0
    for pid in pids:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        total += int(fields[11]) + int(fields[12])  # utime, stime
    return total / CLOCK_TICKS


def memory_mib(stack: LocalStack) -> tuple[float, float, int, float, float]:
    """(sum of VmRSS, sum of Pss, processes) over every process of the stack, and (sum of VmRSS, sum of Pss)
    over the group processes alone (what grows with the agents), in MiB."""
    pids = stack_pids(stack)
    rss = sum(_kib(f"/proc/{pid}/status", "VmRSS") for pid in pids)
    pss = sum(_kib(f"/proc/{pid}/smaps_rollup", "Pss") for pid in pids)
    groups = list(stack.group_pids.values())
    group_rss = sum(_kib(f"/proc/{pid}/status", "VmRSS") for pid in groups)
    group_pss = sum(_kib(f"/proc/{pid}/smaps_rollup", "Pss") for pid in groups)
    return rss / 1024, pss / 1024, len(pids), group_rss / 1024, group_pss / 1024


# --- (a) stand-up ------------------------------------------------------------------------------


def _health_batch(endpoints: list[AgentEndpoint], timeout: float) -> dict[str, dict[str, Any]]:
    # a context per batch, destroyed at the end: closed sockets are reclaimed asynchronously, and a polling
    # loop over 1,000+ agents on the shared instance ran past its 1,023-socket limit ("Too many open files")
    context: zmq.Context[Any] = zmq.Context()
    frame = protocol.encode(HEALTH_CHECK)
    poller = zmq.Poller()
    waiting: dict[zmq.Socket[Any], str] = {}
    result: dict[str, dict[str, Any]] = {}
    try:
        for ep in endpoints:
            sock = context.socket(zmq.REQ)
            sock.setsockopt(zmq.LINGER, 0)
            sock.connect(ep.health_url)
            sock.send(frame)
            poller.register(sock, zmq.POLLIN)
            waiting[sock] = f"{ep.host}/{ep.agent}"
        deadline = time.monotonic() + timeout
        while waiting and (left := deadline - time.monotonic()) > 0:
            for sock, _ in poller.poll(int(left * 1000) + 1):
                result[waiting.pop(sock)] = protocol.parse_reply(sock.recv())
                poller.unregister(sock)
                sock.close(0)
    finally:
        for key in waiting.values():
            result[key] = {"status": "down", "error": f"no reply within {timeout:g} s"}
        context.destroy(linger=0)
    return result


def all_healthy(stack: LocalStack, timeout: float = 60.0) -> float:
    """When every agent has answered ``ok`` on its health socket since start() was called. An agent that
    answered ok is not asked again: under heavy load a round that asked all 1,000 at once in a 1 s window
    never got every reply inside the same window, although each agent answered ok in some round."""
    seen_ok: set[str] = set()

    def round_of_health() -> dict[str, dict[str, Any]]:
        waiting = [ep for ep in stack.endpoints() if f"{ep.host}/{ep.agent}" not in seen_ok]
        health: dict[str, dict[str, Any]] = {}
        for first in range(0, len(waiting), 500):  # a ZeroMQ context holds at most 1,023 sockets
            health |= _health_batch(waiting[first:first + 500], 2.0)
        seen_ok.update(k for k, v in health.items() if v.get("status") == "ok")
        return health

    waited = poll(round_of_health, timeout, 0.05, until=lambda _: len(seen_ok) == len(stack.topology.agents))
    if waited.met:
        return time.perf_counter()
    bad = {k: v.get("status") for k, v in waited.last.items() if v.get("status") != "ok"}
    raise RuntimeError(f"not all healthy after {timeout:g} s ({len(bad)} never answered ok): "
                       f"{dict(list(bad.items())[:5])}")


def one_standup(spec: Path, workdir: Path, start: str = "graph") -> dict[str, Any]:
    stack = LocalStack([str(spec)], options=StackOptions(workdir=workdir, start=start, health_timeout=60.0),
                       progress=lambda line: None)
    try:
        began = time.perf_counter()
        try:
            stack.start()
        except StackStartError as exc:
            return {"error": str(exc).splitlines()[0], "stop": 0.0}
        started = time.perf_counter()
        try:
            healthy = all_healthy(stack)
        except RuntimeError as exc:
            return {"error": f"started, but {exc}", "stop": 0.0}
        # CPU of every stack process up to 'healthy' (the launcher's health gate, every group, Redis, Toxiproxy:
        # a primary measure, as wall time on a shared 2-core machine is mostly other people's load), then over
        # STEADY_S of the health loops alone
        standup_cpu = cpu_s(stack_pids(stack))
        load = os.getloadavg()[0]
        time.sleep(STEADY_S)
        steady_cpu = cpu_s(stack_pids(stack)) - standup_cpu
        rss, pss, procs, group_rss, group_pss = memory_mib(stack)
        result = {"start": started - began, "healthy": healthy - began, "rss": rss, "pss": pss, "procs": procs,
                  "cpu": standup_cpu, "steady": 1000 * steady_cpu / STEADY_S / len(stack.topology.agents),
                  "load": load,
                  "group_rss": group_rss, "group_pss": group_pss,
                  "groups": len(stack.group_pids), "proxies": len(stack.proxies),
                  "agents": len(stack.topology.agents), "layers": len(stack.layers)}
    finally:
        t = time.perf_counter()
        stack.stop()
        stopped = time.perf_counter() - t
        shutil.rmtree(workdir, ignore_errors=True)
    result["stop"] = stopped
    return result


def standup_table(specs: list[tuple[str, Path]], reps: int, scratch: Path, starts: list[str]) -> None:
    print(f"\n(a) stand-up: median of {reps} LocalStack.start() (min-max) per start order, the orders alternating "
          "rep by rep; 'healthy' = start() called -> every agent ok on its ZeroMQ health socket; 'vs layered' = "
          "graph healthy / layered healthy; ms/agent = healthy / agents (flat = linear cost); RSS/PSS MiB = all "
          "stack processes (launcher, groups, Redis x2, Toxiproxy) from /proc; grp KiB/agent = VmRSS (and Pss) "
          "summed over the group processes only, / agents (RSS counts the pages a fork shares with the launcher "
          "once per group; Pss shares them out); CPU s = user+sys of every stack process from start() to healthy "
          "(/proc/PID/stat; the primary measure when others load the machine), CPU ms/agent = that / agents; "
          f"steady = CPU of the health loops over {STEADY_S:g} s once healthy, ms per agent per second; load = "
          "1-minute load average when healthy")
    header = (f"{'spec':<16} {'start':<8} {'agents':>6} {'groups':>6} {'layers':>6} {'proxies':>7} {'start s':>7} "
              f"{'(min-max)':>13} {'healthy s':>9} {'vs layered':>10} {'ms/agent':>8} {'stop s':>6} {'procs':>5} "
              f"{'RSS MiB':>8} {'PSS MiB':>8} {'KiB/agent':>9} {'grp KiB/agent rss (pss)':>23} {'CPU s':>6} "
              f"{'CPU ms/agent':>12} {'steady':>6} {'load':>5}")
    print(header)
    print("-" * len(header))
    medians: dict[tuple[str, str], float] = {}
    for label, spec in specs:
        attempts: dict[str, list[dict[str, Any]]] = {start: [] for start in starts}
        for i in range(reps):  # alternate the orders so both see the same load on a shared machine
            for start in starts:
                attempts[start].append(one_standup(spec, scratch / f"{label}-{start}-{i}", start))
        healthy_of = {start: statistics.median(r["healthy"] for r in attempts[start] if "error" not in r)
                      for start in starts if any("error" not in r for r in attempts[start])}
        for start in starts:
            failed = [r["error"] for r in attempts[start] if "error" in r]
            runs = [r for r in attempts[start] if "error" not in r]
            for error in failed:
                print(f"{label:<16} {start:<8} a start failed: {error}", flush=True)
            if not runs:
                continue
            med = {k: statistics.median(r[k] for r in runs)
                   for k in ("start", "healthy", "stop", "rss", "pss", "group_rss", "group_pss", "cpu", "steady",
                             "load")}
            lo, hi = min(r["start"] for r in runs), max(r["start"] for r in runs)
            first = runs[0]
            medians[(label, start)] = med["healthy"]
            mark = f"  ({len(failed)} of {reps} starts failed)" if failed else ""
            if label == "system/":
                mark += "  <- target < 5 s: " + ("MET" if med["start"] < TARGET_S else "MISSED")
            if first["agents"] == 1000:
                mark += "  <- target < 15 s: " + ("MET" if med["healthy"] < TARGET_1000_S else "MISSED")
            per_agent_ms = 1000 * med["healthy"] / first["agents"]
            per_agent_kib = 1024 * med["pss"] / first["agents"]
            group_kib = (f"{1024 * med['group_rss'] / first['agents']:.0f} "
                         f"({1024 * med['group_pss'] / first['agents']:.0f})")
            ratio = ""
            if start != "layered" and "layered" in healthy_of:
                ratio = f"x{med['healthy'] / healthy_of['layered']:.2f}"
            print(f"{label:<16} {start:<8} {first['agents']:>6} {first['groups']:>6} {first['layers']:>6} "
                  f"{first['proxies']:>7} {med['start']:>7.2f} {f'({lo:.2f}-{hi:.2f})':>13} {med['healthy']:>9.2f} "
                  f"{ratio:>10} {per_agent_ms:>8.1f} {med['stop']:>6.2f} {first['procs']:>5} {med['rss']:>8.0f} "
                  f"{med['pss']:>8.0f} {per_agent_kib:>9.0f} {group_kib:>23} {med['cpu']:>6.1f} "
                  f"{1000 * med['cpu'] / first['agents']:>12.1f} {med['steady']:>6.2f} {med['load']:>5.1f}{mark}",
                  flush=True)
    if ("system/", "graph") in medians:
        print(f"target: system/ (77 agents) up in under {TARGET_S:g} s on this {len(os.sched_getaffinity(0))}-core "
              f"machine: healthy median {medians[('system/', 'graph')]:.2f} s (graph start)")
    for (label, start), healthy in medians.items():
        if label == "synthetic-1000":
            print(f"target: 1,000 agents healthy in under {TARGET_1000_S:g} s ({start} start): {healthy:.2f} s -> "
                  + ("MET" if healthy < TARGET_1000_S else "MISSED") + " (wall time: read it with the load column)")


# --- (b) proxy overhead ------------------------------------------------------------------------


def free_port(address: str) -> int:
    with socket.socket() as s:
        s.bind((address, 0))
        return int(s.getsockname()[1])


def pct(samples: list[float], q: float) -> float:
    ordered = sorted(samples)
    return ordered[min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))]


def interleaved(n: int, direct: Callable[[], None], proxied: Callable[[], None],
                warmup: int = 100) -> tuple[list[float], list[float]]:
    for _ in range(warmup):
        direct()
        proxied()
    a: list[float] = []
    b: list[float] = []
    clock = time.perf_counter_ns
    for _ in range(n):
        t0 = clock()
        direct()
        t1 = clock()
        proxied()
        t2 = clock()
        a.append((t1 - t0) / 1000)
        b.append((t2 - t1) / 1000)
    return a, b


def report(label: str, a: list[float], b: list[float]) -> None:
    overhead = statistics.median(b) - statistics.median(a)
    print(f"{label:<40} {pct(a, 50):>9.0f} {pct(a, 99):>9.0f} {pct(b, 50):>9.0f} {pct(b, 99):>9.0f} "
          f"{overhead:>+10.0f}", flush=True)


class ZmqPinger:
    def __init__(self, url: str, persistent: bool) -> None:
        self.url = url
        self.ctx: zmq.Context[Any] = zmq.Context.instance()
        self.frame = protocol.encode(protocol.envelope("ping", "bench"))
        self.sock = self._connect() if persistent else None

    def _connect(self) -> zmq.Socket[Any]:
        sock: zmq.Socket[Any] = self.ctx.socket(zmq.REQ)
        sock.setsockopt(zmq.LINGER, 0)
        sock.connect(self.url)
        return sock

    def __call__(self) -> None:
        sock = self.sock or self._connect()
        try:
            sock.send(self.frame)
            if not sock.poll(5000):
                raise RuntimeError(f"no ping reply from {self.url}")
            reply = protocol.parse_reply(sock.recv())
            if reply.get("status") not in ("ok", "healthy", "success", "degraded"):
                raise RuntimeError(f"unexpected ping reply from {self.url}: {reply}")
        finally:
            if self.sock is None:
                sock.close(0)

    def close(self) -> None:
        if self.sock is not None:
            self.sock.close(0)


class HttpGetter:
    def __init__(self, address: str, port: int, persistent: bool) -> None:
        self.address, self.port, self.persistent = address, port, persistent
        self.conn = http.client.HTTPConnection(address, port, timeout=5) if persistent else None

    def __call__(self) -> None:
        conn = self.conn or http.client.HTTPConnection(self.address, self.port, timeout=5)
        try:
            conn.request("GET", "/health")
            response = conn.getresponse()
            response.read()
            if response.status != 200:
                raise RuntimeError(f"GET /health on {self.address}:{self.port}: {response.status}")
        finally:
            if self.conn is None:
                conn.close()

    def close(self) -> None:
        if self.conn is not None:
            self.conn.close()


def proxy_overhead(n: int, scratch: Path) -> None:
    stack = LocalStack([str(ROOT / "system")], options=StackOptions(workdir=scratch / "overhead"),
                       progress=lambda line: None)
    try:
        stack.start()
        ep = stack.endpoint(*BENCH_AGENT)
        listen_host = proxy_address(stack.plan, ep.host)
        main_port, http_port = free_port(listen_host), free_port(listen_host)
        client = stack.toxiproxy_client
        client.populate([ProxySpec("bench__zmq_main", f"{listen_host}:{main_port}", f"{ep.address}:{ep.port}"),
                         ProxySpec("bench__http", f"{listen_host}:{http_port}", f"{ep.address}:{ep.http_port}")])
        print(f"\n(b) proxy overhead per hop: {ep.host}/{ep.agent} of a running system/ stack "
              f"({len(stack.proxies)} proxies in Toxiproxy {client.version()}); direct {ep.address} vs "
              f"through a proxy on {listen_host}; N={n} each, interleaved A B A B; microseconds")
        print(f"{'':<40} {'direct':>19} {'through proxy':>19} {'overhead':>10}")
        print(f"{'':<40} {'p50':>9} {'p99':>9} {'p50':>9} {'p99':>9} {'(p50 diff)':>10}")
        for label, persistent in (("ZeroMQ ping, one connected REQ socket", True),
                                  ("ZeroMQ ping, fresh REQ socket per call", False)):
            direct = ZmqPinger(ep.main_url, persistent)
            proxied = ZmqPinger(f"tcp://{listen_host}:{main_port}", persistent)
            try:
                a, b = interleaved(n, direct, proxied)
            finally:
                direct.close()
                proxied.close()
            report(label, a, b)
        for label, persistent in (("HTTP GET /health, keep-alive", True),
                                  ("HTTP GET /health, new connection", False)):
            hd = HttpGetter(ep.address, ep.http_port, persistent)
            hp = HttpGetter(listen_host, http_port, persistent)
            try:
                a, b = interleaved(n, hd, hp)
            finally:
                hd.close()
                hp.close()
            report(label, a, b)
    finally:
        stack.stop()


# --- main ----------------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--reps", type=int, default=3)
    parser.add_argument("--sizes", default="10,77,300,1000,2000", help="synthetic spec sizes (agents)")
    parser.add_argument("--starts", default="graph,layered", help="start orders to compare (graph, layered)")
    parser.add_argument("-n", type=int, default=2000, help="requests per path in (b)")
    parser.add_argument("--skip-standup", action="store_true")
    parser.add_argument("--skip-overhead", action="store_true")
    args = parser.parse_args()

    def interrupted(signum: int, _frame: object) -> None:
        raise KeyboardInterrupt(f"signal {signum}")

    signal.signal(signal.SIGTERM, interrupted)
    scratch = Path(tempfile.mkdtemp(prefix="aisys-bench-stack-"))
    os.environ["AISYS_STATE_DIR"] = str(scratch / "state")  # never see, or reap, other stacks
    began = time.perf_counter()
    try:
        print("bench_stack: " + "\n             ".join(machine()))
        if not args.skip_standup:
            specs = [(f"synthetic-{n}", write_synthetic_spec(scratch / f"spec-{n}", agents=int(n)))
                     for n in args.sizes.split(",") if n.strip()]
            specs.append(("system/", ROOT / "system"))
            standup_table(specs, args.reps, scratch, [x.strip() for x in args.starts.split(",") if x.strip()])
        if not args.skip_overhead:
            proxy_overhead(args.n, scratch)
    except KeyboardInterrupt:
        print("bench_stack: interrupted", file=sys.stderr)
        return 130
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    load = os.getloadavg()
    print(f"\nbench_stack: done in {time.perf_counter() - began:.0f} s; load average now {load[0]:.2f} {load[1]:.2f} "
          f"{load[2]:.2f} (other work on this machine inflates the times)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
