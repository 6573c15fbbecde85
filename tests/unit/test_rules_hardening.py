"""The container-hardening lint family (HRD): each rule fires on a planted violation at its YAML line,
stays quiet on the clean baseline, and an ``x-aisys-accept`` with a reason silences only its rule."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from spec_factory import COMPOSE, baseline, lint_files, loc_at, service

from aisys_verify import Severity
from aisys_verify.lint.registry import RULES

PLANTS: list[tuple[str, str, Any, str, Severity]] = [
    ("HRD001", "privileged", True, "runs privileged", Severity.ERROR),
    ("HRD002", "cap_add", ["SYS_ADMIN"], "adds capability SYS_ADMIN", Severity.ERROR),
    ("HRD003", "network_mode", "host", "host's network namespace", Severity.ERROR),
    ("HRD003", "pid", "host", "host's pid namespace", Severity.ERROR),
    ("HRD004", "volumes", ["/var/run/docker.sock:/var/run/docker.sock"], "mounts the Docker socket", Severity.ERROR),
    ("HRD005", "user", "0:0", "runs as root", Severity.WARNING),
    ("HRD006", "security_opt", ["seccomp:unconfined"], "turns seccomp off", Severity.ERROR),
    ("HRD006", "security_opt", ["apparmor=unconfined"], "turns apparmor off", Severity.ERROR),
]


def test_every_rule_is_described() -> None:
    assert {f"HRD00{i}" for i in range(1, 8)} <= set(RULES)


def test_clean_baseline_has_no_hardening_findings(tmp_path: Path) -> None:
    assert [f for f in lint_files(tmp_path, baseline()).findings if f.rule.startswith("HRD")] == []


@pytest.mark.parametrize(("rule", "key", "value", "message", "severity"), PLANTS,
                         ids=[f"{p[0]}-{p[1]}-{i}" for i, p in enumerate(PLANTS)])
def test_planted_violation_is_found_at_its_line(tmp_path: Path, rule: str, key: str, value: Any, message: str,
                                                severity: Severity) -> None:
    spec = baseline()
    service(spec, "core_group")[key] = value
    findings = lint_files(tmp_path, spec).by_rule(rule)
    assert len(findings) == 1, findings
    [finding] = findings
    assert message in finding.message and "core_group" in finding.message
    assert finding.severity is severity
    node = loc_at(tmp_path, COMPOSE, "services", "core_group", key)
    assert finding.loc.line >= node.line  # the key itself or its list item


def test_writable_root_fs_only_with_extra_rights_and_read_only_silences_it(tmp_path: Path) -> None:
    spec = baseline()
    service(spec, "core_group")["privileged"] = True
    assert len(lint_files(tmp_path / "a", spec).by_rule("HRD007")) == 1
    service(spec, "core_group")["read_only"] = True
    assert lint_files(tmp_path / "b", spec).by_rule("HRD007") == ()


def test_accept_needs_a_reason_and_silences_only_its_rule(tmp_path: Path) -> None:
    spec = baseline()
    body: dict[str, Any] = service(spec, "core_group")
    body["ipc"] = "host"
    body["cap_add"] = ["NET_ADMIN"]
    body["x-aisys-accept"] = {"HRD003": ""}
    assert len(lint_files(tmp_path / "a", spec).by_rule("HRD003")) == 1  # no reason: not accepted
    body["x-aisys-accept"] = {"HRD003": "CUDA MPS clients share the host's IPC namespace"}
    report = lint_files(tmp_path / "b", spec)
    assert report.by_rule("HRD003") == ()
    [cap] = report.by_rule("HRD002")
    assert cap.severity is Severity.WARNING


def test_project_spec_is_clean() -> None:
    """The project's own compose files: ipc: host for MPS is accepted with its reason, nothing else fires."""
    from aisys_verify import lint, load_spec

    report = lint(load_spec(["system"]))
    assert [f.one_line() for f in report.findings if f.rule.startswith("HRD")] == []
