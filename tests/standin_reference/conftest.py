"""Fixtures of the real-client tests: one stand-in cluster of the fixture spec per profile (session-scoped,
started on first use and stopped at the end), and the table of the ideal profile's differences from the
real agents, printed at the end of the run (the source of the table in docs/standins.md)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from reference_fixtures import DIFFERENCES, Stand, running, table


@pytest.fixture(scope="session")
def reference_stand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stand]:
    with running("reference", tmp_path_factory.mktemp("reference")) as stand:
        yield stand


@pytest.fixture(scope="session")
def ideal_stand(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stand]:
    with running("ideal", tmp_path_factory.mktemp("ideal")) as stand:
        yield stand


@pytest.fixture(params=["reference", "ideal"])
def stand(request: pytest.FixtureRequest) -> Stand:
    """The same real client's request, sent to each profile's stand-ins."""
    found: Stand = request.getfixturevalue(f"{request.param}_stand")
    return found


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    if DIFFERENCES:
        terminalreporter.section("requests of the real clients the ideal profile answers otherwise (PROTOCOL.md §5)")
        terminalreporter.write_line(table(DIFFERENCES))
