"""Every command README.md and docs/ show, run as a new user types it (issue 18), in a fresh copy of the
checkout with ``../shared`` beside it and ``.venv`` linked to this interpreter's venv, so ``.venv/bin/...``
lines run word for word. Commands a document adds must be added to tests/adopt/documented.py (first test).
Bounded ones say how (``How.bounded``); ones that cannot run here say why (a skip naming the reason)."""

from __future__ import annotations

import json
import re
import shutil
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from adopt_support import REPO, child_env, kill_stack_processes
from documented import (
    BACKUP_CTK,
    COLLECTED,
    E2E_AT_ROOT,
    INVENTORY,
    LOAD,
    PENDING,
    PENDING_WHY,
    PYTEST,
    QUICK,
    STACK,
    STANDIN,
    How,
    documented_commands,
)

pytestmark = pytest.mark.integration
_IGNORE = shutil.ignore_patterns(".git", ".venv", "node_modules", "reports", "__pycache__", ".*_cache", "*.egg-info",
                                 ".hypothesis", "dist", "build")


@pytest.fixture(scope="module")
def clone(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Path, dict[str, str]]]:
    """A copy of the checkout as a fresh clone has it (no reports, no caches) and its environment."""
    base = tmp_path_factory.mktemp("clone")
    root = base / "aisys-verify"
    shutil.copytree(REPO, root, ignore=_IGNORE)
    (root / ".venv").symlink_to(Path(sys.prefix))
    (base / "shared").symlink_to(REPO.parent / "shared")
    state = base / "state"
    env = child_env(state, base / "tmp")
    env["PYTHONPATH"] = str(root)  # the copy's code, not the checkout's
    try:
        yield root, env
    finally:
        kill_stack_processes(state)


def sh(command: str, clone: tuple[Path, dict[str, str]], timeout: float = 240.0) -> subprocess.CompletedProcess[str]:
    root, env = clone
    return subprocess.run(["bash", "-c", command], cwd=root, env=env, capture_output=True, text=True,
                          timeout=timeout, check=False)


def _params(commands: list[str]) -> list[object]:
    """Each command once; a second one that differs only by the venv prefix (`.venv/bin/python -m pytest` vs
    `pytest`) is the same wiring run again: marked exhaustive (run with --exhaustive, not in CI's time)."""
    seen: set[str] = set()
    params: list[object] = []
    for command in commands:
        plain = re.sub(r"^(\.venv/bin/python -m |\.venv/bin/)", "", command)
        if plain in seen:
            params.append(pytest.param(command, marks=pytest.mark.exhaustive))
        elif command in QUICK and QUICK[command].slow:
            params.append(pytest.param(command, marks=pytest.mark.slow))
        else:
            params.append(command)
        seen.add(plain)
    return params


def check(result: subprocess.CompletedProcess[str], exits: tuple[int, ...] = (0,), expect: str = "") -> str:
    out = result.stdout + result.stderr
    assert result.returncode in exits, f"{result.args[-1]}: exit {result.returncode}, expected {exits}\n{out[-3000:]}"
    assert "Traceback (most recent call last)" not in out, out[-3000:]
    if expect:
        assert re.search(expect, out), f"{result.args[-1]}: no match for {expect!r} in\n{out[-3000:]}"
    return out


def test_every_documented_command_has_a_way_to_run() -> None:
    known = {*QUICK, *PYTEST, *STACK, *BACKUP_CTK, *LOAD, *INVENTORY, *STANDIN, *PENDING, E2E_AT_ROOT}
    shown = documented_commands(REPO)
    missing = {c: d for c, d in shown.items() if c not in known}
    assert not missing, "commands the docs show that tests/adopt/documented.py does not run:\n" + "\n".join(
        f"{d}: {c}" for c, d in missing.items())
    assert not known - set(shown), f"documented.py lists commands no document shows any more: {known - set(shown)}"


@pytest.mark.parametrize("command", PENDING)
def test_documented_command_not_run_yet(command: str) -> None:
    pytest.skip(f"{PENDING_WHY}: {command}")


@pytest.mark.parametrize("command", _params(list(QUICK)))
def test_documented_command(command: str, clone: tuple[Path, dict[str, str]]) -> None:
    how: How = QUICK[command]
    if how.run is None:
        pytest.skip(f"not run here: {how.why}")
    check(sh(how.run, clone), how.exit, how.expect)


@pytest.mark.parametrize("command", [pytest.param(c, marks=pytest.mark.slow) if slow else c
                                     for c, slow in PYTEST.items()])
def test_documented_pytest_command_is_wired(command: str, clone: tuple[Path, dict[str, str]]) -> None:
    """Bounded with --collect-only -q: the point is the wiring (options, markers, selection); the suites themselves
    run in scripts/main."""
    check(sh(f"{command} --collect-only -q -p no:cacheprovider", clone), (0,), COLLECTED)


@pytest.mark.parametrize("marker", ["e2e", *(pytest.param(m, marks=pytest.mark.slow)
                                              for m in ("chaos", "load", "slo", "conformance"))])
def test_pytest_dash_m_at_the_root_collects_that_suite(marker: str, clone: tuple[Path, dict[str, str]]) -> None:
    """`pytest -m MARKER` at the root (testpaths: tests/) collects that suite's tests, not 0 tests (exit 5)."""
    out = check(sh(f"pytest -m {marker} --collect-only -q -p no:cacheprovider", clone), (0,), COLLECTED)
    ids = [line for line in out.splitlines() if "::" in line]
    assert ids and all(line.startswith("suites/") for line in ids), out[-2000:]
    assert any(line.startswith(f"suites/{marker}/") for line in ids), out[-2000:]
    if marker == "e2e":  # once (the same run for every marker): an explicit path is kept
        plain = check(sh("pytest --collect-only -q -p no:cacheprovider tests/unit/test_errors.py -m 'not e2e'",
                         clone))
        assert all(not line.startswith("suites/") for line in plain.splitlines())


@pytest.mark.slow
def test_pytest_dash_m_e2e_at_the_root_passes(clone: tuple[Path, dict[str, str]]) -> None:
    out = check(sh(E2E_AT_ROOT, clone, timeout=600), (0,), r"\d+ passed")
    assert int(re.search(r"(\d+) passed", out).group(1)) >= 20, out[-2000:]  # type: ignore[union-attr]


def test_stack_commands_in_order(clone: tuple[Path, dict[str, str]]) -> None:
    """up, status, a chaos experiment and conformance against the running stack, down (docs/stack.md,
    docs/chaos.md, docs/conformance.md). Filled in: the stack id; SCENARIO = memory-latency; conformance
    --stack bounded with --check listens (every check runs in suites/conformance)."""
    up = check(sh(".venv/bin/aisys-verify up system", clone), (0,), r"stack \w+ up \(77 agents\)")
    stack_id = re.search(r"stack (\w+) up \(", up).group(1)  # type: ignore[union-attr]
    check(sh(".venv/bin/aisys-verify status", clone), (0,), rf"{stack_id} [\s\S]*agents: 77 ok")
    check(sh(f"aisys-verify chaos run scenarios/chaos/memory-latency.yaml --stack {stack_id}", clone), (0,),
          "completed")
    check(sh(f".venv/bin/aisys-verify conformance --stack {stack_id} --check listens", clone), (0,), "listens")
    check(sh(".venv/bin/aisys-verify down", clone), (0,), rf"stopped stack {stack_id}")
    check(sh(".venv/bin/aisys-verify status", clone), (0,), "no stacks running")


@pytest.mark.slow
def test_backup_and_chaos_toolkit_commands_in_order(clone: tuple[Path, dict[str, str]]) -> None:
    """README's backup and Chaos Toolkit commands against one running stack (STACK_ID and <id> filled in; the
    restore target /tmp/r emptied first): create, verify, restore, list; export + chaos validate; run the export."""
    root = clone[0]
    up = check(sh(".venv/bin/aisys-verify up system", clone), (0,), r"stack \w+ up \(77 agents\)")
    stack_id = re.search(r"stack (\w+) up \(", up).group(1)  # type: ignore[union-attr]
    try:
        shutil.rmtree("/tmp/r", ignore_errors=True)
        check(sh(BACKUP_CTK[0].replace("STACK_ID", stack_id), clone))
        assert (root / "backups" / "b1").is_dir()
        check(sh(BACKUP_CTK[1], clone))
        check(sh(BACKUP_CTK[2], clone))
        check(sh(BACKUP_CTK[3], clone), (0,), "b1")
        check(sh(BACKUP_CTK[4], clone))
        assert (root / "exp.json").is_file()
        out = check(sh(BACKUP_CTK[5].replace("<id>", stack_id), clone), (0,), r"journal: \S+\.json")
        journal = json.loads((root / re.search(r"journal: (\S+\.json)", out).group(1)).read_text())  # type: ignore[union-attr]
        assert journal["status"] == "completed" and journal["steady_states"]["before"]["steady_state_met"], out
    finally:
        shutil.rmtree("/tmp/r", ignore_errors=True)
        check(sh(f".venv/bin/aisys-verify down {stack_id}", clone), (0,), rf"stopped stack {stack_id}")


def test_load_commands_in_order(clone: tuple[Path, dict[str, str]]) -> None:
    """`aisys-verify load run spike` from the root (relative run folder: the Locust subprocess found no
    plan.json before), then show, and the SLO report of the run (RUN filled in, the optional parts left out)."""
    out = check(sh("aisys-verify load run spike", clone), (0,), r"results: \S+/results\.json")
    folder = Path(re.search(r"results: (\S+)/results\.json", out).group(1))  # type: ignore[union-attr]
    assert folder.is_relative_to(clone[0] / "reports" / "load") and folder.name.startswith("spike-")
    run = folder.relative_to(clone[0]).as_posix()
    check(sh(f".venv/bin/aisys-verify load show {run}", clone), (0,), "p99")
    check(sh(f".venv/bin/aisys-verify slo report {run}", clone), (0, 1), r"pass|fail|inconclusive")


@pytest.mark.slow
def test_load_http_bench_against_a_plain_url(clone: tuple[Path, dict[str, str]]) -> None:
    with socket.socket() as probe:
        if probe.connect_ex(("127.0.0.1", 8080)) == 0:
            pytest.skip("port 8080 is taken on this machine: the documented URL cannot be served here")
    server = subprocess.Popen([sys.executable, "-m", "http.server", "8080", "--bind", "127.0.0.1"],
                              cwd=clone[0] / "docs", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            with socket.socket() as probe:
                if probe.connect_ex(("127.0.0.1", 8080)) == 0:
                    break
            time.sleep(0.1)
        check(sh(".venv/bin/aisys-verify load run http-bench --url http://127.0.0.1:8080", clone), (0,), "req/s")
    finally:
        server.terminate()
        server.wait(10)


@pytest.mark.slow
def test_inventory_commands_in_order(clone: tuple[Path, dict[str, str]]) -> None:
    """init writes a template (addresses CHANGE-ME), check refuses it naming the file (exit 2), and the
    external run is wired (--collect-only: there is no deployment at CHANGE-ME)."""
    deploy = clone[0] / "deploy.yaml"
    for command in INVENTORY[:2]:
        deploy.unlink(missing_ok=True)
        check(sh(command, clone), (0,), "deploy.yaml")
        assert "CHANGE-ME" in deploy.read_text()
    check(sh(INVENTORY[2], clone), (2,), r"deploy\.yaml:\d+")
    check(sh(f"{INVENTORY[3]} --collect-only -q -p no:cacheprovider", clone), (0,), COLLECTED)


@pytest.mark.slow
def test_inventory_pytest_spelled_without_the_venv(clone: tuple[Path, dict[str, str]]) -> None:
    deploy = clone[0] / "deploy.yaml"
    if not deploy.is_file():
        check(sh(INVENTORY[1], clone), (0,), "deploy.yaml")
    check(sh(f"{INVENTORY[4]} --collect-only -q -p no:cacheprovider", clone), (0,), COLLECTED)


@pytest.mark.slow
def test_standin_run_and_healthcheck(clone: tuple[Path, dict[str, str]]) -> None:
    """One group run by hand (optional --plan left out) and its healthcheck: without the stack's Redis the
    agents report themselves degraded or down, each one named, exit 1 (PROTOCOL.md's readiness)."""
    root, env = clone
    group = subprocess.Popen(["bash", "-c", f"exec {STANDIN[0].split(' [')[0]}"], cwd=root, env=env,
                             stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True)
    try:
        assert group.stdout is not None
        deadline = time.monotonic() + 60
        line = ""
        while time.monotonic() < deadline and '"group_ready"' not in line:
            line = group.stdout.readline()
            assert line, "the stand-in group exited before it was ready"
        out = check(sh(STANDIN[1], clone), (0, 1))
        targets = {json.loads(row)["target"] for row in out.splitlines() if row.startswith("{")}
        assert targets == {"ServiceRegistry", "SystemDigitalTwin", "UnifiedSystemAgent"}, out
    finally:
        group.terminate()
        group.wait(20)
