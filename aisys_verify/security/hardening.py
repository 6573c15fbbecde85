"""Container hardening checked where it runs: the compose backend's containers read through
``docker inspect`` (the same facts as the lint family HRD, aisys_verify/lint/rules/hardening.py, but
as Docker applied them), and a Dockerfile's final user.

Each container's report carries its image by ID (``sha256:...``) and the repo digests Docker knows
for it, so a report says exactly which image ran.
"""

from __future__ import annotations

import json
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aisys_verify.errors import SecurityFailure, UsageError

DANGEROUS_CAPS = frozenset({"ALL", "CAP_ALL", "SYS_ADMIN", "CAP_SYS_ADMIN", "SYS_PTRACE", "CAP_SYS_PTRACE",
                            "SYS_MODULE", "CAP_SYS_MODULE"})
ROOT = frozenset({"", "root", "0"})


@dataclass(frozen=True)
class Issue:
    rule: str  # the lint rule id of the same fact (HRD001...)
    message: str


@dataclass(frozen=True)
class ContainerReport:
    name: str
    image: str  # as configured (name:tag)
    image_id: str  # sha256:...
    user: str  # as configured; "" means the image's, root unless it sets one
    issues: tuple[Issue, ...] = field(default=())

    def shown(self) -> str:
        head = f"{self.name} ({self.image} {self.image_id[:19]}, user {self.user or 'root (image default)'})"
        return head + ("".join(f"\n  {i.rule} {i.message}" for i in self.issues) if self.issues else ": hardened")


def container_report(inspected: Mapping[str, Any]) -> ContainerReport:
    """One ``docker inspect`` object judged: privileged, added capabilities, the host's namespaces, the
    Docker socket mounted, root, seccomp/AppArmor off, and a writable root filesystem with any of these."""
    host = inspected.get("HostConfig") or {}
    config = inspected.get("Config") or {}
    name = str(inspected.get("Name", "")).lstrip("/") or str(inspected.get("Id", ""))[:12]
    issues: list[Issue] = []
    if host.get("Privileged"):
        issues.append(Issue("HRD001", "runs privileged"))
    for cap in host.get("CapAdd") or ():
        severity = "dangerous " if str(cap).upper() in DANGEROUS_CAPS else ""
        issues.append(Issue("HRD002", f"adds {severity}capability {cap}"))
    for key, what in (("NetworkMode", "network"), ("PidMode", "pid"), ("IpcMode", "ipc")):
        if host.get(key) == "host":
            issues.append(Issue("HRD003", f"shares the host's {what} namespace"))
    for mount in inspected.get("Mounts") or ():
        if str(mount.get("Source", "")).rstrip("/").endswith("docker.sock"):
            issues.append(Issue("HRD004", f"mounts the Docker socket ({mount.get('Source')})"))
    user = str(config.get("User") or "")
    if user.split(":", 1)[0] in ROOT:
        issues.append(Issue("HRD005", f"runs as root (user {user or 'unset: the image default, root'})"))
    for opt in host.get("SecurityOpt") or ():
        if str(opt).replace(":", "=").lower() in ("seccomp=unconfined", "apparmor=unconfined"):
            issues.append(Issue("HRD006", f"turns {str(opt).replace(':', '=').split('=')[0]} off ({opt})"))
    if issues and not host.get("ReadonlyRootfs"):
        issues.append(Issue("HRD007", "keeps a writable root filesystem with the rights above"))
    return ContainerReport(name, str(config.get("Image", "")), str(inspected.get("Image", "")), user, tuple(issues))


def inspect_containers(ids: Sequence[str]) -> list[dict[str, Any]]:
    """``docker inspect`` of ``ids`` (the compose backend's container IDs), parsed."""
    from aisys_verify.stack.docker import run_docker

    if not ids:
        return []
    parsed: list[dict[str, Any]] = json.loads(run_docker("inspect", *ids, timeout=60).stdout or "[]")
    return parsed


def stack_reports(stack_id: str) -> list[ContainerReport]:
    """Every container of a compose-backend stack (found by its stack label), judged."""
    from aisys_verify.stack.docker import labelled_objects

    found = labelled_objects(stack_id).get(stack_id)
    if found is None or not found.containers:
        raise UsageError(f"stack {stack_id}: no container carries its label: is it a compose-backend stack that is up?")
    return [container_report(c) for c in inspect_containers(found.containers)]


def check_reports(reports: Iterable[ContainerReport], allowed: Iterable[str] = ()) -> str:
    """The reports as text when no container has an issue outside ``allowed`` rule ids; else SecurityFailure."""
    __tracebackhide__ = True
    reports = list(reports)
    allow = set(allowed)
    bad = [r for r in reports if any(i.rule not in allow for i in r.issues)]
    text = "\n".join(r.shown() for r in reports)
    if bad:
        raise SecurityFailure(f"{len(bad)} of {len(reports)} container(s) run with rights they should not have:\n"
                              + "\n".join(r.shown() for r in bad), where=", ".join(r.name for r in bad),
                              case="hardening", observed=f"{sum(len(r.issues) for r in bad)} issue(s)")
    return text


_USER = re.compile(r"^\s*USER\s+(\S+)", re.IGNORECASE)
_FROM = re.compile(r"^\s*FROM\s", re.IGNORECASE)


def dockerfile_user(path: Path) -> tuple[str, int] | None:
    """The user the final stage of a Dockerfile runs as (its last USER, and the line), or None: root."""
    try:
        lines = path.read_text(encoding="utf-8").splitlines()
    except OSError as exc:
        raise UsageError(f"{path}: cannot read the Dockerfile ({exc})") from exc
    user: tuple[str, int] | None = None
    for number, line in enumerate(lines, 1):
        if _FROM.match(line):
            user = None  # each stage starts as root again
        elif match := _USER.match(line):
            user = (match.group(1), number)
    return user


def dockerfile_issue(path: Path) -> Issue | None:
    """HRD005 when the image a Dockerfile builds runs as root (no USER in its final stage, or USER root/0)."""
    found = dockerfile_user(path)
    if found is None:
        return Issue("HRD005", f"{path}: the final stage sets no USER, so its containers run as root")
    name, line = found
    if name.split(":", 1)[0] in ROOT:
        return Issue("HRD005", f"{path}:{line}: USER {name} runs its containers as root")
    return None
