"""Chaos Toolkit against real stacks (the default spec, stood up by 'aisys-verify up'): ``chaos run`` of an
export completes with the steady state met; with the coordinator's degradation path removed (a copy of the
spec where RequestCoordinator has ``standin: {degrade: false}``) the same run deviates; ``aisys-verify chaos
run`` takes the exported experiment; and after a ``chaos run`` interrupted with SIGINT no toxic and no paused
process is left."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import yaml
from ctk_support import REPO, chaos, chaos_cmd, chaos_env, export, need_chaostoolkit
from mutation_support import insert_field, mutated_spec
from stack_support import child_env, cli, kill_leftovers, read_records

from aisys_verify.faults import hygiene
from aisys_verify.stack.attached import attach

pytestmark = pytest.mark.integration

SCENARIO = REPO / "scenarios" / "chaos" / "memory-partition.yaml"


def _up(spec: Path, base: Path) -> Iterator[tuple[str, dict[str, str]]]:
    need_chaostoolkit()
    state = base / "state"
    env = child_env(state, base / "tmp")
    up = cli(["up", str(spec)], env, base, timeout=180)
    assert up.returncode == 0, up.stdout + up.stderr
    stack_id = re.search(r"stack (\w+) on", up.stdout + up.stderr).group(1)  # type: ignore[union-attr]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AISYS_STATE_DIR", str(state))
        try:
            yield stack_id, env
        finally:
            records = read_records(state)
            cli(["down", stack_id], env, base)
            for record in records:
                kill_leftovers(str(record["stack_id"]), "", record["processes"])  # type: ignore[arg-type]


@pytest.fixture(scope="module")
def default_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str]]]:
    yield from _up(REPO / "system", tmp_path_factory.mktemp("ctk-default"))


@pytest.fixture(scope="module")
def exported(tmp_path_factory: pytest.TempPathFactory) -> Path:
    need_chaostoolkit()
    return export(SCENARIO, tmp_path_factory.mktemp("ctk-export") / "memory-partition.json")


def _chaos_run(experiment: Path, stack_id: str, env: dict[str, str], folder: Path) -> dict[str, Any]:
    journal = folder / "journal.json"
    run = chaos(["run", "--journal-path", str(journal), str(experiment)], folder, env | {"AISYS_STACK": stack_id},
                timeout=180)
    assert journal.is_file(), run.stdout + run.stderr
    result: dict[str, Any] = json.loads(journal.read_text())
    return result


def test_chaos_run_of_an_export_completes_with_the_steady_state_met(
        default_stack: tuple[str, dict[str, str]], exported: Path, tmp_path: Path) -> None:
    stack_id, env = default_stack
    journal = _chaos_run(exported, stack_id, env, tmp_path)
    assert (journal["status"], journal["deviated"]) == ("completed", False), journal["steady_states"]["after"]
    assert journal["steady_states"]["before"]["steady_state_met"] and journal["steady_states"]["after"][
        "steady_state_met"]
    fault = next(r for r in journal["run"] if r["activity"]["provider"]["func"] == "partition")
    assert fault["status"] == "succeeded" and fault["output"]["efficacy"]["effective"] is True, fault
    ours = journal["aisys_verify"]
    assert [f["fault"].split("(")[0] for f in ours["faults"]] == ["partition"]
    assert ours["steady_state_watch"]["checks"] >= 1 and not ours["steady_state_watch"]["broken"]
    assert hygiene.inspect(attach(stack_id)).clean


def test_aisys_verify_chaos_run_takes_the_chaos_toolkit_experiment(
        default_stack: tuple[str, dict[str, str]], exported: Path, tmp_path: Path) -> None:
    stack_id, env = default_stack
    run = cli(["chaos", "run", str(exported), "--stack", stack_id, "--journal", str(tmp_path / "j.json")],
              chaos_env(env), tmp_path, timeout=180)
    assert run.returncode == 0, run.stdout + run.stderr
    journal = json.loads((tmp_path / "j.json").read_text())
    assert journal["chaoslib-version"] and journal["status"] == "completed" and not journal["deviated"]
    assert journal["aisys_verify"]["faults"][0]["efficacy"]["effective"] is True


def _held_run(stack_id: str, env: dict[str, str], folder: Path) -> subprocess.Popen[bytes]:
    """``chaos run`` of an export whose faults stay on (a latency, a paused group) while it holds for 120 s; returns
    once both are on."""
    scenario = folder / "held.yaml"
    scenario.write_text(yaml.safe_dump({
        "title": "faults held until interrupted",
        "steady-state-hypothesis": {"probes": [{"name": "memory up", "type": "health", "agents": "pc2/memory_stack",
                                                "tolerance": {"status": ["ok", "degraded"]}}]},
        # a bandwidth toxic is proved by reading it back (a latency's round-trip proof can flake on a busy machine)
        "method": [{"fault": "bandwidth", "edge": "RequestCoordinator->MemoryClient", "kb_per_s": 1000},
                   {"fault": "pause", "group": "pc2/memory_stack"}, {"pause_s": 120}]}))
    export(scenario, folder / "held.json", env)
    log = (folder / "chaos.log").open("w")
    proc = subprocess.Popen(chaos_cmd("run", "--journal-path", "journal.json", "held.json"), cwd=folder,
                            env=chaos_env(env, AISYS_STACK=stack_id), stdout=log, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 90
    try:
        while "Action: pause 120 s" not in (folder / "chaos.log").read_text() and time.monotonic() < deadline:
            assert proc.poll() is None, (folder / "chaos.log").read_text()
            time.sleep(0.2)
        during = hygiene.inspect(attach(stack_id))
        assert during.toxics and during.paused, f"the faults are not on: {during.describe()}"
    except BaseException:
        proc.send_signal(signal.SIGINT)  # undone by the control, so that the next tests find the stack whole
        proc.wait(90)
        raise
    return proc


def test_sigint_during_a_chaos_toolkit_run_leaves_no_toxic_and_no_paused_process(
        default_stack: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    stack_id, env = default_stack
    proc = _held_run(stack_id, env, tmp_path)
    proc.send_signal(signal.SIGINT)
    proc.wait(90)
    journal = json.loads((tmp_path / "journal.json").read_text())
    assert journal["status"] == "interrupted", (tmp_path / "chaos.log").read_text()
    assert len(journal["aisys_verify"]["undone_at_end"][stack_id]["reverted"]) == 2
    after = hygiene.inspect(attach(stack_id))
    assert after.clean, f"left after Ctrl-C: {after.describe()}"


def test_emergency_stop_undoes_a_killed_chaos_toolkit_run(default_stack: tuple[str, dict[str, str]],
                                                         tmp_path: Path) -> None:
    stack_id, env = default_stack
    proc = _held_run(stack_id, env, tmp_path)
    proc.kill()  # SIGKILL: no control, no rollback can run
    proc.wait(30)
    assert not hygiene.inspect(attach(stack_id)).clean  # the faults outlived the run...
    stop = cli(["chaos", "emergency-stop"], env, tmp_path)
    assert stop.returncode == 0, stop.stdout + stop.stderr
    after = hygiene.inspect(attach(stack_id))
    assert after.clean, f"left after emergency-stop: {after.describe()}\n{stop.stdout}"  # ... not the stop


def test_removing_the_coordinators_degradation_makes_the_run_deviate(exported: Path,
                                                                     tmp_path_factory: pytest.TempPathFactory) -> None:
    base = tmp_path_factory.mktemp("ctk-mutant")
    spec = mutated_spec(base, "mainpc", "RequestCoordinator",
                        insert_field("config: {standin: {degrade: false}}  # ctk mutation"),
                        lambda agent: agent.config.get("standin") == {"degrade": False})
    for stack_id, env in _up(spec, base / "run"):
        journal = _chaos_run(exported, stack_id, env, base)
        assert journal["deviated"] is True, journal["steady_states"]
        broken = journal["aisys_verify"]["steady_state_watch"]["broken"]
        assert broken and "status 503 not in [200]" in broken, journal["aisys_verify"]
        assert hygiene.inspect(attach(stack_id)).clean


def test_stand_up_kill_and_the_control_undo_everything_in_one_process(tmp_path: Path,
                                                                      monkeypatch: pytest.MonkeyPatch) -> None:
    """The activities as chaoslib calls them (plain functions, one process): a stack stood up by the run, a group
    killed and left down, and the end of the experiment (the control) restarts it and stops the stack."""
    from aisys_verify.ctk import actions, control, probes
    from aisys_verify.spec.synthetic import write_synthetic_spec

    monkeypatch.setenv("AISYS_STATE_DIR", str(tmp_path / "state"))
    monkeypatch.delenv("AISYS_STACK", raising=False)
    spec = write_synthetic_spec(tmp_path / "spec", agents=6)
    up = actions.stand_up([str(spec)])
    try:
        from aisys_verify.faults import ctkstate

        stack = ctkstate.stack_for(None)
        host, group = next((g.host, g.name) for g in stack.topology.groups)
        killed = actions.kill(f"{host}/{group}")
        assert killed["efficacy"]["effective"] is True, killed
        assert probes.health(f"{host}/{group}")["status"] == "failed"  # down, and the probe says so
        journal: dict[str, Any] = {}
        control.after_experiment_control({}, journal)
        undone = journal["aisys_verify"]["undone_at_end"][up["stack_id"]]
        assert undone["reverted"] == [killed["fault"]] and not undone["errors"], undone
        from aisys_verify.stack.state import list_stacks

        assert [r.stack_id for r, live in list_stacks() if live] == []  # the stack the run stood up is stopped
    finally:
        control.cleanup_control()


def test_aisys_verify_chaos_run_takes_plain_http_and_process_providers(
        default_stack: tuple[str, dict[str, str]], tmp_path: Path) -> None:
    """A Chaos Toolkit experiment written by hand: chaoslib's own ``http`` probe and ``process`` action beside one
    of the extension's faults; the fault's evidence lands in the journal, and a failing http probe fails it."""
    stack_id, env = default_stack
    gateway = attach(stack_id).endpoint("UnifiedWebAgent").http_url

    def experiment(path: str) -> dict[str, Any]:
        return {
            "title": "plain providers", "description": "chaoslib's http and process providers with ours",
            "steady-state-hypothesis": {"title": "the gateway is healthy", "probes": [
                {"type": "probe", "name": "gateway health", "tolerance": 200,
                 "provider": {"type": "http", "url": f"{gateway}{path}", "timeout": 5}}]},
            "method": [{"type": "action", "name": "a process", "provider": {"type": "process", "path": "true"}},
                       {"type": "action", "name": "slow memory", "provider": {
                           "type": "python", "module": "aisys_verify.ctk.actions", "func": "latency",
                           "arguments": {"edge": "RequestCoordinator->MemoryClient", "ms": 20, "duration_s": 0.5}}}],
            "controls": [{"name": "aisys-verify", "provider": {"type": "python",
                                                               "module": "aisys_verify.ctk.control"}}]}

    results = {}
    for name, path in (("health", "/health"), ("nowhere", "/no-such-page")):
        (tmp_path / f"{name}.json").write_text(json.dumps(experiment(path)))
        run = cli(["chaos", "run", str(tmp_path / f"{name}.json"), "--stack", stack_id, "--journal",
                   str(tmp_path / f"{name}-journal.json")], chaos_env(env), tmp_path, timeout=120)
        results[name] = (run.returncode, json.loads((tmp_path / f"{name}-journal.json").read_text()), run.stderr)
    code, journal, stderr = results["health"]
    assert code == 0 and journal["status"] == "completed", stderr
    assert [r["status"] for r in journal["run"]] == ["succeeded", "succeeded"]
    assert journal["aisys_verify"]["faults"][0]["efficacy"]["effective"] is True
    code, journal, stderr = results["nowhere"]
    assert code == 1 and journal["run"] == [], stderr  # the gate held: nothing injected, and the run failed
    assert journal["abort_reason"] == "steady state not met before the method: gateway health", stderr
    assert hygiene.inspect(attach(stack_id)).clean


def test_slo_verdict_probe_judges_a_load_run_with_the_specs_slos(default_stack: tuple[str, dict[str, str]],
                                                                 tmp_path: Path) -> None:
    """``probes.slo_verdict`` on a load results folder: the coordination latency SLO (p99 < 500 ms) passes on
    2,000 requests of 10 ms, and fails on the same run at 900 ms."""
    from aisys_verify.ctk import probes
    from aisys_verify.faults import ctkstate
    from aisys_verify.load import Cell, EndpointInfo, Latencies, Phase, write_results

    stack_id, _ = default_stack
    endpoint = EndpointInfo("zmq:mainpc/RequestCoordinator:process_dialogue", "mainpc", "RequestCoordinator", "zmq")
    verdicts = {}
    for name, seconds in (("fast", 0.01), ("slow", 0.9)):
        write_results(tmp_path / name, scenario=name, shape="constant", model="open", started_at=100.0,
                      ended_at=120.0, phases=[Phase("constant", 100.0, 120.0)], endpoints=[endpoint],
                      cells=[Cell("constant", endpoint.name, 2000, 0, Latencies.of([seconds] * 2000))], timeseries=[])
        verdicts[name] = probes.slo_verdict(str(tmp_path / name), ["coordination_latency"],
                                            configuration={"aisys_stack": stack_id})
    ctkstate.forget(stack_id)
    assert verdicts["fast"]["status"] == "succeeded", verdicts["fast"]
    assert verdicts["slow"]["status"] == "failed" and verdicts["slow"]["verdicts"][0]["status"] == "fail", verdicts
