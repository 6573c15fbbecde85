"""Allure history across runs (issue 18): with ``AISYS_REPORT_HISTORY=FILE``, ``scripts/report`` keeps each run
in FILE, so the report of the next run charts both (the "Status dynamics" trend of the Allure 3 report); the
nightly workflow keeps the file between nights. Without it, a report knows only its own run."""

from __future__ import annotations

import base64
import json
import os
import re
import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
from adopt_support import REPO

pytestmark = [pytest.mark.integration,
              pytest.mark.skipif(shutil.which("node") is None, reason="scripts/report needs Node.js (node and npm)")]

TESTS = """
import os
def test_one(): pass
def test_two(): assert os.environ.get("RUN") != "2", "fails in the second run only"
def test_three(): pass
"""


def _run(tmp: Path, run: int, history: Path | None) -> Path:
    """pytest into results<run>, then scripts/report into report<run>; the report's index.html."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("AISYS_", "PYTEST_"))}
    env.update(RUN=str(run), npm_config_loglevel="error")
    subprocess.run([sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", f"--alluredir={tmp}/results{run}",
                    "test_runs.py"], cwd=tmp, env=env, capture_output=True, text=True, timeout=120, check=False)
    if history:
        env["AISYS_REPORT_HISTORY"] = str(history)
    done = subprocess.run([str(REPO / "scripts" / "report"), f"{tmp}/results{run}", f"{tmp}/report{run}"], env=env,
                          capture_output=True, text=True, timeout=300, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    if history:
        assert f"report: history of {run} run(s) in {history}" in done.stdout, done.stdout
    return tmp / f"report{run}" / "index.html"


def trend(index: Path) -> list[dict[str, Any]]:
    """The points of the report's "Status dynamics" chart: one per run it knows, the current one last."""
    html = index.read_text(encoding="utf-8")
    found = re.search(r'd\("widgets/charts\.json","([A-Za-z0-9+/=]+)"\)', html)
    assert found, "no charts widget embedded in the single-file report"
    charts = json.loads(base64.b64decode(found.group(1)))
    [dynamics] = [c for c in charts["general"].values() if c["type"] == "statusDynamics"]
    return sorted(dynamics["data"], key=lambda point: point["id"] == "current")


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path]:
    tmp = tmp_path_factory.mktemp("history")
    (tmp / "test_runs.py").write_text(TESTS)
    history = tmp / "keep" / "allure-history.jsonl"
    return _run(tmp, 1, history), _run(tmp, 2, history), history


def test_the_second_report_charts_both_runs(two_runs: tuple[Path, Path, Path]) -> None:
    first, second, history = two_runs
    assert len(history.read_text().splitlines()) == 2  # one line per run, kept for the next one
    # the first report had no earlier run to show (as a report without AISYS_REPORT_HISTORY never has)
    assert [p["statistic"] for p in trend(first)] == [{"total": 3, "passed": 3}]
    assert [p["statistic"] for p in trend(second)] == [{"total": 3, "passed": 3},
                                                       {"total": 3, "passed": 2, "failed": 1}]
