"""aisys-verify: make a multi-agent AI system's deployment spec executable.

The public API is the names in ``__all__`` here and in ``__all__`` of each subpackage
(``aisys_verify.spec``, ``.lint``, ``.plan``, ``.stack``, ``.faults``, ``.load``, ``.slo``, ``.report``,
``.conformance``, ``.standin``); every other module and name is internal and may change (docs/api.md).
Suites and scripts import from here: ``from aisys_verify import Stack, require, step``.

Importing this package is cheap and has no side effects: each public name is imported from its module
on first use (PEP 562 ``__getattr__``), so ``import aisys_verify`` loads neither PyYAML nor ZeroMQ,
Redis, Locust or Allure. The pytest plugin (``aisys_verify.plugin``) is a thin adapter over this API.
"""

from __future__ import annotations

__version__ = "0.1.0"

from collections.abc import Iterable, Mapping, Sequence
from importlib import import_module
from os import PathLike
from typing import TYPE_CHECKING

from aisys_verify.lazy import lazy_exports

# Two public functions share their name with a module of this package, and importing a submodule binds it
# on its parent package the first time, which would hide the function. So both modules are imported now:
# ``aisys_verify.lint`` (a lazy package, cheap) is then unbound again so that ``lint`` resolves to the
# function on first use; ``aisys_verify.probe`` needs the standard library only, and its function is bound.
import_module("aisys_verify.lint")
globals().pop("lint", None)
import_module("aisys_verify.probe")
from aisys_verify.probe import probe  # noqa: E402


def discover(discover_system: bool = True) -> dict[str, object]:
    """Chaos Toolkit's discovery hook (``chaos discover aisys-verify`` looks for ``discover`` in the top-level
    package): the extension's activities (aisys_verify.ctk). Needs the ``ctk`` extra."""
    from aisys_verify.ctk.discovery import discover as discover_ctk

    return discover_ctk(discover_system)

if TYPE_CHECKING:
    from aisys_verify.config import VerifyConfig
    from aisys_verify.errors import (
        CapabilityMissing,
        ConformanceFailure,
        InventoryError,
        LintFailure,
        LoadError,
        LoadResultsError,
        SloInconclusive,
        SloSpecError,
        SloViolation,
        SpecError,
        SpecNotFound,
        UsageError,
        VerifyError,
    )
    from aisys_verify.faults.base import ChaosError, ChaosUnsupported, FaultNotEffective
    from aisys_verify.faults.chaos import Chaos
    from aisys_verify.faults.edges import SelectorError
    from aisys_verify.faults.scenario import ScenarioError
    from aisys_verify.faults.toxics import ToxicError
    from aisys_verify.findings import Finding, Severity
    from aisys_verify.health import DEGRADED, DOWN, UP, HealthReading, read_reply
    from aisys_verify.httpjson import HttpReply, http_json
    from aisys_verify.lint.runner import LintReport, lint
    from aisys_verify.load.results import LoadResults, read_results
    from aisys_verify.load.session import LoadDriver
    from aisys_verify.probe import ProbeResult, http_health, speaks_http
    from aisys_verify.replies import (
        AgentRecord,
        agent_record,
        client_error,
        error_text,
        failed,
        listed_count,
        listed_names,
        mentions,
        succeeded,
    )
    from aisys_verify.report.allure import attach_json, attach_svg, attach_text, labels, step
    from aisys_verify.slo.assertions import SloSession
    from aisys_verify.slo.driver import RunRecordError
    from aisys_verify.spec.loader import load_spec
    from aisys_verify.spec.model import Topology
    from aisys_verify.stack.base import (
        AgentEndpoint,
        Stack,
        StackOptions,
        StackStartError,
        probe_health,
        require,
        serving_loop_s,
    )
    from aisys_verify.stack.docker import ComposeError
    from aisys_verify.stack.toxiproxy import ToxiproxyError
    from aisys_verify.trace import Span, Trace, TraceAssertionError
    from aisys_verify.waiting import WaitTimeout, poll, wait_for, wait_until

# Public name -> the module (below ``aisys_verify``) it lives in; docs/api.md lists the same names by job.
_EXPORTS: dict[str, str] = {
    # the fixtures' types
    "VerifyConfig": "config", "Topology": "spec.model", "LintReport": "lint.runner", "Stack": "stack.base",
    "Chaos": "faults.chaos", "LoadDriver": "load.session", "SloSession": "slo.assertions", "Trace": "trace",
    # stack and capabilities
    "AgentEndpoint": "stack.base", "StackOptions": "stack.base", "require": "stack.base",
    "serving_loop_s": "stack.base", "probe_health": "stack.base",
    # probing agents and reading their replies
    "UP": "health", "DEGRADED": "health", "DOWN": "health", "HealthReading": "health", "read_reply": "health",
    "ProbeResult": "probe", "http_health": "probe", "speaks_http": "probe",
    "HttpReply": "httpjson", "http_json": "httpjson",
    "succeeded": "replies", "failed": "replies", "error_text": "replies", "mentions": "replies",
    "client_error": "replies", "AgentRecord": "replies", "agent_record": "replies", "listed_names": "replies",
    "listed_count": "replies",
    "Span": "trace",
    # waiting
    "wait_until": "waiting", "wait_for": "waiting", "poll": "waiting", "WaitTimeout": "waiting",
    # load
    "LoadResults": "load.results", "read_results": "load.results",
    # report
    "step": "report.allure", "labels": "report.allure", "attach_text": "report.allure",
    "attach_json": "report.allure", "attach_svg": "report.allure",
    # spec and lint
    "load_spec": "spec.loader", "lint": "lint.runner", "Finding": "findings", "Severity": "findings",
    # errors
    "VerifyError": "errors", "UsageError": "errors", "InventoryError": "errors", "CapabilityMissing": "errors",
    "SpecError": "errors", "SpecNotFound": "errors", "SloSpecError": "errors", "LintFailure": "errors",
    "ConformanceFailure": "errors", "LoadError": "errors", "LoadResultsError": "errors", "SloViolation": "errors",
    "SloInconclusive": "errors", "TraceAssertionError": "trace", "ChaosError": "faults.base",
    "ChaosUnsupported": "faults.base", "FaultNotEffective": "faults.base", "SelectorError": "faults.edges",
    "ScenarioError": "faults.scenario", "ToxicError": "faults.toxics", "StackStartError": "stack.base",
    "ComposeError": "stack.docker", "ToxiproxyError": "stack.toxiproxy", "RunRecordError": "slo.driver",
}

__all__ = [
    "DEGRADED", "DOWN", "UP", "AgentEndpoint", "AgentRecord", "CapabilityMissing", "Chaos", "ChaosError",
    "ChaosUnsupported", "ComposeError", "ConformanceFailure", "FaultNotEffective", "Finding", "HealthReading",
    "HttpReply", "InventoryError", "LintFailure", "LintReport", "LoadDriver", "LoadError", "LoadResults",
    "LoadResultsError", "ProbeResult", "RunRecordError", "ScenarioError", "SelectorError", "Severity",
    "SloInconclusive", "SloSession", "SloSpecError", "SloViolation", "Span", "SpecError", "SpecNotFound", "Stack",
    "StackOptions", "StackStartError", "Topology", "ToxicError", "ToxiproxyError", "Trace", "TraceAssertionError",
    "UsageError", "VerifyConfig", "VerifyError", "WaitTimeout", "__version__", "agent_record", "attach_json",
    "attach_svg", "attach_text", "client_error", "error_text", "failed", "http_health", "http_json", "labels", "lint",
    "lint_spec", "listed_count", "listed_names", "load_spec", "mentions", "poll", "probe", "probe_health",
    "read_reply", "read_results", "require", "serving_loop_s", "speaks_http", "step", "succeeded", "wait_for",
    "wait_until",
]


__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS, globals())


def lint_spec(paths: Sequence[str | PathLike[str]], env: Mapping[str, str] | None = None,
              select: Iterable[str] = (), ignore: Iterable[str] = ()) -> LintReport:
    """Load spec paths and lint them in one call."""
    from aisys_verify.lint.runner import lint
    from aisys_verify.spec.loader import load_spec

    return lint(load_spec(paths, env), select, ignore)
