"""aisys-verify: make a multi-agent AI system's deployment spec executable.

The public API re-exported here is what suites and scripts should import; the
pytest plugin (``aisys_verify.plugin``) is a thin adapter over it. Nothing heavy
is imported here: only PyYAML, which the spec readers need.
"""

from __future__ import annotations

__version__ = "0.1.0"

from collections.abc import Iterable, Mapping, Sequence
from os import PathLike

from aisys_verify.errors import LintFailure, SpecError, SpecNotFound, UsageError, VerifyError
from aisys_verify.findings import Finding, Severity
from aisys_verify.lint.runner import LintReport, lint
from aisys_verify.spec.loader import load_spec
from aisys_verify.spec.model import Topology

__all__ = [
    "Finding",
    "LintFailure",
    "LintReport",
    "Severity",
    "SpecError",
    "SpecNotFound",
    "Topology",
    "UsageError",
    "VerifyError",
    "__version__",
    "lint",
    "lint_spec",
    "load_spec",
]


def lint_spec(paths: Sequence[str | PathLike[str]], env: Mapping[str, str] | None = None,
              select: Iterable[str] = (), ignore: Iterable[str] = ()) -> LintReport:
    """Load spec paths and lint them in one call."""
    return lint(load_spec(paths, env), select, ignore)
