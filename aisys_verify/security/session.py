"""The session-end canary scan: once a run's canary exists (the ``aisys_canary`` fixture), every place the
session wrote (JUnit XML, Allure results, the folders registered with ``add_place``: the TLS stand-ins'
work folder) is scanned after pytest wrote them; a hit fails the session naming each file, never the value.

Registered as its own plugin object by the fixture, so its ``pytest_sessionfinish`` runs last (after
JUnit XML is written) without touching the plugin's other hooks.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from aisys_verify.errors import SecretLeak, UsageError
from aisys_verify.security.secrets import Secret, check_no_leaks, scan_files

if TYPE_CHECKING:
    from aisys_verify.config import VerifyConfig
    from aisys_verify.security.curve import CurveStand
    from aisys_verify.security.stand import TlsStand

PLUGIN_NAME = "aisys-verify-canary-scan"
CURVE_HOSTS_ENV, DEFAULT_CURVE_HOSTS = "AISYS_CURVE_HOSTS", "pc2"


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


def tls_stand(config: pytest.Config, resolved: VerifyConfig, tmp_path_factory: pytest.TempPathFactory,
              secret: Secret) -> Iterator[TlsStand]:
    """The body of the plugin's ``aisys_tls_stand``: the selection from ``AISYS_TLS_CLIENT_AUTH``, the canary
    given as ``REDIS_PASSWORD_FILE``, the work folder (its secrets folder aside) added to the canary scan."""
    from aisys_verify.security.secrets import write_secret_file
    from aisys_verify.security.stand import DEFAULT_SELECTION, SELECTION_ENV, parse_selection, tls_standins

    try:
        selection = parse_selection(os.environ.get(SELECTION_ENV, DEFAULT_SELECTION))
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    workdir = tmp_path_factory.mktemp("security")
    secret_file = write_secret_file(secret, workdir / "secrets" / "canary")
    for sub in ("logs", "data", "plan.json"):  # its own secrets folder holds the value on purpose
        canary_scan(config).add_place(workdir / sub)
    if resolved.backend == "compose":  # the matrix against containers: a compose stack with the selection as TLS
        from aisys_verify.security.stand import tls_compose

        with tls_compose([str(p) for p in resolved.spec], workdir / "compose", selection,
                         spec_vars=resolved.spec_vars, health_timeout=max(resolved.health_timeout, 120.0)) as stand:
            yield stand
        return
    with tls_standins([str(p) for p in resolved.spec], workdir, selection, spec_vars=resolved.spec_vars,
                      environ={"REDIS_PASSWORD_FILE": str(secret_file)}) as stand:
        yield stand


def curve_stand(resolved: VerifyConfig, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CurveStand]:
    """The body of the plugin's ``aisys_curve_stand``: the hosts ``AISYS_CURVE_HOSTS`` names with CurveZMQ on."""
    from aisys_verify.security.curve import curve_standins

    hosts = [h.strip() for h in os.environ.get(CURVE_HOSTS_ENV, DEFAULT_CURVE_HOSTS).split(",") if h.strip()]
    try:
        with curve_standins([str(p) for p in resolved.spec], tmp_path_factory.mktemp("curve"), hosts,
                            spec_vars=resolved.spec_vars) as stand:
            yield stand
    except UsageError as exc:
        raise pytest.UsageError(f"{CURVE_HOSTS_ENV}: {exc}") from None
