"""The aisys_load fixture in a real pytest run: Locust runs in subprocesses, and neither locust nor gevent
(whose monkey-patching breaks pytest and other libraries, locust#2250) is ever imported into pytest."""

from __future__ import annotations

import pytest

pytestmark = pytest.mark.integration

INNER = """
import sys

from aisys_verify.load.target import running_target

def test_load_runs_without_locust_in_this_process(aisys_load, tmp_path):
    import aisys_verify.load, aisys_verify.load.runner, aisys_verify.load.session  # the whole public surface
    assert not [m for m in sys.modules if m.split(".")[0] in ("locust", "gevent", "greenlet", "zmq.green")]
    scenario = {"name": "tiny", "model": "open", "users": 4,
                "shape": {"kind": "constant", "level": 40, "duration": 3}, "workloads": {"http-get": 1}}
    with running_target(tmp_path) as target:
        results = aisys_load(scenario, target.url)
    total, failed = results.counts()
    assert total == 120 and failed == 0 and results.conformance["ok"]
    assert (results.run_dir / "plot.svg").read_text().startswith("<svg")
    leaked = sorted(m for m in sys.modules if m.split(".")[0] in ("locust", "gevent", "greenlet"))
    assert not leaked, leaked
    print("LOCUST-FREE", total)
"""


def test_fixture_runs_load_without_importing_locust_into_pytest(pytester: pytest.Pytester) -> None:
    pytester.makepyfile(test_inner=INNER)
    result = pytester.runpytest_subprocess("-s", "-p", "no:cacheprovider")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*LOCUST-FREE 120*"])
