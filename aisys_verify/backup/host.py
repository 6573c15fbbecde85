"""A whole host lost and brought back, on a stack of the local backend.

``destroy_host`` is the disaster: every group of the host SIGKILLed, its Redis SIGKILLed, and its data
folders (the SQLite databases, the Redis folder) deleted, as if the machine and its disk were gone.
``recover_host`` restores the host's stores from a backup that verifies (restore.py), starts its Redis on the
same address and port over the restored RDB, and starts its groups again in dependency order, each waited
for until healthy.

The host's Redis is started by the local backend's own ``LocalStack.spawn_redis`` (the same command line,
folder and record as at the stack's start); only the wait is the backup's: it also waits for the RDB to load.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
from pathlib import Path
from typing import Any

from aisys_verify.backup.manifest import Manifest
from aisys_verify.backup.restore import restore_backup, stack_placement
from aisys_verify.errors import BackupError, CapabilityMissing

REDIS_START_S = 30.0


def _local(stack: Any) -> None:
    if not all(hasattr(stack, name) for name in ("plan", "redis", "workdir", "group_pids", "restart_group",
                                                  "spawn_redis")):
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
    """The host's redis-server again, as the local backend starts it, over whatever its folder holds; waits
    until it serves (answers PING with the restored RDB loaded)."""
    import redis

    from aisys_verify.waiting import poll

    address, port = stack.plan.redis[host]
    popen = stack.spawn_redis(host)
    client = redis.Redis(host=address, port=int(port), socket_timeout=2)

    def serving() -> bool:
        with contextlib.suppress(redis.RedisError):
            return bool(client.ping()) and not int(client.info("persistence").get("loading", 0))
        return False

    try:
        waited = poll(serving, REDIS_START_S, 0.02, give_up=lambda: popen.poll() is not None)
    finally:
        client.close()
    if waited.met:
        return
    if popen.poll() is not None:
        raise BackupError(f"{host}: redis-server on {address}:{port} exited ({popen.returncode}) after the "
                          f"restore: see {redis_dir(stack, host) / 'redis.log'}")
    raise BackupError(f"{host}: redis-server on {address}:{port} not serving {REDIS_START_S:g} s after the restore")


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
