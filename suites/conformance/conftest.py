"""The conformance session of the suite: one per pytest session, on the session's stack (aisys_stack)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from aisys_verify import ConformanceFailure, Stack, labels
from aisys_verify.conformance import CheckResult, Conformance, ConformanceOptions


@pytest.fixture(autouse=True)
def _conformance_labels(request: pytest.FixtureRequest) -> None:
    callspec = getattr(request.node, "callspec", None)
    agent = str(callspec.params.get("aisys_agent", "")) if callspec is not None else ""
    host, _, name = agent.rpartition("/")
    labels(suite="conformance", **({"host": host, "agent": name} if agent else {}))


@pytest.fixture(scope="session")
def conformance(aisys_stack: Stack, request: pytest.FixtureRequest) -> Iterator[Conformance]:
    """Starts the readiness TTL watch at once, so its window overlaps the first checks."""
    option = request.config.getoption
    defaults = ConformanceOptions()
    bound = option("aisys_conformance_crash_bound_s")
    # the agents of the selected tests: a check made for all agents side by side is made for these only
    selected = {str(item.callspec.params["aisys_agent"]) for item in request.session.items
                if hasattr(item, "callspec") and "aisys_agent" in item.callspec.params}
    session = Conformance(aisys_stack, ConformanceOptions(
        observe_s=option("aisys_conformance_observe_s"),
        crash_bound_s=defaults.crash_bound_s if bound is None else bound,
        http_policy=option("aisys_conformance_http_policy") or defaults.http_policy), scope=selected or None)
    yield session
    session.close()


def verdict(result: CheckResult) -> None:
    """A failure raises ConformanceFailure (an AssertionError: the test fails, naming the defect); a check
    that could not be made skips with its reason."""
    __tracebackhide__ = True
    if result.outcome == "skip":
        pytest.skip(result.message)
    if result.failed:
        raise ConformanceFailure(result.message, check=result.check, agent=result.agent, defects=result.defects)
