"""Fixtures of the observability tests: a state dir per module and a leak guard (as in tests/stack): after the
module's last test, any Prometheus, Alertmanager, stand-in, Redis or Toxiproxy process still running from this
session's tmp dir is killed and fails the module."""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest
from stack_support import processes_under


@pytest.fixture(scope="module", autouse=True)
def module_state_dir(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Path]:
    folder = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AISYS_STATE_DIR", str(folder))
        yield folder


@pytest.fixture(scope="module", autouse=True)
def leak_guard(tmp_path_factory: pytest.TempPathFactory, module_state_dir: Path) -> Iterator[None]:
    base = tmp_path_factory.getbasetemp()
    yield
    leaked = processes_under(base)
    for pid, _ in leaked:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    assert not leaked, "processes left running by the observability tests (now killed):\n" + "\n".join(
        f"{pid}: {cmd}" for pid, cmd in leaked)
