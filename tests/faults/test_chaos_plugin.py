"""The chaos fixtures through pytester (child pytest runs on a tiny synthetic stack): ``aisys_chaos`` reverts
every fault at teardown even when the test fails; a fault left on the stack by other means fails the session;
``aisys_fault_case`` and ``aisys_group`` parametrise with stable ids and a run-level selection."""

from __future__ import annotations

from pathlib import Path

import pytest

from aisys_verify.spec.synthetic import write_synthetic_spec

pytestmark = pytest.mark.integration

INNER = """
import pytest

EDGE = "mainpc/Agent0001->mainpc/Agent0000"


def test_fails_inside_a_fault(aisys_chaos):
    with aisys_chaos.latency(EDGE, ms=20):
        assert False, "boom inside the fault"


def test_leaves_a_fault_on(aisys_chaos):
    aisys_chaos.partition(EDGE)  # never reverted by the test itself


def test_nothing_is_left_after_the_fixture(aisys_stack):
    client = aisys_stack.toxiproxy_client
    assert client.active_toxics() == {}
    assert all(body["enabled"] for body in client.proxies().values())
"""

SNEAKY = """
from aisys_verify.faults.toxics import Toxic


def test_adds_a_toxic_behind_the_engines_back(aisys_stack):
    aisys_stack.toxiproxy_client.add_toxic(aisys_stack.proxies[0].proxy.name, Toxic.latency(5))
"""

MATRIX = """
import pytest


@pytest.mark.aisys_faults("kind=partition,latency")
def test_case(aisys_fault_case):
    assert aisys_fault_case.kind in ("partition", "latency")


def test_group(aisys_group):
    assert "/" in aisys_group
"""


@pytest.fixture
def project(pytester: pytest.Pytester, state_dir: Path, monkeypatch: pytest.MonkeyPatch) -> pytest.Pytester:
    for name in ("AISYS_SPEC", "AISYS_SPEC_VARS", "AISYS_FAULTS", "PYTEST_ADDOPTS"):
        monkeypatch.delenv(name, raising=False)
    (pytester.path / "tmp").mkdir()
    monkeypatch.setenv("TMPDIR", str(pytester.path / "tmp"))
    spec = write_synthetic_spec(pytester.path / "spec", agents=4)
    config = spec / "mainpc" / "startup_config.yaml"  # give Agent0001 a dependency on Agent0000 (an edge to fault)
    text = config.read_text()
    assert "dependencies: []" in text
    config.write_text(text.replace("dependencies: []", "dependencies: [Agent0000]", 2).replace(
        "dependencies: [Agent0000]", "dependencies: []", 1))
    pytester.makeini("[pytest]\naisys_spec = spec\n")
    return pytester


def run(pytester: pytest.Pytester, *args: str) -> pytest.RunResult:
    return pytester.runpytest_subprocess("-p", "no:hypothesispytest", "-p", "no:cacheprovider", *args, timeout=120)


def test_faults_are_reverted_at_teardown_whatever_the_outcome(project: pytest.Pytester) -> None:
    project.makepyfile(test_inner=INNER)
    result = run(project, "-v")
    result.assert_outcomes(passed=2, failed=1)
    result.stdout.fnmatch_lines(["*test_fails_inside_a_fault FAILED*", "*test_leaves_a_fault_on PASSED*",
                                 "*test_nothing_is_left_after_the_fixture PASSED*"])
    assert "faults left on the stack" not in result.stdout.str()


def test_a_fault_left_behind_fails_the_session(project: pytest.Pytester) -> None:
    project.makepyfile(test_sneaky=SNEAKY)
    result = run(project)
    assert result.ret == 1
    result.stdout.fnmatch_lines(["*faults left on the stack at the end of the session (now removed): "
                                 "1 toxic(s) on 1 proxy(ies)*latency_downstream*"])


def test_matrix_and_group_parametrisation(project: pytest.Pytester) -> None:
    project.makepyfile(test_matrix=MATRIX)
    listed = run(project, "--collect-only", "-q")
    listed.stdout.fnmatch_lines(["*test_case[[]latency:mainpc/Agent0001->mainpc/Agent0000[]]*",
                                 "*test_case[[]partition:mainpc/Agent0001->mainpc/Agent0000[]]*",
                                 "*test_group[[]mainpc/group_000[]]*", "*test_group[[]pc2/group_000[]]*"])
    narrowed = run(project, "--collect-only", "-q", "--aisys-faults", "kind=latency")
    assert "partition:" not in narrowed.stdout.str()
    assert "latency:mainpc/Agent0001->mainpc/Agent0000" in narrowed.stdout.str()
    bad = run(project, "--collect-only", "-q", "--aisys-faults", "kind=flood")
    assert bad.ret == 4
    bad.stderr.fnmatch_lines(["*unknown kind(s) flood*"])
