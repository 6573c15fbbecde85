"""The suites against deployments that already run, through the external backend:

* a stack of ``aisys-verify up`` (local backend), through the inventory.yaml it writes;
* a process deployment started by a shell script configured only by environment variables (no aisys-verify
  process involved), through an inventory written here; cross-host turns included;
* a compose stack (``aisys-verify up --backend compose``) through Docker: group kill/restart with efficacy,
  and network faults skipped naming 'network' (failing under --aisys-strict-capabilities) when the inventory
  declares no Toxiproxy.

Every stack or process group started here is stopped in teardown, whatever happened.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
import yaml

from conftest import ROOT, cli, run_pytest

pytestmark = pytest.mark.integration

# conformance over all 77 agents takes about 30 s on a quiet machine: here a few agents of each host
CONFORMANCE_AGENTS = "e2e or ServiceRegistry or MemoryOrchestratorService or UnifiedWebAgent"


def _summary(proc: subprocess.CompletedProcess[str]) -> str:
    return (proc.stdout + proc.stderr)[-4000:]


@contextlib.contextmanager
def _stack_up(args: list[str], env: dict[str, str]) -> Iterator[Path]:
    """``aisys-verify up ARGS``; yields the inventory it printed; ``aisys-verify down`` always."""
    try:
        up = cli(["up", *args], env, timeout=900)
        assert up.returncode == 0, _summary(up)
        found = re.search(r"inventory: (\S+/inventory\.yaml)", up.stdout)
        assert found, up.stdout
        yield Path(found.group(1))
    finally:
        down = cli(["down"], env, timeout=300)
        assert down.returncode == 0, _summary(down)


def test_suites_pass_against_a_stack_of_aisys_verify_up(child_env: dict[str, str]) -> None:
    with _stack_up(["system", "--health-timeout", "120"], child_env) as inventory:
        data = yaml.safe_load(inventory.read_text())
        assert sorted(data["hosts"]) == ["mainpc", "pc2"] and data["toxiproxy"]["proxies"]
        assert all(h["processes"] and h["redis"].startswith("redis://") for h in data["hosts"].values())
        check = cli(["inventory", "check", str(inventory), "system"], child_env)
        assert check.returncode == 0, _summary(check)
        shifted = inventory.with_name("shifted.yaml")  # the right hosts, the wrong PORT_OFFSET: nothing answers
        data["hosts"]["mainpc"]["vars"] = {"PORT_OFFSET": "1000"}
        shifted.write_text(yaml.safe_dump(data), encoding="utf-8")
        wrong = cli(["inventory", "check", str(shifted), "system"], child_env)
        assert wrong.returncode == 2 and "Traceback" not in wrong.stderr, _summary(wrong)
        assert "hosts.mainpc.address: nothing answers" in wrong.stderr, _summary(wrong)
        assert "(now 1000; if the host runs with another, set hosts.mainpc.vars.PORT_OFFSET)" in wrong.stderr
        proc = run_pytest(["suites/e2e", "suites/conformance", "-m", "e2e or conformance", "-k", CONFORMANCE_AGENTS,
                           "--aisys-backend=external", f"--aisys-inventory={inventory}"], child_env)
        assert proc.returncode == 0, _summary(proc)
        assert re.search(r"\d+ passed", proc.stdout) and " failed" not in proc.stdout, _summary(proc)


@pytest.fixture
def process_deployment(tmp_path: Path) -> Iterator[Path]:
    """tests/external/start-processes.sh in its own process group; the whole group killed at the end."""
    if shutil.which("redis-server") is None:
        pytest.skip("redis-server is not installed (scripts/system-deps)")
    import random

    network = f"127.{random.randint(10, 250)}.{random.randint(1, 250)}"
    workdir = tmp_path / "deployment"
    env = {**os.environ, "PYTHON": os.environ.get("PYTHON", __import__("sys").executable),
           "PYTHONPATH": str(ROOT)}
    log = tmp_path / "start-processes.log"  # not a pipe: the processes it leaves running would hold it open
    with log.open("w") as out:
        script = subprocess.Popen(["bash", str(ROOT / "tests/external/start-processes.sh"), str(workdir), network],
                                  env=env, start_new_session=True, stdout=out, stderr=subprocess.STDOUT)
    try:
        assert script.wait(timeout=180) == 0, log.read_text()
        inventory = tmp_path / "inventory.yaml"
        hosts: dict[str, dict[str, object]] = {}
        for line in (workdir / "redis.tsv").read_text().splitlines():
            host, address, port, _pid = line.split("\t")
            hosts[host] = {"address": address, "vars": {"PORT_OFFSET": 0}, "redis": f"redis://{address}:{port}/0",
                           "processes": {}}
        for line in (workdir / "groups.tsv").read_text().splitlines():
            host, group, pid = line.split("\t")
            hosts[host]["processes"][group] = int(pid)  # type: ignore[index]
        inventory.write_text(yaml.safe_dump({"hosts": hosts}), encoding="utf-8")
        yield inventory
    finally:
        _kill_group(script.pid)


def _kill_group(pgid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGTERM)
    deadline = time.monotonic() + 15
    while time.monotonic() < deadline:
        try:
            os.killpg(pgid, 0)
        except ProcessLookupError:
            return
        time.sleep(0.2)
    with contextlib.suppress(ProcessLookupError):
        os.killpg(pgid, signal.SIGKILL)


def test_e2e_passes_against_processes_configured_only_by_environment(process_deployment: Path,
                                                                     child_env: dict[str, str]) -> None:
    deadline = time.monotonic() + 240  # the script returns once every group is launched, not healthy
    while True:
        check = cli(["inventory", "check", str(process_deployment), "system", "--health-timeout", "60"], child_env)
        if check.returncode == 0 or time.monotonic() > deadline:
            break
        time.sleep(2)
    assert check.returncode == 0, _summary(check)
    assert "can: kill, pause, redis" in check.stdout, check.stdout  # pids: kill and pause, nobody to restart
    proc = run_pytest(["suites/e2e", "suites/conformance", "-m", "e2e or conformance", "-k", CONFORMANCE_AGENTS,
                       "-v", "--aisys-backend=external", f"--aisys-inventory={process_deployment}"], child_env)
    assert proc.returncode == 0, _summary(proc)
    assert re.search(r"test_cross_host.py::test_mainpc_dialogue_uses_pc2_memory PASSED", proc.stdout), _summary(proc)
    assert re.search(r"test_cross_host.py::test_stored_on_pc2_is_read_on_mainpc PASSED", proc.stdout), _summary(proc)
    assert "missing capability restart" in proc.stdout, _summary(proc)


def test_chaos_through_docker_on_a_compose_deployment(child_env: dict[str, str], tmp_path: Path) -> None:
    from aisys_verify.stack.images import docker_usable

    if docker_usable() is not None:
        pytest.skip(f"no usable Docker: {docker_usable()}")
    with _stack_up(["--backend", "compose", "system", "--health-timeout", "180"], child_env) as inventory:
        data = yaml.safe_load(inventory.read_text())
        assert all(h["docker"]["containers"] for h in data["hosts"].values()), data
        groups = run_pytest(["suites/chaos/test_groups.py", "-v", "-k", "pc2/memory_stack or mainpc/memory_stack",
                             "--aisys-backend=external", f"--aisys-inventory={inventory}"], child_env)
        assert groups.returncode == 0, _summary(groups)
        assert groups.stdout.count(" PASSED") == 2, _summary(groups)
        _pause_through_docker(inventory, "pc2/memory_stack")
        bare = tmp_path / "no-toxiproxy.yaml"  # the same deployment, no Toxiproxy declared
        bare.write_text(yaml.safe_dump({k: v for k, v in data.items() if k != "toxiproxy"}), encoding="utf-8")
        args = ["suites/chaos/test_partition.py", "-rs", "--aisys-backend=external", f"--aisys-inventory={bare}"]
        skipped = run_pytest(args, child_env)
        assert skipped.returncode == 0 and "1 skipped" in skipped.stdout, _summary(skipped)
        assert "missing capability network" in skipped.stdout, _summary(skipped)
        strict = run_pytest([*args, "--aisys-strict-capabilities"], child_env)
        assert strict.returncode == 1 and "1 failed" in strict.stdout, _summary(strict)
        assert "ChaosUnsupported" in strict.stdout and "network fault" in strict.stdout, _summary(strict)


def _pause_through_docker(inventory: Path, group: str) -> None:
    """The chaos engine's pause (docker pause), its efficacy check and the recovery, in this process."""
    from aisys_verify.faults.chaos import Chaos
    from aisys_verify.stack.base import StackOptions
    from aisys_verify.stack.external import ExternalStack

    stack = ExternalStack([str(ROOT / "system")], {}, StackOptions(inventory=inventory, health_timeout=120),
                          progress=lambda _: None)
    stack.start()
    try:
        assert {"kill", "restart", "pause"} <= stack.capabilities, stack.capabilities
        with Chaos(stack, recovery_timeout=120).pause(group) as fault:
            assert stack.group_paused(*group.split("/")) and stack.paused_groups() == [tuple(group.split("/"))]
        assert fault.efficacy is not None and fault.efficacy.effective, fault.efficacy
        assert fault.recovery_s is not None and stack.paused_groups() == []
    finally:
        stack.stop()
