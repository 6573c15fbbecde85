"""Container hardening in compose: privileged services, added capabilities, the host's namespaces, the
Docker socket mounted, an explicit root user, a writable root filesystem, seccomp/AppArmor turned off.

The spec model keeps only what the other rules need, so this family reads the service's own bodies
again from the files that define it (``ComposeService.defined_in``, in merge order: the last file
that sets a key wins, as compose merges). The same facts checked on running containers:
aisys_verify.security.hardening (``docker inspect``).

A finding the deployment needs on purpose (CUDA MPS clients share the host's IPC namespace with the
MPS daemon) is accepted in the compose file itself, with the reason, where a reviewer sees it::

    x-aisys-accept:
      HRD003: "CUDA MPS clients share the host's IPC namespace with the MPS daemon"
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from aisys_verify.errors import SpecError
from aisys_verify.findings import Finding, Severity
from aisys_verify.lint.registry import check, describe
from aisys_verify.spec.model import ComposeService, Topology
from aisys_verify.spec.source import Location, YMap, load_yaml

describe("HRD001", "privileged", "hardening", Severity.ERROR, "A service runs privileged.")
describe("HRD002", "cap-add", "hardening", Severity.WARNING,
         "A service adds Linux capabilities (ALL/SYS_ADMIN: error).")
describe("HRD003", "host-namespace", "hardening", Severity.ERROR,
         "A service shares the host's network, PID or IPC namespace.")
describe("HRD004", "docker-socket", "hardening", Severity.ERROR, "A service mounts the Docker socket.")
describe("HRD005", "root-user", "hardening", Severity.WARNING, "A service sets its user to root.")
describe("HRD006", "unconfined", "hardening", Severity.ERROR, "A service turns seccomp or AppArmor off.")
describe("HRD007", "writable-root-fs", "hardening", Severity.NOTE,
         "A service that is privileged, adds capabilities or runs as root keeps a writable root filesystem.")

DANGEROUS_CAPS = frozenset({"ALL", "SYS_ADMIN", "CAP_SYS_ADMIN", "SYS_PTRACE", "CAP_SYS_PTRACE", "SYS_MODULE",
                            "CAP_SYS_MODULE"})
ROOT_USERS = frozenset({"root", "0"})


def _bodies(service: ComposeService) -> list[YMap]:
    """The service's body in each file that defines it, in merge order."""
    bodies: list[YMap] = []
    for path in service.defined_in:
        try:
            data = load_yaml(path).data
        except SpecError:  # the loader already reported an unreadable file
            continue
        services = data.get("services") if isinstance(data, YMap) else None
        body = services.get(service.name) if isinstance(services, YMap) else None
        if isinstance(body, YMap):
            bodies.append(body)
    return bodies


def _last(bodies: list[YMap], key: str) -> tuple[Any, Location] | None:
    for body in reversed(bodies):
        if key in body:
            return body[key], body.loc_of(key)
    return None


def _items(bodies: list[YMap], key: str) -> list[tuple[Any, Location]]:
    """A list key merged across files (compose appends cap_add, volumes, security_opt)."""
    found: list[tuple[Any, Location]] = []
    for body in bodies:
        value = body.get(key)
        if isinstance(value, list):
            locs = getattr(value, "loc_of", None)
            found += [(v, locs(i) if locs else body.loc_of(key)) for i, v in enumerate(value)]
    return found


def _true(value: Any) -> bool:
    return value is True or str(value).strip().lower() in ("true", "yes", "1")


@check("hardening")
def compose_hardening(topology: Topology) -> Iterator[Finding]:
    for project in topology.projects:
        for service in project.services:
            if service.is_override_only:
                continue
            yield from _service_findings(service)


def _service_findings(service: ComposeService) -> Iterator[Finding]:
    bodies = _bodies(service)
    accepted = _accepted(bodies)
    risky = False
    for finding in _raw_findings(service, bodies):
        if finding.rule in accepted:
            continue
        risky = risky or finding.rule != "HRD006"
        yield finding
    read_only = _last(bodies, "read_only")
    if risky and not (read_only and _true(read_only[0])) and "HRD007" not in accepted:
        yield Finding("HRD007", Severity.NOTE, f"service {service.name} is privileged or runs with extra rights and "
                      "keeps a writable root filesystem", service.loc,
                      "a writable root filesystem lets a compromise persist binaries and change the image's files",
                      "set read_only: true and give tmpfs/volumes for the paths it writes")


def _accepted(bodies: list[YMap]) -> set[str]:
    """Rule ids the service accepts on purpose (``x-aisys-accept: {RULE: reason}``); a reason is required."""
    found = _last(bodies, "x-aisys-accept")
    if not found or not isinstance(found[0], dict):
        return set()
    return {str(rule) for rule, reason in found[0].items() if str(rule).startswith("HRD") and str(reason or "").strip()}


def _raw_findings(service: ComposeService, bodies: list[YMap]) -> Iterator[Finding]:
    name = service.name
    privileged = _last(bodies, "privileged")
    if privileged and _true(privileged[0]):
        yield Finding("HRD001", Severity.ERROR, f"service {name} runs privileged", privileged[1],
                      "a privileged container has every capability and every device: a compromise of the agent "
                      "is a compromise of the host", "drop 'privileged'; add only the device or capability it needs")
    for cap, loc in _items(bodies, "cap_add"):
        text = str(cap).upper()
        severity = Severity.ERROR if text in DANGEROUS_CAPS else Severity.WARNING
        yield Finding("HRD002", severity, f"service {name} adds capability {text}", loc,
                      "each added capability widens what a compromised process can do to the host"
                      + (" (this one is close to root on the host)" if severity is Severity.ERROR else ""),
                      "remove it, or document why the agent needs it")
    for key in ("network_mode", "pid", "ipc"):
        mode = _last(bodies, key)
        if mode and str(mode[0]).strip() == "host":
                yield Finding("HRD003", Severity.ERROR, f"service {name} uses the host's {key.split('_')[0]} namespace "
                          f"({key}: host)", mode[1],
                          "the container sees (and for pid/ipc, can signal or read) the host's processes or interfaces",
                          f"remove '{key}: host' and publish the ports it needs")
    for volume, loc in _items(bodies, "volumes"):
        source = volume.get("source") if isinstance(volume, dict) else str(volume).split(":", 1)[0]
        if source and str(source).rstrip("/").endswith("docker.sock"):
            yield Finding("HRD004", Severity.ERROR, f"service {name} mounts the Docker socket ({source})", loc,
                          "whoever talks to the Docker socket can start a privileged container: it is root on the host",
                          "give the service a narrow API (a socket proxy allowing only the calls it needs) instead")
    user = _last(bodies, "user")
    if user and str(user[0]).split(":", 1)[0].strip() in ROOT_USERS:
        yield Finding("HRD005", Severity.WARNING, f"service {name} runs as root (user: {user[0]})", user[1],
                      "root in the container is root on the host's files it mounts and closer to the host's kernel",
                      "run as an unprivileged user (user: \"10001:10001\") and make its writable paths its own")
    for opt, loc in _items(bodies, "security_opt"):
        text = str(opt).replace(":", "=").replace(" ", "").lower()
        if text in ("seccomp=unconfined", "apparmor=unconfined"):
            yield Finding("HRD006", Severity.ERROR, f"service {name} turns {text.split('=')[0]} off ({opt})", loc,
                          "the default seccomp/AppArmor profiles block the syscalls most container escapes use",
                          "remove it; if one syscall is missing, give a custom profile that adds only that one")
