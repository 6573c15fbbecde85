"""Fixtures for the stack tests.

Every module gets its own ``AISYS_STATE_DIR`` under the session's tmp dir, so these tests never see
(or reap) the stacks other runs keep on this machine, and a leak guard: after the module's last
test it looks for any stand-in, Redis or Toxiproxy process still running from this session's tmp
dir, kills it by pid and fails, so a teardown bug cannot hide behind a green run. Tests that stand a
stack up in-process give it a workdir under tmp_path (so its processes name that folder); children
run with TMPDIR under tmp_path (so their stacks' workdirs do too).
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from stack_support import (
    guard_leaks,
    module_state_dir,  # noqa: F401  (the fixture, autouse: a state dir per module)
)


@pytest.fixture(scope="module", autouse=True)
def leak_guard(tmp_path_factory: pytest.TempPathFactory,
               module_state_dir: Path) -> Iterator[None]:  # noqa: F811  (the fixture)
    base = tmp_path_factory.getbasetemp()
    yield
    guard_leaks(base, "the stack tests")
