"""``aisys-verify chaos`` against a stack from ``aisys-verify up``, each command a subprocess: a run
completes, Ctrl-C in the middle of an experiment rolls it back (exit 130, journal 'interrupted', no toxic
and no paused process left), and after a SIGKILL (no rollback possible) ``chaos emergency-stop`` from
another shell removes every fault."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml
from stack_support import child_env, cli, kill_leftovers, read_records, record_files

from aisys_verify.faults import hygiene
from aisys_verify.spec.synthetic import write_synthetic_spec
from aisys_verify.stack.attached import AttachedStack, attach

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def up_stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[str, dict[str, str], Path]]:
    base = tmp_path_factory.mktemp("chaos-cli")
    state = base / "state"
    env = child_env(state, base / "tmp")
    spec = write_synthetic_spec(base / "spec", agents=6)
    up = cli(["up", str(spec)], env, base)
    assert up.returncode == 0, up
    stack_id = re.search(r"stack (\w+) up", up.stdout).group(1)  # type: ignore[union-attr]
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AISYS_STATE_DIR", str(state))
        try:
            yield stack_id, env, base
        finally:
            records = read_records(state)
            cli(["down"], env, base)
            for record in records:
                kill_leftovers(str(record["stack_id"]), "", record["processes"])  # type: ignore[arg-type]
            assert record_files(state) == []


def scenario_file(folder: Path, stack: AttachedStack, name: str, hold_s: float, **extra: object) -> Path:
    agent = next(a for a in stack.topology.agents if a.dependencies)
    host, group = next((g.host, g.name) for g in stack.topology.groups  # a group the probed agent is not in
                       if agent.name not in {r.name for r in g.agents})
    data = {"title": name, "steady-state-hypothesis": {"probes": [
                {"name": "up", "type": "health", "agents": agent.name, "tolerance": {"status": ["ok", "degraded"]}}]},
            "method": [{"fault": "latency", "edge": f"{agent.name}->{agent.dependencies[0].name}", "ms": 30},
                       {"fault": "pause", "group": f"{host}/{group}"}, {"pause_s": hold_s}], **extra}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def start_run(path: Path, stack_id: str, journal: Path, env: dict[str, str], cwd: Path) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-m", "aisys_verify", "chaos", "run", str(path), "--stack", stack_id,
                             "--journal", str(journal)], env=env, cwd=cwd, stdout=subprocess.PIPE,
                            stderr=subprocess.STDOUT, text=True)


def wait_for_line(proc: subprocess.Popen[str], needle: str, timeout: float = 60) -> list[str]:
    assert proc.stdout is not None
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        line = proc.stdout.readline()
        if not line:
            break
        seen.append(line.rstrip())
        if needle in line:
            return seen
    proc.kill()
    raise AssertionError(f"{needle!r} not printed; output: {seen}")


def test_run_completes_against_a_running_stack(up_stack: tuple[str, dict[str, str], Path]) -> None:
    stack_id, env, base = up_stack
    path = scenario_file(base, attach(stack_id), "short", 0.3)
    run = cli(["chaos", "run", str(path), "--stack", stack_id, "--journal", str(base / "short.json")], env, base)
    assert run.returncode == 0, run.stdout + run.stderr
    journal = json.loads((base / "short.json").read_text())
    assert journal["status"] == "completed"
    assert [f["fault"].split("(")[0] for f in journal["faults"]] == ["latency", "pause"]
    assert hygiene.inspect(attach(stack_id)).clean


def test_sigint_during_an_experiment_rolls_it_back(up_stack: tuple[str, dict[str, str], Path]) -> None:
    stack_id, env, base = up_stack
    stack = attach(stack_id)
    path = scenario_file(base, stack, "interrupted", 60)
    proc = start_run(path, stack_id, base / "interrupted.json", env, base)
    wait_for_line(proc, "step 3/3")
    during = hygiene.inspect(stack)
    assert during.toxics and during.paused, f"the faults are not on before the interrupt: {during.describe()}"
    proc.send_signal(signal.SIGINT)
    assert proc.wait(60) == 130
    journal = json.loads((base / "interrupted.json").read_text())
    assert journal["status"] == "interrupted"
    assert journal["rollbacks"][0]["faults"] and journal["rollbacks"][0]["status"] == "succeeded"
    after = hygiene.inspect(stack)
    assert after.clean, f"left after Ctrl-C: {after.describe()}"


def test_emergency_stop_after_a_killed_run(up_stack: tuple[str, dict[str, str], Path]) -> None:
    stack_id, env, base = up_stack
    stack = attach(stack_id)
    proc = start_run(scenario_file(base, stack, "killed", 60), stack_id, base / "killed.json", env, base)
    wait_for_line(proc, "step 3/3")
    proc.kill()  # SIGKILL: nothing can roll back
    proc.wait()
    left = hygiene.inspect(stack)
    assert left.toxics and left.paused, left.describe()
    stop = cli(["chaos", "emergency-stop"], env, base)
    assert stop.returncode == 0, stop
    assert f"stack {stack_id}: Toxiproxy reset (2 toxic(s) removed" in stop.stdout, stop.stdout
    assert f"stack {stack_id}: resumed 1 paused group process(es)" in stop.stdout, stop.stdout
    assert hygiene.inspect(stack).clean


def test_attached_stacks_cannot_kill_and_say_so(up_stack: tuple[str, dict[str, str], Path]) -> None:
    stack_id, env, base = up_stack
    group = attach(stack_id).topology.groups[0]
    path = base / "kill.yaml"
    path.write_text(yaml.safe_dump({"title": "kill", "method": [{"fault": "kill", "group":
                                                                 f"{group.host}/{group.name}"}]}))
    run = cli(["chaos", "run", str(path), "--stack", stack_id, "--journal", str(base / "kill.json")], env, base)
    assert run.returncode == 1, run
    assert "cannot kill a group" in run.stderr, run.stderr


def test_bad_input_is_named(up_stack: tuple[str, dict[str, str], Path]) -> None:
    _, env, base = up_stack
    bad = base / "bad.yaml"
    bad.write_text(yaml.safe_dump({"title": "x", "method": [{"fault": "latancy", "edge": "A->B", "ms": 1}]}))
    run = cli(["chaos", "run", str(bad), "--stack", "nope"], env, base)
    assert run.returncode == 2
    assert "bad.yaml: method[0].fault: unknown fault 'latancy'; did you mean 'latency'?" in run.stderr, run.stderr
    missing = cli(["chaos", "run", str(base / "short.yaml"), "--stack", "nope"], env, base)
    assert missing.returncode == 2
    assert "no running stack 'nope'" in missing.stderr, missing.stderr
