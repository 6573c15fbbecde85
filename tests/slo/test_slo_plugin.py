"""The ``aisys_slo`` fixture through pytester: the spec's SLOs, and an SloViolation that reads well
in pytest's output even without assertion rewriting."""

from __future__ import annotations

from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def test_fixture_and_failure_text(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_user="""
        from aisys_verify.slo import Counts, ExactLatencies, judge_latency, judge_ratio

        def test_spec_slos(aisys_slo):
            assert len(aisys_slo.slos) == 33
            verdict = judge_ratio(aisys_slo.slo("learning_gpu_availability"), Counts(299, 299))
            aisys_slo.assert_slo(verdict)

        def test_memory_p99(aisys_slo):
            slow = ExactLatencies.of([0.02] * 360 + [0.4] * 40)
            aisys_slo.assert_slo(judge_latency(aisys_slo.slo("memory_stack_latency"), slow))
    """)
    result = pytester.runpytest("-p", "no:hypothesispytest", "--assert=plain", "-p", "no:cacheprovider",
                                f"--aisys-spec={REPO / 'system'}")
    result.assert_outcomes(passed=1, failed=1)
    result.stdout.fnmatch_lines([
        "*SloViolation: SLO violated:",
        "*SLO memory_stack_latency (memory-stack): FAIL",
        "*objective: p99 <= 0.1 s",
        "*observed:  0.4 s over 400 sample(s), 40 beyond the objective*",
        "*why:       the lower bound of p99 (X(*) of 400) exceeds 0.1 s: 40 of 400 requests took longer",
    ])
