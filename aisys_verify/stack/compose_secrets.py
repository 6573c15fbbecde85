"""Secrets and CurveZMQ of the compose backend: real values behind the spec's ``_FILE`` variables, a Redis that
requires its password, the stand-ins' CurveZMQ certificates, and what the canary scan of a compose run reads.

* **Secrets.** Every file secret the hosts' compose overlays declare (``compose/*.secrets.yml``) gets a random
  canary value per run (``security.secrets.canary``) in the stack's secrets folder (0700; each file 0600, owned
  by the stand-in image's uid when this process may give it away, else readable by all inside the 0700 folder:
  a container reads its bind-mounted file without crossing the folder). With ``AISYS_SECRETS_DIR`` set the
  folder is the user's and nothing is written there.
* **Redis.** A host whose overlays declare ``redis_password`` gets a Redis that requires it: the value is read
  from the mounted secret file by the container's shell and handed to ``redis-server -`` as configuration on
  stdin (a here-document), so it is in no command line and no environment (``docker inspect`` and
  ``/proc/PID/cmdline`` show only the file's path). A group the compose files do not run (a generated service)
  gets the secret and ``REDIS_PASSWORD_FILE`` as the overlays give them to the others.
* **CurveZMQ.** With ``SECURE_ZMQ=1`` the certificates of this process (``standin.curve.stack_certificates``:
  ``ZMQ_CERTIFICATES_DIR`` or minted once per run) are copied into the stack's secrets folder, owned by the
  stand-ins' uid, mounted read-only into every group container at ``/run/secrets/zmq``, with ``SECURE_ZMQ=1``
  and ``ZMQ_CERTIFICATES_DIR`` set as the real agents read them; this process's clients keep the same keys.
* **Scan.** ``security.session.scan_stack`` looks for the run's canaries in every container's ``docker
  inspect`` and ``docker logs`` and in the stack's work folder but its secrets folder.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import TYPE_CHECKING, Any

from aisys_verify.secret_value import Secret, canary, write_secret_file

if TYPE_CHECKING:
    from aisys_verify.stack.compose import ComposeStack

CONTAINER_UID = 10001  # the stand-in image's user (Dockerfile)
REDIS_SECRET = "redis_password"
SECRETS_TARGET = "/run/secrets"  # where compose mounts a service's file secrets
CURVE_TARGET = f"{SECRETS_TARGET}/zmq"
REDIS_SCRIPT = ('IFS= read -r pw < "$0" || [ -n "$pw" ] || exit 78\n'
                'exec redis-server - "$@" <<EOF\nrequirepass $pw\nEOF\n')


def secrets_folder(stack: ComposeStack) -> Path:
    return Path(os.environ.get("AISYS_SECRETS_DIR") or stack.workdir / "secrets")


def write_run_secrets(stack: ComposeStack) -> dict[str, Secret]:
    """A canary per file secret the spec's compose files declare, written for the containers; name -> Secret.
    Nothing (an empty dict) when ``AISYS_SECRETS_DIR`` names the user's own folder."""
    if os.environ.get("AISYS_SECRETS_DIR"):
        return {}
    folder = secrets_folder(stack)
    folder.mkdir(parents=True, exist_ok=True)
    folder.chmod(0o700)
    result: dict[str, Secret] = {}
    for project in stack.topology.projects:
        for declared in project.secrets:
            if not declared.file or declared.external:
                continue
            name = Path(declared.file).name
            if name not in result:
                result[name] = canary(name)
                _for_containers(write_secret_file(result[name], folder))
    return result


def _for_containers(path: Path, mode: int = 0o600) -> None:
    """Let the stand-ins' uid read ``path`` (0600, theirs) where this process may chown; else readable by all
    (the 0700 secrets folder keeps other users of this machine out)."""
    try:
        os.chown(path, CONTAINER_UID, CONTAINER_UID)
        path.chmod(mode)
    except PermissionError:
        path.chmod(mode | 0o044 | (0o011 if path.is_dir() else 0))


def redis_declared(stack: ComposeStack, host: str) -> bool:
    """Whether ``host``'s compose files declare the ``redis_password`` file secret (its Redis then requires it)."""
    return any(p.host == host and any(s.name == REDIS_SECRET and s.file and not s.external for s in p.secrets)
               for p in stack.topology.projects)


def require_password(stack: ComposeStack, host: str, service: dict[str, Any]) -> dict[str, Any]:
    """The host's Redis service, requiring ``redis_password`` when the host declares it (see the docstring)."""
    if not redis_declared(stack, host):
        return service
    command = list(service["command"])
    script = REDIS_SCRIPT.replace("$", "$$")  # compose interpolates the file: the shell's own variables escaped
    return {**service, "command": ["sh", "-c", script, f"{SECRETS_TARGET}/{REDIS_SECRET}", *command[1:]],
            "secrets": [REDIS_SECRET]}


def secure_group(stack: ComposeStack, host: str, service: dict[str, Any]) -> None:
    """A group container's share of the secrets: ``redis_password`` where its host's Redis requires it and the
    files do not give it already; the CurveZMQ folder and variables when ``SECURE_ZMQ=1``."""
    environment = _environment(service.get("environment"))
    if redis_declared(stack, host) and "REDIS_PASSWORD_FILE" not in environment:
        sources = [s.get("source") if isinstance(s, dict) else s for s in service.get("secrets") or []]
        if REDIS_SECRET not in sources:
            service["secrets"] = [*(service.get("secrets") or []), REDIS_SECRET]
        environment["REDIS_PASSWORD_FILE"] = f"{SECRETS_TARGET}/{REDIS_SECRET}"
    folder = stack.renderer.curve_folder
    if folder is not None:
        from aisys_verify.standin.curve import CERTS_ENV, SECURE_ENV

        environment.update({SECURE_ENV: "1", CERTS_ENV: CURVE_TARGET})
        service["volumes"] = [*(service.get("volumes") or []),
                              {"type": "bind", "source": str(folder), "target": CURVE_TARGET, "read_only": True}]
    service["environment"] = environment


def _environment(original: Any) -> dict[str, str]:
    if isinstance(original, list):
        return {k: v for k, _, v in (str(e).partition("=") for e in original)}
    return {str(k): "" if v is None else str(v) for k, v in (original or {}).items()}


def curve_certificates(stack: ComposeStack) -> Path | None:
    """With ``SECURE_ZMQ=1``: this process's certificates copied into the stack's secrets folder for the
    containers (see the docstring); None: plaintext."""
    from aisys_verify.standin.curve import stack_certificates

    given = stack_certificates()
    if given is None:
        return None
    folder = stack.workdir / "secrets" / "zmq"
    shutil.copytree(given, folder, dirs_exist_ok=True)
    for path in sorted(folder.rglob("*"), reverse=True):
        _for_containers(path, 0o700 if path.is_dir() else 0o600)
    _for_containers(folder, 0o700)
    return folder

