"""``aisys-verify conformance``: one line per agent and check, exit 0 / 1 / 2, JSON, bad input before any stand-up.
Each run that stands a stack up uses the small spec and only the quick checks."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from small_spec import TARGET, write_small_spec

REPO = Path(__file__).resolve().parents[2]


def cli(*args: str, state: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("AISYS_")} | {"AISYS_STATE_DIR": str(state)}
    return subprocess.run([sys.executable, "-m", "aisys_verify", "conformance", *args], cwd=REPO, env=env,
                          capture_output=True, text=True, timeout=180)


@pytest.mark.parametrize("args", [
    ["--http-policy", "lenient"],
    ["--observe-s", "-1"],
    ["--check", "nonsense"],
    ["--agent", "NoSuchAgent"],
    ["--standin-defects", "no_such_defect"],
    ["--stack", "0000000000"],
])
def test_bad_input_exits_2_before_standing_up(tmp_path: Path, args: list[str]) -> None:
    spec = [] if args[0] == "--stack" else [str(write_small_spec(tmp_path / "spec"))]
    run = cli(*spec, *args, state=tmp_path / "state")
    assert run.returncode == 2, run.stdout + run.stderr
    assert "error" in run.stderr and "Traceback" not in run.stderr
    assert "ready in" not in run.stderr, "bad input must be reported before a stack is stood up"


@pytest.mark.integration
def test_text_lines_and_exit_0(tmp_path: Path) -> None:
    run = cli(str(write_small_spec(tmp_path / "spec")), "--check", "listens", "--check", "registered",
              state=tmp_path / "state")
    assert run.returncode == 0, run.stdout + run.stderr
    lines = run.stdout.splitlines()
    assert sum(line.startswith("PASS listens ") for line in lines) == 5, run.stdout
    assert sum(line.startswith("PASS registered ") for line in lines) == 5, run.stdout
    assert "PASS listens           mainpc/ServiceRegistry: listens on 7200 (main) and 8200 (health)" in run.stdout
    assert lines[-1] == "aisys-verify: conformance: 10 passed, 0 failed, 0 not checked"


@pytest.mark.integration
def test_json_and_exit_1_naming_the_defect(tmp_path: Path) -> None:
    spec = write_small_spec(tmp_path / "spec", {TARGET: ["double_bind"]})
    run = cli(str(spec), "--standin-profile", "reference", "--check", "listens", "--format", "json",
              state=tmp_path / "state")
    assert run.returncode == 1, run.stdout + run.stderr
    report = json.loads(run.stdout)
    failed = [r for r in report["results"] if r["outcome"] == "fail"]
    assert [(r["agent"], r["defects"]) for r in failed] == [(f"mainpc/{TARGET}", ["double_bind"])], report
    assert "Matches PROTOCOL.md defect 'double_bind'" in failed[0]["message"]
    assert report["passed"] == 4 and report["failed"] == 1


@pytest.mark.integration
def test_attached_stack(tmp_path: Path) -> None:
    """--stack: the checks run against a stack from 'aisys-verify up' (Redis cut through its Toxiproxy); the kill
    check is reported not checked, since only the stack's owner can restart a group."""
    import re

    env = {k: v for k, v in os.environ.items() if not k.startswith("AISYS_")} | {"AISYS_STATE_DIR": str(tmp_path)}
    up = subprocess.run([sys.executable, "-m", "aisys_verify", "up", str(write_small_spec(tmp_path / "spec"))],
                        cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    found = re.search(r"stack (\w+) up", up.stdout)
    assert up.returncode == 0 and found, up.stdout + up.stderr
    try:
        run = cli("--stack", found.group(1), "--check", "listens", "--check", "http_degraded", "--check",
                  "ready_after_crash", state=tmp_path)
    finally:
        subprocess.run([sys.executable, "-m", "aisys_verify", "down", found.group(1)], cwd=REPO, env=env,
                       capture_output=True, timeout=60, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    assert sum(line.startswith("PASS http_degraded ") for line in run.stdout.splitlines()) == 5, run.stdout
    assert "SKIP ready_after_crash mainpc/NLUAgent: not checked: the AttachedStack backend cannot kill" in run.stdout
