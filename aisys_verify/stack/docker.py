"""The Docker side of the compose backend: the compose CLI, docker commands, and finding and
removing what a stack left behind (by its labels), including after a SIGKILL of its owner."""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import socket
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path

from aisys_verify.errors import ComposeError as ComposeError
from aisys_verify.stack import state
from aisys_verify.stack.images import ImageError, docker_cli, docker_usable

LABEL_STACK = "com.aisys-verify.stack"
LABEL_OWNER = "com.aisys-verify.owner"  # "<hostname>:<pid>:<process start time>"

# --- the compose CLI ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class ComposeCli:
    """``docker compose`` (v2+ plugin) where the machine has it, else ``docker-compose`` (v1, or a standalone v2+)."""

    command: tuple[str, ...]
    version: str

    @property
    def major(self) -> int:
        match = re.match(r"v?(\d+)", self.version)
        return int(match.group(1)) if match else 0

    @classmethod
    def detect(cls) -> ComposeCli:
        candidates: list[tuple[str, ...]] = []
        override = os.environ.get("AISYS_COMPOSE")
        if override:
            candidates.append(tuple(override.split()))
        with contextlib.suppress(ImageError):
            candidates.append((docker_cli(), "compose"))
        for name in ("docker-compose", str(Path(sys.executable).with_name("docker-compose"))):
            found = shutil.which(name)
            if found:
                candidates.append((found,))
        for command in candidates:
            with contextlib.suppress(OSError, subprocess.TimeoutExpired):
                proc = subprocess.run([*command, "version", "--short"], capture_output=True, text=True, timeout=20,
                                      check=False)
                if proc.returncode == 0 and proc.stdout.strip():
                    return cls(command, proc.stdout.strip())
        raise ComposeError("no docker compose: run scripts/docker-setup (installs Compose v5 as a CLI plugin)")


def run_docker(*args: str, check: bool = True, timeout: float = 120.0) -> subprocess.CompletedProcess[str]:
    try:
        proc = subprocess.run([docker_cli(), *args], capture_output=True, text=True, timeout=timeout, check=False)
    except subprocess.TimeoutExpired:
        raise ComposeError(f"docker {' '.join(args[:4])}: no answer within {timeout:g} s") from None
    if check and proc.returncode != 0:
        raise ComposeError(f"docker {' '.join(args[:6])}: exit {proc.returncode}: {proc.stderr.strip()[-1500:]}")
    return proc


# --- owners and leftovers -----------------------------------------------------------------------------


def _start_time(pid: int) -> str:
    started = state.process_start_time(pid)
    return "" if started is None else str(started)


def owner_label(pid: int | None = None) -> str:
    pid = os.getpid() if pid is None else pid
    return f"{socket.gethostname()}:{pid}:{_start_time(pid)}"


def owner_alive(label: str) -> bool:
    """True when the owner runs on another machine (not ours to judge) or is still the same live process."""
    hostname, _, rest = label.partition(":")
    pid, _, started = rest.partition(":")
    if hostname != socket.gethostname():
        return True
    if not pid.isdigit():
        return False
    now = _start_time(int(pid))
    return bool(now) and now == started


@dataclass
class Leftover:
    stack_id: str
    owner: str
    containers: list[str] = field(default_factory=list)
    networks: list[str] = field(default_factory=list)
    volumes: list[str] = field(default_factory=list)


def labelled_objects(stack_id: str | None = None) -> dict[str, Leftover]:
    """Every container, network and volume carrying the stack label (of one stack, or all), by stack id."""
    selector = f"{LABEL_STACK}={stack_id}" if stack_id else LABEL_STACK
    fmt = f'{{{{.ID}}}}\t{{{{.Label "{LABEL_STACK}"}}}}\t{{{{.Label "{LABEL_OWNER}"}}}}'
    found: dict[str, Leftover] = {}
    queries = (("containers", ["ps", "-a", "--no-trunc", "--filter", f"label={selector}", "--format", fmt]),
               ("networks", ["network", "ls", "--no-trunc", "--filter", f"label={selector}", "--format",
                             fmt.replace(".ID", ".Name")]),
               ("volumes", ["volume", "ls", "--filter", f"label={selector}", "--format",
                            fmt.replace(".ID", ".Name")]))
    for kind, args in queries:
        for line in run_docker(*args, timeout=60).stdout.splitlines():
            parts = line.split("\t")
            if len(parts) < 3 or not parts[1]:
                continue
            entry = found.setdefault(parts[1], Leftover(parts[1], parts[2]))
            getattr(entry, kind).append(parts[0])
            if not entry.owner or entry.owner == "<no value>":
                entry.owner = parts[2]
    return found


def remove_objects(leftover: Leftover) -> None:
    """Containers first (forcibly, with their anonymous volumes), then networks, then volumes."""
    if leftover.containers:
        run_docker("rm", "-f", "-v", *leftover.containers, check=False, timeout=180)
    for network in leftover.networks:
        run_docker("network", "rm", network, check=False, timeout=60)
    if leftover.volumes:
        run_docker("volume", "rm", "-f", *leftover.volumes, check=False, timeout=60)


def reap_compose(include_live_owners: bool = False, stack_id: str | None = None) -> list[Leftover]:
    """Remove what compose stacks whose owner is gone left behind: labelled objects and state records.

    With ``include_live_owners`` (``aisys-verify down``) every stack on this engine is removed.
    """
    removed: list[Leftover] = []
    if docker_usable() is None:
        for leftover in labelled_objects(stack_id).values():
            if include_live_owners or not owner_alive(leftover.owner):
                remove_objects(leftover)
                removed.append(leftover)
    folder = state.state_dir()
    for path in sorted(folder.glob("*.json")) if folder.is_dir() else ():
        record = state.StackRecord.load(path)
        if record is None or record.backend != "compose" or (stack_id and record.stack_id != stack_id):
            continue
        if include_live_owners or not _record_owner_alive(record):
            remove_workdir(record.workdir)
            record.remove()
    return removed


def _record_owner_alive(record: state.StackRecord) -> bool:
    return state.owner_alive(record)


def live_stacks() -> set[str]:
    """The stacks this process runs (so no reaper in this process takes them for leftovers)."""
    return state.LIVE_IN_THIS_PROCESS


def remove_workdir(path: str) -> None:
    if path and Path(path).name.startswith("aisys-") and Path(path).is_dir():
        shutil.rmtree(path, ignore_errors=True)
