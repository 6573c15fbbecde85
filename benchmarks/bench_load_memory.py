"""Memory of the load generator over a long run: RSS of the Locust process every 30 s.

    .venv/bin/python benchmarks/bench_load_memory.py [--minutes 10] [--rate 300]

An open-model constant-rate run against the tiny keep-alive target; the recorder keeps histograms
(bounded by phases x endpoints) and per-second counts (bounded by seconds), never a list per request,
so RSS should stay flat. Prints RSS over time and the growth from minute 1 to the end.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from aisys_verify.load.runner import run_load
from aisys_verify.load.scenario import parse_scenario
from aisys_verify.load.target import running_target


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--minutes", type=float, default=10.0)
    parser.add_argument("--rate", type=float, default=300.0)
    args = parser.parse_args()
    duration = args.minutes * 60
    scenario = parse_scenario({"name": "memory-soak", "model": "open", "users": 20,
                               "shape": {"kind": "constant", "level": args.rate, "duration": duration},
                               "workloads": {"http-get": 1}})
    with tempfile.TemporaryDirectory(prefix="aisys-bench-load-mem-") as tmp, running_target(Path(tmp)) as target:
        results = run_load(scenario, target.url, Path(tmp) / "run", progress=lambda line: print(line, flush=True))
        samples = results.generator["samples"]
        total, failed = results.counts()
        print(f"\n{total} requests ({failed} failed) in {results.duration:.0f} s at a target of {args.rate:g} req/s; "
              f"p99 {results.latencies().quantile(0.99) * 1e3:.2f} ms; saturated={results.saturated}")
        print("elapsed_s  rss_mb  cpu%")
        t0 = samples[0]["t"]
        rows = [(s["t"] - t0, s["local_rss_mb"], s.get("local", 0.0)) for s in samples if s.get("local_rss_mb")]
        for elapsed, rss, cpu in rows:
            if rss is not None and (round(elapsed) % 30 == 0 or elapsed == rows[-1][0]):
                print(f"{elapsed:9.0f}  {rss:6.1f}  {cpu:4.0f}")
        after_warmup = [rss for elapsed, rss, _ in rows if rss is not None and elapsed >= 60]
        if after_warmup:
            growth = after_warmup[-1] - after_warmup[0]
            print(f"RSS at 1 min {after_warmup[0]:.1f} MiB, at the end {after_warmup[-1]:.1f} MiB, "
                  f"max {max(after_warmup):.1f} MiB: growth {growth:+.1f} MiB ({growth / after_warmup[0]:+.1%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
