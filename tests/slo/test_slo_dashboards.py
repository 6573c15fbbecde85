"""Grafana dashboards from SLOs (aisys_verify.slo.dashboards): one per SLO group (service), checked against
Grafana's dashboard schema offline by grafana-validate (native/grafana-validate, scripts/build-grafana-validate).
"""

from __future__ import annotations

import copy
import json
from pathlib import Path

import pytest

from aisys_verify.errors import CapabilityMissing, DashboardInvalid
from aisys_verify.slo import SloSpec, dashboards, from_slo_config, validate_dashboards, write_dashboards
from aisys_verify.slo.dashboards import validator
from aisys_verify.spec.loader import load_spec

REPO = Path(__file__).resolve().parents[2]


def _have_validator() -> bool:
    try:
        validator()
    except CapabilityMissing:
        return False
    return True


needs_validator = pytest.mark.skipif(not _have_validator(), reason="grafana-validate is not built "
                                     "(scripts/build-grafana-validate; scripts/setup builds it)")


@pytest.fixture(scope="module")
def slos() -> tuple[SloSpec, ...]:
    topology = load_spec([str(REPO / "system")])
    assert topology.slo_config is not None
    return from_slo_config(topology.slo_config)


def test_one_dashboard_per_slo_group_with_a_row_per_slo(slos: tuple[SloSpec, ...]) -> None:
    boards = dashboards(slos)
    assert sorted(boards) == sorted({s.service for s in slos})
    coordination = boards["coordination"]
    members = [s for s in slos if s.service == "coordination"]
    stats = [p for p in coordination["panels"] if p["type"] == "stat"]
    assert [p["targets"][0]["expr"] for p in stats] == [s.query.strip() for s in members]
    burns = [p for p in coordination["panels"] if p["type"] == "timeseries"]
    assert len(burns) == len(members)  # every coordination SLO has a budget
    availability = burns[0]
    assert [t["expr"] for t in availability["targets"]][:2] == [
        'slo:sli_error:ratio_rate5m{slo="coordination_availability"} / 0.001',
        'slo:sli_error:ratio_rate30m{slo="coordination_availability"} / 0.001']
    assert [s["value"] for s in availability["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [None, 1, 6, 14.4]
    # the stat turns red under the objective: 99.9 (the query is a percentage)
    steps = stats[0]["fieldConfig"]["defaults"]["thresholds"]["steps"]
    assert steps == [{"color": "red", "value": None}, {"color": "green", "value": 99.9}]
    # resource levels have no budget: a stat with the band, no burn panel
    gpu = boards["mainpc-gpu"]["panels"]
    assert [p["type"] for p in gpu] == ["stat"]
    assert [s["value"] for s in gpu[0]["fieldConfig"]["defaults"]["thresholds"]["steps"]] == [None, 60.0, 85.0]
    ids = [p["id"] for p in coordination["panels"]]
    assert len(ids) == len(set(ids))


@needs_validator
def test_every_dashboard_passes_grafanas_schema(slos: tuple[SloSpec, ...], tmp_path: Path) -> None:
    paths = write_dashboards(slos, tmp_path)
    out = validate_dashboards(paths)
    assert out.count("valid (") == len(paths) == 18


BROKEN = {
    "a stat panel without its reduce options": lambda b: b["panels"][0]["options"].pop("reduceOptions"),
    "an unknown dashboard key": lambda b: b.update(refreshEvery="1m"),
    "a panel option of the wrong type": lambda b: b["panels"][0]["options"].update(colorMode=3),
    "no schemaVersion": lambda b: b.pop("schemaVersion"),
}


@needs_validator
@pytest.mark.parametrize("what", sorted(BROKEN))
def test_a_broken_dashboard_is_refused(slos: tuple[SloSpec, ...], tmp_path: Path, what: str) -> None:
    board = copy.deepcopy(dashboards(slos)["coordination"])
    BROKEN[what](board)
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(board))
    with pytest.raises(DashboardInvalid) as refused:
        validate_dashboards([path])
    assert refused.value.problems and all("broken.json" in p or "panels" in p or ":" in p
                                          for p in refused.value.problems)


@needs_validator
def test_rules_command_writes_and_checks_the_dashboards(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from aisys_verify.cli import main

    code = main(["slo", "rules", str(REPO / "system"), "--only", "coordination_latency", "--out", str(tmp_path),
                 "--dashboards"])
    out = capsys.readouterr().out
    assert code == 0, out
    assert "wrote 1 dashboards" in out and "slo-coordination.json: valid (2 panels)" in out
