"""Secrets that cannot leak by accident, canary values per run, and a scan of every place a run writes.

``Secret`` is not a ``str``: pytest's assertion diff, ``repr``, f-strings, ``json.dumps`` and pickling
never see the value (a failing ``assert secret == "x"`` on a str, even a subclass with a redacting
``__repr__``, prints it in the output and in JUnit XML: platform-notes.md). ``reveal()`` is the one way
to the value, so every use is visible in review.

``canary(name)`` makes a random value per run, unguessable and unique, so that finding it anywhere
proves a leak. ``scan_files``/``scan_processes``/``scan_containers`` look for each canary (as is,
URL-encoded and base64) in files (agents' logs, work folders, Allure results, JUnit XML, load CSVs,
chaos journals, SLO reports), in ``/proc/<pid>/environ`` and ``cmdline``, and in ``docker inspect`` and
``docker logs`` of containers; ``check_no_leaks`` raises SecretLeak naming
each place and the secret's name, never its value.
"""

from __future__ import annotations

import base64
import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import quote

from aisys_verify.errors import SecretLeak

# the value type lives below both security and stack (the compose backend writes canaries): re-exported here
from aisys_verify.secret_value import CANARY_PREFIX as CANARY_PREFIX
from aisys_verify.secret_value import Secret as Secret
from aisys_verify.secret_value import canary as canary
from aisys_verify.secret_value import write_secret_file as write_secret_file

MAX_FILE_BYTES = 64 << 20  # a larger file is read in its first 64 MiB


@dataclass(frozen=True)
class Leak:
    place: str  # a file path, or "pid N environ" / "pid N cmdline"
    secret: str  # the secret's name, never its value
    form: str  # how it was found: plain, url-encoded, base64


def _forms(secret: Secret) -> list[tuple[str, bytes]]:
    value = secret.reveal().encode()
    forms = [("plain", value), ("base64", base64.b64encode(value).rstrip(b"="))]
    quoted = quote(secret.reveal(), safe="").encode()
    if quoted != value:
        forms.append(("url-encoded", quoted))
    return forms


def _search(data: bytes, place: str, secrets: Iterable[Secret]) -> list[Leak]:
    found = []
    for secret in secrets:
        for form, needle in _forms(secret):
            if needle in data:
                found.append(Leak(place, secret.name, form))
                break
    return found


def scan_bytes(secrets: Iterable[Secret], data: bytes, place: str) -> list[Leak]:
    """The secrets ``data`` holds (read from ``place``: a file in a volume, a stream), one Leak each."""
    return _search(data, place, list(secrets))


def scan_files(secrets: Iterable[Secret], paths: Iterable[Path]) -> list[Leak]:
    """Every file under ``paths`` (files or folders, missing ones skipped) that holds a secret."""
    secrets = list(secrets)
    leaks: list[Leak] = []
    for root in paths:
        if not root.exists():
            continue
        files = [root] if root.is_file() else sorted(p for p in root.rglob("*") if p.is_file() and not p.is_symlink())
        for path in files:
            try:
                with path.open("rb") as handle:
                    data = handle.read(MAX_FILE_BYTES)
            except OSError:
                continue
            leaks += _search(data, str(path), secrets)
    return leaks


def scan_processes(secrets: Iterable[Secret], pids: Iterable[int], proc: Path = Path("/proc")) -> list[Leak]:
    """``/proc/<pid>/environ`` and ``cmdline`` of each process (and its children) that hold a secret."""
    secrets = list(secrets)
    leaks: list[Leak] = []
    for pid in sorted(_with_children(set(pids), proc)):
        for part in ("environ", "cmdline"):
            try:
                data = (proc / str(pid) / part).read_bytes()
            except OSError:  # gone, or not ours to read
                continue
            leaks += _search(data, f"pid {pid} {part}", secrets)
    return leaks


def scan_containers(secrets: Iterable[Secret], ids: Iterable[str]) -> list[Leak]:
    """``docker inspect`` (environment, command, labels) and ``docker logs`` of each container that hold a
    secret (compose backend); the place is ``container NAME inspect`` / ``container NAME logs``."""
    from aisys_verify.stack.docker import run_docker

    secrets = list(secrets)
    leaks: list[Leak] = []
    for cid in ids:
        inspected = run_docker("inspect", cid, check=False, timeout=60)
        if inspected.returncode != 0:
            continue
        name = cid[:12]
        try:
            name = str(json.loads(inspected.stdout)[0].get("Name", name)).lstrip("/") or name
        except (ValueError, IndexError, AttributeError):
            pass
        leaks += _search(inspected.stdout.encode(), f"container {name} inspect", secrets)
        logs = run_docker("logs", cid, check=False, timeout=60)
        leaks += _search((logs.stdout + logs.stderr).encode(), f"container {name} logs", secrets)
    return leaks


def _with_children(pids: set[int], proc: Path) -> set[int]:
    parents: dict[int, int] = {}
    for entry in proc.iterdir():
        if entry.name.isdigit():
            try:
                stat = (entry / "stat").read_text()
                parents[int(entry.name)] = int(stat.rsplit(")", 1)[1].split()[1])
            except (OSError, ValueError, IndexError):
                continue
    result = set(pids)
    grew = True
    while grew:
        more = {pid for pid, parent in parents.items() if parent in result} - result
        result |= more
        grew = bool(more)
    return result


def check_no_leaks(leaks: Iterable[Leak]) -> None:
    """Raise SecretLeak naming every place (and the secret's name) when ``leaks`` is not empty."""
    __tracebackhide__ = True
    leaks = list(leaks)
    if leaks:
        lines = [f"  {leak.place}: secret {leak.secret!r} ({leak.form})" for leak in leaks]
        raise SecretLeak(f"{len(leaks)} secret leak(s): a run's canary secret was found where it must never be:\n"
                         + "\n".join(lines) + "\nfind what wrote it there (a log line, an environment dump, an "
                         "assertion on the revealed value) and pass the secret through a *_FILE path instead",
                         files=tuple(dict.fromkeys(leak.place for leak in leaks)))


def as_environment(secrets: Mapping[str, Secret]) -> dict[str, str]:
    """Variable -> revealed value, for the rare process that only reads its secret from the environment
    (prefer ``write_secret_file`` and a ``*_FILE`` variable: environ is readable in /proc and docker inspect)."""
    return {name: secret.reveal() for name, secret in secrets.items()}

