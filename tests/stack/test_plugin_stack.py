"""The ``aisys_stack`` fixture through pytester (child pytest processes, a tiny synthetic spec): it
stands the spec up with its progress lines in the run's output, ``--aisys-no-proxies`` gives a stack
with no proxies, an unknown ``--aisys-backend`` is a usage error, and no run leaves a stack behind."""

from __future__ import annotations

from pathlib import Path

import pytest
from stack_support import record_files

from aisys_verify.spec.synthetic import write_synthetic_spec

pytestmark = pytest.mark.integration

INNER = """
from aisys_verify.stack.base import probe_health


def test_stack(aisys_stack, pytestconfig):
    health = probe_health(aisys_stack)
    assert sorted(health) == ["mainpc/Agent0000", "mainpc/Agent0001", "pc2/Agent0002", "pc2/Agent0003"]
    assert {v["status"] for v in health.values()} == {"ok"}
    served = aisys_stack.toxiproxy_client.proxies()
    if pytestconfig.getoption("aisys_no_proxies"):
        assert aisys_stack.proxies == [] and served == {}
        assert aisys_stack.plan.overrides == {} and aisys_stack.plan.redis_overrides == {}
    else:
        assert len(aisys_stack.proxies) == 6  # one cross-host dependency edge (main, health) + 4 Redis
        assert set(served) == {p.proxy.name for p in aisys_stack.proxies}
"""


@pytest.fixture
def stack_project(pytester: pytest.Pytester, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("AISYS_SPEC", "AISYS_SPEC_VARS", "AISYS_LINT_FAIL_ON", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)
    (pytester.path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(pytester.path / "tmp"))  # the child's stack workdir, for the leak guard
    write_synthetic_spec(pytester.path / "spec", agents=4)
    pytester.makeini("[pytest]\naisys_spec = spec\n")
    pytester.makepyfile(test_inner=INNER)
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-p", "no:cacheprovider", *args, timeout=120)


PROGRESS = ["aisys-verify: stack * on 127.*.x: 4 agents in 2 groups, 1 start layers, * proxies",
            "  layer 1/1 healthy in * s: mainpc/group_000, pc2/group_000",
            "aisys-verify: stack * ready in * s"]


def test_the_fixture_stands_the_spec_up_and_reports_progress(stack_project: pytest.Pytester,
                                                             state_dir: Path) -> None:
    result = run(stack_project)
    result.assert_outcomes(passed=1)
    assert record_files(state_dir) == []
    # BUG (plugin.py, aisys_stack.progress): the lines are written during fixture setup while output
    # capture is active, so a passing run shows none of them (they appear only in a failing test's
    # "Captured stdout setup" section, or with -s)
    result.stdout.fnmatch_lines(PROGRESS)


def test_the_progress_lines_with_capture_off(stack_project: pytest.Pytester, state_dir: Path) -> None:
    result = run(stack_project, "-s")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([PROGRESS[0].replace("* proxies", "6 proxies"), *PROGRESS[1:]])
    assert record_files(state_dir) == []


def test_no_proxies_option_gives_a_stack_without_proxies(stack_project: pytest.Pytester, state_dir: Path) -> None:
    result = run(stack_project, "-s", "--aisys-no-proxies")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines([PROGRESS[0].replace("* proxies", "0 proxies")])
    assert record_files(state_dir) == []


def test_an_unknown_backend_is_a_usage_error(stack_project: pytest.Pytester, state_dir: Path) -> None:
    result = run(stack_project, "--aisys-backend", "nope")
    assert result.ret == pytest.ExitCode.USAGE_ERROR, result.stdout.str() + result.stderr.str()
    result.stderr.fnmatch_lines(["*--aisys-backend: invalid choice: 'nope'*"])
    assert "passed" not in result.stdout.str()
    assert record_files(state_dir) == []
