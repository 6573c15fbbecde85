"""A whole host lost and brought back, on a stack of the local backend.

``destroy_host`` is the disaster: every group of the host SIGKILLed, its Redis SIGKILLed, and its data
folders (the SQLite databases, the Redis folder) deleted, as if the machine and its disk were gone.
``recover_host`` restores the host's stores from a backup that verifies (restore.py), starts its Redis on the
same address and port over the restored RDB, and starts its groups again in dependency order, each waited
for until healthy.

The local backend keeps no API for a host's Redis (it starts them once, with the stack), so the Redis
command line here mirrors aisys_verify/stack/local.py's ``_start_redis``: the same flags, the same folder.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path
from typing import Any

from aisys_verify.backup.manifest import Manifest
from aisys_verify.backup.restore import restore_backup, stack_placement
from aisys_verify.errors import BackupError, CapabilityMissing

REDIS_START_S = 30.0


def _local(stack: Any) -> None:
    if not all(hasattr(stack, name) for name in ("plan", "redis", "workdir", "group_pids", "restart_group")):
        raise CapabilityMissing(f"the {type(stack).__name__} backend cannot destroy and restore a host's stores "
                                "(the local backend can)", "backup")


def redis_dir(stack: Any, host: str) -> Path:
    return Path(stack.workdir) / "redis" / host


def host_data_dirs(stack: Any, host: str) -> list[Path]:
    return [Path(stack.plan.data_dir) / host, redis_dir(stack, host)]


def destroy_host(stack: Any, host: str) -> list[tuple[str, str]]:
    """Kill every group of ``host`` and its Redis (SIGKILL: no chance to flush or save), then delete its
    data folders. Returns the (host, group) pairs killed, to start again."""
    _local(stack)
    if host not in stack.plan.redis:
        raise BackupError(f"no host {host!r} in stack {stack.stack_id}: it has {', '.join(sorted(stack.plan.redis))}")
    killed = [key for key in list(stack.group_pids) if key[0] == host]
    for key in killed:
        stack.kill_group(*key, signal.SIGKILL)
    popen = stack.redis.pop(host, None)
    if popen is not None and popen.poll() is None:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(popen.pid, signal.SIGKILL)
        popen.wait()
    for folder in host_data_dirs(stack, host):
        shutil.rmtree(folder, ignore_errors=True)
    return killed


def start_host_redis(stack: Any, host: str) -> None:
    """The host's redis-server again, as the local backend starts it, over whatever its folder holds."""
    from aisys_verify.backup.scratch import redis_binary

    address, port = stack.plan.redis[host]
    folder = redis_dir(stack, host)
    folder.mkdir(parents=True, exist_ok=True)
    popen = subprocess.Popen([redis_binary(), "--bind", address, "--port", str(port), "--save", "", "--appendonly",
                              "no", "--dir", str(folder), "--logfile", str(folder / "redis.log")],
                             stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    stack.redis[host] = popen
    stack.record.add("redis", popen.pid, "redis-server")
    import redis

    client = redis.Redis(host=address, port=int(port), socket_timeout=2)
    deadline = time.monotonic() + REDIS_START_S
    try:
        while True:
            if popen.poll() is not None:
                raise BackupError(f"{host}: redis-server on {address}:{port} exited ({popen.returncode}) after "
                                  f"the restore: see {folder / 'redis.log'}")
            with contextlib.suppress(redis.RedisError):
                if client.ping() and not int(client.info("persistence").get("loading", 0)):
                    return
            if time.monotonic() > deadline:
                raise BackupError(f"{host}: redis-server on {address}:{port} not serving {REDIS_START_S:g} s "
                                  "after the restore")
            time.sleep(0.02)
    finally:
        client.close()


def recover_host(stack: Any, host: str, backup: Path, groups: list[tuple[str, str]],
                 group_timeout: float = 30.0) -> Manifest:
    """Restore ``host``'s stores from ``backup`` (refused unless it verifies), start its Redis, then its
    ``groups`` in start order. Returns the backup's manifest."""
    from aisys_verify.plan.order import start_layers

    _local(stack)
    manifest = restore_backup(backup, stack_placement(stack.plan, {host: redis_dir(stack, host)}), [host])
    if not any(s.host == host for s in manifest.stores):
        raise BackupError(f"backup {backup} holds no store of host {host!r}: nothing to restore it from")
    start_host_redis(stack, host)
    order = [key for layer in start_layers(stack.topology, [host]) for key in layer]
    for key in [k for k in order if k in groups] + [k for k in groups if k not in order]:
        stack.restart_group(*key, timeout=group_timeout)
    return manifest
