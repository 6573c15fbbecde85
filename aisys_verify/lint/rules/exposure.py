"""What the spec's own tree exposes: private keys committed beside it, CurveZMQ turned off on a host whose
agents are reached from another host, and services left with their image's default credentials.

The real system commits ``certificates/client.key`` and ``server.key`` and runs ZeroMQ in plain text
unless ``SECURE_ZMQ=1`` (TOPOLOGY.md §4.1); its observability overlay sets Grafana's admin password
to a literal.
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

from aisys_verify.findings import Finding, Severity
from aisys_verify.lint.registry import check, describe
from aisys_verify.spec.model import ComposeService, Topology
from aisys_verify.spec.source import Location

describe("SEC007", "private-key-committed", "secrets", Severity.ERROR,
         "A private key (PEM or a CurveZMQ secret key) lies in the spec's tree.")
describe("SEC008", "secure-zmq-off", "secrets", Severity.WARNING,
         "SECURE_ZMQ is turned off on a host whose agents are called from another host.")
describe("SEC009", "default-credentials", "secrets", Severity.ERROR,
         "A service keeps its image's default credentials (Grafana admin/admin, a well-known password).")

PRIVATE_KEY = re.compile(rb"-----BEGIN (?:[A-Z0-9]+ )?PRIVATE KEY-----|^\s*secret-key\s*=", re.MULTILINE)
SKIP_DIRS = frozenset({".git", ".venv", "venv", "node_modules", "__pycache__", ".mypy_cache", ".ruff_cache"})
MAX_FILES = 5000
MAX_BYTES = 1 << 20
OFF = frozenset({"0", "false", "no", "off", ""})
# image (without registry/tag) -> (the variables that set the admin password, what the default is)
DEFAULT_ADMIN = {
    "grafana/grafana": (("GF_SECURITY_ADMIN_PASSWORD", "GF_SECURITY_ADMIN_PASSWORD__FILE"), "admin/admin"),
    "grafana/grafana-oss": (("GF_SECURITY_ADMIN_PASSWORD", "GF_SECURITY_ADMIN_PASSWORD__FILE"), "admin/admin"),
    "grafana/grafana-enterprise": (("GF_SECURITY_ADMIN_PASSWORD", "GF_SECURITY_ADMIN_PASSWORD__FILE"), "admin/admin"),
    "rabbitmq": (("RABBITMQ_DEFAULT_PASS", "RABBITMQ_DEFAULT_PASS_FILE"), "guest/guest"),
}
WELL_KNOWN = frozenset({"admin", "password", "changeme", "change-me", "secret", "root", "guest", "postgres",
                        "123456", "default", "letmein", "minioadmin"})


def _spec_dirs(topology: Topology) -> list[Path]:
    """The folders holding the spec's files (the manifest's, the startup configs', the compose files')."""
    dirs = sorted({Path(f).resolve().parent for f in topology.files}
                  | {Path(f).resolve().parent for p in topology.projects for f in p.read})
    return [d for d in dirs if not any(d != o and d.is_relative_to(o) for o in dirs)]


def _key_files(root: Path) -> Iterator[Path]:
    seen = 0
    for folder, subdirs, files in os.walk(root):
        subdirs[:] = sorted(d for d in subdirs if d not in SKIP_DIRS)
        for name in sorted(files):
            seen += 1
            if seen > MAX_FILES:
                return
            path = Path(folder) / name
            try:
                if path.is_symlink() or path.stat().st_size > MAX_BYTES:
                    continue
                with path.open("rb") as handle:
                    head = handle.read(MAX_BYTES)
            except OSError:
                continue
            if PRIVATE_KEY.search(head):
                yield path


@check("secrets")
def committed_keys(topology: Topology) -> Iterator[Finding]:
    for root in _spec_dirs(topology):
        for path in _key_files(root):
            shown = os.path.relpath(path) if path.is_relative_to(Path.cwd()) else str(path)
            yield Finding("SEC007", Severity.ERROR, f"{shown} holds a private key", Location(shown, 1, 1),
                          "a key in the spec's tree is in every clone, every image built from it and every backup: "
                          "whoever has the repository can impersonate the agent or decrypt its traffic",
                          "remove it from the tree (and from history), rotate it, and mount it as a secret "
                          "(ZMQ_CERTIFICATES_DIR from a compose secret or a volume)")


def _env(service: ComposeService, name: str) -> str | None:
    for var in service.environment:
        if var.name == name:
            return var.value or ""
    return None


@check("secrets")
def secure_zmq(topology: Topology) -> Iterator[Finding]:
    from aisys_verify.plan.edges import call_edges

    crossing = [(e.caller.split("/", 1)[0], e.callee.split("/", 1)[0]) for e in call_edges(topology)]
    for host in topology.hosts:
        callers = sorted({src for src, dst in crossing if dst == host.name and src != host.name})
        if not callers:
            continue
        for project in topology.host_projects(host.name):
            for service in project.services:
                value = _env(service, "SECURE_ZMQ")
                if value is not None and value.strip().lower() in OFF:
                    where = next(v.loc for v in service.environment if v.name == "SECURE_ZMQ")
                    yield Finding("SEC008", Severity.WARNING,
                                  f"service {service.name} on host {host.name} sets SECURE_ZMQ={value or '(empty)'}, "
                                  f"while agents on {', '.join(callers)} call agents of {host.name}", where,
                                  "ZeroMQ without CurveZMQ crosses the network in plain text and unauthenticated: "
                                  "anyone on the LAN can read requests or send an agent commands",
                                  "set SECURE_ZMQ=1 with ZMQ_CERTIFICATES_DIR from a secret on both hosts")


@check("secrets")
def default_credentials(topology: Topology) -> Iterator[Finding]:
    for project in topology.projects:
        for service in project.services:
            if service.is_override_only:
                continue
            image = (service.image or "").rsplit("@", 1)[0]
            repo = image.rsplit(":", 1)[0] if ":" in image.rsplit("/", 1)[-1] else image
            repo = repo.removeprefix("docker.io/").removeprefix("library/")
            known = DEFAULT_ADMIN.get(repo)
            if known and not any(_env(service, n) for n in known[0]):
                yield Finding("SEC009", Severity.ERROR, f"service {service.name} ({image}) sets no {known[0][0]}: it "
                              f"keeps the image's default credentials {known[1]}", service.loc,
                              "default credentials are the first thing anyone tries; the dashboards and data "
                              "sources behind them are open", f"set {known[0][1]}=/run/secrets/<name> from a secret")
            for var in service.environment:
                if re.search(r"PASS(WORD)?$|PASS(WORD)?__?FILE$", var.name) and not var.name.endswith("FILE") \
                        and (var.value or "").strip().lower() in WELL_KNOWN:
                    yield Finding("SEC009", Severity.ERROR, f"{var.name} in service {service.name} is a well-known "
                                  "default password", var.loc,
                                  "a default password is guessed in the first attempts of any scan",
                                  f"generate one per deployment and pass it as {var.name}_FILE from a secret")
