"""The SLO engine: SLOs from slo-config.yaml and OpenSLO, SLIs from load runs and agent metrics,
pass/fail/inconclusive verdicts with confidence, error budgets and burn rates. See docs/slo.md.

The load driver (``run``, ``Target``, ``RunRecord``), the verdict tables and pictures (``table``,
``burn_table``, ``timeline_svg``, ``verdicts_svg``) and the sample-size bound load on first use (PEP 562).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from aisys_verify.lazy import lazy_exports
from aisys_verify.slo.assertions import SloSession, assert_change, assert_slo, assert_slos
from aisys_verify.slo.budget import WORKBOOK_ALERTS, PhaseBurn, budget_consumed, burn_rate, phase_burn
from aisys_verify.slo.compare import Change, bad_fraction_change, quantile_shift
from aisys_verify.slo.data import BucketLatencies, Counts, ExactLatencies, SketchLatencies
from aisys_verify.slo.evaluate import Evaluation, evaluate
from aisys_verify.slo.model import SliKind, SloSpec, from_slo_config
from aisys_verify.slo.verdict import Status, Verdict, judge_latency, judge_ratio

if TYPE_CHECKING:
    from aisys_verify.slo.alerts import SRE_WORKBOOK_WINDOWS, RuleSet, alert_name, alert_rules, record_name, rule_set
    from aisys_verify.slo.budget import BurnAlert
    from aisys_verify.slo.dashboards import dashboards, validate_dashboards, write_dashboards
    from aisys_verify.slo.driver import RunRecord, RunRecordError, Target, run
    from aisys_verify.slo.gauges import GaugeReadings, judge_gauge
    from aisys_verify.slo.promql import PromqlEvaluation, PromqlResult, evaluate_promql, over_window
    from aisys_verify.slo.promtool import promtool_check, promtool_test, write_rules
    from aisys_verify.slo.report import burn_table, table, timeline_svg, verdicts_svg, write_json
    from aisys_verify.slo.resources import (
        DockerSource,
        GaugeExporter,
        GaugeSource,
        NvmlSource,
        ProcessSource,
        ResourceSampler,
        default_sources,
    )
    from aisys_verify.slo.ruletests import RuleTests, rule_tests
    from aisys_verify.slo.stats import min_samples_upper_bound

__all__ = [
    "WORKBOOK_ALERTS", "BucketLatencies", "Change", "Counts", "DockerSource", "Evaluation", "ExactLatencies",
    "GaugeExporter", "GaugeReadings", "GaugeSource", "NvmlSource", "PhaseBurn", "ProcessSource", "PromqlEvaluation",
    "PromqlResult", "ResourceSampler", "RunRecord", "RunRecordError", "SketchLatencies", "SliKind", "SloSession",
    "SloSpec", "Status", "Target", "Verdict", "assert_change", "assert_slo", "assert_slos", "bad_fraction_change",
    "budget_consumed", "burn_rate", "burn_table", "default_sources", "evaluate", "evaluate_promql",
    "from_slo_config", "judge_gauge", "judge_latency", "judge_ratio", "min_samples_upper_bound", "over_window",
    "phase_burn", "quantile_shift", "run", "table", "timeline_svg", "verdicts_svg", "write_json",
]

_LAZY = {"RunRecord": "driver", "RunRecordError": "driver", "Target": "driver", "run": "driver",
         "burn_table": "report", "table": "report", "timeline_svg": "report", "verdicts_svg": "report",
         "write_json": "report", "min_samples_upper_bound": "stats",
         "GaugeReadings": "gauges", "judge_gauge": "gauges", "DockerSource": "resources", "GaugeExporter": "resources",
         "GaugeSource": "resources",
         "NvmlSource": "resources", "ProcessSource": "resources", "ResourceSampler": "resources",
         "default_sources": "resources",
         "PromqlEvaluation": "promql", "PromqlResult": "promql", "evaluate_promql": "promql", "over_window": "promql"}

# Prometheus recording and burn-rate alerting rules from SLOs (alerts.py)
__all__ += ["SRE_WORKBOOK_WINDOWS", "BurnAlert", "RuleSet", "alert_name", "alert_rules", "record_name", "rule_set"]
_LAZY.update({"SRE_WORKBOOK_WINDOWS": "alerts", "BurnAlert": "budget", "RuleSet": "alerts", "alert_name": "alerts",
              "alert_rules": "alerts", "record_name": "alerts", "rule_set": "alerts"})
# their promtool unit tests, promtool itself, and Grafana dashboards (ruletests.py, promtool.py, dashboards.py)
__all__ += [
    "RuleTests",
    "dashboards",
    "promtool_check",
    "promtool_test",
    "rule_tests",
    "validate_dashboards",
    "write_dashboards",
    "write_rules",
]
_LAZY.update({"RuleTests": "ruletests", "rule_tests": "ruletests", "write_rules": "promtool",
              "promtool_check": "promtool", "promtool_test": "promtool", "dashboards": "dashboards",
              "write_dashboards": "dashboards", "validate_dashboards": "dashboards"})

__getattr__, __dir__ = lazy_exports(__name__, _LAZY, globals())
