"""One line per suite for the job log, read from the JUnit XML a real pytest run wrote (aisys_verify.report.junit;
scripts/main prints them after each pass)."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest
from adopt_support import REPO

from aisys_verify.report.junit import summary_lines, tally


@pytest.fixture
def junit_xml(pytester: pytest.Pytester) -> Path:
    """A run of two suites and a top-level file: passes, a failure, a skip, an error at set-up."""
    pytester.mkdir("suites")
    for suite, body in {
        "e2e": "def test_ok():\n    pass\n\ndef test_bad():\n    assert 1 == 2\n",
        "chaos": "import pytest\n\n@pytest.fixture\ndef broken():\n    raise OSError('no stack')\n\n"
                 "def test_skip():\n    pytest.skip('no docker')\n\ndef test_err(broken):\n    pass\n\n"
                 "def test_ok():\n    pass\n",
    }.items():
        folder = pytester.mkdir(f"suites/{suite}")
        (folder / "__init__.py").write_text("")
        (folder / f"test_{suite}.py").write_text(body)
    (pytester.path / "suites" / "__init__.py").write_text("")
    (pytester.path / "suites" / "test_top.py").write_text("def test_top():\n    pass\n")
    target = pytester.path / "reports" / "suites.xml"
    result = pytester.runpytest("suites", f"--junitxml={target}", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=3, failed=1, skipped=1, errors=1)
    return target


def test_one_tally_per_suite(junit_xml: Path) -> None:
    tallies = {t.suite: t for t in tally(junit_xml)}
    assert set(tallies) == {"e2e", "chaos", "test_top"}
    e2e, chaos = tallies["e2e"], tallies["chaos"]
    assert (e2e.passed, e2e.failed, e2e.errors, e2e.skipped) == (1, 1, 0, 0)
    assert (chaos.passed, chaos.failed, chaos.errors, chaos.skipped) == (1, 0, 1, 1)
    assert tallies["test_top"].passed == 1 and tallies["test_top"].tests == 1


def test_the_job_log_lines(junit_xml: Path) -> None:
    reference = junit_xml.with_name("suites-reference.xml")
    reference.write_bytes(junit_xml.read_bytes())
    lines = summary_lines([junit_xml, reference])
    assert len(lines) == 6
    assert any(line.startswith("suite e2e: FAILED: 2 tests: 1 passed, 1 failed, 0 errors, 0 skipped in ")
               for line in lines), lines
    assert any(line.startswith("suite chaos (reference): FAILED: 3 tests: 1 passed, 0 failed, 1 errors, 1 skipped")
               for line in lines), lines
    assert any(line.startswith("suite test_top: ok: 1 tests: 1 passed") for line in lines), lines


def test_the_command_scripts_main_runs(junit_xml: Path, tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "aisys_verify.report.junit", str(junit_xml)], cwd=REPO,
                          capture_output=True, text=True, timeout=60, check=False)
    assert done.returncode == 0 and done.stdout.count("\n") == 3, done
    missing = subprocess.run([sys.executable, "-m", "aisys_verify.report.junit", str(tmp_path / "none.xml")],
                             cwd=REPO, capture_output=True, text=True, timeout=60, check=False)
    assert missing.returncode == 2 and "--junitxml" in missing.stderr and "Traceback" not in missing.stderr, missing
    assert "--junitxml \"$junit/suites.xml\"" in (REPO / "scripts" / "main").read_text()
