"""A compose stack's host lost and brought back, and a backup restored into a fresh compose stack.

``destroy_compose_host`` is the disaster: every group container of the host and its Redis container
SIGKILLed (``docker kill``), and every volume of the host's project emptied, as if the machine and its disk
were gone (the anchor of a spec-images host stays: it is the host's network, not its data).
``recover_compose_host`` restores the host's stores from a backup that verifies (restore.py) into a staging
folder, copies them into the host's volumes (volumes.py), starts its Redis container (which loads the RDB
from its volume) and then its groups in dependency order, each waited for until healthy. With ``prove``,
before any group starts, the restored stores are read back from the volumes (a backup of them) and compared
with the backup's recorded content: a restore into a fresh stack proved equal at the watermark.
"""

from __future__ import annotations

import shutil
import tempfile
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aisys_verify.backup.manifest import Manifest
from aisys_verify.backup.restore import restore_backup
from aisys_verify.backup.stores import same_content
from aisys_verify.backup.volumes import (
    compose_targets,
    host_volumes,
    put_volumes,
    staging_place,
    wipe_volumes,
)
from aisys_verify.errors import BackupError, BackupInvalid

REDIS_START_S = 60.0


def _redis_container(stack: Any, host: str) -> str:
    from aisys_verify.stack.compose_names import REDIS_SERVICE

    return str(stack.runner.cid(stack.host_projects[host], REDIS_SERVICE))


def _running(ids: list[str]) -> list[str]:
    """Those of ``ids`` whose container runs (one docker inspect for all: this is on the RTO's clock)."""
    from aisys_verify.stack.docker import run_docker

    if not ids:
        return []
    proc = run_docker("inspect", "--format", "{{.Id}} {{.State.Running}}", *ids, check=False, timeout=60)
    alive = {line.split()[0] for line in proc.stdout.splitlines() if line.endswith(" true")}
    return [cid for cid in ids if any(full.startswith(cid) for full in alive)]


def _kill(ids: list[str]) -> None:
    from aisys_verify.stack.docker import run_docker
    from aisys_verify.waiting import wait_until

    running = _running(ids)
    if running:
        run_docker("kill", "--signal", "KILL", *running, check=False, timeout=60)
    if wait_until(lambda: not _running(running), 30, 0.1) is None:
        raise BackupError(f"containers {', '.join(c[:12] for c in running)} still run 30 s after docker kill")


def host_groups(stack: Any, host: str) -> list[tuple[str, str]]:
    return [key for key in stack.services if key[0] == host]


def destroy_compose_host(stack: Any, host: str) -> list[tuple[str, str]]:
    """Kill every group container of ``host`` and its Redis (SIGKILL), then empty its volumes. Returns the
    (host, group) pairs killed, to start again."""
    if host not in stack.host_projects:
        raise BackupError(f"no host {host!r} in stack {stack.stack_id}: it has "
                          f"{', '.join(sorted(stack.host_projects))}")
    killed = host_groups(stack, host)
    _kill([stack.group_container(*key) for key in killed] + [_redis_container(stack, host)])
    wipe_volumes(host_volumes(stack, host))
    return killed


def _start_redis(stack: Any, host: str) -> None:
    import redis

    from aisys_verify.stack.docker import run_docker
    from aisys_verify.waiting import wait_until

    run_docker("start", _redis_container(stack, host), timeout=60)
    address, port = stack.redis_address(host)
    from aisys_verify.backup.stores import redis_auth
    from aisys_verify.backup.volumes import redis_password_file

    client = redis.Redis(host=address, port=int(port), socket_timeout=2, **redis_auth(redis_password_file(stack)))

    def serving() -> bool:
        try:
            return bool(client.ping()) and not int(client.info("persistence").get("loading", 0))
        except redis.RedisError:
            return False

    try:
        if wait_until(serving, REDIS_START_S, 0.05) is None:
            raise BackupError(f"{host}: the Redis container is not serving on {address}:{port} {REDIS_START_S:g} s "
                              f"after the restore: see 'docker logs {_redis_container(stack, host)}'")
    finally:
        client.close()


def prove_restored(stack: Any, host: str, manifest: Manifest) -> list[tuple[str, int]]:
    """Read ``host``'s stores back from the stack (a backup of them, in a scratch folder) and compare each
    with what ``manifest`` recorded; BackupInvalid naming every store that differs or is missing."""
    from aisys_verify.backup.take import create_backup

    scratch = Path(tempfile.mkdtemp(prefix="aisys-prove-"))
    try:
        found = {s.key: s for s in create_backup(compose_targets(stack, [host]), scratch / "b", stack.stack_id).stores}
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    proved: list[tuple[str, int]] = []
    problems: list[tuple[str, str]] = []
    for store in (s for s in manifest.stores if s.host == host):
        now = found.get(store.key)
        if now is None:
            problems.append((store.key, "not in the restored stack"))
        elif not same_content(store.logical, now.logical):
            problems.append((store.key, f"restored content differs: {now.logical.get('count')} rows/keys, the "
                                        f"source had {store.logical.get('count')}"))
        elif store.watermark != now.watermark:
            problems.append((store.key, f"watermark {now.watermark}, the backup says {store.watermark}"))
        else:
            proved.append((store.key, int(now.logical.get("count", 0))))
    if problems:
        raise BackupInvalid(f"restore into stack {stack.stack_id} is not equal to its source: "
                            + "; ".join(f"{k}: {w}" for k, w in problems), backup=str(manifest.stack_id),
                            problems=problems)
    return proved


def recover_compose_host(stack: Any, host: str, backup: Path, groups: Iterable[tuple[str, str]], *,
                         group_timeout: float = 60.0, prove: bool = False) -> Manifest:
    """Restore ``host``'s stores from ``backup`` (refused unless it verifies) into its volumes, start its
    Redis, (with ``prove``: compare the restored stores with the backup), then its ``groups`` in start order."""
    from aisys_verify.plan.order import start_layers
    from aisys_verify.stack.docker import run_docker

    staging = Path(tempfile.mkdtemp(prefix="aisys-restore-"))
    try:
        manifest = restore_backup(backup, staging_place(staging), [host])
        if not any(s.host == host for s in manifest.stores):
            raise BackupError(f"backup {backup} holds no store of host {host!r}: nothing to restore it from")
        # a fresh stack's containers hold the stores open: they go down before their files are replaced
        _kill([stack.group_container(*key) for key in host_groups(stack, host)] + [_redis_container(stack, host)])
        put_volumes(host_volumes(stack, host), staging)
    finally:
        shutil.rmtree(staging, ignore_errors=True)
    _start_redis(stack, host)
    if prove:
        prove_restored(stack, host, manifest)
    wanted = list(groups)
    layers = [[k for k in layer if k in wanted] for layer in start_layers(stack.topology, [host])]
    layers.append([k for k in wanted if not any(k in layer for layer in layers)])
    for layer in (x for x in layers if x):  # a layer's containers start together, then wait for their health
        run_docker("start", *(stack.group_container(*key) for key in layer), timeout=120)
        stack.runner.wait_healthy(layer, group_timeout)
    return manifest


@dataclass(frozen=True)
class StackRestore:
    backup: str
    stack_id: str
    watermark: int | None
    stores: tuple[tuple[str, int], ...]  # (store key, rows or keys) each proved equal


def restore_into_stack(backup: Path, stack: Any, hosts: Iterable[str] | None = None) -> StackRestore:
    """Restore every host of ``backup`` (or ``hosts``) into a running compose stack (a fresh one: new
    containers, new volumes), each host's stores proved equal to the backup before its groups start again."""
    from aisys_verify.backup.manifest import read_manifest

    recorded = read_manifest(backup)
    wanted = sorted(set(hosts) if hosts is not None else {s.host for s in recorded.stores})
    proved: list[tuple[str, int]] = []
    for host in wanted:
        manifest = recover_compose_host(stack, host, backup, host_groups(stack, host), prove=True)
        proved += [(s.key, int(s.logical.get("count", 0))) for s in manifest.stores if s.host == host]
    return StackRestore(str(backup), stack.stack_id, recorded.watermark, tuple(proved))
