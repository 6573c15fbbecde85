"""Helpers for the stack tests: finding a stack's processes, talking to agents, and running pytest
or the CLI in a subprocess with the state dir (and every temporary folder) under the test's tmp dir.

Nothing here starts a process it does not also give a way to stop: ``stack_leftovers`` names what a
stack left running, ``kill_leftovers`` removes it (by pid, after checking the command line).
"""

from __future__ import annotations

import contextlib
import http.client
import json
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterable, Iterator, Mapping
from pathlib import Path
from typing import Any, TypeVar

import pytest

from aisys_verify.stack.state import cmdline  # the one reader of /proc/PID/cmdline
from aisys_verify.standin.client import request_once

REPO = Path(__file__).resolve().parents[1]
SYSTEM_SPEC = REPO / "system"
TEST_SOURCE = "pytest-stack"

T = TypeVar("T")


# --- a state dir of one's own -------------------------------------------------------------------


@contextlib.contextmanager
def state_dir_env(folder: Path) -> Iterator[Path]:
    """AISYS_STATE_DIR is ``folder`` for the block: in-process stacks, child runs and state.reap() see only it,
    never the stacks other runs keep on this machine."""
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AISYS_STATE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module", autouse=True)
def module_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    """A state dir per test module (autouse where a conftest imports it: tests/stack, tests/compose)."""
    with state_dir_env(tmp_path_factory.mktemp("state")) as folder:
        yield folder


# --- processes -----------------------------------------------------------------------------


def is_zombie(pid: int) -> bool:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] == "Z"
    except (OSError, IndexError):
        return False


def recorded_alive(processes: Iterable[Mapping[str, Any]]) -> list[str]:
    """The recorded processes ({pid, marker, role}) still running, as 'role pid: cmdline' lines."""
    alive = []
    for proc in processes:
        line = cmdline(int(proc["pid"]))
        if proc["marker"] in line and not is_zombie(int(proc["pid"])):
            alive.append(f"{proc.get('role', '?')} {proc['pid']}: {line}")
    return alive


def pgrep(pattern: str) -> list[str]:
    """``pgrep -af PATTERN`` (extended regex), without pgrep itself, this process, or zombies."""
    out = subprocess.run(["pgrep", "-af", pattern], capture_output=True, text=True, check=False).stdout
    found = []
    for line in out.splitlines():
        pid = int(line.split(maxsplit=1)[0])
        if pid != os.getpid() and not is_zombie(pid):
            found.append(line)
    return found


def network_pattern(network: str) -> str:
    """A pgrep regex for anything bound to one stack's 127.a.b.x network (Redis titles, Toxiproxy -host)."""
    return re.escape(network + ".")


def stack_leftovers(stack_id: str, network: str, processes: Iterable[Mapping[str, Any]]) -> list[str]:
    """Everything of one stack still running: recorded processes by pid+marker, and pgrep by id and network."""
    found = [f"recorded {line}" for line in recorded_alive(processes)]
    found += [f"pgrep {stack_id}: {line}" for line in pgrep(stack_id)]
    found += [f"pgrep {network}.: {line}" for line in pgrep(network_pattern(network))]
    return found


def kill_leftovers(stack_id: str, network: str, processes: Iterable[Mapping[str, Any]]) -> None:
    """SIGKILL whatever ``stack_leftovers`` finds (cleanup after a failed assertion)."""
    pids = {int(p["pid"]) for p in processes if p["marker"] in cmdline(int(p["pid"]))}
    for pattern in (stack_id, network_pattern(network) if network else ""):
        if pattern:
            pids |= {int(line.split(maxsplit=1)[0]) for line in pgrep(pattern)}
    for pid in pids - {os.getpid()}:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)


def processes_under(base: Path) -> list[tuple[int, str]]:
    """Live processes (not this one) whose command line, cwd or stdout names ``base``."""
    needle = str(base).rstrip("/") + "/"  # pytest-9/ must not match pytest-99/
    found = []
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        pid = int(entry)
        line = cmdline(pid)
        if not line or is_zombie(pid):
            continue
        places = [line]
        for link in ("cwd", "fd/1"):
            with contextlib.suppress(OSError):
                places.append(os.readlink(f"/proc/{pid}/{link}"))
        if any(needle in place for place in places) and any(name in line for name in SERVER_NAMES):
            found.append((pid, line))
    return found


# what a stack runs: stand-ins, and the servers beside them (Redis, Toxiproxy, Prometheus, Alertmanager)
SERVER_NAMES = ("aisys_verify", "redis-server", "toxiproxy", "prometheus", "alertmanager")


def guard_leaks(base: Path, what: str) -> None:
    """Kill what ``processes_under(base)`` finds and fail naming it: a teardown bug cannot hide behind a pass."""
    leaked = processes_under(base)
    for pid, _ in leaked:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    assert not leaked, f"processes left running by {what} (now killed):\n" + "\n".join(
        f"{pid}: {cmd}" for pid, cmd in leaked)


def record_files(state_dir: Path) -> list[Path]:
    return sorted(state_dir.glob("*.json")) if state_dir.is_dir() else []


def read_records(state_dir: Path) -> list[dict[str, Any]]:
    records = []
    for path in record_files(state_dir):
        with contextlib.suppress(OSError, ValueError):
            records.append(json.loads(path.read_text(encoding="utf-8")))
    return records


# --- talking to agents ---------------------------------------------------------------------


def zmq_request(url: str, message: dict[str, Any], timeout: float = 30.0) -> dict[str, Any] | None:
    """One REQ/REP exchange; the parsed reply, or None when none came within ``timeout``."""
    try:
        return request_once(url, message, timeout)
    except TimeoutError:
        return None


def http_json(address: str, port: int, method: str, path: str, body: Any = None,
              timeout: float = 30.0) -> tuple[int, dict[str, Any]]:
    conn = http.client.HTTPConnection(address, port, timeout=timeout)
    try:
        conn.request(method, path, body=None if body is None else json.dumps(body).encode(),
                     headers={"Content-Type": "application/json"})
        response = conn.getresponse()
        data = response.read()
    finally:
        conn.close()
    parsed = json.loads(data) if data else {}
    assert isinstance(parsed, dict), data[:300]
    return response.status, parsed


# --- subprocesses ----------------------------------------------------------------------------


def child_env(state_dir: Path, tmp: Path, **extra: str) -> dict[str, str]:
    """The environment for a child run: our state dir, temporary folders under ``tmp``, no ambient config."""
    tmp.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items()
           if k not in ("AISYS_SPEC", "AISYS_SPEC_VARS", "AISYS_LINT_FAIL_ON", "PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER",
                        "PYTEST_CURRENT_TEST")}
    env.update(AISYS_STATE_DIR=str(state_dir), TMPDIR=str(tmp), PYTHONDONTWRITEBYTECODE="1", **extra)
    return env


def cli(args: list[str], env: Mapping[str, str], cwd: Path, timeout: float = 90.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aisys_verify", *args], env=dict(env), cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, check=False)


def pytest_cmd(*args: str) -> list[str]:
    """A child pytest: Hypothesis's plugin and the cache left out (they only slow the run down)."""
    return [sys.executable, "-m", "pytest", "-p", "no:hypothesispytest", "-p", "no:cacheprovider", *args]
