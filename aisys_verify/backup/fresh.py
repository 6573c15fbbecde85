"""A restore drill into fresh stores: the backup restored into new folders, its Redis served by a new
redis-server on a new port, and every store proved logically equal to the source at the backup's
watermark (the counts and hashes the manifest recorded when the source was captured)."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from aisys_verify.backup.manifest import StoreEntry
from aisys_verify.backup.restore import restore_backup
from aisys_verify.backup.stores import files_logical, redis_logical, same_content, sqlite_logical, sqlite_watermark
from aisys_verify.errors import BackupInvalid


@dataclass(frozen=True)
class FreshRestore:
    backup: str
    folder: str
    watermark: int | None
    restore_s: float  # verify + copy
    serve_s: float  # fresh Redis servers up and every store read back
    stores: tuple[tuple[str, int], ...]  # (store key, rows or keys) each proved equal


def restore_fresh(backup: Path, folder: Path) -> FreshRestore:
    """Restore ``backup`` under ``folder`` (new), start a fresh redis-server per Redis store on a free port,
    and compare every store with the manifest; BackupInvalid naming the store that differs."""
    from aisys_verify.backup.scratch import scratch_redis

    began = time.perf_counter()

    def place(store: StoreEntry) -> Path:
        base = folder / store.host / store.kind
        return base if store.kind == "redis" else base / store.name

    manifest = restore_backup(backup, place)
    restored = time.perf_counter()
    proved: list[tuple[str, int]] = []
    problems: list[tuple[str, str]] = []
    for store in manifest.stores:
        target = place(store)
        if store.kind == "redis":
            with scratch_redis(target / "server", target / "dump.rdb", tcp=True) as client:
                found = redis_logical(client)
        elif store.kind == "sqlite":
            found = sqlite_logical(target)
            if sqlite_watermark(target) != store.watermark:
                problems.append((store.key, f"watermark {sqlite_watermark(target)}, the backup says {store.watermark}"))
        else:
            found = files_logical(target)
        if same_content(store.logical, found):
            proved.append((store.key, int(found["count"])))
        else:
            problems.append((store.key, f"restored content differs: {found['count']} rows/keys, sha256 "
                                        f"{found['sha256']}; the source had {store.logical.get('count')}"))
    if problems:
        raise BackupInvalid(f"restore of {backup} into {folder} is not equal to its source: "
                            + "; ".join(f"{k}: {w}" for k, w in problems), backup=str(backup), problems=problems)
    return FreshRestore(str(backup), str(folder), manifest.watermark, restored - began,
                        time.perf_counter() - restored, tuple(proved))

