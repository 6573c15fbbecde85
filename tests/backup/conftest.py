"""A real source to back up: a redis-server (persistent keys, one with a TTL) and a SQLite memory store in the
stand-ins' own schema (rows carrying {"seq": N}), backed up once per module; each test mutates a copy."""

from __future__ import annotations

import json
import shutil
import sqlite3
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from aisys_verify.backup import StoreTarget, create_backup
from aisys_verify.backup.scratch import scratch_redis
from aisys_verify.standin.roles.memory import Store

ROWS = 500


def make_store(path: Path, rows: int) -> None:
    Store(path).close()  # the stand-ins' own schema (and WAL mode), so the backup sees what they write
    db = sqlite3.connect(path)
    db.executemany("INSERT INTO memories VALUES (?, ?, ?, ?, ?)",
                   [(f"m{i:07d}", "s", "memory", json.dumps({"seq": i, "text": f"row {i}"}), 1.0e9 + i)
                    for i in range(1, rows + 1)])
    db.commit()
    db.close()


@pytest.fixture(scope="module")
def source(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    root = tmp_path_factory.mktemp("source")
    store = root / "data" / "pc2" / "MemoryOrchestratorService.sqlite"
    make_store(store, ROWS)
    with scratch_redis(root / "redis", tcp=True) as client:
        client.set("registry:agent:A", "127.0.0.1:7000")
        client.hset("registry:meta", mapping={"count": "2", "version": "1"})
        client.rpush("queue", "a", "b", "c")
        client.sadd("tags", "x", "y")
        client.zadd("scores", {"p": 1.5, "q": 2.0})
        client.set("ready:A", "1", ex=300)  # volatile: counted, not hashed
        port = int(client.connection_pool.connection_kwargs["port"])
        targets = [StoreTarget("pc2", "redis", "redis", address="127.0.0.1", port=port),
                   StoreTarget("pc2", "sqlite", store.name, path=store)]
        backup = root / "backup"
        create_backup(targets, backup, "test-stack")
        yield {"root": root, "backup": backup, "store": store, "client": client, "targets": targets}


@pytest.fixture
def backup_copy(source: dict[str, Any], tmp_path: Path) -> Path:
    """A copy of the module's pristine backup, to damage."""
    copy = tmp_path / f"backup-{time.monotonic_ns()}"
    shutil.copytree(source["backup"], copy)
    return copy
