"""Helpers of the adoption tests: child runs of the CLI and pytest with this test's own state and temp folders."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
BIN = Path(sys.executable).parent  # the venv's bin folder: where `pytest` and `aisys-verify` are installed


def child_env(state_dir: Path, tmp: Path, **extra: str) -> dict[str, str]:
    """Our state dir, temporary folders under ``tmp``, no ambient aisys/pytest settings; this checkout first on
    the path (so a child runs the code under test, not an older installed copy)."""
    tmp.mkdir(parents=True, exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AISYS_", "PYTEST_"))}
    env.update(AISYS_STATE_DIR=str(state_dir), TMPDIR=str(tmp), PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=os.pathsep.join([str(REPO), *filter(None, [os.environ.get("PYTHONPATH")])]),
               PATH=os.pathsep.join([str(BIN), os.environ.get("PATH", "")]), **extra)
    return env


def cli(args: list[str], env: Mapping[str, str], cwd: Path, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aisys_verify", *args], env=dict(env), cwd=cwd, capture_output=True,
                          text=True, timeout=timeout, check=False)


def stack_id_of(up: subprocess.CompletedProcess[str]) -> str:
    found = re.search(r"stack (\w+) up \(", up.stdout)
    assert up.returncode == 0 and found, f"aisys-verify up failed (exit {up.returncode}):\n{up.stdout}\n{up.stderr}"
    return found.group(1)


def kill_stack_processes(state_dir: Path) -> None:
    """Last-resort cleanup: every process still recorded in ``state_dir`` (checked by its command line)."""
    from aisys_verify.stack.state import StackRecord, kill_recorded

    for path in sorted(state_dir.glob("*.json")):
        record = StackRecord.load(path)
        if record is None:
            continue
        kill_recorded(record, grace=1.0)
        if record.owner_pid != os.getpid() and "aisys_verify.stack.daemon" in _cmdline(record.owner_pid):
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.kill(record.owner_pid, signal.SIGKILL)
        path.unlink(missing_ok=True)


def _cmdline(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
    except OSError:
        return ""
