"""Nothing of a stack outlives the pytest run that stood it up, however that run ends.

Each case runs pytest in a subprocess (its own session, so signals reach only it) on a tiny synthetic
spec through the ``aisys_stack`` fixture, with ``AISYS_STATE_DIR`` and TMPDIR under this test's tmp
dir. The inner test writes its stack's id, network and recorded processes to a file; afterwards no
recorded process (pid + command-line marker) is alive, ``pgrep -f`` finds nothing by stack id or
network, and no state record remains. After a SIGKILL of pytest, Redis and Toxiproxy are left
behind (the launcher and groups die with it): those leftovers are found, then removed by the next
run, by ``aisys-verify down``, or by ``state.reap()``.
"""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
from stack_support import (
    child_env,
    cli,
    kill_leftovers,
    pytest_cmd,
    read_records,
    record_files,
    recorded_alive,
    stack_leftovers,
)

from aisys_verify import wait_for
from aisys_verify.spec.synthetic import write_synthetic_spec
from aisys_verify.stack import state

pytestmark = pytest.mark.integration

INNER_TEST = """
import json, os, time
from dataclasses import asdict
from pathlib import Path


def test_with_the_stack_up(aisys_stack):
    info = {"stack_id": aisys_stack.stack_id, "network": aisys_stack.network, "pytest_pid": os.getpid(),
            "processes": [asdict(p) for p in aisys_stack.record.processes]}
    out = Path(os.environ["STACK_INFO"])
    out.with_suffix(".tmp").write_text(json.dumps(info))
    out.with_suffix(".tmp").replace(out)
    mode = os.environ.get("STACK_MODE", "pass")
    if mode == "fail":
        assert False, "deliberate failure with the stack up"
    if mode == "sleep":
        time.sleep(300)
"""

RUN_TIMEOUT_S = 90.0
# the stack's own Prometheus and Alertmanager (aisys_verify.observe; scripts/system-deps installs them): servers
# in their own sessions, like Redis and Toxiproxy, so a SIGKILL of pytest leaves them to the reaper too
SERVERS_OBSERVE = ("alertmanager", "prometheus")
SERVERS = sorted(["redis", "redis", "toxiproxy", *SERVERS_OBSERVE])
READY_TIMEOUT_S = 60.0


@dataclass
class Run:
    """One child pytest run; ``info`` once its test has written it."""

    popen: subprocess.Popen[bytes]
    output: Path
    info_path: Path
    info: dict[str, Any] = field(default_factory=dict)

    def text(self) -> str:
        return self.output.read_text(errors="replace") if self.output.exists() else ""

    def load_info(self) -> dict[str, Any]:
        self.info = json.loads(self.info_path.read_text())
        return self.info


@pytest.fixture
def project(tmp_path: Path) -> Path:
    root = tmp_path / "project"
    write_synthetic_spec(root / "spec", agents=4)
    (root / "pytest.ini").write_text("[pytest]\naisys_spec = spec\n")
    (root / "test_inner.py").write_text(INNER_TEST)
    return root


@pytest.fixture
def runs(state_dir: Path) -> Iterator[list[Run]]:
    """Child runs a test starts; whatever happens, each is killed and its stack's leftovers removed."""
    started: list[Run] = []
    yield started
    for run in started:
        if run.popen.poll() is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(run.popen.pid, signal.SIGKILL)
            run.popen.wait(10)
    state.reap(include_live_owners=True)  # this test's own state dir only
    for run in started:
        with contextlib.suppress(OSError, ValueError):
            info = run.info or run.load_info()
            kill_leftovers(info["stack_id"], info["network"], info["processes"])


def start_run(project: Path, state_dir: Path, runs: list[Run], mode: str, name: str, *args: str) -> Run:
    output = project / f"{name}.out"
    info_path = project / f"{name}.json"
    env = child_env(state_dir, project / "tmp", STACK_MODE=mode, STACK_INFO=str(info_path))
    with output.open("wb") as out:
        popen = subprocess.Popen(pytest_cmd("-q", *args, "test_inner.py"), cwd=project, env=env, stdout=out,
                                 stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    run = Run(popen, output, info_path)
    runs.append(run)
    return run


def finish(run: Run) -> int:
    try:
        return run.popen.wait(RUN_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        raise AssertionError(f"pytest did not finish within {RUN_TIMEOUT_S:g} s:\n{run.text()}") from None


def wait_stack_up(run: Run, state_dir: Path) -> dict[str, Any]:
    """Until the state dir holds a record with a launcher process and the inner test is running."""

    def ready() -> bool:
        if run.popen.poll() is not None:
            raise AssertionError(f"pytest exited ({run.popen.returncode}) before the stack was up:\n{run.text()}")
        has_launcher = any(p["role"] == "launcher" and p["pid"] > 0 for r in read_records(state_dir)
                           for p in r.get("processes", []))
        return has_launcher and run.info_path.exists()

    wait_for(ready, READY_TIMEOUT_S, what="a state record with a launcher, and the inner test running")
    info = run.load_info()
    assert {p["role"] for p in info["processes"]} == {"toxiproxy", "redis", "launcher", "group", *SERVERS_OBSERVE}, info
    assert recorded_alive(info["processes"]), info
    return info


def assert_gone(info: dict[str, Any], state_dir: Path, output: str = "") -> None:
    leftovers = stack_leftovers(info["stack_id"], info["network"], info["processes"])
    assert leftovers == [], "\n".join(leftovers) + "\n--- pytest output ---\n" + output
    assert record_files(state_dir) == [], output


# --- (a)-(d): the run ends, cleanly or not -----------------------------------------------------


@pytest.mark.parametrize("mode", ["pass", "fail"])
def test_a_finished_run_leaves_nothing(project: Path, state_dir: Path, runs: list[Run], mode: str) -> None:
    run = start_run(project, state_dir, runs, mode, mode)
    code = finish(run)
    text = run.text()
    if mode == "pass":
        assert code == 0, text
        assert "1 passed" in text, text
    else:
        assert code == 1, text
        assert "deliberate failure with the stack up" in text and "1 failed" in text, text
    assert_gone(run.load_info(), state_dir, text)


@pytest.mark.parametrize(("sig", "to_group"), [(signal.SIGINT, False), (signal.SIGINT, True), (signal.SIGTERM, False)],
                         ids=["SIGINT-to-pytest", "SIGINT-to-process-group", "SIGTERM-to-pytest"])
def test_a_signalled_run_tears_its_stack_down(project: Path, state_dir: Path, runs: list[Run], sig: int,
                                              to_group: bool) -> None:
    run = start_run(project, state_dir, runs, "sleep", "signalled")
    info = wait_stack_up(run, state_dir)
    if to_group:  # what Ctrl-C in a terminal does: the whole foreground group (pytest and the launcher)
        os.killpg(run.popen.pid, sig)
    else:
        os.kill(run.popen.pid, sig)
    code = finish(run)
    text = run.text()
    assert code == pytest.ExitCode.INTERRUPTED, text
    assert "KeyboardInterrupt" in text, text
    assert_gone(info, state_dir, text)


# --- (e): SIGKILL, then something removes the leftovers --------------------------------------


def killed_run(project: Path, state_dir: Path, runs: list[Run]) -> dict[str, Any]:
    """A run SIGKILLed with its stack up; returns its info once its leftovers are found in the state dir."""
    run = start_run(project, state_dir, runs, "sleep", "killed")
    info = wait_stack_up(run, state_dir)
    os.kill(run.popen.pid, signal.SIGKILL)
    assert run.popen.wait(10) == -signal.SIGKILL

    # the launcher gets SIGTERM when pytest dies (PR_SET_PDEATHSIG) and takes the groups with it
    def only_servers_left() -> list[str]:
        alive = recorded_alive(info["processes"])
        return alive if alive and all(line.split()[0] in SERVERS for line in alive) else []

    alive = wait_for(only_servers_left, 15, what="only the servers (Redis, Toxiproxy, Prometheus, Alertmanager) "
                     "left after SIGKILL")
    assert sorted(line.split()[0] for line in alive) == SERVERS, alive

    found = {record.stack_id: live for record, live in state.list_stacks()}
    assert set(found) == {info["stack_id"]}, found
    assert sorted(p.role for p in found[info["stack_id"]]) == SERVERS
    return info


def test_after_sigkill_the_next_run_removes_the_leftovers(project: Path, state_dir: Path, runs: list[Run]) -> None:
    info = killed_run(project, state_dir, runs)
    # -s: the fixture's progress lines are otherwise swallowed by output capture (see test_plugin_stack.py)
    run = start_run(project, state_dir, runs, "pass", "next", "-s")
    code = finish(run)
    text = run.text()
    assert code == 0, text
    assert f"aisys-verify: removed {len(SERVERS)} leftover process(es) of stack {info['stack_id']}" in text, text
    assert_gone(info, state_dir, text)
    assert_gone(run.load_info(), state_dir, text)


def test_after_sigkill_aisys_verify_down_removes_the_leftovers(project: Path, state_dir: Path,
                                                                runs: list[Run]) -> None:
    info = killed_run(project, state_dir, runs)
    env = child_env(state_dir, project / "tmp")
    status = cli(["status"], env, project)
    assert status.returncode == 0 and info["stack_id"] in status.stdout, status
    assert "1 alertmanager, 1 prometheus, 2 redis, 1 toxiproxy" in status.stdout, status.stdout
    down = cli(["down"], env, project)
    assert down.returncode == 0, down
    killed = f"({len(SERVERS)} process(es) had to be killed)"
    assert f"aisys-verify: stopped stack {info['stack_id']} {killed}" in down.stdout, down
    assert_gone(info, state_dir, down.stdout + down.stderr)
    assert cli(["status"], env, project).stdout.strip() == "aisys-verify: no stacks running"


def test_after_sigkill_state_reap_removes_the_leftovers(project: Path, state_dir: Path, runs: list[Run]) -> None:
    info = killed_run(project, state_dir, runs)
    began = time.monotonic()
    reaped = state.reap()
    assert [(record.stack_id, sorted(p.role for p in procs)) for record, procs in reaped] == [
        (info["stack_id"], SERVERS)]
    assert time.monotonic() - began < 5
    assert_gone(info, state_dir)
    assert state.reap() == []
