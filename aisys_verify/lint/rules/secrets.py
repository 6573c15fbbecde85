"""Secrets handling: plain environment values, credentials in URLs, committed files, unmounted _FILE paths."""

from __future__ import annotations

import re
from collections.abc import Iterator, Mapping
from pathlib import Path

from aisys_verify.findings import Finding, Severity
from aisys_verify.lint.registry import check, describe
from aisys_verify.spec.model import Topology

describe("SEC001", "secret-in-env", "secrets", Severity.ERROR, "A secret given as a plain environment value.")
describe("SEC002", "credentials-in-url", "secrets", Severity.ERROR, "A URL with a literal password.")
describe("SEC003", "secret-file-committed", "secrets", Severity.WARNING, "A secret read from a file in the spec tree.")
describe("SEC004", "external-secret-needs-swarm", "secrets", Severity.WARNING,
         "An external secret, which plain docker compose cannot provide.")
describe("SEC005", "secret-file-not-mounted", "secrets", Severity.ERROR,
         "A *_FILE variable names /run/secrets/X, but the service does not mount secret X.")
describe("SEC006", "secret-undefined", "secrets", Severity.ERROR, "A service uses a secret no file defines.")
describe("CMP001", "override-without-base", "secrets", Severity.ERROR,
         "An overlay configures a service that no base file defines.")

SECRET_NAME = re.compile(r"(PASSWORD|PASSWD|SECRET|TOKEN|API_?KEY|PRIVATE_?KEY|CREDENTIAL)", re.IGNORECASE)
URL_CREDENTIALS = re.compile(r"^[a-z][a-z0-9+.-]*://[^/:@\s]+:([^@/\s]+)@", re.IGNORECASE)


def _is_literal(raw: str | None) -> bool:
    return bool(raw) and "$" not in (raw or "")


@check("secrets")
def compose_secrets(topology: Topology) -> Iterator[Finding]:
    for project in topology.projects:
        defined = {s.name: s for s in project.secrets}
        for service in project.services:
            if service.is_override_only:
                yield Finding("CMP001", Severity.ERROR,
                              f"service {service.name} is configured in {service.defined_in[-1]} but no base file "
                              f"of project {project.name} defines it (no image, no build)", service.loc,
                              "docker compose refuses the merged project ('has neither an image nor a build "
                              "context'), so the overlay breaks the whole deployment",
                              "rename it to the service it meant to override, or move it to the host whose "
                              "compose defines it")
            mounted = {s.target for s in service.secrets} | {s.source for s in service.secrets}
            for ref in service.secrets:
                if ref.source not in defined:
                    yield Finding("SEC006", Severity.ERROR, f"service {service.name} uses secret '{ref.source}', "
                                  "which no top-level secrets entry defines", ref.loc,
                                  "compose refuses to start the service", f"define secrets.{ref.source}")
            for var in service.environment:
                if var.name.endswith("_FILE"):
                    match = re.match(r"^/run/secrets/(.+)$", var.value or "")
                    if match and match.group(1) not in mounted:
                        yield Finding("SEC005", Severity.ERROR,
                                      f"{var.name} points at /run/secrets/{match.group(1)}, but service "
                                      f"{service.name} does not mount that secret", var.loc,
                                      "the file does not exist in the container, so the service starts without "
                                      "its credential or crashes",
                                      f"add '{match.group(1)}' to the service's secrets")
                    continue
                url = URL_CREDENTIALS.match(var.raw or "")
                if url and "$" not in url.group(1):
                    yield Finding("SEC002", Severity.ERROR,
                                  f"{var.name} in service {service.name} embeds a literal password in a URL",
                                  var.loc, "it is visible to anyone who can read the compose file, `docker "
                                  "inspect` or the process environment, and ends up in logs and reports",
                                  "pass the password as a secret file (DB_PASSWORD_FILE) and build the URL at "
                                  "start-up")
                elif SECRET_NAME.search(var.name) and _is_literal(var.raw):
                    yield Finding("SEC001", Severity.ERROR,
                                  f"{var.name} in service {service.name} is a secret given as a plain value",
                                  var.loc, "plain environment values are committed with the file and readable "
                                  "through `docker inspect` and /proc/<pid>/environ",
                                  f"mount it as a compose secret and pass {var.name}_FILE=/run/secrets/<name>, "
                                  "or at least interpolate it from the deployer's environment")
        for secret in project.secrets:
            if secret.external:
                yield Finding("SEC004", Severity.WARNING,
                              f"secret {secret.name} is external ({secret.external_name or secret.name})",
                              secret.loc, "external secrets live in a Swarm; `docker compose up` outside swarm mode "
                              "cannot read them, so the stack does not start as documented",
                              "use file- or environment-sourced compose secrets, or deploy with `docker stack "
                              "deploy` and say so")
            elif secret.file:
                base = Path(project.files[0]).parent
                target = (base / secret.file).resolve()
                if _inside(target, [Path(f).resolve().parent for f in topology.files]):
                    yield Finding("SEC003", Severity.WARNING,
                                  f"secret {secret.name} is read from '{secret.file}', inside the spec tree",
                                  secret.loc, "a secret file next to the spec is easily committed",
                                  "keep secret files outside the repository (e.g. ${SECRETS_DIR}/name) or "
                                  "git-ignore them and generate them at deploy time")


def _inside(target: Path, roots: list[Path]) -> bool:
    return any(target == r or r in target.parents for r in roots)


@check("secrets")
def agent_config_secrets(topology: Topology) -> Iterator[Finding]:
    for agent in topology.agents:
        yield from _scan(agent.name, agent.config, agent.loc, "config")


def _scan(agent: str, value: object, loc: object, path: str) -> Iterator[Finding]:
    if isinstance(value, Mapping):
        for key, sub in value.items():
            yield from _scan(agent, sub, loc, f"{path}.{key}")
        return
    if not isinstance(value, str):
        return
    key = path.rsplit(".", 1)[-1]
    url = URL_CREDENTIALS.match(value)
    if (url and "$" not in url.group(1)) or (SECRET_NAME.search(key) and not key.lower().endswith("_env")
                                            and _is_literal(value)):
        yield Finding("SEC001", Severity.ERROR, f"agent {agent} {path} holds a literal secret", loc,  # type: ignore[arg-type]
                      "startup configs are committed; the secret is then in every clone and backup",
                      "reference an environment variable or secret file instead")
