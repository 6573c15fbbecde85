"""The steps every mutation test shares: copy the default spec (system/ and compose/, since the manifest
points at ../compose), edit one agent's entry in a startup config, check the edit took (the mutated spec
loads and shows it), and run a suite file against the copy with ``--aisys-spec`` in a fresh pytest, which
stands it up. The stack must come up: a mutation that breaks the stand-up proves nothing about the suite.

Importable from any folder under tests/ (tests/conftest.py's folder is on sys.path)."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from aisys_verify import load_spec
from aisys_verify.spec.model import Agent

REPO = Path(__file__).resolve().parents[1]

Edit = Callable[[list[str], str], list[str]]  # (startup config lines, agent name) -> edited lines


def agent_header(lines: list[str], agent: str) -> int:
    """Index of the line that opens ``agent``'s entry: ``Name:`` (MainPC's mapping form) or
    ``- name: Name`` (PC2's list form)."""
    pattern = re.compile(rf"^\s*(?:{re.escape(agent)}:|- name:\s*['\"]?{re.escape(agent)}['\"]?)\s*(?:#.*)?$")
    found = [i for i, line in enumerate(lines) if pattern.match(line)]
    assert len(found) == 1, f"{agent}: expected one entry in the startup config, found lines {found}"
    return found[0]


def field_indent(lines: list[str], header: int) -> str:
    line = lines[header]
    if line.lstrip().startswith("- "):
        return " " * (len(line) - len(line.lstrip()) + 2)
    following = lines[header + 1]
    return following[:len(following) - len(following.lstrip())]


def entry_end(lines: list[str], header: int, indent: str) -> int:
    end = header + 1
    while end < len(lines) and (not lines[end].strip() or lines[end].startswith(indent)) \
            and not lines[end].lstrip().startswith("- name:"):
        end += 1
    return end


def insert_field(field: str) -> Edit:
    """An edit that adds ``field`` (one YAML line, e.g. ``role: generic``) as the entry's first field."""
    def edit(lines: list[str], agent: str) -> list[str]:
        header = agent_header(lines, agent)
        return [*lines[:header + 1], f"{field_indent(lines, header)}{field}", *lines[header + 1:]]
    return edit


def mutated_spec(tmp_path: Path, host: str, agent: str, edit: Edit, took: Callable[[Agent], bool]) -> Path:
    shutil.copytree(REPO / "system", tmp_path / "system")
    shutil.copytree(REPO / "compose", tmp_path / "compose")
    config = tmp_path / "system" / host / "startup_config.yaml"
    lines = config.read_text(encoding="utf-8").splitlines()
    config.write_text("\n".join(edit(lines, agent)) + "\n", encoding="utf-8")
    found = load_spec([tmp_path / "system"]).find_agent(agent, host)
    assert found is not None and took(found), f"the mutation of {host}/{agent} did not take"
    return tmp_path / "system"


@dataclass(frozen=True)
class SuiteRun:
    returncode: int
    output: str  # stdout and stderr
    shown: str  # the output's tail, to end a failure message with


def run_suite(spec: Path, pytest_args: list[str], timeout: float) -> SuiteRun:
    """``pytest PYTEST_ARGS --aisys-spec SPEC`` in a fresh process with no AISYS_/PYTEST_ settings of ours."""
    args = [sys.executable, "-m", "pytest", *pytest_args, "-p", "no:cacheprovider", "-q",
            "-o", "console_output_style=classic", "--aisys-spec", str(spec)]
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AISYS_", "PYTEST_"))}
    run = subprocess.run(args, cwd=REPO, env=env, capture_output=True, text=True, timeout=timeout)
    output = run.stdout + run.stderr
    shown = f"\n--- output of {' '.join(args[2:])} ---\n{output[-6000:]}"
    assert "ready in" in output and "stack failed to start" not in output, \
        f"the mutated stack did not come up, which proves nothing about the suite:{shown}"
    return SuiteRun(run.returncode, output, shown)
