"""Scenarios, results files and the shape-conformance check: pure, no Locust."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from aisys_verify.errors import LoadError, LoadResultsError
from aisys_verify.load import Cell, EndpointInfo, Latencies, Phase, read_results, write_results
from aisys_verify.load.conformance import check_conformance
from aisys_verify.load.recorder import Pacer, Recorder
from aisys_verify.load.scenario import load_scenario, parse_scenario

ROOT = Path(__file__).resolve().parents[2]


def test_every_shipped_scenario_parses() -> None:
    names = sorted(p.stem for p in (ROOT / "scenarios" / "load").glob("*.yaml"))
    assert {"ramp-up", "spike", "burst", "sine-wave", "step", "constant", "arrival-rate"} <= set(names)
    for name in names:
        scenario = load_scenario(name, ROOT)
        assert scenario.name == name and scenario.shape.duration > 0


@pytest.mark.parametrize(("data", "message"), [
    ({"shape": {"kind": "spike"}}, r"'spike' needs 'baseline'"),
    ({"shape": {"peak": 3}}, "'shape' must be a mapping with 'kind'"),
    ({"shape": {"kind": "constant", "level": 1, "duration": 1}, "model": "half-open"}, "model must be"),
    ({"shape": {"kind": "constant", "level": 1, "duration": 1}, "workloads": {"dance": 1}}, "unknown workload 'dance'"),
    ({"shape": {"kind": "constant", "level": 1, "duration": 1}, "workloads": {"memory": 0}}, "weight must be"),
    ({"shape": {"kind": "constant", "level": 1, "duration": 1}, "timeout": 0}, "'timeout' must be a positive"),
    ({"shape": {"kind": "constant", "level": 1, "duration": 1}, "speed": 3}, "unknown key"),
])
def test_bad_scenarios_name_the_file_and_key(data: dict[str, object], message: str) -> None:
    with pytest.raises(LoadError, match=message) as info:
        parse_scenario(data, "scenarios/load/x.yaml")
    assert str(info.value).startswith("scenarios/load/x.yaml")


def test_unknown_scenario_name_lists_the_known_ones() -> None:
    with pytest.raises(LoadError, match=r"no load scenario 'nope'.*spike"):
        load_scenario("nope", ROOT)


def _write(tmp_path: Path) -> Path:
    phases = [Phase("baseline", 100.0, 105.0), Phase("spike", 105.0, 110.0)]
    endpoints = [EndpointInfo("gateway:POST /dialogue/process", "pc2", "UnifiedWebAgent", "http"),
                 EndpointInfo("zmq:pc2/MemoryOrchestratorService:store_memory", "pc2", "MemoryOrchestratorService",
                              "zmq")]
    cells = [Cell("baseline", endpoints[0].name, 10, 1, Latencies.of([0.01] * 9)),
             Cell("spike", endpoints[0].name, 20, 2, Latencies.of([0.02] * 18)),
             Cell("spike", endpoints[1].name, 5, 0, Latencies.of([0.005] * 5))]
    series = [{"t": 100.0, "endpoint": endpoints[0].name, "requests": 2, "failures": 0, "users": 2,
               "target_users": 2, "target_rate": math.nan}]
    return write_results(tmp_path, scenario="spike", shape="spike", model="closed", started_at=100.0,
                         ended_at=110.0, phases=phases, endpoints=endpoints, cells=cells, timeseries=series)


def test_results_round_trip(tmp_path: Path) -> None:
    path = _write(tmp_path)
    results = read_results(path)
    assert read_results(tmp_path).counts() == results.counts() == (35, 3)
    assert results.counts(phase="spike") == (25, 2)
    assert results.counts(endpoint="gateway:POST /dialogue/process") == (30, 3)
    spike = results.latencies(phase="spike", endpoint="gateway:POST /dialogue/process")
    assert spike.count == 18 and spike.quantile(0.99) == pytest.approx(0.02)
    assert results.latencies().count == 32
    assert results.latencies(phase="baseline").max == pytest.approx(0.01)
    row = results.timeseries()[0]
    assert math.isnan(float(row["target_rate"])) and row["requests"] == 2
    assert (tmp_path / "timeseries.csv").read_text().splitlines()[0] == \
        "t,endpoint,requests,failures,users,target_users,target_rate"
    assert results.endpoints[1].agent == "MemoryOrchestratorService" and results.phases[1] == Phase("spike", 105, 110)


def test_unknown_names_and_bad_files_are_clear_errors(tmp_path: Path) -> None:
    results = read_results(_write(tmp_path))
    with pytest.raises(LoadResultsError, match=r"no phase 'peak'.*baseline, spike"):
        results.latencies(phase="peak")
    with pytest.raises(LoadResultsError, match="no endpoint 'x'"):
        results.counts(endpoint="x")
    with pytest.raises(LoadResultsError, match="no load results here"):
        read_results(tmp_path / "missing")
    data = json.loads((tmp_path / "results.json").read_text())
    (tmp_path / "results.json").write_text(json.dumps({k: v for k, v in data.items() if k != "phases"}))
    with pytest.raises(LoadResultsError, match="key 'phases' is missing"):
        read_results(tmp_path)
    data["cells"][0]["latencies"]["n"] = [-1]
    (tmp_path / "results.json").write_text(json.dumps(data))
    with pytest.raises(LoadResultsError, match=r"cells\[0\]"):
        read_results(tmp_path)
    (tmp_path / "results.json").write_text("{not json")
    with pytest.raises(LoadResultsError, match="not readable as JSON"):
        read_results(tmp_path)


def test_conformance_passes_a_followed_shape_and_names_a_missed_one() -> None:
    scenario = parse_scenario({"shape": {"kind": "spike", "baseline": 2, "peak": 8, "before": 4, "spike": 4,
                                         "after": 4}})
    targets = [round(scenario.shape.level(k + 0.5)) for k in range(12)]
    followed = {1000 + k: (t, float(t), math.nan) for k, t in enumerate(targets)}
    followed[1004] = (4, 8.0, math.nan)  # spawning: one second behind is allowed
    seconds = {(1000 + k, "e"): [5, 0] for k in range(12)}
    assert check_conformance(scenario, 1000.0, followed, seconds, {}, 0)["ok"]
    flat = {1000 + k: (2, float(t), math.nan) for k, t in enumerate(targets)}  # the spike never came
    report = check_conformance(scenario, 1000.0, flat, seconds, {}, 0)
    assert not report["ok"] and "phase spike: users followed the target in 2 of 4 seconds" in report["problems"][0]


def test_open_model_conformance_counts_requests_per_phase() -> None:
    scenario = parse_scenario({"model": "open", "shape": {"kind": "constant", "level": 10, "duration": 5}})
    control = {1000 + k: (4, 4.0, 10.0) for k in range(5)}
    seconds = {(1000 + k, "e"): [10, 0] for k in range(5)}
    good = {("steady", "e"): Cell("steady", "e", total=50)}
    assert check_conformance(scenario, 1000.0, control, seconds, good, 0)["ok"]
    short = {("steady", "e"): Cell("steady", "e", total=30)}
    report = check_conformance(scenario, 1000.0, control, seconds, short, 20)
    assert not report["ok"] and "phase steady: 30 requests for an expected 50" in report["problems"][0]


def test_pacer_schedules_the_shape_and_recorder_buckets_by_intended_start() -> None:
    scenario = parse_scenario({"model": "open", "shape": {"kind": "ramp-up", "start": 10, "peak": 30, "ramp": 2,
                                                            "hold": 1}})
    recorder = Recorder(scenario.shape, "local")
    recorder.start()
    pacer = Pacer(scenario.shape, 0.5, recorder)
    slots = []
    while (slot := pacer.next_slot()) is not None:
        slots.append(slot - recorder.t0_perf)
    assert len(slots) == pytest.approx(0.5 * scenario.shape.expected_count(0, 3), abs=1)
    assert slots == sorted(slots) and slots[-1] < 3.0
    for offset in (0.1, 2.5, 3.5):
        recorder.record("e", recorder.t0_perf + offset, 0.01, failed=offset > 2)
    assert {k: v[:2] for k, v in recorder.cells.items()} == {("ramp", "e"): [1, 0], ("hold", "e"): [1, 1]}
    assert recorder.after_end == 1  # sent after the shape ended: not part of the run


def test_generator_cpu_saturation_flag() -> None:
    from aisys_verify.load.runner import _generator

    busy = [{"t": float(i), "machine": 95.0, "local": 97.0 if i % 3 else 40.0, "local_rss_mb": 50.0}
            for i in range(10)]
    report = _generator(busy, workers=0)
    assert report["saturated"] and report["saturated_processes"] == ["local"]
    assert report["processes"]["local"]["saturated_samples"] == 6 and report["processes"]["local"]["rss_mb_max"] == 50
    calm = [{"t": float(i), "machine": 50.0, "master": 5.0, "worker-0": 92.0 if i == 3 else 60.0} for i in range(10)]
    assert not _generator(calm, workers=1)["saturated"]  # one hot second is not saturation


scenario_dicts = st.fixed_dictionaries({
    "name": st.text(alphabet="abcdefghij-", min_size=1, max_size=12),
    "shape": st.fixed_dictionaries({"kind": st.just("spike"), "baseline": st.integers(0, 50),
                                    "peak": st.integers(1, 100), "before": st.integers(1, 30),
                                    "spike": st.integers(1, 30), "after": st.integers(0, 30)}),
    "model": st.sampled_from(["open", "closed"]),
    "users": st.integers(1, 50),
    "think_time": st.floats(0, 5, allow_nan=False),
    "timeout": st.floats(0.1, 60, allow_nan=False),
    "workloads": st.dictionaries(st.sampled_from(["conversation", "memory", "vision", "speech", "reasoning"]),
                                 st.integers(1, 9), min_size=1),
})


@given(scenario_dicts)
@settings(max_examples=100, deadline=None)
def test_scenarios_round_trip_through_the_plan(data: dict[str, object]) -> None:
    scenario = parse_scenario(data, "gen.yaml")
    again = parse_scenario(scenario.to_json(), "gen.yaml")
    assert again.shape == scenario.shape and again.workloads == scenario.workloads
    assert (again.model, again.think_time, again.timeout, again.pool) == \
        (scenario.model, scenario.think_time, scenario.timeout, scenario.pool)
