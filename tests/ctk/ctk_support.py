"""Helpers of the Chaos Toolkit tests: run ``chaos`` (chaostoolkit's CLI) in a child process that imports this
checkout's aisys_verify."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Mapping
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def chaos_cmd(*args: str) -> list[str]:
    return [sys.executable, "-m", "chaostoolkit", "--no-log-file", *args]


def chaos_env(base: Mapping[str, str] | None = None, **extra: str) -> dict[str, str]:
    env = dict(base if base is not None else os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), *filter(None, [env.get("PYTHONPATH")])])
    env.update(extra)
    return env


def chaos(args: list[str], cwd: Path, env: Mapping[str, str] | None = None,
          timeout: float = 120) -> subprocess.CompletedProcess[str]:
    return subprocess.run(chaos_cmd(*args), cwd=cwd, env=chaos_env(env), capture_output=True, text=True,
                          timeout=timeout, check=False)


def need_chaostoolkit() -> None:
    pytest.importorskip("chaoslib", reason="the 'ctk' extra (chaostoolkit) is not installed")
    pytest.importorskip("chaostoolkit")


def export(scenario: Path, out: Path, env: Mapping[str, str] | None = None) -> Path:
    run = subprocess.run([sys.executable, "-m", "aisys_verify", "chaos", "export", str(scenario), "-o", str(out)],
                         env=chaos_env(env), capture_output=True, text=True, timeout=60, check=False)
    assert run.returncode == 0, run.stdout + run.stderr
    return out
