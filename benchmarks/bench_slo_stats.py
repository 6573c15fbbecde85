"""Figures of the SLO engine's statistics (aisys_verify.slo.stats): the sample sizes verdicts need,
and what one verdict costs in plain Python.

    .venv/bin/python benchmarks/bench_slo_stats.py
"""

from __future__ import annotations

import time

from aisys_verify.slo.budget import error_budget
from aisys_verify.slo.stats import clopper_pearson, min_samples_upper_bound, quantile_ranks, smallest_n


def _timed(fn, repeat: int) -> float:  # type: ignore[no-untyped-def]
    started = time.perf_counter()
    for _ in range(repeat):
        fn()
    return (time.perf_counter() - started) / repeat * 1000


def main() -> None:
    print("samples whose maximum bounds p99 from above:",
          ", ".join(f"{c:.0%}: {min_samples_upper_bound(0.99, c)}" for c in (0.9, 0.95, 0.99)))
    print("error-free requests to pass an availability objective at 95 %:")
    for objective in (0.99, 0.995, 0.999, 0.9995):
        n = smallest_n(lambda m, o=objective: clopper_pearson(0, m).high <= error_budget(o), 1)  # type: ignore[misc]
        print(f"  {objective:.2%}: {n}")
    print("p99 95 % two-sided order-statistic intervals:")
    for n in (1_000, 3_000, 10_000, 100_000):
        r = quantile_ranks(n, 0.99, 0.95, sides=2)
        print(f"  n={n}: X({r.lower}) .. X({r.upper})")
    print("cost per call (ms):")
    for label, fn, repeat in (("clopper_pearson(3, 1000)", lambda: clopper_pearson(3, 1000), 200),
                              ("clopper_pearson(7, 100000)", lambda: clopper_pearson(7, 100_000), 50),
                              ("quantile_ranks(1000, 0.99)", lambda: quantile_ranks(1000, 0.99), 50),
                              ("quantile_ranks(100000, 0.99)", lambda: quantile_ranks(100_000, 0.99), 10)):
        print(f"  {label}: {_timed(fn, repeat):.2f}")


if __name__ == "__main__":
    main()
