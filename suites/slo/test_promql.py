"""The SLO config's own PromQL, run on a real Prometheus over the baseline run (aisys_verify.slo.promql).

Prometheus is the stack's own (scraping every agent once a second, with the SLO file's service names) or the
one ``--aisys-prometheus=URL`` names. Each SLO's query is evaluated as written, its range set to the run's
window, judged with the engine's statistics and compared with the run's exact measurement (the baseline's
verdicts). Asserted: every SLO that PromQL can judge here is judged, and the only findings are the expected
ones below; a finding anywhere else (a query selecting nothing, a disagreement beyond the histogram's
resolution) fails. The table with both values goes to the report.
"""

from __future__ import annotations

import pytest

from aisys_verify import Stack, VerifyConfig, attach_json, attach_text
from aisys_verify.observe import prometheus_for, wait_scraped
from aisys_verify.slo import SliKind

from .conftest import REPORTS, Baseline

pytestmark = pytest.mark.slo

# SLOs whose queries select nothing on this stack, and why (anything else selecting nothing is a finding)
EXPECTED_EMPTY = {
    "observability_availability": "the observability hub takes no requests in the baseline, and a stand-in's "
                                  "request counters appear with its first request (an earlier suite's request "
                                  "makes the series exist, and the SLO is then judged)",
}


def test_the_slo_configs_own_promql_judges_every_slo_it_can(slo_baseline: Baseline, aisys_stack: Stack,
                                                            aisys_config: VerifyConfig) -> None:
    client = prometheus_for(aisys_stack, aisys_config.prometheus)
    record = slo_baseline.record
    start = record.started_at - 1.0  # the 'before' scrape is taken just before the first request
    end = (record.metrics.taken_at if record.metrics is not None else record.ended_at) + 1.0
    assert wait_scraped(aisys_stack, end), "Prometheus did not scrape every agent after the baseline"
    result = slo_baseline.session.promql(client, start, end, slo_baseline.evaluation)
    shown = result.table()
    REPORTS.mkdir(parents=True, exist_ok=True)
    profile = aisys_config.standin_profile
    (REPORTS / f"baseline-promql-{profile}.txt").write_text(shown + "\n", encoding="utf-8")
    attach_text("SLO config PromQL against the exact measurement (baseline)", shown)
    attach_json("SLO config PromQL (baseline)", result.to_json())
    unexpected = [f for r in result.results if r.slo.name not in EXPECTED_EMPTY for f in r.findings]
    assert not unexpected, "findings in the SLO config's PromQL:\n" + "\n".join(unexpected) + "\n" + shown
    for name, why in EXPECTED_EMPTY.items():
        # empty only while nothing has called the hub yet: in a whole-suite run, earlier suites may have
        found = result.by_name(name).findings
        assert all("selects nothing" in f for f in found), (name, why, shown)
    not_judged = {r.slo.name for r in result.results if not r.judged}
    gauges = {s.name for s in slo_baseline.session.slos if s.kind is SliKind.GAUGE}  # no node or GPU exporter
    assert not_judged == gauges | set(EXPECTED_EMPTY), shown
