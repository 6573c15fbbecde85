"""The CI workflows (issue 18): this repository's .github/workflows/ and the ones `aisys-verify init` writes
pass actionlint (with shellcheck on every run: script), zizmor (offline) and GitHub's workflow JSON schema
(check-jsonschema); remote actions are pinned by commit SHA; each checker is shown to catch a planted defect.
The tools come from scripts/system-deps (actionlint, shellcheck) and the lock (zizmor, check-jsonschema)."""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from adopt_support import BIN, REPO

from aisys_verify.scaffold import WORKFLOWS, workflow_files

OURS = REPO / ".github" / "workflows"


def _tool(name: str) -> str:
    found = shutil.which(name, path=f"{BIN}:/usr/local/bin:/usr/bin")
    assert found, f"{name} is not installed: run scripts/setup (scripts/system-deps, requirements/lock.txt)"
    return found


def _check(kind: str, files: list[Path]) -> subprocess.CompletedProcess[str]:
    args = {"actionlint": [_tool("actionlint"), "-shellcheck", _tool("shellcheck"), "-no-color"],
            "zizmor": [_tool("zizmor"), "--offline", "--no-progress", "--min-severity", "low"],
            "schema": [_tool("check-jsonschema"), "--builtin-schema", "vendor.github-workflows"]}[kind]
    return subprocess.run([*args, *map(str, files)], capture_output=True, text=True, timeout=120, check=False)


@pytest.fixture(scope="module")
def user_workflows(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    """The workflows `init` writes into a user's repository (the package's steps, not this checkout's)."""
    folder = tmp_path_factory.mktemp("user") / ".github" / "workflows"
    folder.mkdir(parents=True)
    for name, text in workflow_files().items():
        (folder / name).write_text(text)
    return sorted(folder.iterdir())


def test_this_repository_carries_every_workflow_in_step_with_the_templates() -> None:
    assert sorted(p.name for p in OURS.glob("*.yml")) == sorted(WORKFLOWS)
    done = subprocess.run([sys.executable, str(REPO / "scripts" / "sync-scaffold"), "--check"], capture_output=True,
                          text=True, timeout=60, check=False)
    assert done.returncode == 0, done.stderr


@pytest.mark.parametrize("kind", ["actionlint", "zizmor", "schema"])
@pytest.mark.parametrize("flavour", ["repository", "init"])
def test_every_workflow_passes(kind: str, flavour: str, user_workflows: list[Path]) -> None:
    files = sorted(OURS.glob("*.yml")) if flavour == "repository" else user_workflows
    done = _check(kind, files)
    assert done.returncode == 0, f"{kind} on {flavour} workflows:\n{done.stdout[-4000:]}\n{done.stderr[-2000:]}"


def test_remote_actions_are_pinned_by_commit_sha(user_workflows: list[Path]) -> None:
    uses = [(p.name, m.group(1)) for p in [*OURS.glob("*.yml"), *user_workflows]
            for m in re.finditer(r"uses:\s*(\S+)", p.read_text())]
    assert uses, "no remote action at all: the checkout step is gone?"
    loose = [u for u in uses if not re.fullmatch(r"[\w.-]+/[\w./-]+@[0-9a-f]{40}", u[1])]
    assert not loose, loose


# Mutations: each checker fails on a workflow with the defect it exists to catch.
_MUTANTS = {
    "actionlint": ("pytest -m e2e --junitxml reports/junit/e2e.xml", "pytest -m e2e --junitxml $UNQUOTED_DIR/e2e.xml"),
    "zizmor": ("run: .venv/bin/aisys-verify lint --fail-on error",
               "run: .venv/bin/aisys-verify lint --fail-on ${{ github.event.pull_request.title }}"),
    "schema": ("    runs-on: ubuntu-latest", "    runs-on: ubuntu-latest\n    timeout-minute: 30"),
}


@pytest.mark.parametrize("kind", sorted(_MUTANTS))
def test_each_checker_catches_its_planted_defect(kind: str, tmp_path: Path) -> None:
    text = (OURS / "pr-e2e.yml").read_text()
    old, new = _MUTANTS[kind]
    assert old in text, f"the mutation's anchor {old!r} is no longer in pr-e2e.yml"
    mutant = tmp_path / "pr-e2e.yml"
    mutant.write_text(text.replace(old, new, 1))
    done = _check(kind, [mutant])
    assert done.returncode != 0, f"{kind} passed a workflow with a planted defect:\n{done.stdout[-2000:]}"


def test_the_unpinned_action_mutant_is_caught_by_zizmor(tmp_path: Path) -> None:
    text = (OURS / "pr-e2e.yml").read_text()
    mutant = tmp_path / "pr-e2e.yml"
    mutant.write_text(re.sub(r"actions/checkout@[0-9a-f]{40}", "actions/checkout@v4", text))
    done = _check("zizmor", [mutant])
    assert done.returncode != 0 and "unpinned" in done.stdout, done.stdout[-2000:]
