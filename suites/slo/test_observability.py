"""What the spec's SLOs give an operator's own monitoring, attached to the report: the Prometheus rule file
(recording rules and the Workbook's burn-rate alerts, accepted by promtool) and a Grafana dashboard per SLO
group (checked against Grafana's dashboard schema). No stack is needed: both come from the SLO definitions."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aisys_verify import CapabilityMissing, attach_json, attach_text, step
from aisys_verify.slo import SloSession, promtool_check, rule_set, validate_dashboards, write_dashboards, write_rules

pytestmark = pytest.mark.slo


def test_alert_rules_for_every_slo_with_a_budget(aisys_slo: SloSession, tmp_path: Path) -> None:
    rules = rule_set(aisys_slo.slos)
    written = write_rules(rules, tmp_path)
    attach_text("slo-rules.yml (Prometheus recording and burn-rate alerting rules)", written.rules.read_text())
    if rules.notes:
        attach_text("SLOs without rules, and approximations", "\n".join(rules.notes))
    with step("promtool check rules"):
        try:
            print(promtool_check([written.rules]))
        except CapabilityMissing as exc:
            pytest.skip(str(exc))
    assert rules.rules, "no SLO of the spec has an error budget: no alert could ever page"


def test_a_grafana_dashboard_per_slo_group(aisys_slo: SloSession, tmp_path: Path) -> None:
    paths = write_dashboards(aisys_slo.slos, tmp_path)
    for path in paths:
        attach_json(f"Grafana dashboard {path.stem}", json.loads(path.read_text()))
    assert len(paths) == len({s.service for s in aisys_slo.slos})
    with step("Grafana dashboard schema"):
        try:
            print(validate_dashboards(paths))
        except CapabilityMissing as exc:
            pytest.skip(str(exc))
