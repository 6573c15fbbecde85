"""Run the lint rules over a Topology and collect a report."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

# ``import`` rather than ``from aisys_verify.lint import rules``: the from-form skips the import when the
# package still holds the attribute from an earlier import whose modules have since left sys.modules (as
# pytester's in-process runs do), and the re-imported registry would then hold no rule.
import aisys_verify.lint.rules  # noqa: F401  (registers every rule family)
from aisys_verify.errors import LintFailure, UsageError
from aisys_verify.findings import Finding, Severity
from aisys_verify.lint.registry import CHECKS, RULES
from aisys_verify.spec.model import Topology


@dataclass(frozen=True)
class LintReport:
    findings: tuple[Finding, ...]
    files: tuple[str, ...]
    fail_on: Severity = Severity.ERROR  # what assert_clean() fails on when not told

    def at_or_above(self, severity: Severity) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.severity >= severity)

    def by_rule(self, rule: str) -> tuple[Finding, ...]:
        return tuple(f for f in self.findings if f.rule == rule)

    def counts(self) -> dict[str, int]:
        return {s.label: sum(1 for f in self.findings if f.severity is s) for s in reversed(Severity)}

    def assert_clean(self, fail_on: Severity | str | None = None) -> None:
        """Raise LintFailure (an AssertionError) when any finding is at or above ``fail_on``."""
        __tracebackhide__ = True
        threshold = Severity.parse(fail_on) if isinstance(fail_on, str) else fail_on or self.fail_on
        failing = self.at_or_above(threshold)
        if failing:
            raise LintFailure(failing, threshold.label)


def lint(topology: Topology, select: Iterable[str] = (), ignore: Iterable[str] = ()) -> LintReport:
    """All findings for ``topology``; ``select``/``ignore`` take rule ids, rule names or family names."""
    select, ignore = set(select), set(ignore)
    for token in select | ignore:
        if not _matches_any(token):
            raise UsageError(f"unknown rule, rule name or family '{token}' (see 'aisys-verify rules')")
    findings = list(topology.notes)
    for _family, run in CHECKS:
        findings.extend(run(topology))
    kept = [f for f in findings if _wanted(f.rule, select, ignore)]
    unique = {(f.rule, f.loc, f.message): f for f in kept}
    return LintReport(tuple(sorted(unique.values(), key=Finding.sort_key)), topology.files)


def _matches_any(token: str) -> bool:
    return any(token in (r.id, r.name, r.family) or r.id.startswith(token) for r in RULES.values())


def _wanted(rule_id: str, select: set[str], ignore: set[str]) -> bool:
    rule = RULES.get(rule_id)
    names = {rule_id, rule.name, rule.family} if rule else {rule_id}
    prefixed = {t for t in select | ignore if rule_id.startswith(t)}
    if (names | prefixed) & ignore:
        return False
    return not select or bool((names | prefixed) & select)
