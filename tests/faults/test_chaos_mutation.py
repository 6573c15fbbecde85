"""The chaos suite can fail: with the coordinator's degradation path removed (a copy of the default spec
where RequestCoordinator has ``standin: {degrade: false}``: an optional hop failing fails the turn), the
dialogue-path cases of the fault matrix that cut memory fail, saying what broke."""

from __future__ import annotations

from pathlib import Path

import pytest
from mutation_support import REPO, insert_field, mutated_spec, run_suite

pytestmark = pytest.mark.integration


def test_removing_the_coordinators_degradation_fails_the_dialogue_cases(tmp_path: Path) -> None:
    spec = mutated_spec(tmp_path, "mainpc", "RequestCoordinator",
                        insert_field("config: {standin: {degrade: false}}  # chaos mutation"),
                        lambda agent: agent.config.get("standin") == {"degrade": False})
    run = run_suite(spec, [str(REPO / "suites" / "chaos" / "test_dialogue_faults.py"), "-p", "no:hypothesispytest",
                           "--aisys-faults", "kind=partition edge=*->mainpc/MemoryClient"], 240)
    output, shown = run.output, run.shown
    assert run.returncode == 1, f"the chaos suite did not fail (exit {run.returncode}){shown}"
    assert ("FAILED suites/chaos/test_dialogue_faults.py::test_dialogue_path_degrades_as_documented"
            "[partition:mainpc/RequestCoordinator->mainpc/MemoryClient]") in output, shown
    assert "memory is optional, the turn must still be answered: HTTP 503" in output, shown
    assert "turn failed: memory:" in output, shown
