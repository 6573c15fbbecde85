"""OpenSLO v1 as the standard writes it: the OpenSLO project's own examples (read in place from
../shared/reference-data/openslo-examples), other vendors' metric sources, Timeslices budgeting, an
optional Service, documents that are not SLOs. Each is read; what a run cannot judge is reported
inconclusive with the reason, never rejected and never passed."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aisys_verify import load_spec
from aisys_verify.cli import main
from aisys_verify.errors import SloSpecError
from aisys_verify.slo import SliKind
from aisys_verify.slo.driver import EndpointInfo, Phase, RunRecord, Sample
from aisys_verify.slo.evaluate import evaluate
from aisys_verify.slo.openslo import load_openslo, read_openslo
from aisys_verify.slo.sli import ServiceMap
from aisys_verify.slo.verdict import Status

REPO = Path(__file__).resolve().parents[2]
EXAMPLES = REPO.parent / "shared" / "reference-data" / "openslo-examples"
needs_examples = pytest.mark.skipif(
    not EXAMPLES.is_dir(), reason=f"OpenSLO's own examples are not at {EXAMPLES} (../shared/reference-data, "
                                  "beside the checkout; CI refuses to run without it)")


def _examples() -> list[Path]:
    return sorted(EXAMPLES.glob("*.yaml")) if EXAMPLES.is_dir() else []


def _record(tmp_path: Path) -> Path:
    samples = [Sample("baseline", "mainpc/MemoryClient get_context", 1000.0 + i, 0.01, True) for i in range(400)]
    record = RunRecord([EndpointInfo("mainpc/MemoryClient get_context", "mainpc", "MemoryClient", "zmq")],
                       [Phase("baseline", 1000.0, 1400.0)], samples)
    return record.save(tmp_path / "run" / "slo-run.json")


@needs_examples
def test_the_examples_are_there() -> None:
    assert len(_examples()) >= 4, f"expected OpenSLO's example documents in {EXAMPLES}"


@needs_examples
@pytest.mark.parametrize("path", _examples(), ids=lambda p: p.name)
def test_every_openslo_example_loads_and_says_why_it_is_not_judged(path: Path) -> None:
    slos = read_openslo(path)
    assert slos
    for slo in slos:
        # every example's metric source is 'type: Any' with 'query: Any': read, never interpreted as PromQL
        assert not slo.judged
        assert "metric source is 'Any', not Prometheus" in slo.unjudged
        if slo.budgeting != "Occurrences":
            assert f"budgetingMethod {slo.budgeting} is not judged per run" in slo.unjudged
        assert slo.objective_text()  # shown as written, not as a latency bound the model invented
        verdict = evaluate([slo], ServiceMap({}, {}, {})).verdicts[0]
        assert verdict.status is Status.INCONCLUSIVE
        assert verdict.reason == f"not judged: {slo.unjudged}"


@needs_examples
def test_examples_read_as_the_standard_says() -> None:
    search = read_openslo(EXAMPLES / "budgeting-method__occurences-slo.yaml")[0]
    assert (search.name, search.service, search.kind, search.objective, search.period_s) == \
        ("search-slo", "web-shop", SliKind.LATENCY, 0.99, 14 * 86400.0)
    assert search.objective_text() == "value < 500 for 99 % of events"
    assert search.latency_bound_s is None  # 500 of the metric's unknown unit is not 500 s
    sla = {s.name: s for s in read_openslo(EXAMPLES / "budgeting-method__timeslices-slo.yaml")}
    assert set(sla) == {"service-availability/Internal objective", "service-availability/SLA"}
    assert sla["service-availability/SLA"].budgeting == "Timeslices"
    assert sla["service-availability/SLA"].period_s == 60.0  # OpenSLO's shorthand: 'm' is a minute, 'M' a month


@needs_examples
def test_slo_report_and_list_show_the_examples_inconclusive_with_the_reason(
        tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    run = _record(tmp_path)
    args = [arg for path in _examples() for arg in ("--openslo", str(path))]
    out = tmp_path / "verdicts.json"
    assert main(["slo", "report", str(run), str(REPO / "system"), *args, "--json", str(out)]) == 0
    text = capsys.readouterr().out
    row = next(line for line in text.splitlines() if line.startswith("main-page "))
    assert "INCONCL" in row
    assert "main-page: not judged: budgetingMethod RatioTimeslices is not judged per run" in text
    verdict = next(v for v in json.loads(out.read_text())["verdicts"] if v["slo"] == "search-slo")
    assert verdict["status"] == "inconclusive"
    assert "not Prometheus" in verdict["reason"]
    # --strict: an SLO that cannot be judged is undecided, so it fails a strict report
    assert main(["slo", "report", str(run), str(REPO / "system"), *args, "--strict"]) == 1
    capsys.readouterr()
    assert main(["slo", "list", str(REPO / "system"), *args]) == 0
    rows = {r["slo"]: r for r in map(json.loads, capsys.readouterr().out.splitlines())}
    assert rows["search-slo"]["judged"] is False
    assert "not Prometheus" in rows["search-slo"]["not_judged"]
    assert rows["memory_stack_latency"]["judged"] is True


# --- small documents for each case -------------------------------------------------------------

HEAD = "apiVersion: openslo/v1\n"


def _slo(name: str = "a", *, service: str = "memory-stack", budgeting: str = "Occurrences",
         indicator: str = "", objective: str = "target: 0.99", duration: str = "28d") -> str:
    indicator = indicator or """
      ratioMetric:
        good: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(ai_request_count{status!~"5.."}[5m]))'}}}
        total: {metricSource: {type: Prometheus, spec: {query: 'sum(rate(ai_request_count[5m]))'}}}"""
    return f"""{HEAD}kind: SLO
metadata: {{name: {name}}}
spec:
  service: {service}
  indicator:
    metadata: {{name: {name}-sli}}
    spec:{indicator}
  timeWindow: [{{duration: {duration}, isRolling: true}}]
  budgetingMethod: {budgeting}
  objectives:
    - {objective}
"""


def _write(tmp_path: Path, *docs: str) -> Path:
    path = tmp_path / "openslo.yaml"
    path.write_text("---\n".join(docs))
    return path


def test_prometheus_occurrences_is_judged(tmp_path: Path) -> None:
    slo = read_openslo(_write(tmp_path, _slo()))[0]
    assert slo.judged
    assert (slo.kind, slo.objective, slo.period_s) == (SliKind.RATIO, 0.99, 28 * 86400.0)


@pytest.mark.parametrize("budgeting", ["Timeslices", "RatioTimeslices"])
def test_timeslices_budgeting_is_read_and_not_judged(tmp_path: Path, budgeting: str) -> None:
    objective = "{target: 0.99, timeSliceTarget: 0.95, timeSliceWindow: 1m}"
    slo = read_openslo(_write(tmp_path, _slo(budgeting=budgeting, objective=objective)))[0]
    assert slo.unjudged == f"budgetingMethod {budgeting} is not judged per run (only Occurrences is)"
    assert slo.good is not None  # the Prometheus query is still read


def test_a_service_document_is_optional(tmp_path: Path) -> None:
    # no Service document at all: nothing to say
    assert load_openslo(_write(tmp_path, _slo())).notes == ()
    # Service documents that do not name the SLO's service (it may be defined in another file): a note
    service = f"{HEAD}kind: Service\nmetadata: {{name: other}}\nspec: {{description: x}}\n"
    result = load_openslo(_write(tmp_path, service, _slo()))
    assert len(result.slos) == 1
    assert result.notes and "names service 'memory-stack', which no Service document in this file defines" \
        in result.notes[0]


def test_documents_that_are_not_slos_are_noted_and_ignored(tmp_path: Path) -> None:
    policy = f"{HEAD}kind: AlertPolicy\nmetadata: {{name: p}}\nspec: {{conditions: []}}\n"
    result = load_openslo(_write(tmp_path, policy, _slo()))
    assert [s.name for s in result.slos] == ["a"]
    assert any("AlertPolicy document ignored" in note for note in result.notes)
    with pytest.raises(SloSpecError, match="holds no OpenSLO SLO document"):  # nothing to judge at all
        load_openslo(_write(tmp_path, policy))


def test_other_metric_sources_and_datasource_references(tmp_path: Path) -> None:
    datasource = f"{HEAD}kind: DataSource\nmetadata: {{name: dd}}\nspec: {{type: Datadog, connectionDetails: {{}}}}\n"
    indicator = """
      thresholdMetric:
        metricSourceRef: dd
        spec: {query: 'avg:trace.http.request.duration{service:web}'}"""
    slo = read_openslo(_write(tmp_path, datasource, _slo(indicator=indicator, objective="{op: lte, value: 0.2, "
                                                                                          "target: 0.9}")))[0]
    assert "metric source is 'Datadog', not Prometheus" in slo.unjudged
    assert slo.objective_text() == "value <= 0.2 for 90 % of events"
    cloudwatch = """
      ratioMetric:
        good: {metricSource: {type: CloudWatch, spec: {metricStat: {}}}}
        total: {metricSource: {type: CloudWatch, spec: {metricStat: {}}}}"""
    assert "'CloudWatch', not Prometheus" in read_openslo(_write(tmp_path, _slo(indicator=cloudwatch)))[0].unjudged


def test_thresholds_the_run_cannot_judge(tmp_path: Path) -> None:
    throughput = """
      thresholdMetric:
        metricSource: {type: Prometheus, spec: {query: 'sum(rate(ai_request_count[1m]))'}}"""
    above = read_openslo(_write(tmp_path, _slo(indicator=throughput, objective="{op: gte, value: 50, "
                                                                             "target: 0.9}")))[0]
    assert "not op gte 50" in above.unjudged
    below = read_openslo(_write(tmp_path, _slo(indicator=throughput, objective="{op: lte, value: 5, "
                                                                             "target: 0.9}")))[0]
    assert "only latency thresholds" in below.unjudged
    with pytest.raises(SloSpecError, match="needs op"):
        read_openslo(_write(tmp_path, _slo(indicator=throughput, objective="{op: about, value: 5, target: 0.9}")))


@pytest.mark.parametrize(("duration", "days"), [("1M", 30), ("1Q", 90), ("1Y", 365), ("4w", 28), ("90m", 90 / 1440)])
def test_openslo_duration_shorthand(tmp_path: Path, duration: str, days: float) -> None:
    assert read_openslo(_write(tmp_path, _slo(duration=duration)))[0].period_s == pytest.approx(days * 86400)


def test_unjudged_slos_are_inconclusive_in_a_session(tmp_path: Path) -> None:
    from aisys_verify.slo import SloSession

    session = SloSession(load_spec([REPO / "system"]))
    session.slos = read_openslo(_write(tmp_path, _slo(budgeting="Timeslices")))
    verdict = session.evaluate(load=RunRecord.load(_record(tmp_path))).verdicts[0]
    assert (verdict.status, verdict.samples) == (Status.INCONCLUSIVE, 0)
    assert verdict.reason.startswith("not judged: budgetingMethod Timeslices")
