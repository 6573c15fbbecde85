"""Pure tests of the chaos engine's parts: edge selectors, the fault matrix, scenario files."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from aisys_verify import load_spec
from aisys_verify.errors import UsageError
from aisys_verify.faults.edges import SelectorError, agents_matching, parse_edge
from aisys_verify.faults.matrix import KINDS, Selection, blast_radii, fault_matrix
from aisys_verify.faults.process import resolve_group
from aisys_verify.faults.scenario import FAULTS, ScenarioError, fault_parameters, load_scenario, parse_scenario
from aisys_verify.spec.model import Topology

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def topology() -> Topology:
    return load_spec([REPO / "system"])


# --- selectors -------------------------------------------------------------------------------------

def test_selector_forms(topology: Topology) -> None:
    assert agents_matching(topology, "RequestCoordinator") == {"mainpc/RequestCoordinator"}
    assert agents_matching(topology, "pc2/ObservabilityHub") == {"pc2/ObservabilityHub"}
    assert agents_matching(topology, "ObservabilityHub") == {"mainpc/ObservabilityHub", "pc2/ObservabilityHub"}
    assert agents_matching(topology, "coordination") == {"mainpc/RequestCoordinator", "mainpc/ModelManagerSuite",
                                                         "mainpc/VRAMOptimizerAgent"}
    assert len(agents_matching(topology, "pc2")) == 23
    assert len(agents_matching(topology, "*")) == 77
    assert agents_matching(topology, "redis", allow_redis=True) == {"mainpc/redis", "pc2/redis"}


@pytest.mark.parametrize(("selector", "message"), [
    ("Memoryclient", "did you mean 'MemoryClient'"),
    ("pc3/MemoryClient", "no host 'pc3'"),
    ("redis", "names no agent"),  # redis is a callee only
])
def test_selector_errors_suggest(topology: Topology, selector: str, message: str) -> None:
    with pytest.raises(SelectorError, match=message):
        agents_matching(topology, selector)


@pytest.mark.parametrize("text", ["A", "A->", "->B", "A-B"])
def test_edge_needs_an_arrow(text: str) -> None:
    with pytest.raises(SelectorError, match="CALLER->CALLEE"):
        parse_edge(text)


def test_group_resolution(topology: Topology) -> None:
    assert resolve_group(topology, "coordination") == ("mainpc", "coordination")
    assert resolve_group(topology, "pc2/memory_stack") == ("pc2", "memory_stack")
    assert resolve_group(topology, "memory_stack", "mainpc") == ("mainpc", "memory_stack")
    with pytest.raises(SelectorError, match="write HOST/memory_stack"):
        resolve_group(topology, "memory_stack")
    with pytest.raises(SelectorError, match="no docker group 'nope'"):
        resolve_group(topology, "nope")


# --- the matrix ---------------------------------------------------------------------------------------

def test_matrix_covers_every_work_edge_with_every_kind(topology: Topology) -> None:
    from aisys_verify.standin.wiring import call_edges

    cases = fault_matrix(topology)
    pairs = {(e.caller, e.callee) for e in call_edges(topology) if e.purpose in ("dependency", "call")}
    assert {(c.caller, c.callee) for c in cases} == pairs
    assert len(cases) == len(pairs) * len(KINDS)
    assert len({c.id for c in cases}) == len(cases)


def test_matrix_ids_are_stable_across_loads() -> None:
    first = [c.id for c in fault_matrix(load_spec([REPO / "system"]), Selection.parse("limit=25"))]
    second = [c.id for c in fault_matrix(load_spec([REPO / "system"]), Selection.parse("limit=25"))]
    assert first == second
    assert "partition:pc2/UnifiedWebAgent->mainpc/RequestCoordinator" in {c.id for c in fault_matrix(
        load_spec([REPO / "system"]))}


def test_selection_narrows(topology: Topology) -> None:
    cases = fault_matrix(topology, Selection.parse("kind=partition host=pc2 group=memory_stack"))
    assert cases
    for case in cases:
        assert case.kind == "partition"
        assert "pc2" in (case.caller.split("/")[0], case.callee.split("/")[0])
    capped = fault_matrix(topology, Selection.parse("max-blast=1"))
    assert all(len(c.blast_radius) == 1 for c in capped)
    assert len(fault_matrix(topology, Selection.parse("limit=7"))) == 7
    two = fault_matrix(topology, Selection.parse("edge=pc2/UnifiedWebAgent->* kind=latency"),
                       Selection.parse("edge=*->mainpc/RequestCoordinator"))
    assert [c.id for c in two] == ["latency:pc2/UnifiedWebAgent->mainpc/RequestCoordinator"]


def test_blast_radius_follows_dependents(topology: Topology) -> None:
    radii = blast_radii(topology)
    # ChitchatAgent is a critical call of the coordinator, which the gateway calls critically
    assert {"mainpc/RequestCoordinator", "pc2/UnifiedWebAgent"} <= set(radii["mainpc/ChitchatAgent"])
    assert radii["pc2/UnifiedWebAgent"] == ("pc2/UnifiedWebAgent",)


@pytest.mark.parametrize(("text", "message"), [
    ("kind=latancy", "unknown kind"), ("colour=red", "unknown key"), ("limit=0", "whole number"),
    ("host", "not KEY=VALUE"), ("limit=2,3", "one whole number"),
])
def test_selection_errors(text: str, message: str) -> None:
    with pytest.raises(UsageError, match=message):
        Selection.parse(text)


# --- scenarios ------------------------------------------------------------------------------------------

MINIMAL = {"title": "t", "method": [{"fault": "latency", "edge": "A->B", "ms": 10}]}


def test_every_scenario_of_the_project_loads() -> None:
    paths = sorted((REPO / "scenarios" / "chaos").glob("*.yaml"))
    assert paths
    for path in paths:
        scenario = load_scenario(path)
        assert scenario.method
        assert scenario.probes


def test_scenario_vocabulary_is_the_api() -> None:
    allowed, required = fault_parameters("latency")
    assert {"edge", "ms", "jitter_ms", "stream", "toxicity"} == allowed
    assert required == {"edge", "ms"}
    assert fault_parameters("kill")[0] == {"group", "host"}  # the signal comes from the fault's name
    for fault in FAULTS:
        fault_parameters(fault)


@pytest.mark.parametrize(("patch", "message"), [
    ({"method": []}, "method: at least one step"),
    ({"method": [{"fault": "latancy", "edge": "A->B", "ms": 1}]}, "did you mean 'latency'"),
    ({"method": [{"fault": "latency", "edge": "A->B", "ms": 1, "colour": 1}]}, r"method\[0\]\.colour: latency takes"),
    ({"method": [{"fault": "latency", "edge": "A->B"}]}, r"method\[0\]: latency needs ms"),
    ({"method": [{"fault": "latency", "pause_s": 1}]}, "exactly one of"),
    ({"rollbacks": [{"action": "reboot"}]}, r"rollbacks\[0\]\.action: unknown action"),
    ({"runtime": {"abort": {"consecutive_failures": 2}}}, "needs runtime.during"),
    ({"steady-state-hypothesis": {"probes": [{"name": "p", "type": "ping"}]}}, "unknown probe type"),
    ({"steady-state-hypothesis": {"probes": [{"name": "p", "type": "http"}]}}, "needs 'agent'"),
    ({"titel": "x"}, "titel: unknown key; did you mean 'title'"),
])
def test_scenario_errors_name_the_key(patch: dict[str, object], message: str) -> None:
    with pytest.raises(ScenarioError, match=message):
        parse_scenario({**MINIMAL, **patch}, "x.yaml")


def test_scenario_file_errors(tmp_path: Path) -> None:
    with pytest.raises(ScenarioError, match="cannot read"):
        load_scenario(tmp_path / "missing.yaml")
    bad = tmp_path / "bad.yaml"
    bad.write_text("title: [unclosed\n")
    with pytest.raises(ScenarioError, match=r"bad\.yaml: not valid YAML"):
        load_scenario(bad)


yaml_values = st.recursive(st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False) | st.text(max_size=8),
                           lambda inner: st.lists(inner, max_size=4) | st.dictionaries(
                               st.sampled_from(["title", "method", "fault", "edge", "ms", "probe", "pause_s",
                                                "runtime", "rollbacks", "action", "type", "name", "tolerance"])
                               | st.text(max_size=6), inner, max_size=5), max_leaves=20)


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(yaml_values)
def test_any_document_is_a_scenario_or_a_scenario_error(data: object) -> None:
    message = ""
    try:
        parse_scenario(yaml.safe_load(yaml.safe_dump(data)), "fuzz.yaml")
    except ScenarioError as exc:  # anything else escaping is the bug this test looks for
        message = str(exc)
    assert not message or message.startswith("fuzz.yaml: ")


# --- the picture -------------------------------------------------------------------------------------------

def test_timeline_draws_each_fault_and_each_check() -> None:
    import xml.etree.ElementTree as ET

    from aisys_verify.faults.timeline import bars_svg, timeline_svg

    journal = {"experiment": {"title": "t"}, "status": "completed",
               "faults": [{"fault": "latency(A->B)", "applied_at": 10.0, "reverted_at": 12.0,
                           "efficacy": {"evidence": "+100 ms"}},
                          {"fault": "pause(pc2/x)", "applied_at": 11.0, "reverted_at": 13.0, "efficacy": None}],
               "steady_states": {"before": {"steady_state_met": True, "probes": [{"start": 9.0}]},
                                 "during": [{"t": 11.5, "steady_state_met": False}],
                                 "after": {"steady_state_met": True, "probes": [{"start": 14.0}]}}}
    root = ET.fromstring(timeline_svg(journal))
    ns = "{http://www.w3.org/2000/svg}"
    assert len(root.findall(f"{ns}rect")) == 2
    colours = [c.get("fill") for c in root.findall(f"{ns}circle")]
    assert colours.count("#c8352b") == 1
    assert colours.count("#3a9c4a") == 2
    assert "+100 ms" in timeline_svg(journal)
    bars = ET.fromstring(bars_svg("recovery", [("a", 1.0), ("b", 0.5)]))
    widths = [float(r.get("width", 0)) for r in bars.findall(f"{ns}rect")]
    assert widths[0] == 2 * widths[1]
