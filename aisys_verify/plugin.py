"""The pytest plugin: wiring only. Everything it does is a call into the library.

Options, ini keys, environment variables and the marker all resolve into one
frozen VerifyConfig (precedence in aisys_verify.config).
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Callable, Generator, Iterator
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import pytest

from aisys_verify.config import ENV_SPEC, VerifyConfig, parse_vars
from aisys_verify.errors import CapabilityMissing, InventoryError, SpecError, UsageError, VerifyError
from aisys_verify.marker_paths import selects_suites_only
from aisys_verify.shard import Shard

if TYPE_CHECKING:
    from aisys_verify.faults.chaos import Chaos
    from aisys_verify.gpu.facts import GpuHostFacts
    from aisys_verify.gpu.session import GpuPlanSession
    from aisys_verify.lint.runner import LintReport
    from aisys_verify.load.session import LoadDriver
    from aisys_verify.security.curve import CurveStand
    from aisys_verify.security.secrets import Secret
    from aisys_verify.security.stand import TlsStand
    from aisys_verify.slo.assertions import SloSession
    from aisys_verify.spec.model import Topology
    from aisys_verify.stack.base import Stack
    from aisys_verify.trace import Trace

CONFIG_KEY = pytest.StashKey[VerifyConfig]()
_CACHE_KEY = pytest.StashKey[dict[object, "Topology"]]()
_STACK_SUMMARY_KEY = pytest.StashKey[dict[str, object]]()  # the session stack, for environment.properties


def pytest_addoption(parser: pytest.Parser) -> None:
    from aisys_verify.plugin_options import add_options

    add_options(parser)

SUITE_MARKERS = {
    "e2e": "end-to-end user journeys against a stood-up stack (pytest -m e2e)",
    "chaos": "fault injection through Toxiproxy and process faults",
    "load": "load shapes driven through Locust",
    "slo": "SLO verdicts with confidence intervals and error budgets",
    "security": "secrets handling and mTLS",
    "gpu": "GPU partitioning checks (NVML); skipped without a GPU",
    "backup": "backup and restore drills",
    "conformance": "the agent-level contract of PROTOCOL.md, per agent (suites/conformance)",
    "k8s": "Kubernetes manifests from the spec, validated on a loopback API server and kwok nodes (tests/k8s)",
}


def pytest_configure(config: pytest.Config) -> None:
    for name, description in SUITE_MARKERS.items():
        config.addinivalue_line("markers", f"{name}: {description}")
    config.addinivalue_line(
        "markers", "aisys_spec(paths=(), vars=None): lint/load this spec instead of the configured one "
                   "(paths relative to the test file; vars such as {'PORT_OFFSET': '1000'})")
    config.addinivalue_line(
        "markers", "aisys_faults(expr): the fault-matrix cases this test's aisys_fault_case runs, narrowed further "
                   "by --aisys-faults / AISYS_FAULTS / aisys_faults (e.g. 'kind=partition edge=A->* limit=4')")
    suites = config.getini("aisys_suites")
    if suites and config.args_source is pytest.Config.ArgsSource.TESTPATHS and selects_suites_only(
            config.option.markexpr, SUITE_MARKERS):
        config.args[:] = [str(p) for p in suites]  # `pytest -m e2e` at the root runs the e2e suite
    try:
        resolved = VerifyConfig().with_overrides(
            [str(p) for p in config.getini("aisys_spec")] or None,
            parse_vars(config.getini("aisys_spec_vars"), "aisys_spec_vars"),
            config.getini("aisys_lint_fail_on") or None, backend=config.getini("aisys_backend") or None,
            faults=config.getini("aisys_faults") or None,
            standin_profile=config.getini("aisys_standin_profile") or None,
            standin_defects=config.getini("aisys_standin_defects") or None,
            inventory=next(iter(config.getini("aisys_inventory")), None),
            strict_capabilities=config.getini("aisys_strict_capabilities") or None,
            images=config.getini("aisys_images") or None,
            standin_groups=config.getini("aisys_standin_groups") or None,
            health_timeout=config.getini("aisys_health_timeout") or None,
            shard=Shard.parse(config.getini("aisys_shard"), "aisys_shard") if config.getini("aisys_shard") else None,
            prometheus=config.getini("aisys_prometheus") or None, tls=config.getini("aisys_tls") or None)
        no_proxies = config.getoption("aisys_no_proxies")
        resolved = resolved.with_environ(os.environ).with_overrides(
            config.getoption("aisys_spec") or None, parse_vars(config.getoption("aisys_var"), "--aisys-var"),
            config.getoption("aisys_lint_fail_on"), base=config.invocation_params.dir,
            backend=config.getoption("aisys_backend"), interpose=False if no_proxies else None,
            faults=config.getoption("aisys_faults"), standin_profile=config.getoption("aisys_standin_profile"),
            standin_defects=config.getoption("aisys_standin_defects"), inventory=config.getoption("aisys_inventory"),
            strict_capabilities=config.getoption("aisys_strict_capabilities"),
            images=config.getoption("aisys_images"), standin_groups=config.getoption("aisys_standin_groups"),
            health_timeout=config.getoption("aisys_health_timeout"),
            shard=Shard.parse(config.getoption("aisys_shard"), "--aisys-shard") if config.getoption("aisys_shard")
            else None, prometheus=config.getoption("aisys_prometheus"), tls=config.getoption("aisys_tls")).checked()
    except UsageError as exc:
        raise pytest.UsageError(str(exc)) from None
    config.stash[CONFIG_KEY] = resolved
    config.stash[_CACHE_KEY] = {}


def pytest_report_header(config: pytest.Config) -> str | None:
    resolved = config.stash.get(CONFIG_KEY, None)
    if resolved is None or not resolved.spec:
        return None
    shard = f"; shard {resolved.shard} (by test id)" if resolved.shard else ""
    return f"aisys-verify: spec {', '.join(str(p) for p in resolved.spec)}{shard}"


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """--aisys-shard I/N: keep this job's share of the tests (aisys_verify.shard), the rest deselected."""
    shard = config.stash[CONFIG_KEY].shard
    if shard is None:
        return
    kept, others = shard.split(items, lambda item: item.nodeid)
    if others:
        config.hook.pytest_deselected(items=others)
        items[:] = kept


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
    from aisys_verify.faults.hygiene import session_residue
    from aisys_verify.report.allure import StandUpSteps, attach_json, stack_summary
    from aisys_verify.report.session import terminal_progress
    from aisys_verify.signals import sigterm_interrupts
    from aisys_verify.stack.base import backend_class, stack_options

    resolved: VerifyConfig = request.config.stash[CONFIG_KEY]
    if not resolved.spec:
        pytest.fail(f"no spec configured: set the aisys_spec ini key, ${ENV_SPEC} or --aisys-spec", pytrace=False)
    # in Allure: a "stand up" step (in each test's set-up) with a sub-step per start layer and the stack summary
    steps = StandUpSteps(f"stand up {', '.join(str(p) for p in resolved.spec)} on the {resolved.backend} backend",
                         layers=lambda: getattr(stack, "layers", ()))
    progress = terminal_progress(steps, request.config.pluginmanager.get_plugin("terminalreporter"),
                                 request.config.pluginmanager.get_plugin("capturemanager"))
    try:
        stack = backend_class(resolved.backend)(resolved.spec, dict(resolved.spec_vars), stack_options(resolved),
                                                progress=progress)
    except InventoryError as exc:  # the deployment the run points at cannot be used: nothing can run
        pytest.exit(f"aisys-verify: {exc}", returncode=2)
    with sigterm_interrupts(), contextlib.ExitStack() as teardown:  # the stack stops first, then SIGTERM is restored
        teardown.callback(stack.stop)
        with steps:
            started_at = time.time()
            try:
                stack.start()
            except InventoryError as exc:  # e.g. nothing answers at the inventory's addresses
                pytest.exit(f"aisys-verify: {exc}", returncode=2)
            except VerifyError as exc:  # StackStartError, ToxiproxyError, ...: the message says what and where
                pytest.fail(str(exc), pytrace=False)
            summary = stack_summary(stack, resolved.backend, started_at)
            attach_json("stack summary", summary)
        request.config.stash[_STACK_SUMMARY_KEY] = summary
        from aisys_verify.security.session import watch_stack

        teardown.callback(watch_stack(request, stack))  # the stack's own canaries (compose): scanned before it stops
        yield stack
        failure = session_residue(stack)
        if failure:
            pytest.fail(failure, pytrace=False)


@pytest.fixture
def aisys_chaos(aisys_stack: Stack) -> Iterator[Chaos]:
    """Faults on the session's stack: ``with aisys_chaos.latency("RequestCoordinator->MemoryClient", ms=200):``.
    Each is proved effective when applied; all are reverted at teardown, whatever the outcome, then the stack is
    checked: anything left (a toxic, a disabled proxy, a paused group) fails the test. The journal is attached."""
    from aisys_verify.faults.chaos import Chaos
    from aisys_verify.faults.hygiene import chaos_teardown

    chaos = Chaos(aisys_stack)
    failure = None
    try:
        yield chaos
    finally:
        failure = chaos_teardown(chaos, aisys_stack)
    if failure:
        pytest.fail(failure, pytrace=False)


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    """``aisys_fault_case``: one test per case of the spec's fault matrix, selected by --aisys-faults and the
    test's ``aisys_faults`` marker; ids are stable (``partition:pc2/UnifiedWebAgent->mainpc/RequestCoordinator``).
    ``aisys_group``: one test per docker group of the spec (``mainpc/infra_core``); ``aisys_agent``: one test
    per agent (``mainpc/ServiceRegistry``)."""
    resolved: VerifyConfig = metafunc.config.stash[CONFIG_KEY]
    if "aisys_group" in metafunc.fixturenames:  # one test per docker group: 'mainpc/infra_core', ...
        from aisys_verify.spec.loader import load_spec

        try:
            groups = [f"{g.host}/{g.name}" for g in load_spec(resolved.spec, resolved.spec_vars).groups]
        except VerifyError as exc:
            raise pytest.UsageError(f"aisys_group in {metafunc.definition.nodeid}: {exc}") from None
        metafunc.parametrize("aisys_group", groups, ids=groups)
    if "aisys_agent" in metafunc.fixturenames:  # one test per agent of the spec: 'mainpc/ServiceRegistry', ...
        from aisys_verify.spec.loader import load_spec

        try:
            agents = [a.key for a in load_spec(resolved.spec, resolved.spec_vars).agents]
        except VerifyError as exc:
            raise pytest.UsageError(f"aisys_agent in {metafunc.definition.nodeid}: {exc}") from None
        metafunc.parametrize("aisys_agent", agents, ids=agents)
    if "aisys_fault_case" not in metafunc.fixturenames:
        return
    from aisys_verify.faults.matrix import Selection, fault_matrix
    from aisys_verify.spec.loader import load_spec
    from aisys_verify.stack.base import interposable_edges, stack_options

    marker = metafunc.definition.get_closest_marker("aisys_faults")
    try:
        topology = load_spec(resolved.spec, resolved.spec_vars)
        selection = Selection.parse(marker.args[0] if marker and marker.args else "")
        interposed = interposable_edges(resolved.backend, topology, stack_options(resolved))
        cases = fault_matrix(topology, selection, Selection.parse(resolved.faults), interposed=interposed)
    except (VerifyError, IndexError) as exc:
        raise pytest.UsageError(f"aisys_fault_case in {metafunc.definition.nodeid}: {exc}") from None
    metafunc.parametrize("aisys_fault_case", cases, ids=[c.id for c in cases])


@pytest.fixture(scope="module")
def aisys_dr_stack(request: pytest.FixtureRequest) -> Iterator[Stack]:
    """A stack of its own (the configured spec and backend) for disaster drills, which destroy a host's data:
    the session's aisys_stack stays whole. Torn down after the module."""
    from aisys_verify.backup.take import own_stack

    resolved: VerifyConfig = request.config.stash[CONFIG_KEY]
    if not resolved.spec:
        pytest.fail(f"no spec configured: set the aisys_spec ini key, ${ENV_SPEC} or --aisys-spec", pytrace=False)
    with own_stack(resolved) as stack:
        yield stack


@pytest.fixture
def aisys_slo(aisys_topology: Topology) -> SloSession:
    """The spec's SLOs: ``aisys_slo.evaluate(load=..., metrics=...)``, ``.scrape(stack)``, ``.burn(...)``,
    ``.assert_slo(verdict)`` (SloViolation, an AssertionError, on a fail; SloInconclusive when undecided)."""
    from aisys_verify.slo.assertions import SloSession

    return SloSession(aisys_topology)


@pytest.fixture(scope="session")
def aisys_canary(request: pytest.FixtureRequest) -> Secret:
    """This run's canary secret (aisys_verify.security.secrets): random, so finding it anywhere is a leak; the
    session's JUnit XML and Allure results are scanned for it at the end (a hit fails the session)."""
    from aisys_verify.security.secrets import canary
    from aisys_verify.security.session import canary_scan

    secret = canary("redis_password")
    canary_scan(request.config).secrets.append(secret)
    return secret


@pytest.fixture(scope="session")
def aisys_tls_stand(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory,
                    aisys_canary: Secret) -> Iterator[TlsStand]:
    """The configured spec's hosts selected by AISYS_TLS_CLIENT_AUTH (default pc2=required) as stand-ins with
    HTTPS on their HTTP side, the run's PKI minted in pytest's temporary folder, and the canary given to them
    as a *_FILE path (aisys_verify.security.stand)."""
    from aisys_verify.security.session import tls_stand

    yield from tls_stand(request.config, request.config.stash[CONFIG_KEY], tmp_path_factory, aisys_canary)


@pytest.fixture(scope="session")
def aisys_curve_stand(request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[CurveStand]:
    """The hosts AISYS_CURVE_HOSTS names (default pc2) as stand-ins with CurveZMQ on (SECURE_ZMQ), certificates
    minted per run in pytest's temporary folder (aisys_verify.security.curve)."""
    from aisys_verify.security.session import curve_stand

    yield from curve_stand(request.config.stash[CONFIG_KEY], tmp_path_factory)


@pytest.fixture(scope="session")
def aisys_gpu_facts(request: pytest.FixtureRequest) -> GpuHostFacts:
    """This machine's GPUs through NVML (or ``--aisys-gpu-facts FILE``); no NVML is a missing capability."""
    from aisys_verify.gpu.session import gpu_facts

    return gpu_facts(request.config.getoption("aisys_gpu_facts"), request.config.getoption("aisys_gpu_host"))


@pytest.fixture
def aisys_gpu_plan(aisys_topology: Topology, aisys_gpu_facts: GpuHostFacts) -> GpuPlanSession:
    """The spec's GPU plan for this host: ``.check`` (findings vs the facts, ``.check.assert_ok()``),
    ``.commands`` (what applies it), ``.slices`` (group -> GpuSlice)."""
    from aisys_verify.gpu.session import GpuPlanSession

    return GpuPlanSession.build(aisys_topology, aisys_gpu_facts)


@pytest.fixture
def aisys_load(request: pytest.FixtureRequest, tmp_path: Path) -> LoadDriver:
    """``aisys_load(scenario, target=None, workers=None)`` -> LoadResults: a load scenario (a name in scenarios/load/,
    a YAML path or a mapping) driven by Locust in subprocesses against the session stack (or a URL)."""
    from aisys_verify.load.session import LoadDriver

    return LoadDriver(request.config.rootpath, tmp_path, lambda: request.getfixturevalue("aisys_stack"))


@pytest.fixture
def aisys_trace(aisys_stack: Stack) -> Callable[..., Trace]:
    """``aisys_trace(trace_id, min_spans=1, timeout=5.0, settle_s=0.3)``: the spans of one request across every
    agent (waiting for late ones), attached to the report as a tree."""
    from aisys_verify.report.allure import attach_text
    from aisys_verify.trace import wait_for_trace

    def get(trace_id: str, min_spans: int = 1, timeout: float = 5.0, settle_s: float = 0.3) -> Trace:
        if aisys_stack.trace_dir is None:  # e.g. a deployment whose agents export no spans to files
            raise CapabilityMissing("this stack exports no trace files (a stand-in stack with "
                                    "StackOptions(trace='auto') does)", "traces")
        trace = wait_for_trace(aisys_stack.trace_dir, trace_id, settle_s, timeout, min_spans)
        attach_text(f"trace {trace_id[:8]}", trace.render())
        return trace

    return get


@pytest.hookimpl(wrapper=True)
def pytest_runtest_makereport(item: pytest.Item,
                              call: pytest.CallInfo[None]) -> Generator[None, pytest.TestReport, pytest.TestReport]:
    """A test that fails while a stack is up gets the stack's logs attached (in Allure): what each agent
    logged since the test started, and the tail of every group process's output."""
    report = yield
    if call.excinfo is not None and call.excinfo.errisinstance(CapabilityMissing) and not (
            item.config.stash[CONFIG_KEY].strict_capabilities):
        # what the stack cannot do is a skip naming the capability (--aisys-strict-capabilities: a failure)
        exc = call.excinfo.value
        report.outcome = "skipped"
        report.longrepr = (str(item.path), (item.location[1] or 0) + 1,
                           f"Skipped: missing capability {getattr(exc, 'capability', '') or '?'}: {exc}")
        return report
    stack = getattr(item, "funcargs", {}).get("aisys_stack")
    if report.failed and call.when == "call" and stack is not None:
        from aisys_verify.report.allure import active, attach_stack_logs

        if active():
            attach_stack_logs(stack, since=call.start)
    return report


def pytest_terminal_summary(terminalreporter: pytest.TerminalReporter) -> None:
    """Seconds per suite folder (set-up, call and teardown of its tests; the stand-up lands in the first
    test's set-up), so a long run shows where its time went."""
    from aisys_verify.report.timing import per_folder

    totals = per_folder(report for reports in terminalreporter.stats.values() for report in reports)
    if len(totals) > 1:
        terminalreporter.write_line("aisys-verify: seconds per folder: " + ", ".join(
            f"{folder} {seconds:.1f}" for folder, seconds in totals.items()))


def pytest_sessionfinish(session: pytest.Session) -> None:
    """With --alluredir: categories.json (the failure classes) and environment.properties in the results."""
    results = session.config.getoption("allure_report_dir", None) if session.config.pluginmanager.hasplugin(
        "allure_pytest") else None
    if not results:
        return
    from aisys_verify.report.allure import write_run_files
    from aisys_verify.report.session import environment_properties

    write_run_files(Path(results), environment_properties(session.config.invocation_params.args,
                                                          session.config.stash.get(CONFIG_KEY, None),
                                                          session.config.stash.get(_STACK_SUMMARY_KEY, None)))
