"""`pytest -m SUITE` with no path collects the aisys_suites folders instead of testpaths
(aisys_verify.marker_paths): the rule against pytest's own marker expressions, and real runs (pytester)."""

from __future__ import annotations

import pytest
from _pytest.mark.expression import Expression
from hypothesis import given
from hypothesis import strategies as st

from aisys_verify.marker_paths import _evaluate, selects_suites_only

SUITES = ("e2e", "chaos", "load", "slo", "conformance")
NAMES = st.sampled_from([*SUITES, "integration", "slow"])


@st.composite
def expressions(draw: st.DrawFn, depth: int = 0) -> str:
    kind = draw(st.integers(0, 3 if depth < 3 else 0))
    if kind == 0:
        return draw(NAMES)
    if kind == 1:
        return f"not {draw(expressions(depth + 1))}"
    if kind == 2:
        return f"({draw(expressions(depth + 1))})"
    return f"{draw(expressions(depth + 1))} {draw(st.sampled_from(['and', 'or']))} {draw(expressions(depth + 1))}"


@given(expressions(), st.frozensets(NAMES, max_size=3))
def test_the_reader_agrees_with_pytests_marker_expressions(expression: str, markers: frozenset[str]) -> None:
    expected = Expression.compile(expression).evaluate(lambda name, /, **kwargs: name in markers)
    assert _evaluate(expression, markers) is expected


@pytest.mark.parametrize(("expression", "suites_only"), [
    ("e2e", True), ("chaos", True), ("e2e or conformance", True), ("slo and not slow", True), ("(load)", True),
    ("not e2e", False), ("integration", False), ("", False), ("not integration", False),
    ("e2e(flaky=1)", False),  # keyword arguments: pytest's own selection is left alone
])
def test_which_expressions_route_to_the_suites(expression: str, suites_only: bool) -> None:
    assert selects_suites_only(expression, SUITES) is suites_only


@pytest.fixture
def project(pytester: pytest.Pytester) -> pytest.Pytester:
    pytester.makeini("[pytest]\ntestpaths = tests\naisys_suites = suites\n")
    pytester.mkdir("tests")
    pytester.path.joinpath("tests", "test_framework.py").write_text(
        "import pytest\n\ndef test_unit():\n    pass\n\n@pytest.mark.integration\ndef test_slow_one():\n    pass\n")
    pytester.mkdir("suites")
    pytester.path.joinpath("suites", "test_journeys.py").write_text(
        "import pytest\n\n@pytest.mark.e2e\ndef test_journey():\n    pass\n\n"
        "@pytest.mark.chaos\ndef test_fault():\n    pass\n")
    return pytester


def test_dash_m_e2e_runs_the_suite_not_zero_tests(project: pytest.Pytester) -> None:
    result = project.runpytest("-m", "e2e", "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestUnknownMarkWarning")
    result.assert_outcomes(passed=1, deselected=1)
    result.stdout.fnmatch_lines(["suites/test_journeys.py .*"])


@pytest.mark.parametrize(("args", "passed"), [
    ((), 2),                              # no -m: testpaths, the framework's tests
    (("-m", "not e2e"), 2),               # selects unmarked tests too: testpaths
    (("tests", "-m", "e2e"), 0),          # an explicit path is the user's choice
    (("suites",), 2),
])
def test_other_invocations_keep_pytests_behaviour(project: pytest.Pytester, args: tuple[str, ...],
                                                  passed: int) -> None:
    result = project.runpytest(*args, "-p", "no:cacheprovider", "-W", "ignore::pytest.PytestUnknownMarkWarning")
    assert result.parseoutcomes().get("passed", 0) == passed, result.stdout.str()
