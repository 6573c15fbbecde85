"""The PR e2e workflow run locally by nektos/act in self-hosted mode (`-P ubuntu-latest=-self-hosted`, offline
actions): act copies the working tree at the checkout step, the set-up step links the warm venv (AISYS_VENV)
and scripts/setup finds it current, then lint, `pytest -m e2e`, the per-suite line and `down` run for real.
Exhaustive (about a minute, a second e2e stand-up): `pytest tests/adopt/test_act.py --exhaustive`."""

from __future__ import annotations

import hashlib
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from adopt_support import REPO, child_env

pytestmark = [pytest.mark.integration, pytest.mark.slow, pytest.mark.exhaustive]


def test_act_runs_the_pr_e2e_workflow_to_green(tmp_path: Path) -> None:
    act = shutil.which("act")
    assert act, "act is not installed: scripts/system-deps builds it from the Go module proxy"
    venv = Path(sys.prefix)
    want = hashlib.sha256((REPO / "requirements" / "lock.txt").read_bytes() + (REPO / "pyproject.toml").read_bytes())
    stamp = venv / ".aisys-setup-stamp"
    if not stamp.is_file() or stamp.read_text().strip() != want.hexdigest():
        # scripts/setup inside the job would rebuild this venv for this checkout's lock: never do that to a
        # venv another checkout owns (a shared dev machine); CI's venv is this checkout's own
        pytest.skip(f"{venv} was set up for another lock or pyproject.toml than this checkout's")
    env = child_env(tmp_path / "state", tmp_path / "tmp")
    env.pop("PYTHONPATH", None)
    done = subprocess.run([act, "pull_request", "-W", ".github/workflows/pr-e2e.yml",
                           "-P", "ubuntu-latest=-self-hosted", "--action-offline-mode", "--env", f"AISYS_VENV={venv}"],
                          cwd=REPO, env=env, capture_output=True, text=True, timeout=900, check=False)
    out = done.stdout + done.stderr
    assert done.returncode == 0 and "Job succeeded" in out, out[-5000:]
    for step in ("Check out", "Set up", "Lint the spec", "pytest -m e2e", "One line per suite",
                 "Stop this job's stacks"):
        assert f"Success - Main {step}" in out, f"step {step!r} did not succeed:\n{out[-5000:]}"
    assert "suite e2e (e2e): ok:" in out, out[-3000:]
