"""Scenarios run against a real stack: each end status (completed, aborted, failed) with its journal."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import pytest

from aisys_verify.faults import hygiene
from aisys_verify.faults.experiment import run_experiment
from aisys_verify.faults.scenario import parse_scenario
from aisys_verify.stack.local import LocalStack

pytestmark = pytest.mark.integration


def dependency_edge(stack: LocalStack) -> tuple[str, str]:
    agent = next(a for a in stack.topology.agents if a.dependencies and a.host == "mainpc")
    return agent.name, agent.dependencies[0].name


def healthy(agent: str) -> dict[str, Any]:
    return {"name": f"{agent} is healthy", "type": "health", "agents": agent, "tolerance": {"status": "ok"}}


def test_completed_run_and_its_journal(small_stack: LocalStack, tmp_path: Path) -> None:
    caller, callee = dependency_edge(small_stack)
    scenario = parse_scenario({
        "title": "slow edge", "steady-state-hypothesis": {"title": "up", "probes": [healthy(caller)]},
        "method": [{"fault": "latency", "edge": f"{caller}->{callee}", "ms": 20, "duration_s": 0.5},
                   {"probe": healthy(callee)}, {"pause_s": 0.2}],
        "rollbacks": [{"action": "wait-healthy", "timeout_s": 20}]})
    journal = run_experiment(small_stack, scenario, journal_path=tmp_path / "j.json")
    assert journal["status"] == "completed", journal["abort_reason"]
    assert json.loads((tmp_path / "j.json").read_text())["status"] == "completed"
    assert journal["steady_states"]["before"]["steady_state_met"] is True
    assert journal["steady_states"]["after"]["steady_state_met"] is True
    assert [r["kind"] for r in journal["run"]] == ["fault", "probe", "pause"]
    assert journal["run"][0]["efficacy"]["effective"] is True
    assert journal["faults"][0]["reverted_at"] is not None
    assert {"experiment", "start", "end", "duration", "rollbacks", "deviated"} <= set(journal)
    assert hygiene.inspect(small_stack).clean


def test_abort_stops_the_method_when_the_steady_state_breaks(small_stack: LocalStack) -> None:
    caller, callee = dependency_edge(small_stack)
    scenario = parse_scenario({
        "title": "cut a dependency", "steady-state-hypothesis": {"title": "up", "probes": [healthy(caller)]},
        "method": [{"fault": "partition", "edge": f"{caller}->{callee}", "duration_s": 20}],
        "runtime": {"during": {"interval_s": 0.5}, "abort": {"consecutive_failures": 2}, "recovery_timeout_s": 20}})
    started = time.monotonic()
    journal = run_experiment(small_stack, scenario)
    assert journal["status"] == "aborted", journal
    assert time.monotonic() - started < 15, "the abort must cut the 20 s fault short"
    assert "steady state broken 2 times in a row" in journal["abort_reason"]
    assert journal["rollbacks"][0]["status"] == "succeeded"
    assert journal["steady_states"]["after"]["steady_state_met"] is True  # rolled back and recovered
    assert hygiene.inspect(small_stack).clean


def test_no_fault_is_injected_when_the_steady_state_is_not_met_first(small_stack: LocalStack) -> None:
    caller, callee = dependency_edge(small_stack)
    broken = {"name": "impossible", "type": "request", "agent": caller, "action": "no_such_action",
              "tolerance": {"status": "success"}}
    scenario = parse_scenario({"title": "gate", "steady-state-hypothesis": {"probes": [broken]},
                               "method": [{"fault": "partition", "edge": f"{caller}->{callee}"}]})
    journal = run_experiment(small_stack, scenario)
    assert journal["status"] == "failed"
    assert "steady state not met before the method" in journal["abort_reason"]
    assert journal["run"] == []
    assert journal["faults"] == []


def test_a_fault_that_cannot_be_applied_fails_the_run(small_stack: LocalStack) -> None:
    caller, _ = dependency_edge(small_stack)
    scenario = parse_scenario({"title": "bad edge", "steady-state-hypothesis": {"probes": [healthy(caller)]},
                               "method": [{"fault": "latency", "edge": f"{caller}->Nobody", "ms": 10}]})
    journal = run_experiment(small_stack, scenario)
    assert journal["status"] == "failed"
    assert "'Nobody' names no agent" in journal["abort_reason"]
    assert journal["run"][0]["status"] == "failed"
