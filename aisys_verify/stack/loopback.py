"""Which 127.N.M network a stack's addresses live on, claimed so that two stacks never share one.

A random pick alone once gave two engineers' stacks the same network. A network is taken here only
when (1) this machine's claim file for it can be created (``O_EXCL``, in a folder every user and state
dir shares; a claim whose process is gone is stale and taken over), and (2) nothing listens on its
Toxiproxy API address (``.1:8474``, which every backend binds), for stacks started without a claim.
"""

from __future__ import annotations

import contextlib
import errno
import os
import random
import socket
from pathlib import Path

from aisys_verify.errors import StackStartError
from aisys_verify.stack.state import process_start_time

__all__ = ["claim_network", "claims_dir", "release_network"]

PROBE_PORT = 8474  # Toxiproxy's API on <network>.1: bound by every backend's stack
TRIES = 64


def claims_dir() -> Path:
    """One folder per machine: not per state dir or TMPDIR (tests give child runs their own), since stacks of
    every user, state dir and temp folder share loopback."""
    folder = Path(os.environ.get("AISYS_NETWORK_CLAIMS") or "/tmp/aisys-verify-networks")
    folder.mkdir(mode=0o1777, parents=True, exist_ok=True)
    with contextlib.suppress(OSError):
        folder.chmod(0o1777)  # sticky and open to every user, like /tmp: a claim is removed only by its owner
    return folder


def _owner_alive(claim: Path) -> bool:
    try:
        pid_text, _, start_text = claim.read_text().partition(" ")
        pid = int(pid_text)
    except (OSError, ValueError):
        return False
    started = process_start_time(pid)
    return started is not None and str(started) == start_text.strip()


def _listening(network: str, port: int = PROBE_PORT) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind((f"{network}.1", port))
        except OSError as exc:
            return exc.errno == errno.EADDRINUSE
    return False


def _mine() -> str:
    return f"{os.getpid()} {process_start_time(os.getpid())}"


def _try_claim(network: str, folder: Path) -> bool:
    claim = folder / network
    for _ in range(2):
        try:
            fd = os.open(claim, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o644)
        except FileExistsError:
            if _owner_alive(claim):
                return False
            with contextlib.suppress(OSError):
                claim.unlink()  # stale: its process is gone (a SIGKILLed run)
            continue
        with os.fdopen(fd, "w") as handle:
            handle.write(_mine())
        if _listening(network):
            claim.unlink()
            return False
        return True
    return False


def claim_network(rng: random.Random | None = None, folder: Path | None = None) -> str:
    """A free 127.N.M network (N in 10..250, M in 1..250), claimed for this process until ``release_network``."""
    pick = rng or random.SystemRandom()
    where = folder or claims_dir()
    for _ in range(TRIES):
        network = f"127.{pick.randint(10, 250)}.{pick.randint(1, 250)}"
        if _try_claim(network, where):
            return network
    raise StackStartError(f"no free loopback network after {TRIES} tries: claims in {where} (remove those whose "
                          "stacks are gone) or listeners on 127.N.M.1:8474 (stop the stacks that hold them)")


def release_network(network: str, folder: Path | None = None) -> None:
    """Drop this process's claim on ``network`` (idempotent; another process's claim is left alone)."""
    claim = (folder or claims_dir()) / network
    with contextlib.suppress(OSError):
        if claim.read_text() == _mine():
            claim.unlink()
