"""Helpers of the external-backend tests: child CLI and pytest runs with this test's own state dir."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
def child_env(tmp_path: Path, state_dir: Path) -> dict[str, str]:
    """The environment of a child run: our state dir and tmp, the repository importable, no ambient config."""
    tmp = tmp_path / "tmp"
    tmp.mkdir(exist_ok=True)
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AISYS_", "PYTEST_"))}
    env.update(AISYS_STATE_DIR=str(state_dir), TMPDIR=str(tmp), PYTHONDONTWRITEBYTECODE="1",
               PYTHONPATH=os.pathsep.join(p for p in (str(ROOT), env.get("PYTHONPATH", "")) if p))
    return env


def cli(args: list[str], env: Mapping[str, str], timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "aisys_verify", *args], env=dict(env), cwd=ROOT,
                          capture_output=True, text=True, timeout=timeout, check=False)


def run_pytest(args: list[str], env: Mapping[str, str], timeout: float = 600.0) -> subprocess.CompletedProcess[str]:
    """A child pytest in the repository (its ini: the system spec); Hypothesis and the cache left out."""
    return subprocess.run([sys.executable, "-m", "pytest", "-p", "no:hypothesispytest", "-p", "no:cacheprovider",
                           *args], env=dict(env), cwd=ROOT, capture_output=True, text=True, timeout=timeout,
                          check=False)
