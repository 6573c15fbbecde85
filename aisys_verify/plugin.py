"""The pytest plugin: wiring only. Everything it does is a call into the library.

Options, ini keys, environment variables and the marker all resolve into one
frozen VerifyConfig (precedence in aisys_verify.config).
"""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from aisys_verify.config import BACKEND_NAMES, ENV_SPEC, VerifyConfig, parse_vars
from aisys_verify.errors import SpecError, UsageError, VerifyError

if TYPE_CHECKING:
    from aisys_verify.lint.runner import LintReport
    from aisys_verify.spec.model import Topology
    from aisys_verify.stack.base import Stack

CONFIG_KEY = pytest.StashKey[VerifyConfig]()
_CACHE_KEY = pytest.StashKey[dict[object, "Topology"]]()


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("aisys-verify", "deployment-spec verification (aisys-verify)")
    group.addoption("--aisys-spec", action="append", default=[], metavar="PATH",
                    help="Spec folder or file (repeatable); overrides the aisys_spec ini key and $AISYS_SPEC")
    group.addoption("--aisys-var", action="append", default=[], metavar="NAME=VALUE",
                    help="Spec variable such as PORT_OFFSET=1000 (repeatable)")
    group.addoption("--aisys-lint-fail-on", choices=("error", "warning", "note"), default=None,
                    help="Lowest lint severity that fails aisys_lint.assert_clean()")
    group.addoption("--aisys-backend", choices=BACKEND_NAMES, default=None,
                    help="How aisys_stack stands the spec up: local processes (default) or docker compose")
    group.addoption("--aisys-no-proxies", action="store_true", default=None,
                    help="Run aisys_stack without Toxiproxy on its edges")
    parser.addini("aisys_spec", "Spec folders or files, relative to the ini file", type="paths", default=[])
    parser.addini("aisys_spec_vars", "Spec variables, one NAME=VALUE per line", type="linelist", default=[])
    parser.addini("aisys_lint_fail_on", "Lowest lint severity that fails (error, warning, note)", default="error")
    parser.addini("aisys_backend", "Backend of aisys_stack: local or compose", default="local")


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "aisys_spec(paths=(), vars=None): lint/load this spec instead of the configured one "
                   "(paths relative to the test file; vars such as {'PORT_OFFSET': '1000'})")
    try:
        resolved = VerifyConfig().with_overrides(
            [str(p) for p in config.getini("aisys_spec")] or None,
            parse_vars(config.getini("aisys_spec_vars"), "aisys_spec_vars"),
            config.getini("aisys_lint_fail_on") or None, backend=config.getini("aisys_backend") or None)
        no_proxies = config.getoption("aisys_no_proxies")
        resolved = resolved.with_environ(os.environ).with_overrides(
            config.getoption("aisys_spec") or None, parse_vars(config.getoption("aisys_var"), "--aisys-var"),
            config.getoption("aisys_lint_fail_on"), base=config.invocation_params.dir,
            backend=config.getoption("aisys_backend"), interpose=False if no_proxies else None)
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[CONFIG_KEY] = resolved
    config.stash[_CACHE_KEY] = {}


def pytest_report_header(config: pytest.Config) -> str | None:
    resolved = config.stash.get(CONFIG_KEY, None)
    if resolved is None or not resolved.spec:
        return None
    return f"aisys-verify: spec {', '.join(str(p) for p in resolved.spec)}"


@pytest.fixture
def aisys_config(request: pytest.FixtureRequest) -> VerifyConfig:
    """The resolved settings for this test, the aisys_spec marker applied."""
    resolved = request.config.stash[CONFIG_KEY]
    marker = request.node.get_closest_marker("aisys_spec")
    if marker is None:
        return resolved
    if marker.args or set(marker.kwargs) - {"paths", "vars"}:
        given = [repr(a) for a in marker.args] + [f"{k}=" for k in marker.kwargs if k not in ("paths", "vars")]
        pytest.fail(f"bad aisys_spec marker on {request.node.nodeid}: it takes only the keywords paths= and vars=, "
                    f"got {', '.join(given)}", pytrace=False)
    try:
        return _apply_marker(resolved, request.path.parent, **marker.kwargs)
    except UsageError as exc:
        pytest.fail(f"bad aisys_spec marker on {request.node.nodeid}: {exc}", pytrace=False)


def _apply_marker(resolved: VerifyConfig, base: os.PathLike[str], *, paths: tuple[str, ...] | str = (),
                  vars: dict[str, str] | None = None) -> VerifyConfig:
    paths = (paths,) if isinstance(paths, str) else tuple(paths)
    if vars is not None and not isinstance(vars, dict):
        raise UsageError(f"vars= must be a dict such as {{'PORT_OFFSET': '1000'}}, got {vars!r}")
    return resolved.with_overrides(paths or None, {str(k): str(v) for k, v in (vars or {}).items()},
                                   base=Path(base))


@pytest.fixture
def aisys_topology(aisys_config: VerifyConfig, request: pytest.FixtureRequest) -> Topology:
    """The Topology of the configured spec (loaded once per distinct spec and variables)."""
    from aisys_verify.spec.loader import load_spec

    if not aisys_config.spec:
        pytest.fail(f"no spec configured: set the aisys_spec ini key, ${ENV_SPEC} or --aisys-spec, or mark the test "
                    "with @pytest.mark.aisys_spec(paths=...)", pytrace=False)
    key = (aisys_config.spec, tuple(sorted(aisys_config.spec_vars.items())))
    cache = request.config.stash[_CACHE_KEY]
    if key not in cache:
        try:
            cache[key] = load_spec(aisys_config.spec, aisys_config.spec_vars)
        except SpecError as exc:
            pytest.fail(f"the spec cannot be loaded: {exc.one_line()}", pytrace=False)
    return cache[key]


@pytest.fixture
def aisys_lint(aisys_topology: Topology, aisys_config: VerifyConfig) -> LintReport:
    """The lint report of the configured spec; ``aisys_lint.assert_clean()`` fails on findings."""
    from aisys_verify.lint.runner import lint

    return replace(lint(aisys_topology), fail_on=aisys_config.lint_fail_on)


@pytest.fixture(scope="session")
def aisys_stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """The configured spec stood up once per session on the configured backend, torn down at the end.

    Teardown also runs on Ctrl-C and SIGTERM (turned into KeyboardInterrupt while the stack is up);
    after a SIGKILL the next run removes the leftovers.
    """
    from aisys_verify.stack.base import backend_class
    from aisys_verify.stack.local import StackOptions

    resolved: VerifyConfig = request.config.stash[CONFIG_KEY]
    if not resolved.spec:
        pytest.fail(f"no spec configured: set the aisys_spec ini key, ${ENV_SPEC} or --aisys-spec", pytrace=False)
    reporter = request.config.pluginmanager.get_plugin("terminalreporter")
    capture = request.config.pluginmanager.get_plugin("capturemanager")

    def progress(line: str) -> None:
        if reporter is None:
            return
        if capture is None:
            reporter.write_line(line)
            return
        with capture.global_and_fixture_disabled():  # progress shows on passing runs too, not only in failures
            reporter.write_line(line)

    stack = backend_class(resolved.backend)(resolved.spec, dict(resolved.spec_vars),
                                            StackOptions(interpose=resolved.interpose), progress=progress)
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        try:
            stack.start()
        except VerifyError as exc:  # StackStartError, ToxiproxyError, ...: the message says what and where
            pytest.fail(str(exc), pytrace=False)
        yield stack
    finally:
        stack.stop()
        signal.signal(signal.SIGTERM, previous)


def _raise_interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt(f"signal {signum}")
