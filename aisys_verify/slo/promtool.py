"""Write generated SLO rules (and their promtool unit tests) to a folder, and run Prometheus's ``promtool``
on them: ``promtool check rules`` (syntax, PromQL, duplicate rules) and ``promtool test rules`` (the
generated suites of aisys_verify.slo.ruletests).

promtool comes with Debian's ``prometheus`` package (scripts/system-deps installs it); where it is missing,
the functions raise CapabilityMissing (capability ``promtool``) rather than pass.
"""

from __future__ import annotations

import os
import shutil
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from aisys_verify.errors import CapabilityMissing, PromtoolFailed
from aisys_verify.slo.alerts import RuleSet

__all__ = ["Written", "promtool", "promtool_check", "promtool_test", "write_rules"]

RULES_FILE = "slo-rules.yml"
TESTS_DIR = "promtool-tests"


def promtool() -> str:
    """The promtool executable (``$AISYS_PROMTOOL`` or the one on PATH)."""
    found = os.environ.get("AISYS_PROMTOOL") or shutil.which("promtool")
    if not found:
        raise CapabilityMissing("promtool is not installed: install Debian's 'prometheus' package "
                                "(scripts/system-deps does) or set AISYS_PROMTOOL", "promtool")
    return found


def _run(args: list[str], cwd: Path | None, timeout: float) -> str:
    command = [promtool(), *args]
    try:
        done = subprocess.run(command, cwd=cwd, capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired as exc:
        raise PromtoolFailed(command, f"no result within {timeout:g} s (raise the timeout on a busy machine)"
                             ) from exc
    output = (done.stdout + done.stderr).strip()
    if done.returncode != 0:
        raise PromtoolFailed(command, output)
    return output


def promtool_check(paths: Sequence[str | os.PathLike[str]], timeout: float = 120.0) -> str:
    """``promtool check rules PATH...``: its output ("SUCCESS: N rules found" per file); PromtoolFailed if not."""
    return _run(["check", "rules", *map(str, paths)], None, timeout)


def promtool_test(paths: Sequence[str | os.PathLike[str]], timeout: float = 600.0) -> str:
    """``promtool test rules FILE...``, run in the files' folder (their ``rule_files`` are relative to it)."""
    files = [Path(p) for p in paths]
    if not files:
        raise PromtoolFailed(["promtool", "test", "rules"], "no test files: nothing would be tested")
    folder = files[0].resolve().parent
    return _run(["test", "rules", *(str(f.resolve().relative_to(folder)) for f in files)], folder, timeout)


@dataclass(frozen=True)
class Written:
    """What :func:`write_rules` wrote: the rule file, the test files (when asked for) and the notes."""

    rules: Path
    tests: tuple[Path, ...]
    notes: tuple[str, ...]
    checks: int  # alert checks across the test files


def write_rules(rule_set: RuleSet, out: str | os.PathLike[str], *, tests: bool = False) -> Written:
    """``out``/slo-rules.yml, and with ``tests`` the promtool suites under ``out``/promtool-tests/ (each SLO's
    group beside its tests); stale files of an earlier run there are removed first."""
    from aisys_verify.slo.ruletests import rule_tests

    folder = Path(out)
    folder.mkdir(parents=True, exist_ok=True)
    rules = folder / RULES_FILE
    rules.write_text(rule_set.yaml(), encoding="utf-8")
    notes = list(rule_set.notes)
    written: list[Path] = []
    checks = 0
    if tests:
        suite = folder / TESTS_DIR
        if suite.is_dir():
            shutil.rmtree(suite)
        suite.mkdir()
        made = rule_tests(rule_set)
        for name, text in made.files.items():
            (suite / name).write_text(text, encoding="utf-8")
            if name.endswith(".test.yml"):
                written.append(suite / name)
        notes += made.notes
        checks = made.checks
    return Written(rules, tuple(written), tuple(notes), checks)
