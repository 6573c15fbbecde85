"""Resource SLOs from gauge readings (aisys_verify/slo/gauges.py): the SLO config's own six queries read
as PromQL computes them over the run, against readings built with known levels (hypothesis), the
verdicts, and the exposition format the readings are exported in."""

from __future__ import annotations

from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aisys_verify import load_spec
from aisys_verify.slo import GaugeReadings, SloSpec, Status, evaluate, from_slo_config, judge_gauge
from aisys_verify.slo.gauges import levels
from aisys_verify.slo.prom import Scrape, parse_text
from aisys_verify.slo.resources import _HostCounters, gpu_type
from aisys_verify.slo.sli import ServiceMap

REPO = Path(__file__).resolve().parents[2]
RESOURCE = ("rtx4090_gpu_utilization", "rtx3060_gpu_utilization", "memory_usage_mainpc", "memory_usage_pc2",
            "cpu_usage_mainpc", "cpu_usage_pc2")


@pytest.fixture(scope="module")
def slos() -> dict[str, SloSpec]:
    topology = load_spec([REPO / "system"])
    assert topology.slo_config is not None
    return {s.name: s for s in from_slo_config(topology.slo_config)}


def _gpu(t: float, values: dict[str, float]) -> Scrape:
    return Scrape(t, {("nvidia_smi_utilization_gpu_ratio", (("gpu_type", kind), ("uuid", f"GPU-{kind}"))): v / 100
                      for kind, v in values.items()})


def test_the_six_resource_queries_are_read(slos: dict[str, SloSpec]) -> None:
    for name in RESOURCE:
        assert not isinstance(levels(slos[name], []), str), name
    odd = SloSpec("odd", "x", slos["cpu_usage_pc2"].kind, 80.0, query="max_over_time(node_load1[5m])")
    verdict = judge_gauge(odd, GaugeReadings(()))
    assert verdict.status is Status.INCONCLUSIVE and verdict.reason.startswith("not judged:")


def test_gpu_type_from_nvml_names() -> None:
    assert gpu_type("NVIDIA GeForce RTX 4090") == "rtx-4090"
    assert gpu_type("NVIDIA GeForce RTX 3060") == "rtx-3060"
    assert gpu_type("NVIDIA H100 80GB HBM3") == "h100-80gb-hbm3"


@settings(max_examples=60, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 100), st.integers(0, 100)), min_size=3, max_size=30))
def test_gpu_utilisation_is_the_mean_of_its_own_gpu_type(slos: dict[str, SloSpec],
                                                        series: list[tuple[int, int]]) -> None:
    readings = tuple(_gpu(float(i), {"rtx-4090": a, "rtx-3060": b}) for i, (a, b) in enumerate(series))
    verdict = judge_gauge(slos["rtx4090_gpu_utilization"], GaugeReadings(readings))
    mean = sum(a for a, _ in series) / len(series)
    assert verdict.observed == pytest.approx(mean)
    assert verdict.interval == pytest.approx((min(a for a, _ in series), max(a for a, _ in series)))
    assert verdict.status is (Status.PASS if 60 <= mean <= 85 else Status.FAIL)
    assert verdict.bad == sum(1 for a, _ in series if not 60 <= a <= 85)


@settings(max_examples=60, deadline=None)
@given(st.floats(1e9, 1e12), st.lists(st.tuples(st.floats(0, 1), st.floats(0, 1)), min_size=3, max_size=20))
def test_memory_used_is_per_instance(slos: dict[str, SloSpec], total: float,
                                     shares: list[tuple[float, float]]) -> None:
    readings = tuple(Scrape(float(i), {
        ("node_memory_MemTotal_bytes", (("instance", "mainpc"),)): total,
        ("node_memory_MemAvailable_bytes", (("instance", "mainpc"),)): total * (1 - a),
        ("node_memory_MemTotal_bytes", (("instance", "pc2"),)): total,
        ("node_memory_MemAvailable_bytes", (("instance", "pc2"),)): total * (1 - b)})
        for i, (a, b) in enumerate(shares))
    verdict = judge_gauge(slos["memory_usage_pc2"], GaugeReadings(readings))
    mean = 100 * sum(b for _, b in shares) / len(shares)
    assert verdict.observed == pytest.approx(mean, abs=1e-6)
    assert verdict.status is (Status.PASS if verdict.observed is not None and verdict.observed <= 75 else Status.FAIL)


@settings(max_examples=60, deadline=None)
@given(st.integers(1, 8), st.lists(st.floats(0, 1), min_size=2, max_size=20))
def test_cpu_busy_is_the_idle_counters_rate_over_the_run(slos: dict[str, SloSpec], cpus: int,
                                                         busy: list[float]) -> None:
    """The counters as ProcessSource builds them: a host's groups used busy[i] of the machine in second i."""
    counters = _HostCounters([("mainpc", "g")])
    counters.cpus, counters.started = cpus, 0.0
    used, readings = 0.0, []
    counters.add(("mainpc", "g"), 0.0, 0.0)
    for second, share in enumerate([0.0, *busy]):
        used += share * cpus
        counters.add(("mainpc", "g"), used * 0.75, used * 0.25)
        readings.append(Scrape(float(second), counters.series({("mainpc", "g"): 1e6}, float(second))))
    verdict = judge_gauge(slos["cpu_usage_mainpc"], GaugeReadings(tuple(readings)))
    assert verdict.observed == pytest.approx(100 * sum(busy) / len(busy), abs=1e-6)
    assert verdict.interval == pytest.approx((100 * min(busy), 100 * max(busy)), abs=1e-6)
    assert verdict.samples == len(busy)


def test_too_few_readings_or_none_are_inconclusive(slos: dict[str, SloSpec]) -> None:
    slo = slos["rtx3060_gpu_utilization"]
    few = judge_gauge(slo, GaugeReadings((_gpu(0, {"rtx-3060": 70}), _gpu(1, {"rtx-3060": 70}))))
    assert few.status is Status.INCONCLUSIVE and few.needed == 3
    none = judge_gauge(slo, GaugeReadings((_gpu(0, {"rtx-4090": 70}),) * 5, {"nvml": "NvmlUnavailable: no GPU"}))
    assert none.status is Status.INCONCLUSIVE and none.reason.startswith("no data")
    assert "nvml: NvmlUnavailable: no GPU" in none.reason


def test_evaluate_judges_gauge_slos_from_the_readings(slos: dict[str, SloSpec]) -> None:
    readings = GaugeReadings(tuple(_gpu(float(i), {"rtx-4090": 70 + i}) for i in range(5)))
    evaluation = evaluate([slos["rtx4090_gpu_utilization"], slos["rtx3060_gpu_utilization"]], ServiceMap({}, {}, {}),
                          gauges=readings)
    assert [v.status for v in evaluation.verdicts] == [Status.PASS, Status.INCONCLUSIVE]
    assert "readings' range" in evaluation.verdicts[0].text()


_label = st.text(st.characters(codec="utf-8", exclude_categories=("Cs",)), max_size=12)


@settings(max_examples=80, deadline=None)
@given(st.lists(st.tuples(st.sampled_from(["node_cpu_seconds_total", "nvidia_smi_utilization_gpu_ratio"]),
                          st.dictionaries(st.sampled_from(["instance", "cpu", "mode"]), _label, max_size=3),
                          st.floats(0, 1e12)), max_size=8))
def test_exposition_reads_back(rows: list[tuple[str, dict[str, str], float]]) -> None:
    samples = {(name, tuple(labels.items())): value for name, labels, value in rows}
    from aisys_verify.slo.gauges import exposition

    reading = {(name, tuple(sorted(labels))): value for (name, labels), value in samples.items()}
    assert parse_text(exposition(Scrape(0.0, reading))) == reading


def test_a_run_record_keeps_its_gauges(slos: dict[str, SloSpec], tmp_path: Path) -> None:
    """`slo report slo-run.json` judges the resource SLOs from the readings the record saved."""
    from aisys_verify.slo import RunRecord

    record = RunRecord([], [], [])
    record.gauges = GaugeReadings(tuple(_gpu(float(i), {"rtx-3060": 61 + i}) for i in range(4)), {"docker": "gone"})
    again = RunRecord.load(record.save(tmp_path / "slo-run.json"))
    assert again.gauges == record.gauges
    assert judge_gauge(slos["rtx3060_gpu_utilization"], again.gauges).status is Status.PASS
