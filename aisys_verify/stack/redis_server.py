"""Starting a redis-server process: the one command line every part of the package uses (the local
backend's per-host Redis, a host's Redis brought back after a restore, a backup's scratch server).

Callers wait for it their own way: the local backend for our own PONG on the port (not anyone else's),
the backup also for the RDB to finish loading.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from aisys_verify.errors import StackStartError, VerifyError
from aisys_verify.waiting import poll

__all__ = ["redis_binary", "spawn_redis", "terminate", "tls_flags", "wait_pong", "write_acl_file"]


def redis_binary(name: str = "redis-server", error: type[VerifyError] = StackStartError) -> str:
    """The path of ``name`` (redis-server, redis-check-rdb, ...), or ``error`` saying how to install it."""
    found = shutil.which(name)
    if found is None:
        raise error(f"{name} is not installed: run scripts/system-deps (apt-get install redis-server redis-tools)")
    return found


def spawn_redis(folder: Path, address: str, port: int, extra: Sequence[str] = (), *,
                error: type[VerifyError] = StackStartError) -> subprocess.Popen[bytes]:
    """A redis-server bound to ``address:port`` that keeps its files and its log (``redis.log``) in ``folder``
    and persists nothing by itself (no RDB snapshots, no AOF: backups take theirs explicitly); ``extra`` adds
    flags. Its own session, so a stop (or a SIGKILL) reaches it alone."""
    folder.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen([redis_binary(error=error), "--bind", address, "--port", str(port), "--save", "",
                             "--appendonly", "no", "--dir", str(folder), "--logfile", str(folder / "redis.log"),
                             *extra], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)


def tls_flags(port: int, cert: Path, key: Path, ca: Path, *, auth_clients: str = "yes",
              acl_file: Path | None = None) -> list[str]:
    """The ``extra`` flags of a redis-server serving TLS only on ``port`` (the plaintext port closed: ``--port 0``
    after spawn_redis's own, the last one wins), TLS 1.2/1.3 only, client certificates as ``auth_clients`` says
    (``yes``, ``optional``, ``no``), and its users from ``acl_file`` (write_acl_file: no password on the command
    line)."""
    flags = ["--port", "0", "--tls-port", str(port), "--tls-cert-file", str(cert), "--tls-key-file", str(key),
             "--tls-ca-cert-file", str(ca), "--tls-auth-clients", auth_clients, "--tls-protocols", "TLSv1.2 TLSv1.3"]
    return [*flags, "--aclfile", str(acl_file)] if acl_file is not None else flags


def write_acl_file(folder: Path, password: str, user: str = "default") -> Path:
    """An ACL file (0600, in ``folder``) giving ``user`` every right with ``password``, stored as its SHA-256
    (``#hash``): the value is on no command line and in no file, and ``ACL SETUSER`` still rotates it."""
    import hashlib

    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "users.acl"
    digest = hashlib.sha256(password.encode()).hexdigest()
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as out:
        out.write(f"user {user} on #{digest} ~* &* +@all\n")
    return path


def wait_pong(popen: subprocess.Popen[bytes], address: str, port: int, timeout: float) -> bool:
    """Our redis-server process is alive and answers PING (a port held by another process fails this)."""

    def pong() -> bool:
        with contextlib.suppress(OSError), socket.create_connection((address, port), timeout=0.3) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
        return False

    if not poll(pong, timeout, 0.02, give_up=lambda: popen.poll() is not None).met:
        return False
    time.sleep(0.05)  # a redis that lost the bind race exits right after
    return popen.poll() is None


def terminate(popen: subprocess.Popen[Any], grace: float = 3.0) -> None:
    """SIGTERM to the process's session, SIGKILL after ``grace`` seconds."""
    if popen.poll() is not None:
        return
    with contextlib.suppress(ProcessLookupError):
        os.killpg(popen.pid, signal.SIGTERM)
    try:
        popen.wait(grace)
    except subprocess.TimeoutExpired:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()
