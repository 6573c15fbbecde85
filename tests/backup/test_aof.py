"""A Redis running with ``appendonly yes``: its AOF folder is backed up beside the RDB, verifies, and damage to
the AOF that is re-signed into the manifest is still caught by redis-check-aof."""

from __future__ import annotations

import subprocess
import time
from dataclasses import replace
from pathlib import Path

import pytest

from aisys_verify.backup import BackupInvalid, StoreTarget, create_backup, read_manifest, verify_backup
from aisys_verify.backup.manifest import file_entry, write_manifest
from aisys_verify.backup.scratch import free_port, redis_binary

pytestmark = [pytest.mark.integration, pytest.mark.backup]


def test_an_aof_redis_backs_up_its_append_only_files_and_redis_check_aof_guards_them(tmp_path: Path) -> None:
    import redis

    port = free_port()
    server = subprocess.Popen([redis_binary(), "--port", str(port), "--bind", "127.0.0.1", "--dir", str(tmp_path),
                               "--appendonly", "yes", "--save", "", "--logfile", str(tmp_path / "redis.log")],
                              stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=5)
    try:
        deadline = time.monotonic() + 20
        while True:
            try:
                client.ping()
                break
            except redis.ConnectionError:
                assert time.monotonic() < deadline, "redis-server did not answer"
                time.sleep(0.02)
        for i in range(200):
            client.set(f"k{i}", i)
        backup = tmp_path / "backup"
        manifest = create_backup([StoreTarget("h", "redis", "redis", address="127.0.0.1", port=port)], backup, "aof")
    finally:
        client.close()
        server.terminate()
        server.wait()
    files = manifest.stores[0].files
    assert any(f.endswith(".manifest") for f in files) and any(".incr.aof" in f for f in files), files
    assert manifest.stores[0].logical["count"] == 200
    verify_backup(backup)
    incr = next(backup / f for f in files if ".incr.aof" in f)
    incr.write_bytes(incr.read_bytes()[:-7])  # a torn last command
    resigned = read_manifest(backup)
    write_manifest(backup, replace(resigned, files=tuple(file_entry(backup, backup / f.path) for f in resigned.files)))
    with pytest.raises(BackupInvalid) as caught:
        verify_backup(backup)
    assert [(Path(f).suffix, p.split(":")[0]) for f, p in caught.value.problems] == [(".manifest", "redis-check-aof")]
