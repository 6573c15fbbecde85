"""The SLO engine: SLOs from slo-config.yaml and OpenSLO, SLIs from load runs and agent metrics,
pass/fail/inconclusive verdicts with confidence, error budgets and burn rates. See docs/slo.md."""

from aisys_verify.slo.assertions import SloSession, assert_change, assert_slo, assert_slos
from aisys_verify.slo.budget import WORKBOOK_ALERTS, PhaseBurn, budget_consumed, burn_rate, phase_burn
from aisys_verify.slo.compare import Change, bad_fraction_change, quantile_shift
from aisys_verify.slo.data import BucketLatencies, Counts, ExactLatencies, SketchLatencies
from aisys_verify.slo.evaluate import Evaluation, evaluate
from aisys_verify.slo.model import SliKind, SloSpec, from_slo_config
from aisys_verify.slo.verdict import Status, Verdict, judge_latency, judge_ratio

__all__ = [
    "WORKBOOK_ALERTS", "BucketLatencies", "Change", "Counts", "Evaluation", "ExactLatencies", "PhaseBurn",
    "SketchLatencies", "SliKind", "SloSession", "SloSpec", "Status", "Verdict", "assert_change", "assert_slo",
    "assert_slos", "bad_fraction_change", "budget_consumed", "burn_rate", "evaluate", "from_slo_config",
    "judge_latency", "judge_ratio", "phase_burn", "quantile_shift",
]
