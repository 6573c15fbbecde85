"""The fault matrix across pytest-xdist workers: wall time for 1, 2 and 4 workers and cases per minute, then
an extrapolation to N CI jobs (``--aisys-shard=I/N``).

Usage (from the repository root): python benchmarks/bench_shards.py [--cases 12] [--workers 1,2,4]
(defaults: 12 cases of the default spec's matrix, the suite's own case body; a few minutes on 2 cores)

Each run is one ``pytest -n W`` of suites/chaos/test_matrix.py's case (health tells the truth under a
partition, reset or latency fault, and recovers), with the suite's selection widened to ``limit=CASES``; every
xdist worker stands up its own stack of the default spec (the local backend gives each stack its own
loopback network, so they run side by side). Reported per run: wall time (interpreter start to exit:
collection, stand-ups, cases, teardowns), the slowest worker's stand-up, cases per minute. The extrapolation
to the whole matrix uses the one-worker run: per-case time = (wall - stand-up) / cases; a CI job per shard
pays one stand-up, so N jobs take about stand-up + matrix / N x per-case time, each on its own machine.
"""

from __future__ import annotations

import argparse
import os
import re
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SUITE = ROOT / "suites" / "chaos" / "test_matrix.py"
SELECTION = re.compile(r'@pytest\.mark\.aisys_faults\("([^"]*) limit=\d+"\)')


def write_project(folder: Path, cases: int) -> None:
    """The suite's matrix test with its selection widened to ``cases``, a recovery table of its own."""
    source = SUITE.read_text(encoding="utf-8")
    if not SELECTION.search(source):
        sys.exit(f"bench_shards: the aisys_faults selection of {SUITE} has changed; update SELECTION")
    source = SELECTION.sub(lambda m: f'@pytest.mark.aisys_faults("{m.group(1)} limit={cases}")', source)
    source += ("\n\n@pytest.fixture(scope='session')\ndef recovery_table() -> list[dict[str, object]]:\n"
               "    return []\n")
    (folder / "test_matrix.py").write_text(source, encoding="utf-8")
    (folder / "pytest.ini").write_text(f"[pytest]\naisys_spec = {ROOT / 'system'}\naddopts = -p no:locust\n"
                                       "markers =\n    chaos: fault injection\n", encoding="utf-8")


def run(folder: Path, workers: int, state: Path) -> tuple[float, float, int, int, str]:
    """(wall s, slowest stand-up s, passed, failed, the failures' one-line reasons) of one pytest -n run.
    The stand-up is the slowest test set-up (--durations): the first test of each worker stands its stack up."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AISYS_", "PYTEST_"))}
    env |= {"AISYS_STATE_DIR": str(state), "PYTHONPATH": str(ROOT), "AISYS_HEALTH_TIMEOUT": "120"}
    args = [sys.executable, "-m", "pytest", "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-q", "-rf",
            "--tb=no", "--durations=8", "--durations-min=0.5",
            *(["-n", str(workers)] if workers > 1 else ["-p", "no:xdist"])]
    began = time.monotonic()
    done = subprocess.run(args, cwd=folder, env=env, capture_output=True, text=True, timeout=1800, check=False)
    wall = time.monotonic() - began
    out = done.stdout + done.stderr
    stand_ups = [float(s) for s in re.findall(r"^([\d.]+)s setup ", out, re.M)]
    passed = int(m.group(1)) if (m := re.search(r"(\d+) passed", out)) else 0
    failed = int(m.group(1)) if (m := re.search(r"(\d+) failed", out)) else 0
    reasons = "\n".join(f"      {line[:220]}" for line in out.splitlines() if line.startswith("FAILED"))
    return wall, max(stand_ups, default=0.0), passed, failed, reasons or out[-1500:]


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--cases", type=int, default=12, help="matrix cases per run (default 12)")
    parser.add_argument("--workers", default="1,2,4", help="xdist worker counts (default 1,2,4)")
    parser.add_argument("--matrix", type=int, default=584, help="cases of the whole matrix to extrapolate to")
    args = parser.parse_args()
    counts = [int(w) for w in args.workers.split(",")]
    print(f"bench_shards: {args.cases} fault-matrix cases of system/ (suites/chaos/test_matrix.py's case), "
          f"{os.cpu_count()} CPUs, load average {os.getloadavg()[0]:.1f}")
    results: dict[int, tuple[float, float]] = {}
    with tempfile.TemporaryDirectory(prefix="aisys-bench-shards-") as tmp:
        folder = Path(tmp)
        write_project(folder, args.cases)
        for workers in counts:
            wall, stand_up, passed, failed, tail = run(folder, workers, folder / f"state-{workers}")
            if passed + failed != args.cases:
                print(f"  {workers} worker(s): the run did not complete ({passed} passed, {failed} failed):\n{tail}")
                continue
            results[workers] = (wall, stand_up)
            print(f"  {workers} worker(s): {wall:6.1f} s wall, slowest stand-up {stand_up:5.1f} s, "
                  f"{args.cases / wall * 60:6.1f} cases/min ({passed} passed, {failed} failed)")
            if failed:
                print(tail)
    if 1 in results:
        wall, stand_up = results[1]
        per_case = max(wall - stand_up, 0.0) / args.cases
        print(f"  per case (1 worker, stand-up excluded): {per_case:.2f} s; the whole matrix ({args.matrix} cases):")
        for jobs in (1, 2, 4, 8, 16):
            print(f"    {jobs:2d} job(s) (--aisys-shard=I/{jobs}, a machine each): about "
                  f"{(stand_up + args.matrix / jobs * per_case) / 60:5.1f} min")
    return 0


if __name__ == "__main__":
    sys.exit(main())
