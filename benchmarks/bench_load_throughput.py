"""Requests/s of our load driver against plain Locust and wrk, side by side in one run.

    .venv/bin/python benchmarks/bench_load_throughput.py [--seconds 10] [--users 10] [--rounds 3]

The same trivial keep-alive endpoint (aisys_verify.load.target, pinned to CPU 1) is driven from CPU 0 by:
  ours   aisys_verify.load.run_load: closed-model constant shape, our FastHttpUser-based http-get user,
         every request recorded (histogram per phase/endpoint, per-second counts), CPU watched;
  locust plain `python -m locust` with a minimal FastHttpUser doing the same GET (no recording);
  wrk    `wrk -t1 -c USERS` (C, epoll): the machine's ceiling for one core.
Rounds are interleaved; medians are printed, and ours/locust (target >= 0.9).

Two figures per driver: requests/s (wall clock), and requests per CPU-second of the driver's own
processes (getrusage of the children, plus this process's own sampling and merging for ours): on a
shared 2-core machine the first swings with whatever else runs, the second much less. Requests per
CPU-second is what the driver would reach with one core to itself.
"""

from __future__ import annotations

import argparse
import csv
import os
import re
import resource
import shutil
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aisys_verify.load.runner import run_load
from aisys_verify.load.scenario import parse_scenario
from aisys_verify.load.target import running_target

PLAIN = """
from locust import FastHttpUser, constant, task

class Plain(FastHttpUser):
    wait_time = constant(0)

    @task
    def get(self):
        self.client.get("/")
"""


def _cpu() -> tuple[float, float]:
    """(CPU seconds of reaped children, CPU seconds of this process)."""
    kids, me = resource.getrusage(resource.RUSAGE_CHILDREN), resource.getrusage(resource.RUSAGE_SELF)
    return kids.ru_utime + kids.ru_stime, me.ru_utime + me.ru_stime


def ours(url: str, seconds: float, users: int, folder: Path) -> tuple[float, float]:
    scenario = parse_scenario({"name": "bench", "shape": {"kind": "constant", "level": users, "duration": seconds},
                               "spawn_rate": users, "workloads": {"http-get": 1}})
    kids, me = _cpu()
    results = run_load(scenario, url, folder)
    kids2, me2 = _cpu()
    total, _failed = results.counts()
    sent = total + results.generator["requests_after_end"]  # all the work the CPU time paid for
    # requests/s over the shape (like Locust's own: count / run time); requests per CPU-second
    return total / results.duration, sent / ((kids2 - kids) + (me2 - me))


def plain_locust(url: str, seconds: float, users: int, folder: Path) -> tuple[float, float]:
    locustfile = folder / "plain_locustfile.py"
    locustfile.write_text(PLAIN, encoding="utf-8")
    prefix = folder / "plain"
    kids, _ = _cpu()
    subprocess.run([sys.executable, "-m", "locust", "-f", str(locustfile), "--headless", "-u", str(users), "-r",
                    str(users), "-t", f"{seconds:g}s", "-H", url, "--only-summary", "--csv", str(prefix),
                    "--loglevel", "WARNING", "--exit-code-on-error", "0"],
                   check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, cwd=folder)
    with open(f"{prefix}_stats.csv", newline="", encoding="utf-8") as handle:
        row = next(r for r in csv.DictReader(handle) if r["Name"] == "Aggregated")
    return float(row["Requests/s"]), float(row["Request Count"]) / (_cpu()[0] - kids)


def wrk(url: str, seconds: float, users: int) -> tuple[float, float]:
    kids, _ = _cpu()
    out = subprocess.run(["wrk", "-t1", f"-c{users}", f"-d{seconds:g}s", url + "/"], check=True,
                         capture_output=True, text=True).stdout
    match = re.search(r"Requests/sec:\s+([\d.]+)", out)
    count = re.search(r"(\d+) requests in", out)
    if not match or not count:
        raise RuntimeError(f"no Requests/sec in wrk output:\n{out}")
    return float(match.group(1)), int(count.group(1)) / (_cpu()[0] - kids)


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=float, default=10.0)
    parser.add_argument("--users", type=int, default=10)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cpus = sorted(os.sched_getaffinity(0))
    gen_cpu, target_cpu = (cpus[0], cpus[1]) if len(cpus) > 1 else (cpus[0], None)
    os.sched_setaffinity(0, {gen_cpu})  # the generators (children inherit it) on one core, the target on another
    wall: dict[str, list[float]] = {"ours": [], "locust": [], "wrk": []}
    per_cpu: dict[str, list[float]] = {"ours": [], "locust": [], "wrk": []}

    def note(name: str, figures: tuple[float, float]) -> None:
        wall[name].append(figures[0])
        per_cpu[name].append(figures[1])

    with tempfile.TemporaryDirectory(prefix="aisys-bench-load-") as tmp, \
            running_target(Path(tmp), cpu=target_cpu) as target:
        for i in range(args.rounds):
            note("ours", ours(target.url, args.seconds, args.users, Path(tmp) / f"ours-{i}"))
            note("locust", plain_locust(target.url, args.seconds, args.users, Path(tmp)))
            if shutil.which("wrk"):
                note("wrk", wrk(target.url, args.seconds, args.users))
            load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
            print(f"round {i + 1}: " + "; ".join(f"{k} {wall[k][-1]:,.0f} req/s, {per_cpu[k][-1]:,.0f} req/CPU-s"
                                                for k in wall if wall[k]) + f"  (load average {load})", flush=True)
    print(f"\nmedian of {args.rounds} rounds, {args.users} users/connections, {args.seconds:g} s each, "
          f"generators on CPU {gen_cpu}, target on CPU {target_cpu}:")
    print(f"  {'':8s} {'req/s':>10s} {'req/CPU-s':>10s}")
    for name in wall:
        if wall[name]:
            print(f"  {name:8s} {statistics.median(wall[name]):10,.0f} {statistics.median(per_cpu[name]):10,.0f}")
    for label, data in (("req/s", wall), ("req/CPU-s", per_cpu)):
        paired = statistics.median(o / p for o, p in zip(data["ours"], data["locust"], strict=True))
        print(f"  ours / plain Locust, {label:9s}: {paired:.3f} (median of per-round ratios; target >= 0.9)")
        if data["wrk"]:
            paired = statistics.median(o / w for o, w in zip(data["ours"], data["wrk"], strict=True))
            print(f"  ours / wrk,          {label:9s}: {paired:.3f} (wrk: the machine's ceiling)")
    if not wall["wrk"]:
        print("  wrk not installed (scripts/system-deps installs it)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
