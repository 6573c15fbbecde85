"""Distributed mode (a master and local workers) and the CLI, against the tiny target."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from aisys_verify.load.runner import RunOptions, run_load
from aisys_verify.load.scenario import parse_scenario
from aisys_verify.load.target import running_target

pytestmark = pytest.mark.integration
ROOT = Path(__file__).resolve().parents[2]


def test_master_and_two_workers_split_the_open_model_rate(tmp_path: Path) -> None:
    scenario = parse_scenario({"name": "split", "model": "open", "users": 8,
                               "shape": {"kind": "step", "start": 20, "step": 20, "steps": 2, "step_time": 3},
                               "workloads": {"http-get": 1}})
    with running_target(tmp_path) as target:
        results = run_load(scenario, target.url, tmp_path / "run", RunOptions(workers=2))
    parts = [json.loads(p.read_text()) for p in sorted(results.run_dir.glob("part-*.json"))]
    assert sorted(p["role"].split("-")[0] for p in parts) == ["master", "worker", "worker"]
    per_worker = [sum(c["total"] for c in p["cells"]) for p in parts if p["role"].startswith("worker")]
    # (20*3 + 40*3) / 2 each; a worker starts its schedule when the master's spawn message reaches it,
    # so the master's stop can cut its last slots: those are counted as unsent, never lost
    assert all(n == pytest.approx(90, abs=5) for n in per_worker), per_worker
    assert results.counts() == (sum(per_worker), 0)
    assert sum(per_worker) + results.schedule["unsent"] == pytest.approx(180, abs=2)
    assert results.conformance["ok"], results.conformance["problems"]
    assert {"master", "worker-0", "worker-1"} <= set(results.generator["processes"])
    assert [p.name for p in results.phases] == ["step-1", "step-2"]


def test_cli_runs_a_scenario_file_against_a_url(tmp_path: Path) -> None:
    scenario = tmp_path / "quick.yaml"
    scenario.write_text("name: quick\nshape: {kind: constant, level: 2, duration: 3}\nthink_time: 0.05\n"
                        "workloads: {http-get: {weight: 1, path: /ping}}\n")
    with running_target(tmp_path) as target:
        done = subprocess.run([sys.executable, "-m", "aisys_verify", "load", "run", str(scenario), "--url", target.url,
                               "--out", str(tmp_path / "run"), "--json"], capture_output=True, text=True, cwd=ROOT,
                              timeout=120)
    assert done.returncode == 0, done.stderr + done.stdout
    summary = json.loads(done.stdout[done.stdout.index("{"):])
    row = summary["endpoints"]["http:GET /ping"]
    assert row["requests"] > 20 and row["failed"] == 0 and summary["conformance"]["ok"]
    shown = subprocess.run([sys.executable, "-m", "aisys_verify", "load", "show", str(tmp_path / "run")],
                           capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert shown.returncode == 0 and "http:GET /ping" in shown.stdout
    bad = subprocess.run([sys.executable, "-m", "aisys_verify", "load", "run", "no-such-scenario", "--url",
                          "http://127.0.0.1:9"], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert bad.returncode == 2 and "no load scenario 'no-such-scenario'" in bad.stderr
