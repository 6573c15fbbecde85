"""Every chaos scenario in scenarios/chaos runs to ``completed`` on the stack: steady state met before,
during (watched) and after the method, every fault proved effective and rolled back. The journal is
attached to the report and written to reports/chaos/<scenario>.json."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from aisys_verify import Stack, attach_json, attach_svg
from aisys_verify.faults import load_scenario, run_experiment, timeline_svg

pytestmark = pytest.mark.chaos

ROOT = Path(__file__).resolve().parents[2]
SCENARIOS = sorted((ROOT / "scenarios" / "chaos").glob("*.yaml"))


@pytest.mark.parametrize("path", SCENARIOS, ids=[p.stem for p in SCENARIOS])
def test_scenario_completes(path: Path, aisys_stack: Stack) -> None:
    scenario = load_scenario(path)
    journal_path = ROOT / "reports" / "chaos" / f"{path.stem}.json"
    journal = run_experiment(aisys_stack, scenario, journal_path=journal_path)
    attach_json(f"journal {path.stem}", journal)
    attach_svg(f"timeline {path.stem}", timeline_svg(journal))
    summary = {"status": journal["status"], "reason": journal["abort_reason"], "recovery_s": journal["recovery_s"],
               "faults": [(f["fault"], f["efficacy"] and f["efficacy"]["evidence"]) for f in journal["faults"]]}
    assert journal["status"] == "completed", f"{path.name}: {json.dumps(summary, indent=1)}"
    assert journal["faults"], f"{path.name}: no fault was applied"
