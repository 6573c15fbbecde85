"""The session-end canary scan: once a run's canary exists (the ``aisys_canary`` fixture), every place the
session wrote (JUnit XML, Allure results, the folders registered with ``add_place``: the TLS stand-ins'
work folder) is scanned after pytest wrote them; a hit fails the session naming each file, never the value.

Registered as its own plugin object by the fixture, so its ``pytest_sessionfinish`` runs last (after
JUnit XML is written) without touching the plugin's other hooks.
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from aisys_verify.errors import SecretLeak, UsageError
from aisys_verify.security.secrets import Leak, Secret, check_no_leaks, scan_bytes, scan_containers, scan_files

if TYPE_CHECKING:
    from collections.abc import Callable

    from aisys_verify.config import VerifyConfig
    from aisys_verify.security.curve import CurveStand
    from aisys_verify.security.stand import TlsStand
    from aisys_verify.stack.base import Stack
    from aisys_verify.stack.compose import ComposeStack

PLUGIN_NAME = "aisys-verify-canary-scan"
CURVE_HOSTS_ENV, DEFAULT_CURVE_HOSTS = "AISYS_CURVE_HOSTS", "pc2"


class CanaryScan:
    def __init__(self, config: pytest.Config) -> None:
        self.config = config
        self.secrets: list[Secret] = []
        self.places: list[Path] = []
        self.leak: SecretLeak | None = None
        self.found: list[Leak] = []  # leaks found before the session's end (a compose stack, before it stops)
        self.trees: list[Path] = []  # folders scanned but their secrets folders (basetemp_files)

    def add_place(self, path: Path) -> None:
        self.places.append(path)

    def session_places(self) -> list[Path]:
        option = self.config.option
        places = list(self.places)
        for value in (getattr(option, "xmlpath", None), getattr(option, "allure_report_dir", None)):
            if value:
                places.append(Path(value))
        return places + [f for tree in self.trees for f in basetemp_files(tree)]

    @pytest.hookimpl(trylast=True)
    def pytest_sessionfinish(self, session: pytest.Session) -> None:
        try:
            check_no_leaks([*self.found, *scan_files(self.secrets, self.session_places())])
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


def basetemp_files(root: Path) -> list[Path]:
    """The files of pytest's temporary folder (load CSVs, chaos journals, SLO reports, work folders), but those
    under a folder named ``secrets`` (a stack's or stand's secrets folder holds the values on purpose)."""
    if not root.is_dir():
        return []
    return [p for p in sorted(root.rglob("*")) if p.is_file() and not p.is_symlink()
            and "secrets" not in p.relative_to(root).parts[:-1]]


def watch_stack(request: pytest.FixtureRequest, stack: Stack, scan: CanaryScan | None = None) -> Callable[[], None]:
    """For the plugin's ``aisys_stack``: a stack with canary secrets of its own (the compose backend's
    ``run_secrets``) adds them to the session's canary scan (or to ``scan``, a test's own), with pytest's
    temporary folder; the function returned scans the stack's containers and work folder
    (``scan_stack``) and is run at teardown, before the stack stops (its containers' inspect
    and logs go with them). A hit fails the session at its end, naming each place."""
    own: list[Secret] = list(getattr(stack, "run_secrets", ()))
    if not own:
        return lambda: None
    if scan is None:  # the session's (a test may give its own)
        scan = canary_scan(request.config)
        with contextlib.suppress(Exception):  # no temporary folder (-p no:tmpdir): the other places remain
            scan.trees.append(request.getfixturevalue("tmp_path_factory").getbasetemp())
    scan.secrets += own
    found = scan

    def before_stop() -> None:
        found.found += scan_stack(stack, found.secrets)  # type: ignore[arg-type]  # a ComposeStack: it has run_secrets

    return before_stop


def scan_stack(stack: ComposeStack, secrets: list[Secret]) -> list[Leak]:
    """Every place of a compose run where ``secrets`` must not be: each container's ``docker inspect`` and
    ``docker logs`` and each volume's files (the stack's labelled objects, scanned in parallel) and the work
    folder but its secrets."""
    from concurrent.futures import ThreadPoolExecutor

    from aisys_verify.stack.docker import Leftover, labelled_objects

    if not secrets:
        return []
    objects = labelled_objects(stack.stack_id).get(stack.stack_id) or Leftover(stack.stack_id, "")
    with ThreadPoolExecutor(max_workers=4) as pool:
        scans = [*(pool.submit(scan_containers, secrets, [cid]) for cid in objects.containers),
                 *(pool.submit(scan_volume, secrets, volume, stack.images.base) for volume in objects.volumes)]
        leaks = [leak for scan in scans for leak in scan.result()]
    places = [p for p in stack.workdir.iterdir() if p.name != "secrets"] if stack.workdir.is_dir() else []
    return leaks + scan_files(secrets, places)


def scan_volume(secrets: list[Secret], volume: str, image: str) -> list[Leak]:
    """Each file of a Docker volume (the agents' data, a Redis's RDB) that holds a secret: the volume mounted
    read-only in a throwaway container that streams it as a tar (no secret goes into that container); the place
    is ``volume NAME file PATH``."""
    import io
    import subprocess
    import tarfile

    from aisys_verify.stack.images import docker_cli

    try:
        proc = subprocess.run([docker_cli(), "run", "--rm", "--network", "none", "-v", f"{volume}:/v:ro", image,
                               "tar", "-C", "/v", "-cf", "-", "."], capture_output=True, timeout=120, check=False)
    except subprocess.TimeoutExpired:
        return []
    if proc.returncode != 0:
        return []
    leaks: list[Leak] = []
    with tarfile.open(fileobj=io.BytesIO(proc.stdout)) as archive:
        for member in archive:
            stream = archive.extractfile(member) if member.isfile() else None
            if stream is not None:
                leaks += scan_bytes(secrets, stream.read(), f"volume {volume} file {member.name}")
    return leaks
