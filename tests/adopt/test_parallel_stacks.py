"""Parallel jobs on one machine never disturb each other (issue 18): ``aisys-verify down`` without an id stops
only what this user started from this project folder, or what is orphaned (its owner is gone); ``--all`` stops
everything. Two stacks of two projects share one state folder, as two CI jobs of one runner do."""

from __future__ import annotations

import os
import signal
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from adopt_support import child_env, cli, kill_stack_processes, stack_id_of

from aisys_verify.spec.synthetic import write_synthetic_spec
from aisys_verify.stack import state

pytestmark = pytest.mark.integration


@pytest.fixture
def projects(tmp_path: Path, state_dir: Path) -> Iterator[tuple[Path, Path, Path, dict[str, str]]]:
    """Two project folders (each with its pyproject.toml), a tiny spec, and the child environment."""
    first, second = tmp_path / "job-a", tmp_path / "job-b"
    for folder in (first, second):
        folder.mkdir()
        (folder / "pyproject.toml").write_text("[project]\nname = 'job'\n")
    spec = write_synthetic_spec(tmp_path / "spec", agents=3)
    try:
        yield first, second, spec, child_env(state_dir, tmp_path / "tmp")
    finally:
        kill_stack_processes(state_dir)


def _healthy(stack_id: str, env: dict[str, str], cwd: Path) -> bool:
    """Every agent of the stack answers health (aisys-verify probe --stack exits 0)."""
    return cli(["probe", "--stack", stack_id, "--timeout", "5"], env, cwd).returncode == 0


def _running(state_dir: Path) -> set[str]:
    return {record.stack_id for record, live in state.list_stacks() if live}


def test_down_without_id_stops_only_this_projects_stacks(projects: tuple[Path, Path, Path, dict[str, str]],
                                                         state_dir: Path) -> None:
    first, second, spec, env = projects
    a = stack_id_of(cli(["up", str(spec)], env, first))
    b = stack_id_of(cli(["up", str(spec)], env, second))
    assert _running(state_dir) == {a, b}
    records = {r.stack_id: r for r, _ in state.list_stacks()}
    assert records[a].project == str(first.resolve()) and records[b].project == str(second.resolve())
    assert records[a].uid == records[b].uid == os.getuid()

    # job B cleans up: its own stack goes, job A's keeps serving
    down = cli(["down"], env, second)
    assert down.returncode == 0, down
    assert f"stopped stack {b}" in down.stdout and a not in down.stdout.split("left")[0], down.stdout
    assert f"left 1 running stack(s) of other projects or users: {a}" in down.stdout, down.stdout
    assert _running(state_dir) == {a} and _healthy(a, env, first)

    # the reaper every stand-up runs (here in this process, a third party) spares a stack whose owner lives
    assert state.reap() == [] and _healthy(a, env, first)

    # and the other way round: job B again, then job A's cleanup spares it
    b = stack_id_of(cli(["up", str(spec)], env, second))
    down = cli(["down"], env, first)
    assert down.returncode == 0 and f"stopped stack {a}" in down.stdout, down
    assert _running(state_dir) == {b} and _healthy(b, env, second)

    # an explicit id stops that stack wherever it came from
    down = cli(["down", b], env, first)
    assert down.returncode == 0 and f"stopped stack {b}" in down.stdout, down
    assert _running(state_dir) == set() and list(state_dir.glob("*.json")) == []


def test_down_stops_orphans_of_any_project_and_all_stops_everything(
        projects: tuple[Path, Path, Path, dict[str, str]], state_dir: Path) -> None:
    first, second, spec, env = projects
    a = stack_id_of(cli(["up", str(spec)], env, first))
    b = stack_id_of(cli(["up", str(spec)], env, second))
    # job B's supervisor dies (SIGKILL: no clean-up); its agents, Redis and Toxiproxy are orphans
    owner = next(r for r, _ in state.list_stacks() if r.stack_id == b).owner_pid
    os.kill(owner, signal.SIGKILL)
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and state.owner_running(next(r for r, _ in state.list_stacks()
                                                                     if r.stack_id == b)):
        time.sleep(0.05)
    down = cli(["down"], env, first)  # job A: its own stack and B's orphans, nothing else
    assert down.returncode == 0, down
    assert f"stopped stack {a}" in down.stdout and f"stopped stack {b}" in down.stdout, down.stdout
    assert _running(state_dir) == set()

    a = stack_id_of(cli(["up", str(spec)], env, first))
    b = stack_id_of(cli(["up", str(spec)], env, second))
    down = cli(["down", "--all"], env, first)
    assert down.returncode == 0, down
    assert f"stopped stack {a}" in down.stdout and f"stopped stack {b}" in down.stdout, down.stdout
    assert _running(state_dir) == set() and list(state_dir.glob("*.json")) == []
    bad = cli(["down", a, "--all"], env, first)
    assert bad.returncode == 2 and "not both" in bad.stderr, bad


def test_mine_or_orphaned_judges_user_project_and_owner(tmp_path: Path, state_dir: Path) -> None:
    """The rule itself, on records whose owner (this test process) is alive: each field decides alone."""
    import json

    here = tmp_path / "proj"
    (here / "sub" / "deeper").mkdir(parents=True)
    (here / "pytest.ini").write_text("[pytest]\n")
    assert state.project_root(here / "sub" / "deeper") == here  # a sub-folder belongs to the project
    mine = state.StackRecord("m1", "local", ["spec"], project=str(here))
    other_project = state.StackRecord("m2", "local", ["spec"], project=str(tmp_path))
    other_user = state.StackRecord("m3", "local", ["spec"], project=str(here), uid=os.getuid() + 1)
    # a record written by an older version (no uid, no project) whose owner still runs: not ours to stop
    mine.save()
    data = json.loads(mine.path.read_text())
    del data["uid"], data["project"]
    data["stack_id"] = "m4"
    (state_dir / "m4.json").write_text(json.dumps(data))
    legacy = state.StackRecord.load(state_dir / "m4.json")
    assert legacy is not None and legacy.uid is None and legacy.project is None
    state.LIVE_IN_THIS_PROCESS.update({"m1", "m2", "m3", "m4"})
    try:
        assert state.mine_or_orphaned(mine, here)
        assert not state.mine_or_orphaned(other_project, here)
        assert not state.mine_or_orphaned(other_user, here)
        assert not state.mine_or_orphaned(legacy, here)
    finally:
        state.LIVE_IN_THIS_PROCESS.difference_update({"m1", "m2", "m3", "m4"})
    gone = state.StackRecord("d1", "local", ["spec"], owner_pid=2**22 + 7, project=str(tmp_path), uid=0)
    assert state.mine_or_orphaned(gone, here)  # its owner is gone: an orphan, whoever started it
