"""The stack's own Prometheus and Alertmanager against the default spec, stood up once for the module:

* every agent is a target, scraped with the SLO file's service names;
* the SLO config's own PromQL over a short run judges its SLOs and agrees with the exact measurement;
* planted broken queries (a wrong metric name, a wrong label value) are findings naming the planted file's
  line, and a planted disagreement with the exact measurement is one too (the checks can fail);
* the live burn: generated burn-rate rules (aisys_verify.slo.alerts, with the Workbook's windows shrunk
  120-fold and the budget period with them, so the factors stay 14.4x and 6x) are loaded; a 300 ms latency
  fault on MemoryClient -> MemoryOrchestratorService burns memory_stack_latency's budget (every memory read
  then takes over its 0.1 s bound) and the page alert reaches Alertmanager within the rule's long window;
  after the fault it resolves.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

import pytest

from aisys_verify.errors import PromqlFinding
from aisys_verify.faults.chaos import Chaos
from aisys_verify.observe import Observability
from aisys_verify.slo import Evaluation, SloSession, evaluate_promql
from aisys_verify.slo.alerts import SRE_WORKBOOK_WINDOWS, alert_name, rule_set
from aisys_verify.slo.budget import BurnAlert
from aisys_verify.slo.model import from_slo_config
from aisys_verify.spec.reader import Notes
from aisys_verify.spec.slo import read_slo_config
from aisys_verify.spec.source import load_yaml
from aisys_verify.stack.base import StackOptions
from aisys_verify.stack.local import LocalStack

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]
SCALE = 120  # 1 h -> 30 s, 5 min -> 2.5 s; the 30-day period -> 6 h: the factors (14.4x, 6x) are unchanged
FAST = tuple(BurnAlert(a.severity, a.long_window_s / SCALE, a.short_window_s / SCALE, a.budget_fraction)
             for a in SRE_WORKBOOK_WINDOWS if a.severity == "page")
PAGE = alert_name("memory_stack_latency", "page")
Run = tuple[SloSession, float, float, Evaluation]  # the SLO session, the window's start and end, the exact verdicts

PLANTED = """\
global:
  error_budget_window: "30d"
slos:
  language_availability:
    service: "language-stack"
    type: "availability"
    threshold: 99.0
    window: "24h"
    query: |
      sum(rate(ai_request_count{service="language-stack",status!~"5.."}[24h])) /
      sum(rate(ai_request_count{service="language-stack"}[24h])) * 100
  misspelt_metric:
    service: "language-stack"
    type: "availability"
    threshold: 99.0
    window: "24h"
    query: |
      sum(rate(ai_request_cnt{service="language-stack",status!~"5.."}[24h])) /
      sum(rate(ai_request_cnt{service="language-stack"}[24h])) * 100
  wrong_label:
    service: "memory-stack"
    type: "latency"
    threshold: 0.1
    window: "5m"
    query: |
      histogram_quantile(0.99, sum(rate(ai_request_duration_bucket{service="memory_stack"}[5m])) by (le))
"""


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[LocalStack]:
    with LocalStack([str(REPO / "system")], options=StackOptions(
            workdir=tmp_path_factory.mktemp("stack"), prometheus="own"), progress=lambda line: None) as up:
        assert up.observability is not None
        up.observability.wait_targets()
        yield up


@pytest.fixture(scope="module")
def observability(stack: LocalStack) -> Observability:
    assert stack.observability is not None
    return stack.observability


class Reader(threading.Thread):
    """Memory reads through MemoryClient at a steady pace (the memory-stack SLIs), until stopped."""

    def __init__(self, stack: LocalStack, per_s: float = 20.0) -> None:
        super().__init__(daemon=True)
        self.endpoint, self.pause, self.done, self.count = stack.endpoint("MemoryClient"), 1 / per_s, \
            threading.Event(), 0

    def run(self) -> None:
        while not self.done.is_set():
            began = time.monotonic()
            try:
                self.endpoint.request("get_context", {"session_id": "burn"}, timeout=5.0)
                self.count += 1
            except TimeoutError:
                pass
            self.done.wait(max(0.0, self.pause - (time.monotonic() - began)))


@pytest.fixture(scope="module")
def short_run(stack: LocalStack, observability: Observability) -> Run:
    """About 3 s of memory reads, language requests and dialogue turns, scraped before and after."""
    session = SloSession(stack.topology)
    before = session.scrape(stack)
    reader = Reader(stack)
    reader.start()
    nlu = stack.endpoint("NLUAgent")
    for i in range(15):
        nlu.request("analyze", {"text": f"what is my name {i}"})
        time.sleep(0.2)
    reader.done.set()
    reader.join()
    after = session.scrape(stack)
    exact = session.evaluate(metrics=after.minus(before))
    end = after.taken_at + 1.0
    assert observability.last_scrape_after(end), "Prometheus did not scrape after the run"
    return session, before.taken_at, end, exact


def test_every_agent_is_scraped_with_the_slo_files_service_names(
        stack: LocalStack, observability: Observability, short_run: Run) -> None:
    # a stand-in's request counters appear with its first request: read after the short run
    targets = observability.prometheus.targets()
    assert len(targets) == len(stack.topology.agents) == 77
    assert {t["health"] for t in targets} == {"up"}
    services = set(observability.prometheus.label_values("service"))
    assert {"memory-stack", "pc2-memory-stack", "language-stack"} <= services, services
    assert not any(s.startswith("mainpc-") for s in services), services  # rewritten to the SLO file's names
    assert "mainpc-memory-stack" in observability.prometheus.label_values("standin_service")


def test_the_slo_configs_own_queries_judge_and_agree(short_run: Run,
                                                      observability: Observability) -> None:
    session, start, end, exact = short_run
    result = session.promql(observability.prometheus, start, end, exact)
    for name in ("language_stack_availability", "memory_stack_availability", "memory_stack_latency",
                 "language_stack_latency"):
        row = result.by_name(name)
        assert row.value is not None and row.verdict.samples > 0 and not row.findings, (name, row)
    assert result.by_name("memory_stack_availability").value == pytest.approx(100.0)
    # the error-rate queries read 'no data' while there are no errors: judged as 0, with a note
    rate = result.by_name("memory_stack_error_rate")
    assert rate.value == 0.0 and rate.notes and not rate.findings
    assert "PromQL value" in result.table() and "exact value" in result.table()


def test_planted_broken_queries_are_findings_naming_the_file_line(
        tmp_path: Path, short_run: Run, observability: Observability) -> None:
    _, start, end, _ = short_run
    planted = tmp_path / "slo-config.yaml"
    planted.write_text(PLANTED)
    slos = from_slo_config(read_slo_config(load_yaml(planted), Notes()))
    result = evaluate_promql(slos, observability.prometheus, start, end)
    lines = PLANTED.splitlines()
    line_of = {name: lines.index(f"  {name}:") + 1 for name in ("misspelt_metric", "wrong_label")}
    assert not result.by_name("language_availability").findings
    (metric,) = result.by_name("misspelt_metric").findings
    assert f"slo-config.yaml:{line_of['misspelt_metric']}:3: SLO misspelt_metric" in metric, metric
    assert "no metric named ai_request_cnt (close: ai_request_count" in metric, metric
    (label,) = result.by_name("wrong_label").findings
    assert f"slo-config.yaml:{line_of['wrong_label']}:3: SLO wrong_label" in label, label
    assert 'service="memory_stack" matches none of the values' in label and "memory-stack" in label, label
    with pytest.raises(PromqlFinding) as caught:
        result.assert_clean()
    assert caught.value.findings == (metric, label)


def test_a_disagreement_with_the_exact_measurement_is_a_finding(
        short_run: Run, observability: Observability) -> None:
    session, start, end, exact = short_run
    slo = session.slo("language_stack_availability")
    true = exact.by_name(slo.name)
    assert not evaluate_promql([slo], observability.prometheus, start, end, exact=exact).findings()
    # a run that measured 50 % where Prometheus counts ~100 %: the check must say so
    skewed = replace(exact, verdicts=(replace(true, observed=50.0),))
    found = evaluate_promql([slo], observability.prometheus, start, end, exact=skewed).findings()
    assert len(found) == 1 and "but the run measured 50 % exactly" in found[0], found


def test_a_latency_query_disagreeing_with_the_agents_counts_is_a_finding(
        short_run: Run, observability: Observability) -> None:
    session, start, end, exact = short_run
    slo = session.slo("memory_stack_latency")
    true = exact.by_name(slo.name)
    honest = evaluate_promql([slo], observability.prometheus, start, end, exact=exact)
    assert true.source == "agent metrics" and not honest.findings()
    # the counters said p99 4 s over the same events Prometheus counted (so the quantiles are comparable: see
    # promql._tails_differ): PromQL must differ
    counted = honest.results[0].verdict.samples
    skewed = replace(exact, verdicts=(replace(true, observed=4.0, samples=counted),))
    found = evaluate_promql([slo], observability.prometheus, start, end, exact=skewed).findings()
    assert len(found) == 1 and "further apart than the histogram's buckets allow" in found[0], found
    # counters that counted 50 events more than Prometheus: the quantiles are not comparable, a note says so
    apart = replace(exact, verdicts=(replace(true, observed=4.0, samples=counted + 50),))
    result = evaluate_promql([slo], observability.prometheus, start, end, exact=apart)
    assert not result.findings() and any("not compared" in n for n in result.results[0].notes), result.results


def test_a_latency_fault_pages_through_alertmanager_and_resolves(stack: LocalStack,
                                                                  observability: Observability) -> None:
    session = SloSession(stack.topology)
    rules = rule_set([session.slo("memory_stack_latency")], windows=FAST, period_s=30 * 86400 / SCALE, interval_s=1)
    observability.install_rules("burn", rules.yaml())
    loaded = {r["name"] for r in observability.prometheus.rules()}
    assert PAGE in loaded, loaded
    long_s = max(a.long_window_s for a in FAST)
    reader = Reader(stack)
    reader.start()
    try:
        time.sleep(4.0)  # both short windows hold good traffic first
        assert not _paging(observability), "the page fired before any fault"
        with Chaos(stack).latency("MemoryClient->MemoryOrchestratorService", ms=300):
            began = time.monotonic()
            while not _paging(observability):
                assert time.monotonic() - began < long_s, f"no {PAGE} in Alertmanager within {long_s:g} s"
                time.sleep(0.25)
            fired_after = time.monotonic() - began
        ended = time.monotonic()
        while _paging(observability):
            assert time.monotonic() - ended < long_s, f"{PAGE} still active {long_s:g} s after the fault"
            time.sleep(0.25)
        resolved_after = time.monotonic() - ended
    finally:
        reader.done.set()
        reader.join()
        stack.toxiproxy_client.reset()
    assert reader.count > 50
    print(f"page fired {fired_after:.1f} s into the fault, resolved {resolved_after:.1f} s after it")


def _paging(observability: Observability) -> bool:
    return any(a["labels"].get("alertname") == PAGE and a["status"]["state"] == "active"
               for a in observability.alertmanager.alerts())
