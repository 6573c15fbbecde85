"""The three kinds of store a backup holds, each taken consistently from a live system and read logically.

* Redis: ``BGSAVE`` (a fork writes a point-in-time RDB; we wait for INFO's ``rdb_saves`` to move, which
  unlike ``LASTSAVE`` does not stall on two saves within one second), then the RDB file is copied; the
  AOF folder too when the server runs with ``appendonly yes``.
* SQLite: the online backup API (a consistent copy under a live writer), turned into a single-file
  database (journal_mode DELETE) so that the backup is one file whatever mode the source runs in.
* Files: a folder copied as it is (compose volumes; on the local backend nothing needs it).

The logical checksum of each: the count of rows (keys, files) and a SHA-256 over the sorted content. Redis
keys with a TTL are left out of the hash (they expire between capture and verify, by design: readiness
keys) and only counted at capture.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aisys_verify.backup.manifest import StoreEntry
from aisys_verify.errors import BackupError
from aisys_verify.waiting import poll

SAVE_TIMEOUT_S = 60.0
# the last write sequence a store holds: the DR drill's writer sends the text "aisys-dr-writer seq N" as
# add_memory's content, as the real MemoryClient sends text (memclient.py); content {"seq": N} counts too
WATERMARK_TEXT = "aisys-dr-writer seq "
WATERMARK_SQL = (
    "SELECT MAX(seq) FROM ("
    "SELECT json_extract(content, '$.seq') AS seq FROM memories "
    "WHERE json_valid(content) AND json_type(content, '$.seq') = 'integer' UNION ALL "
    f"SELECT CAST(substr(json_extract(content, '$'), {len(WATERMARK_TEXT) + 1}) AS INTEGER) FROM memories "
    "WHERE json_valid(content) AND json_type(content) = 'text' "
    f"AND json_extract(content, '$') GLOB '{WATERMARK_TEXT}[0-9]*')")


@dataclass(frozen=True)
class StoreTarget:
    """One live store to back up: a Redis server (``address``, ``port``), a SQLite file or a folder (``path``)."""

    host: str
    kind: str  # redis | sqlite | files
    name: str
    path: Path | None = None  # on a volume: the path inside it
    address: str = ""
    port: int = 0
    volume: VolumeRef | None = None  # the store's files are on this Docker volume (the compose backend)
    password_file: Path | None = None  # the Redis's password (the compose backend's redis_password secret)

    @property
    def source(self) -> str:
        where = f"{self.address}:{self.port}" if self.kind == "redis" else str(self.path)
        return f"{where} on volume {self.volume.key}" if self.volume else where


@dataclass(frozen=True)
class VolumeRef:
    """A Docker volume of a compose stack's host: ``key`` as the compose file names it (the same in every stack
    of the spec: where a restore puts a store back), ``name`` as Docker knows it (this stack's)."""

    key: str
    name: str
    image: str  # what the helper container runs (the local base image: python3 with sqlite3, coreutils)
    stack_id: str  # its label, so that a sweep of the stack removes a helper left behind


def capture(target: StoreTarget, folder: Path, scratch: Path) -> StoreEntry:
    """Copy ``target`` into ``folder`` (the backup's <host>/<kind>/ subfolder) and describe it."""
    folder.mkdir(parents=True, exist_ok=True)
    if target.kind == "redis":
        files = _capture_redis(target, folder)
        logical = redis_logical_of_rdb(folder / "dump.rdb", scratch)
        watermark = None
    elif target.kind == "sqlite":
        assert target.path is not None
        out = folder / target.name
        _capture_sqlite(target, out)
        files, logical, watermark = [out], sqlite_logical(out), sqlite_watermark(out)
    elif target.kind == "files":
        assert target.path is not None
        out = folder / target.name
        shutil.copytree(target.path, out, symlinks=True)
        files, logical, watermark = sorted(p for p in out.rglob("*") if p.is_file()), files_logical(out), None
    else:
        raise BackupError(f"{target.host}: unknown store kind {target.kind!r} (redis, sqlite or files)")
    return StoreEntry(target.host, target.kind, target.name, tuple(str(p) for p in files), logical, watermark,
                      target.source)


def _capture_redis(target: StoreTarget, folder: Path) -> list[Path]:
    import redis

    def copy(dirname: Path, dbfilename: str, aof_dir: Path | None) -> list[Path]:
        # the file is renamed into place when the save finishes: copying now reads the complete new snapshot
        files = [Path(shutil.copyfile(dirname / dbfilename, folder / "dump.rdb"))]
        if aof_dir is not None:
            shutil.copytree(aof_dir, folder / "appendonlydir")
            files += sorted(p for p in (folder / "appendonlydir").rglob("*") if p.is_file())
        return files

    try:
        return copy(*redis_bgsave(target))
    except (redis.RedisError, OSError) as exc:
        raise BackupError(f"{target.host}: redis {target.source}: {type(exc).__name__}: {exc} (is the stack "
                          "running? 'aisys-verify status')") from exc


def redis_bgsave(target: StoreTarget) -> tuple[Path, str, Path | None]:
    """BGSAVE on the server and wait for it: (its --dir, its dbfilename, its AOF folder when AOF is on), as the
    server sees them (a container's paths on the compose backend)."""
    import redis

    client = redis.Redis(host=target.address, port=target.port, socket_timeout=10, **redis_auth(target.password_file))
    try:
        dirname = Path(str(client.config_get("dir")["dir"]))
        dbfilename = str(client.config_get("dbfilename")["dbfilename"])
        aof = client.config_get("appendonly")["appendonly"] == "yes"
        before = int(client.info("persistence")["rdb_saves"])
        deadline = time.monotonic() + SAVE_TIMEOUT_S
        while True:  # a save already running (another backup, a rewrite) makes BGSAVE refuse: wait for it
            try:
                client.bgsave()
                break
            except redis.ResponseError as exc:
                if "in progress" not in str(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        saved = poll(lambda: client.info("persistence"), max(0.0, deadline - time.monotonic()), 0.02,
                     until=lambda i: int(i["rdb_saves"]) > before and not int(i["rdb_bgsave_in_progress"]))
        if not saved.met:
            raise BackupError(f"{target.host}: redis {target.source}: BGSAVE did not finish within "
                              f"{SAVE_TIMEOUT_S:g} s")
        info = saved.last
        if info.get("rdb_last_bgsave_status") != "ok":
            raise BackupError(f"{target.host}: redis {target.source}: BGSAVE failed "
                              f"(rdb_last_bgsave_status {info.get('rdb_last_bgsave_status')}): see its log")
        aof_dir = dirname / str(client.config_get("appenddirname")["appenddirname"]) if aof else None
        return dirname, dbfilename, aof_dir
    finally:
        client.close()


def _capture_sqlite(target: StoreTarget, out: Path) -> None:
    assert target.path is not None
    if not target.path.is_file():
        raise BackupError(f"{target.host}: sqlite {target.path}: no such file")
    try:
        source = sqlite3.connect(f"file:{target.path}?mode=ro", uri=True, timeout=10)
        dest = sqlite3.connect(out)
        try:
            source.backup(dest)  # consistent under a live writer: restarts when the source changes mid-copy
            dest.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        finally:
            dest.close()
            source.close()
    except sqlite3.Error as exc:
        raise BackupError(f"{target.host}: sqlite {target.path}: {exc}") from exc


# --- logical content -----------------------------------------------------------------------------------


def sqlite_logical(path: Path) -> dict[str, Any]:
    """{"count": rows, "sha256": ..., "tables": {name: rows}} over every table, rows sorted by every column."""
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        digest = hashlib.sha256()
        tables: dict[str, int] = {}
        names = [r[0] for r in db.execute("SELECT name FROM sqlite_master WHERE type = 'table' "
                                          "AND name NOT LIKE 'sqlite_%' ORDER BY name")]
        for name in names:
            quoted = '"' + name.replace('"', '""') + '"'
            width = len(db.execute(f"SELECT * FROM {quoted} LIMIT 0").description)
            order = ", ".join(str(i + 1) for i in range(width))
            digest.update(f"table {name}\n".encode())
            count = 0
            for row in db.execute(f"SELECT * FROM {quoted} ORDER BY {order}"):
                digest.update(json.dumps(row, default=_blob).encode() + b"\n")
                count += 1
            tables[name] = count
        return {"count": sum(tables.values()), "sha256": digest.hexdigest(), "tables": tables}
    finally:
        db.close()


def sqlite_watermark(path: Path) -> int | None:
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        row = db.execute(WATERMARK_SQL).fetchone()
    except sqlite3.OperationalError:  # no memories table: the store records no sequence
        return None
    finally:
        db.close()
    return int(row[0]) if row and row[0] is not None else None


def _blob(value: object) -> str:
    return value.hex() if isinstance(value, bytes) else repr(value)


def redis_logical(client: Any, batch: int = 500) -> dict[str, Any]:
    """{"count": persistent keys, "sha256": ..., "volatile": keys with a TTL (not hashed)} of a live server.
    Pipelined in batches: one round trip per batch, not three per key."""
    digest = hashlib.sha256()
    persistent, volatile = 0, 0
    keys = sorted(client.scan_iter(count=1000))
    for i in range(0, len(keys), batch):
        chunk = keys[i:i + batch]
        pipe = client.pipeline(transaction=False)
        for key in chunk:
            pipe.ttl(key)
            pipe.type(key)
        meta = pipe.execute()
        pipe = client.pipeline(transaction=False)
        kept: list[tuple[bytes, str]] = []
        for j, key in enumerate(chunk):
            ttl, kind = int(meta[2 * j]), meta[2 * j + 1].decode()
            if ttl == -2 or kind == "none":  # gone since the scan
                continue
            if ttl >= 0:
                volatile += 1
                continue
            kept.append((key, kind))
            if kind == "string":
                pipe.get(key)
            elif kind == "hash":
                pipe.hgetall(key)
            elif kind == "list":
                pipe.lrange(key, 0, -1)
            elif kind == "set":
                pipe.smembers(key)
            elif kind == "zset":
                pipe.zrange(key, 0, -1, withscores=True)
            else:  # streams and modules: their serialised form (stable within one Redis version)
                pipe.dump(key)
        for (key, kind), value in zip(kept, pipe.execute(), strict=True):
            if kind == "hash":
                value = sorted(value.items())
            elif kind == "set":
                value = sorted(value)
            digest.update(json.dumps([key.hex(), kind, _hexed(value)]).encode() + b"\n")
            persistent += 1
    return {"count": persistent, "sha256": digest.hexdigest(), "volatile": volatile}


def _hexed(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.hex()
    if isinstance(value, (list, tuple)):
        return [_hexed(v) for v in value]
    return value


def redis_logical_of_rdb(rdb: Path, scratch: Path) -> dict[str, Any]:
    from aisys_verify.backup.scratch import scratch_redis

    folder = scratch / f"redis-{time.monotonic_ns()}"
    try:
        with scratch_redis(folder, rdb) as client:
            return redis_logical(client)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def files_logical(folder: Path) -> dict[str, Any]:
    from aisys_verify.backup.manifest import file_sha256

    entries = sorted((p.relative_to(folder).as_posix(), file_sha256(p)) for p in folder.rglob("*") if p.is_file())
    digest = hashlib.sha256("".join(f"{name}\0{sha}\n" for name, sha in entries).encode())
    return {"count": len(entries), "sha256": digest.hexdigest()}


def same_content(recorded: dict[str, Any], found: dict[str, Any]) -> bool:
    """Logical equality: the counts and hashes (the capture-only ``volatile`` count is not compared)."""
    return (recorded.get("count"), recorded.get("sha256")) == (found.get("count"), found.get("sha256"))


def redis_auth(password_file: Path | None) -> dict[str, Any]:
    """redis-py's arguments for a Redis that requires the password in ``password_file`` (none: no arguments).
    As the ``default`` user: a Redis without a password lets that in too."""
    if password_file is None or not password_file.is_file():
        return {}
    return {"username": "default", "password": password_file.read_text(encoding="utf-8").strip()}
