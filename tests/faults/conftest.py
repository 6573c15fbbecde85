"""Fixtures for the chaos-engine tests: a small synthetic stack (30 agents on two hosts, with a
cross-host edge), stood up once per module with its state dir and work folder under tmp."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from aisys_verify.spec.synthetic import write_synthetic_spec


@pytest.fixture(scope="module")
def synthetic_spec(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_synthetic_spec(tmp_path_factory.mktemp("spec"), 30)


@pytest.fixture(scope="module")
def small_stack(synthetic_spec: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[object]:
    from aisys_verify.stack.local import LocalStack, StackOptions

    state = tmp_path_factory.mktemp("state")
    with pytest.MonkeyPatch.context() as mp:
        mp.setenv("AISYS_STATE_DIR", str(state))
        stack = LocalStack([str(synthetic_spec)], {"PORT_OFFSET": "0"},
                           StackOptions(workdir=tmp_path_factory.mktemp("work")), progress=lambda line: None)
        stack.start()
        try:
            yield stack
        finally:
            stack.stop()


@pytest.fixture(scope="module", autouse=True)
def leak_guard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """After each module: nothing started from this session's tmp dir may still run (killed, then failed)."""
    import contextlib
    import os
    import signal

    from stack_support import processes_under

    yield
    leaked = processes_under(tmp_path_factory.getbasetemp())
    for pid, _ in leaked:
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.kill(pid, signal.SIGKILL)
    assert not leaked, "processes left running by the chaos tests (now killed):\n" + "\n".join(
        f"{pid}: {cmd}" for pid, cmd in leaked)
