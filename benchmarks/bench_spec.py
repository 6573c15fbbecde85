"""Time to load and lint a spec (target: the full real spec in under 1 s).

Usage: python benchmarks/bench_spec.py [PATH ...]   (default: ../shared/reference-system and system/)
Prints, per spec, the median and min of N fresh runs (each in a new interpreter,
so import time counts, as it does for a user running `aisys-verify lint`) and of
in-process repeats (load + lint only).
"""

from __future__ import annotations

import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
RUNS = 15


def in_process(paths: list[str]) -> list[float]:
    from aisys_verify import lint_spec

    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        lint_spec(paths)
        samples.append(time.perf_counter() - start)
    return samples


def fresh_process(paths: list[str]) -> list[float]:
    code = "import sys; from aisys_verify import lint_spec; lint_spec(sys.argv[1:])"
    samples = []
    for _ in range(RUNS):
        start = time.perf_counter()
        subprocess.run([sys.executable, "-c", code, *paths], check=True)
        samples.append(time.perf_counter() - start)
    return samples


def main() -> None:
    specs = [[p] for p in sys.argv[1:]] or [[str(ROOT.parent / "shared" / "reference-system")], [str(ROOT / "system")]]
    print(f"{'spec':<40} {'mode':<22} {'median':>9} {'min':>9}   (n={RUNS})")
    for paths in specs:
        if not Path(paths[0]).exists():
            print(f"{paths[0]:<40} missing, skipped")
            continue
        for mode, func in (("load+lint, in-process", in_process), ("import+load+lint, new", fresh_process)):
            samples = func(paths)
            print(f"{Path(paths[0]).name:<40} {mode:<22} {statistics.median(samples) * 1000:8.1f}ms "
                  f"{min(samples) * 1000:8.1f}ms")


if __name__ == "__main__":
    main()
