"""Fixtures shared by the stand-in integration tests (helpers live in standin_integration_helpers.py).

``leak_guard`` runs once per session: after the last test it looks for any process still
running from this session's temporary folders (group processes carry those paths on their
command lines, redis-servers run in them), kills it by pid and fails, so a teardown bug cannot
hide behind a green run.
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from pathlib import Path

import pytest


def _ours(base: Path) -> list[tuple[int, str]]:
    found = []
    needle = f"{base}/".encode()  # the slash: pytest-7 must not match pytest-70
    for entry in os.listdir("/proc"):
        if not entry.isdigit() or int(entry) == os.getpid():
            continue
        with contextlib.suppress(OSError):
            cmdline = Path(f"/proc/{entry}/cmdline").read_bytes()
            # redis-server rewrites its title, but it runs in its --dir, under our temp folder
            cwd = os.readlink(f"/proc/{entry}/cwd").encode()
            if (needle in cmdline or cwd.startswith(needle)) and (
                    b"aisys_verify.standin" in cmdline or b"redis-server" in cmdline):
                found.append((int(entry), cmdline.replace(b"\0", b" ").decode(errors="replace")))
    return found


@pytest.fixture(scope="session", autouse=True)
def leak_guard(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    base = tmp_path_factory.getbasetemp()
    yield
    leaked = _ours(base)
    for pid, _ in leaked:
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    assert not leaked, "processes left running by the stand-in tests (now killed):\n" + "\n".join(
        f"{pid}: {cmd}" for pid, cmd in leaked)
