"""YAML alias bombs against the spec reader: wall time and peak RSS of ``aisys-verify lint`` on each.

Writes compose files whose service field expands, through nested aliases, into 10**levels strings
(levels 9: the classic "billion laughs"; 10: one level deeper), plus a file just inside the reader's
alias budget, and runs the CLI on each in a fresh subprocess. Prints the file size, exit code, wall
time, peak RSS of the child (``wait4`` rusage) and the first line of stderr.

    .venv/bin/python benchmarks/bench_alias_bomb.py [--levels 9,10] [--limit-s 120]

Targets (issue 14): the bombs exit 2 in under 2 s and under 200 MB, with one line naming the file.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path


def bomb(levels: int, width: int = 10, pad: int = 0) -> str:
    """A compose file whose service ``bomb`` has ``command`` expanding to ``width**levels`` strings."""
    lines = ["services:", "  bomb:", "    image: busybox", "    labels:"]
    word = "lol" + "l" * pad
    lines.append(f"      l0: &l0 [{', '.join([repr(word)] * width)}]")
    for level in range(1, levels):
        lines.append(f"      l{level}: &l{level} [{', '.join([f'*l{level - 1}'] * width)}]")
    lines.append(f"    command: *l{levels - 1}")
    return "\n".join(lines) + "\n"


def inside_budget() -> str:
    """Legitimate-looking heavy anchor use: a 200-key template merged into 220 services (~88,000 values
    through aliases), just inside the reader's floor of 100,000 expanded values."""
    keys = "\n".join(f"    K{i}: v{i}" for i in range(200))
    services = "\n".join(f"  s{i}:\n    image: busybox\n    environment:\n      <<: *env" for i in range(220))
    return f"x-env:\n  environment: &env\n{keys}\nservices:\n{services}\n"


def run(path: Path, limit_s: float) -> tuple[int, float, float, str]:
    """Exit code, wall seconds, peak RSS in MiB and stderr's first line of ``aisys-verify lint path``."""
    import threading

    with tempfile.TemporaryFile() as err:
        start = time.perf_counter()
        proc = subprocess.Popen([sys.executable, "-m", "aisys_verify", "lint", "-q", str(path)],
                                stdout=subprocess.DEVNULL, stderr=err)
        killer = threading.Timer(limit_s, proc.kill)
        killer.start()
        # wait4, not communicate(): it gives this child's own rusage, so its peak RSS
        _, status, usage = os.wait4(proc.pid, 0)
        wall = time.perf_counter() - start
        killer.cancel()
        proc.returncode = os.waitstatus_to_exitcode(status)  # reaped here; tell Popen
        err.seek(0)
        lines = err.read().decode(errors="replace").strip().splitlines()
    first = (lines[0] if lines else "") + (f" (+{len(lines) - 1} lines)" if len(lines) > 1 else "")
    return proc.returncode, wall, usage.ru_maxrss / 1024, first  # ru_maxrss is KiB on Linux


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--levels", default="9,10", help="comma-separated nesting depths of the bombs")
    parser.add_argument("--limit-s", type=float, default=120.0, help="kill a run after this many seconds")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="aisys-bomb-") as tmp:
        cases = [("inside-budget", inside_budget())]
        cases += [(f"bomb-{n}", bomb(n, pad=500)) for n in map(int, args.levels.split(","))]
        print(f"{'case':<14} {'bytes':>7} {'exit':>4} {'wall s':>7} {'peak RSS MiB':>12}  stderr")
        for name, text in cases:
            path = Path(tmp, f"{name}.yml")
            path.write_text(text, encoding="utf-8")
            code, wall, rss, line = run(path, args.limit_s)
            print(f"{name:<14} {os.path.getsize(path):>7} {code:>4} {wall:>7.2f} {rss:>12.1f}  {line[:110]}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
