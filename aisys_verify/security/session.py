"""The session-end canary scan: once a run's canary exists (the ``aisys_canary`` fixture), every place the
session wrote (JUnit XML, Allure results, the folders registered with ``add_place``: the TLS stand-ins'
work folder) is scanned after pytest wrote them; a hit fails the session naming each file, never the value.

Registered as its own plugin object by the fixture, so its ``pytest_sessionfinish`` runs last (after
JUnit XML is written) without touching the plugin's other hooks.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from aisys_verify.errors import SecretLeak
from aisys_verify.security.secrets import Secret, check_no_leaks, scan_files

PLUGIN_NAME = "aisys-verify-canary-scan"


class CanaryScan:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.secrets: list[Secret] = []
        self.places: list[Path] = []
        self.leak: SecretLeak | None = None

    def add_place(self, path: Path) -> None:
        self.places.append(path)

    def session_places(self) -> list[Path]:
        option = self.config.option
        places = list(self.places)
        for value in (getattr(option, "xmlpath", None), getattr(option, "allure_report_dir", None)):
            if value:
                places.append(Path(value))
        return places

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        try:
            check_no_leaks(scan_files(self.secrets, self.session_places()))
        except SecretLeak as exc:
            self.leak = exc
            session.exitstatus = pytest.ExitCode.TESTS_FAILED

    def pytest_terminal_summary(self, terminalreporter: pytest.TerminalReporter) -> None:
        if self.leak is not None:
            terminalreporter.section("aisys-verify: secret leak", red=True)
            terminalreporter.write_line(str(self.leak))


def canary_scan(config: pytest.Config) -> CanaryScan:
    """The session's scanner, registered on first use."""
    found = config.pluginmanager.get_plugin(PLUGIN_NAME)
    if isinstance(found, CanaryScan):
        return found
    scan = CanaryScan(config)
    config.pluginmanager.register(scan, PLUGIN_NAME)
    return scan
