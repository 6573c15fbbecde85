"""The SLO suite can fail: with 150 ms added inside PC2's memory agent (MemoryOrchestratorService,
through the stand-in knob ``config.standin.extra_latency_ms``), MainPC's MemoryClient, which forwards
to it, answers in over 100 ms, and the memory stack's p99 SLO fails with a message that names it,
its objective, what was observed and over how many samples.

Like tests/e2e_mutations, through tests/mutation_support.py.
"""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from mutation_support import REPO, insert_field, mutated_spec, run_suite

pytestmark = pytest.mark.integration

EXTRA_MS = 150


def test_memory_latency_mutation_fails_the_memory_p99_slo(tmp_path: Path) -> None:
    spec = mutated_spec(tmp_path, "pc2", "MemoryOrchestratorService",
                        insert_field(f"config: {{standin: {{extra_latency_ms: {EXTRA_MS}}}}}  # SLO mutation"),
                        lambda agent: agent.config.get("standin", {}).get("extra_latency_ms") == EXTRA_MS)
    run = run_suite(spec, [str(REPO / "suites" / "slo" / "test_baseline.py"), "-k", "test_latency_slos"], 240)
    output, shown = run.output, run.shown
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
