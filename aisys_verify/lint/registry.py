"""The rule registry: each rule family module registers its checks here on import."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass

from aisys_verify.findings import Finding, Severity
from aisys_verify.spec.model import Topology

Check = Callable[[Topology], Iterable[Finding]]


@dataclass(frozen=True)
class Rule:
    id: str
    name: str
    family: str
    severity: Severity  # the usual severity; a check may report some cases lower or higher
    summary: str


RULES: dict[str, Rule] = {}
CHECKS: list[tuple[str, Check]] = []  # (family, check)


def describe(rule_id: str, name: str, family: str, severity: Severity, summary: str) -> None:
    RULES[rule_id] = Rule(rule_id, name, family, severity, summary)


def check(family: str) -> Callable[[Check], Check]:
    def register(func: Check) -> Check:
        CHECKS.append((family, func))
        return func

    return register


# Loader findings are rules too, so that SARIF and --select know them.
describe("SPEC001", "unknown-key", "spec", Severity.WARNING, "A key the format does not define (likely a typo).")
describe("SPEC002", "duplicate-key", "spec", Severity.WARNING, "A key given twice in one mapping.")
describe("SPEC003", "not-a-spec-file", "spec", Severity.NOTE, "A YAML file in a spec folder that is not read.")
describe("SPEC004", "nested-docker-groups", "spec", Severity.WARNING, "docker_groups nested inside agent_groups.")
describe("SPEC005", "group-among-agent-sections", "spec", Severity.ERROR,
         "A docker group written as a section of agent_groups, where its entries read as agents.")
describe("SPEC006", "startup-config-without-agents", "spec", Severity.ERROR,
         "A host's startup config (empty, or its agents key misspelt) defines no agents.")
describe("SLO004", "duplicate-slo", "slo", Severity.ERROR, "Two SLOs with the same name.")
