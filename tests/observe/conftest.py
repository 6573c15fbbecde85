"""Fixtures of the observability tests: a state dir per module and a leak guard (as in tests/stack): after the
module's last test, any Prometheus, Alertmanager, stand-in, Redis or Toxiproxy process still running from this
session's tmp dir is killed and fails the module."""

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
    guard_leaks(base, "the observability tests")
