"""How the state records decide whose processes to remove: a live stack must never be reaped, a
process that merely has a dead owner's pid must never be signalled, and a dead owner is not waited for.

Each test writes its records into its own ``AISYS_STATE_DIR``; the stand-ins for "someone else's
process" are ``sleep`` processes this test starts (and kills by pid afterwards).
"""

from __future__ import annotations

import contextlib
import subprocess
import time
from collections.abc import Iterator
from dataclasses import asdict
from pathlib import Path

import pytest
from stack_support import child_env, cli, kill_leftovers, record_files

from aisys_verify.spec.synthetic import write_synthetic_spec
from aisys_verify.stack import LocalStack, StackOptions
from aisys_verify.stack.base import probe_health
from aisys_verify.stack.state import RecordedProcess, StackRecord

pytestmark = pytest.mark.integration


@pytest.fixture
def sleepers() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for popen in started:
        with contextlib.suppress(ProcessLookupError):
            popen.kill()
        popen.wait(5)


def sleeper(started: list[subprocess.Popen[bytes]], seconds: int) -> subprocess.Popen[bytes]:
    popen = subprocess.Popen(["sleep", str(seconds)])
    started.append(popen)
    return popen


def test_starting_a_second_stack_does_not_reap_a_live_stack_of_the_same_process(tmp_path: Path,
                                                                               state_dir: Path) -> None:
    """BUG (state.py _owner_alive / reap, called by LocalStack.start): a record whose owner is this very
    process counts as orphaned, so the second start() SIGTERMs/SIGKILLs every process of the first,
    still-running stack ("removed 6 leftover process(es) of stack <first>") and deletes its record."""
    spec = write_synthetic_spec(tmp_path / "spec", agents=4)
    lines: list[str] = []
    first = LocalStack([str(spec)], options=StackOptions(workdir=tmp_path / "first"), progress=lines.append)
    second = LocalStack([str(spec)], options=StackOptions(workdir=tmp_path / "second"), progress=lines.append)
    try:
        first.start()
        second.start()
        assert not [line for line in lines if "leftover" in line], lines
        assert first.launcher is not None and first.launcher.poll() is None
        assert first.record.path.exists()
        assert {v["status"] for v in probe_health(first).values()} == {"ok"}
        assert {v["status"] for v in probe_health(second).values()} == {"ok"}
        assert sorted(p.name for p in record_files(state_dir)) == sorted(
            [f"{first.stack_id}.json", f"{second.stack_id}.json"])
    finally:
        second.stop()
        first.stop()
        for stack in (first, second):
            kill_leftovers(stack.stack_id, stack.network, [asdict(p) for p in stack.record.processes])


def test_down_does_not_signal_a_process_that_now_has_a_dead_owners_pid(tmp_path: Path, state_dir: Path,
                                                                       sleepers: list[subprocess.Popen[bytes]]) -> None:
    """BUG (cli.py cmd_down): it sends SIGTERM to ``record.owner_pid`` without checking that the pid is
    still the pytest run or `up` supervisor that wrote the record; after the owner was SIGKILLed and its
    pid reused, `aisys-verify down` terminates an unrelated process. (state._owner_alive has the same
    blind spot: such a record is never reaped by the next run.)"""
    unrelated = sleeper(sleepers, 60)  # stands in for whatever process got the dead owner's pid
    leftover = sleeper(sleepers, 61)
    StackRecord("feedc0ffee", "local", ["spec"], owner_pid=unrelated.pid,
                processes=[RecordedProcess("redis", leftover.pid, "sleep 61")]).save()
    down = cli(["down"], child_env(state_dir, tmp_path / "tmp"), tmp_path)
    assert down.returncode == 0, down
    assert "stopped stack feedc0ffee" in down.stdout, down.stdout
    assert leftover.poll() is not None  # the recorded leftover is removed ...
    assert unrelated.poll() is None, f"aisys-verify down killed pid {unrelated.pid}, not a process of the stack"


def test_down_does_not_wait_for_an_owner_that_is_gone(tmp_path: Path, state_dir: Path,
                                                     sleepers: list[subprocess.Popen[bytes]]) -> None:
    """BUG (cli.py cmd_down): after the owner died (SIGKILL), down still waits its full 10 s for the owner
    to remove the record before killing the leftovers itself."""
    gone = subprocess.Popen(["true"])
    gone.wait()
    leftover = sleeper(sleepers, 62)
    StackRecord("deadbeef00", "local", ["spec"], owner_pid=gone.pid,
                processes=[RecordedProcess("redis", leftover.pid, "sleep 62")]).save()
    began = time.monotonic()
    down = cli(["down"], child_env(state_dir, tmp_path / "tmp"), tmp_path)
    took = time.monotonic() - began
    assert down.returncode == 0, down
    assert leftover.poll() is not None and record_files(state_dir) == []
    assert took < 6.0, f"aisys-verify down took {took:.1f} s for a stack whose owner is long gone"


def test_down_returns_only_after_the_owner_has_exited(tmp_path: Path, state_dir: Path) -> None:
    """BUG (cli.py cmd_down, seen in CI): down returned as soon as the owner had removed the record, while
    the `up` supervisor was still shutting down, so a leak check right after `down` found it running.
    The owner here removes its record on SIGTERM, then takes 1.5 s more to exit."""
    import sys

    from aisys_verify.stack.state import process_start_time, process_state, project_root

    owner_code = (
        "import os, signal, sys, time\n"
        "def stop(*_):\n"
        "    os.unlink(sys.argv[1]); time.sleep(1.5); sys.exit(0)\n"
        "signal.signal(signal.SIGTERM, stop)\n"
        "print('ready', flush=True)\n"
        "time.sleep(60)\n")
    record_path = state_dir / "0wner5low0.json"
    owner = subprocess.Popen([sys.executable, "-c", owner_code, str(record_path)], stdout=subprocess.PIPE, text=True)
    try:
        assert owner.stdout is not None and owner.stdout.readline().strip() == "ready"
        StackRecord("0wner5low0", "local", ["spec"], owner_pid=owner.pid, owner_start=process_start_time(owner.pid),
                    project=str(project_root(tmp_path))).save()  # started from the folder 'down' runs in
        down = cli(["down"], child_env(state_dir, tmp_path / "tmp"), tmp_path)
        assert down.returncode == 0, down
        assert "stopped stack 0wner5low0" in down.stdout, down.stdout
        # exited (a zombie until this test, its parent, reaps it), not still shutting down
        assert process_state(owner.pid) in (None, "Z"), f"down returned while its owner still ran: {down.stdout}"
    finally:
        owner.kill()
        owner.wait(5)
