"""The SLO suite can fail: with 150 ms added inside PC2's memory agent (MemoryOrchestratorService,
through the stand-in knob ``config.standin.extra_latency_ms``), MainPC's MemoryClient, which forwards
to it, answers in over 100 ms, and the memory stack's p99 SLO fails with a message that names it,
its objective, what was observed and over how many samples.

Like tests/e2e_mutations: copy system/ and compose/, edit one agent, check the edit took, run the
suite's file in a fresh pytest with ``--aisys-spec`` (which stands the mutated spec up).
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aisys_verify import load_spec

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
EXTRA_MS = 150


def _slow_memory(tmp_path: Path) -> Path:
    shutil.copytree(REPO / "system", tmp_path / "system")
    shutil.copytree(REPO / "compose", tmp_path / "compose")
    config = tmp_path / "system" / "pc2" / "startup_config.yaml"
    lines = config.read_text(encoding="utf-8").splitlines()
    header = [i for i, line in enumerate(lines) if re.match(r"^\s*- name:\s*MemoryOrchestratorService\s*$", line)]
    assert len(header) == 1, f"expected one MemoryOrchestratorService entry in {config}, found lines {header}"
    indent = " " * (len(lines[header[0]]) - len(lines[header[0]].lstrip()) + 2)
    lines.insert(header[0] + 1, f"{indent}config: {{standin: {{extra_latency_ms: {EXTRA_MS}}}}}  # SLO mutation")
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    agent = load_spec([tmp_path / "system"]).find_agent("MemoryOrchestratorService", "pc2")
    assert agent is not None
    assert agent.config.get("standin", {}).get("extra_latency_ms") == EXTRA_MS, "the mutation did not take"
    return tmp_path / "system"


def test_memory_latency_mutation_fails_the_memory_p99_slo(tmp_path: Path) -> None:
    spec = _slow_memory(tmp_path)
    args = [sys.executable, "-m", "pytest", str(REPO / "suites" / "slo" / "test_baseline.py"), "-p",
            "no:cacheprovider", "-q", "-o", "console_output_style=classic", "--aisys-spec", str(spec),
            "-k", "test_latency_slos"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AISYS_", "PYTEST_"))}
    run = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    output = run.stdout + run.stderr
    shown = f"\n--- output of {' '.join(args[2:])} ---\n{output[-6000:]}"
    assert "ready in" in output, f"the mutated stack did not come up, which proves nothing:{shown}"
    assert run.returncode == 1, f"the SLO suite did not fail (exit {run.returncode}){shown}"
    assert "FAILED suites/slo/test_baseline.py::test_latency_slos" in output, shown
    assert "SloViolation" in output, f"the failure is not an SLO violation:{shown}"
    for message in (r"SLO memory_stack_latency \(memory-stack\): FAIL",
                    r"objective: p99 <= 0\.1 s",
                    r"observed:  [\d.]+ s over \d{3,} sample\(s\), \d+ beyond the objective \(load run\)",
                    r"why:       the lower bound of p99 \(X\(\d+\) of \d+\) exceeds 0\.1 s"):
        assert re.search(message, output), f"the failure does not say {message!r}:{shown}"
    observed = re.search(r"SLO memory_stack_latency.*?observed:  ([\d.]+) s", output, re.S)
    assert observed is not None
    assert float(observed.group(1)) >= EXTRA_MS / 1000, f"the memory p99 does not show the added latency:{shown}"
