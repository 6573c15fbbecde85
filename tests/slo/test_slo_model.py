"""The internal SLO model from the system's slo-config.yaml and from OpenSLO v1, the Prometheus text
parser, and the SLO-to-service mapping (the SLO file's labels against the stand-ins' labels)."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given
from hypothesis import strategies as st

from aisys_verify import load_spec
from aisys_verify.errors import SloSpecError
from aisys_verify.slo import Counts, SliKind, SloSpec, from_slo_config
from aisys_verify.slo.data import BucketLatencies
from aisys_verify.slo.model import parse_selectors
from aisys_verify.slo.openslo import read_openslo
from aisys_verify.slo.prom import Scrape, parse_text
from aisys_verify.slo.sli import ServiceMap, metrics_counts, metrics_latencies
from aisys_verify.spec.model import Topology
from aisys_verify.standin.metrics import Metrics

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def system() -> Topology:
    return load_spec([REPO / "system"])


def _slos(topology: Topology) -> dict[str, SloSpec]:
    assert topology.slo_config is not None
    return {s.name: s for s in from_slo_config(topology.slo_config)}


def test_every_slo_of_the_system_reads_into_the_model(system: Topology) -> None:
    slos = _slos(system)
    assert len(slos) == 33
    assert {s.kind for s in slos.values()} == set(SliKind)
    memory = slos["memory_stack_latency"]
    assert (memory.kind, memory.objective, memory.latency_bound_s) == (SliKind.LATENCY, 0.99, 0.1)
    assert memory.period_s == 30 * 86400  # global error_budget_window
    assert slos["coordination_availability"].objective == 0.999
    assert slos["memory_stack_error_rate"].objective == pytest.approx(0.9995)
    assert slos["memory_stack_error_rate"].bad_counter
    assert slos["conversation_success_rate"].good is not None
    assert slos["conversation_success_rate"].good.metric == "ai_conversation_completed_total"
    assert slos["rtx4090_gpu_utilization"].lower_level == 60.0
    assert memory.source.startswith("system/slo-config.yaml:") or "slo-config.yaml:" in memory.source


def test_selectors_of_a_query() -> None:
    query = 'sum(rate(ai_request_count{service=~".*-gpu",status=~"5.."}[5m])) / sum(rate(ai_request_count[5m]))'
    good, total = parse_selectors(query, "test")
    assert str(good) == 'ai_request_count{service=~".*-gpu",status=~"5.."}'
    assert total.matchers == ()
    with pytest.raises(SloSpecError, match="bad regex"):
        parse_selectors('rate(x{a=~"("}[5m])', "test")


def test_service_map_reconciles_slo_labels_with_standin_labels(system: Topology) -> None:
    services = ServiceMap.of(system)
    slos = _slos(system)
    assert services.targets(slos["memory_stack_latency"]) == {("mainpc", "memory_stack")}
    assert services.targets(slos["pc2_memory_stack_availability"]) == {("pc2", "memory_stack")}
    gpu = services.targets(slos["gpu_services_error_rate"])  # service=~".*-gpu" in its query
    assert ("mainpc", "vision_gpu") in gpu
    assert ("pc2", "vision_dream_gpu") in gpu
    assert services.standin["mainpc-memory-stack"] == ("mainpc", "memory_stack")
    assert services.standin["pc2-memory-stack"] == ("pc2", "memory_stack")


def test_slis_from_the_standins_own_metrics(system: Topology) -> None:
    """A stand-in's /metrics text, parsed, selected by the SLO file's own queries."""
    services = ServiceMap.of(system)
    slos = _slos(system)
    before = Metrics("MemoryClient", "mainpc-memory-stack")
    after = Metrics("MemoryClient", "mainpc-memory-stack")
    pc2 = Metrics("MemoryOrchestratorService", "pc2-memory-stack")
    for _ in range(5):
        before.observe("get_context", "2xx", 0.01)
        after.observe("get_context", "2xx", 0.01)
    for i in range(100):
        after.observe("get_context", "5xx" if i < 2 else "2xx", 0.2 if i < 3 else 0.02)
        pc2.observe("get_context", "2xx", 0.01)
    delta = Scrape(1.0, parse_text(after.render() + pc2.render())).minus(Scrape(0.0, parse_text(before.render())))
    counts = metrics_counts(slos["memory_stack_availability"], delta, services)
    assert counts == Counts(98, 100)  # pc2's series are another service
    latencies = metrics_latencies(slos["memory_stack_latency"], delta, services)
    assert isinstance(latencies, BucketLatencies)
    assert latencies.count == 100
    assert latencies.count_at_most(0.1) == (97, 97)  # 0.1 s is a bucket bound: exact
    assert metrics_counts(slos["observability_availability"], delta, services) == \
        'no scraped series matches ai_request_count{service="observability"}'


@given(st.lists(st.tuples(st.sampled_from(["a", "b"]), st.text(max_size=8), st.integers(0, 10**9)), max_size=20))
def test_prometheus_text_round_trips(series: list[tuple[str, str, int]]) -> None:
    text = "\n".join(f'm_{name}{{label="{v.replace(chr(92), chr(92) * 2).replace(chr(34), chr(92) + chr(34))}"}} {n}'
                     for name, v, n in series if "\n" not in v)
    parsed = parse_text(text + "\n# a comment\n")
    expected = {(f"m_{name}", (("label", v),)): float(n) for name, v, n in series if "\n" not in v}
    assert parsed == expected  # the last sample of a series wins, as in a scrape


def test_counter_reset_counts_from_zero() -> None:
    delta = Scrape(1, {("c", ()): 3.0}).minus(Scrape(0, {("c", ()): 10.0}))
    assert delta.samples[("c", ())] == 3.0


def test_openslo_example_reads(tmp_path: Path) -> None:
    slos = {s.name: s for s in read_openslo(REPO / "scenarios" / "slo" / "memory-openslo.yaml")}
    assert set(slos) == {"memory-stack-availability", "memory-stack-p99"}
    p99 = slos["memory-stack-p99"]
    assert (p99.kind, p99.objective, p99.latency_bound_s, p99.period_s) == (SliKind.LATENCY, 0.99, 0.1, 28 * 86400)
    ratio = slos["memory-stack-availability"]
    assert (ratio.kind, ratio.objective, ratio.budgeting) == (SliKind.RATIO, 0.995, "Occurrences")
    assert ratio.source.endswith(":29:1")  # the SLO document's line in the multi-document file


@pytest.mark.parametrize(("body", "message"), [
    ("apiVersion: openslo/v2\nkind: SLO\n", "apiVersion 'openslo/v2' is not openslo/v1"),
    ("apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: Bad_Name}\nspec: {}\n", "not a DNS label"),
    ("apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: a}\nspec: {service: s}\n",
     "has neither 'indicator' nor 'indicatorRef'"),
    ("apiVersion: openslo/v1\nkind: SLO\nmetadata: {name: a}\nspec:\n  service: s\n  indicatorRef: nope\n",
     "indicatorRef 'nope' names no SLI document"),
    ("apiVersion: openslo/v1\nkind: Service\nmetadata: {name: s}\n", "holds no OpenSLO SLO document"),
])
def test_openslo_errors_name_file_line_and_key(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "slo.yaml"
    path.write_text(body)
    with pytest.raises(SloSpecError, match=message) as caught:
        read_openslo(path)
    assert "slo.yaml" in str(caught.value)
