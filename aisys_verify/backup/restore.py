"""Restoring a backup: only one that verifies, into folders given by the caller (the same stack's host after
a disaster, or fresh folders for a drill), with each store's server stopped meanwhile.

``restore_backup`` writes files and starts nothing: the caller starts Redis and the agents over them. A
SQLite target's ``-wal`` and ``-shm`` files are removed first (they belong to the database being replaced).
"""

from __future__ import annotations

import shutil
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

from aisys_verify.backup.manifest import Manifest, StoreEntry
from aisys_verify.backup.verify import verify_backup

# where a store goes: for redis, the server's --dir folder (dump.rdb lands in it); for sqlite, the database
# file; for files, the folder to fill. None: leave this store out
Placement = Callable[[StoreEntry], Path | None]


def restore_backup(folder: Path, place: Placement, hosts: Iterable[str] | None = None) -> Manifest:
    """Verify the backup (BackupInvalid: nothing is written), then copy each store of ``hosts`` (all by
    default) to where ``place`` says. Returns the manifest (its watermark is what the restore holds)."""
    manifest = verify_backup(folder)
    wanted = set(hosts) if hosts is not None else None
    for store in manifest.stores:
        if wanted is not None and store.host not in wanted:
            continue
        target = place(store)
        if target is None:
            continue
        _restore_store(folder, store, target)
    return manifest


def _restore_store(folder: Path, store: StoreEntry, target: Path) -> None:
    if store.kind == "redis":
        target.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(folder / store.files[0], target / "dump.rdb")
        aof = [f for f in store.files if "/appendonlydir/" in f]
        if aof:
            shutil.rmtree(target / "appendonlydir", ignore_errors=True)
            shutil.copytree((folder / aof[0]).parent, target / "appendonlydir")
    elif store.kind == "sqlite":
        target.parent.mkdir(parents=True, exist_ok=True)
        for stale in (target.with_name(target.name + "-wal"), target.with_name(target.name + "-shm")):
            stale.unlink(missing_ok=True)
        tmp = target.with_name(target.name + ".restoring")
        shutil.copyfile(folder / store.files[0], tmp)
        tmp.replace(target)
    else:
        shutil.rmtree(target, ignore_errors=True)
        source = folder / Path(store.files[0]).parts[0] / "files" / store.name
        shutil.copytree(source, target, symlinks=True)


def stack_placement(plan: Any, redis_dirs: dict[str, Path]) -> Placement:
    """Where each store of a local stack lives: Redis in ``redis_dirs[host]``, SQLite under the plan's data
    folder (``<data_dir>/<host>/<name>``)."""

    def place(store: StoreEntry) -> Path | None:
        if store.kind == "redis":
            return redis_dirs.get(store.host)
        if store.kind == "sqlite":
            return Path(plan.data_dir) / store.host / store.name
        return None

    return place
