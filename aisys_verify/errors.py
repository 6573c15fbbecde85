"""The one exception tree of aisys-verify.

    VerifyError                      base of everything we raise on purpose
     ├── UsageError                  bad options or arguments (CLI exit 2, pytest UsageError)
     │    └── InventoryError         an inventory file cannot be used; names the file, the key, what was tried
     ├── CapabilityMissing           the stack cannot do what a test needs (a skip; a failure when strict)
     ├── SpecError                   a spec file cannot be used; carries file:line and a hint
     │    ├── SpecNotFound           a named path does not exist
     │    └── SloSpecError           an SLO definition (slo-config query, OpenSLO document) cannot be used
     ├── LintFailure                 (also AssertionError) lint findings at or above a threshold
 ├── ConformanceFailure          (also AssertionError) an agent broke the PROTOCOL.md contract; names the defect
     ├── LoadError                   a load run cannot start, or its generator failed
     │    └── LoadResultsError       a load results folder is missing, malformed, or asked for an unknown name
     └── SloViolation                (also AssertionError) an SLO failed conclusively; carries the numbers
          └── SloInconclusive        too few samples (or no data) to decide an SLO: never a silent pass

Third-party errors (PyYAML, OS errors) are translated into these at the boundary,
chained with ``from exc``, so that callers catch one family and users read one
kind of message: what failed, where, and what to do.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from aisys_verify.findings import Finding
    from aisys_verify.spec.source import Location


class VerifyError(Exception):
    """Base of every error aisys-verify raises on purpose."""


class UsageError(VerifyError):
    """An option, argument or marker was used wrongly."""


class InventoryError(UsageError):
    """An inventory (where a running deployment lives) cannot be used: malformed, an unknown host, a missing
    address, or nothing answers where it says. The message names the file (with the line where there is
    one), the key and what was tried; the CLI exits 2, pytest stops the session with exit code 2."""

    def __init__(self, message: str, *, path: str = "", key: str = "", line: int | None = None) -> None:
        self.path, self.key, self.line = path, key, line
        where = f"{path}:{line}" if path and line else path
        super().__init__(f"{where}: {message}" if where else message)


class CapabilityMissing(VerifyError):
    """The stack under test cannot do what a test needs (kill a group with no Docker access, a network
    fault where no Toxiproxy is on the edge). The plugin turns it into a skip naming the capability, or a
    failure under ``--aisys-strict-capabilities`` (CI: a missing capability must not pass silently)."""

    def __init__(self, message: str, capability: str = "") -> None:
        self.capability = capability
        super().__init__(message)


class SpecError(VerifyError):
    """A spec file cannot be used: malformed, wrong type, or an expression that does not evaluate."""

    def __init__(self, message: str, location: Location | None = None, hint: str = "") -> None:
        self.message = message
        self.location = location
        self.hint = hint
        super().__init__(self.one_line())

    def one_line(self) -> str:
        where = f"{self.location}: " if self.location else ""
        hint = f" ({self.hint})" if self.hint else ""
        return f"{where}{self.message}{hint}"


class SpecNotFound(SpecError):
    """A path given as spec input does not exist."""


class LintFailure(VerifyError, AssertionError):
    """Lint found problems at or above the failing severity (an assertion failure in pytest)."""

    def __init__(self, findings: tuple[Finding, ...], fail_on: str) -> None:
        self.findings = findings
        self.fail_on = fail_on
        lines = [f"spec lint: {len(findings)} finding(s) at or above '{fail_on}':"]
        lines += [f"  {f.one_line()}" for f in findings]
        super().__init__("\n".join(lines))


class ConformanceFailure(VerifyError, AssertionError):
    """An agent broke its contract (aisys_verify.conformance): the check, the agent and the PROTOCOL.md
    defects the failure matches (profile.DEFECTS names) ride along for reports."""

    def __init__(self, message: str, *, check: str, agent: str, defects: tuple[str, ...] = ()) -> None:
        self.check, self.agent, self.defects = check, agent, defects
        super().__init__(message)


class LoadError(VerifyError):
    """A load run cannot start (bad scenario, no target) or its load generator failed."""


class LoadResultsError(LoadError):
    """Load results cannot be read, or a phase or endpoint they do not hold was asked for."""


class SloSpecError(SpecError):
    """An SLO definition cannot be used: an unreadable query, an OpenSLO document missing a field."""


class SloViolation(VerifyError, AssertionError):
    """An SLO failed conclusively: the observed value's confidence interval lies beyond the objective.

    Carries what a reader needs without parsing the message: the SLO's name, the observed value,
    the objective (as text), the confidence interval and the sample count.
    """

    def __init__(self, message: str, *, slo: str, observed: float | None, objective: str,
                 interval: tuple[float, float] | None, samples: int, needed: int | None = None) -> None:
        self.slo = slo
        self.observed = observed
        self.objective = objective
        self.interval = interval
        self.samples = samples
        self.needed = needed
        super().__init__(message)


class SloInconclusive(SloViolation):
    """An SLO could not be decided (too few samples, no data, coarse buckets): never a silent pass.

    ``needed`` is the sample count that would decide it at the observed rate, where one can.
    """
