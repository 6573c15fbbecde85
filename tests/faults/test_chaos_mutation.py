"""The chaos suite can fail: with the coordinator's degradation path removed (a copy of the default spec
where RequestCoordinator has ``standin: {degrade: false}``: an optional hop failing fails the turn), the
dialogue-path cases of the fault matrix that cut memory fail, saying what broke."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from aisys_verify import load_spec

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[2]


def test_removing_the_coordinators_degradation_fails_the_dialogue_cases(tmp_path: Path) -> None:
    shutil.copytree(REPO / "system", tmp_path / "system")
    shutil.copytree(REPO / "compose", tmp_path / "compose")
    config = tmp_path / "system" / "mainpc" / "startup_config.yaml"
    lines = config.read_text(encoding="utf-8").splitlines()
    header = next(i for i, line in enumerate(lines) if line.strip() == "RequestCoordinator:")
    indent = lines[header + 1][:len(lines[header + 1]) - len(lines[header + 1].lstrip())]
    lines[header + 1:header + 1] = [f"{indent}config: {{standin: {{degrade: false}}}}  # chaos mutation"]
    config.write_text("\n".join(lines) + "\n", encoding="utf-8")
    agent = load_spec([tmp_path / "system"]).find_agent("RequestCoordinator", "mainpc")
    assert agent is not None
    assert agent.config.get("standin") == {"degrade": False}, "the mutation did not take"

    args = [sys.executable, "-m", "pytest", str(REPO / "suites" / "chaos" / "test_dialogue_faults.py"), "-q",
            "-p", "no:cacheprovider", "-p", "no:hypothesispytest", "-o", "console_output_style=classic",
            "--aisys-spec", str(tmp_path / "system"), "--aisys-faults", "kind=partition edge=*->mainpc/MemoryClient"]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AISYS_", "PYTEST_"))}
    run = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=240)
    output = run.stdout + run.stderr
    shown = f"\n--- output ---\n{output[-5000:]}"
    assert "ready in" in output, f"the mutated stack did not come up, which proves nothing:{shown}"
    assert run.returncode == 1, f"the chaos suite did not fail (exit {run.returncode}){shown}"
    assert ("FAILED suites/chaos/test_dialogue_faults.py::test_dialogue_path_degrades_as_documented"
            "[partition:mainpc/RequestCoordinator->mainpc/MemoryClient]") in output, shown
    assert "memory is optional, the turn must still be answered: HTTP 503" in output, shown
    assert "turn failed: memory:" in output, shown
