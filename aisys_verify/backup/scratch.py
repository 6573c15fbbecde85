"""A throw-away redis-server over a copy of an RDB file: how a backup's Redis content is read (the logical
checksum at capture and at verify) and how a restore drill proves a fresh server serves the same keys.

It listens on a Unix socket in its own folder (no port to clash with) or, for a drill, on a fresh TCP port.
"""

from __future__ import annotations

import contextlib
import shutil
import socket
import subprocess
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aisys_verify.errors import BackupError
from aisys_verify.stack.redis_server import redis_binary as stack_redis_binary
from aisys_verify.stack.redis_server import spawn_redis
from aisys_verify.waiting import poll

START_TIMEOUT_S = 30.0  # loading a large RDB takes a while


def redis_binary(name: str = "redis-server") -> str:
    """The path of a Redis tool (redis-check-rdb, ...), or BackupError saying how to install it."""
    return stack_redis_binary(name, BackupError)


def free_port(address: str = "127.0.0.1") -> int:
    with socket.socket() as sock:
        sock.bind((address, 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def scratch_redis(folder: Path, rdb: Path | None = None, *, tcp: bool = False) -> Iterator[Any]:
    """A redis-server in ``folder`` loading a copy of ``rdb`` (an empty one without); yields a connected
    ``redis.Redis`` (decode_responses off: values are compared as bytes) and stops the server after."""
    import redis

    if rdb is not None:
        folder.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(rdb, folder / "dump.rdb")
    sock = folder / "redis.sock"
    port = free_port() if tcp else 0
    extra = ["--dbfilename", "dump.rdb"] + ([] if tcp else ["--unixsocket", str(sock), "--unixsocketperm", "700"])
    popen = spawn_redis(folder, "127.0.0.1", port, extra, error=BackupError)
    client = (redis.Redis(host="127.0.0.1", port=port, socket_timeout=10) if tcp
              else redis.Redis(unix_socket_path=str(sock), socket_timeout=10))

    def serving() -> bool:
        try:
            return bool(client.ping()) and not int(client.info("persistence").get("loading", 0))
        except (redis.ConnectionError, redis.BusyLoadingError, redis.TimeoutError):
            return False

    try:
        if not poll(serving, START_TIMEOUT_S, 0.02, give_up=lambda: popen.poll() is not None).met:
            if popen.poll() is None:
                raise BackupError(f"a scratch redis-server over {rdb} did not answer within {START_TIMEOUT_S:g} s")
            log = folder / "redis.log"
            tail = log.read_text(errors="replace")[-400:] if log.is_file() else ""
            raise BackupError(f"a scratch redis-server over {rdb} exited ({popen.returncode}): {tail}")
        yield client
    finally:
        client.close()
        popen.terminate()
        try:
            popen.wait(5)
        except subprocess.TimeoutExpired:
            popen.kill()
            popen.wait()
