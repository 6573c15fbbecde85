"""Backup and restore cost against store size: a SQLite memory store in the stand-ins' schema with N rows
(content ~90 bytes of JSON, each carrying {"seq": n}) and a Redis with N/10 persistent keys (a cache's
share), backed up (BGSAVE + the online backup API + logical checksums), verified (hashes, redis-check-rdb,
integrity_check and logical checksums recomputed on copies) and restored into fresh stores proved equal.

    .venv/bin/python benchmarks/bench_backup.py                       # 10k and 100k rows
    .venv/bin/python benchmarks/bench_backup.py --sizes 10000,100000,1000000
"""

from __future__ import annotations

import argparse
import json
import shutil
import sqlite3
import tempfile
import time
from pathlib import Path

from aisys_verify.backup import StoreTarget, create_backup, restore_fresh, verify_backup
from aisys_verify.backup.scratch import scratch_redis
from aisys_verify.standin.roles.memory import Store


def make_sqlite(path: Path, rows: int) -> None:
    Store(path).close()  # the stand-ins' own schema (and WAL mode), so the backup sees what they write
    db = sqlite3.connect(path)
    for start in range(0, rows, 50_000):
        db.executemany("INSERT INTO memories VALUES (?, ?, ?, ?, ?)", [
            (f"{i:032x}", f"session-{i % 97}", "memory", json.dumps({"seq": i, "text": f"remembered fact number {i}"}),
             1.7e9 + i) for i in range(start + 1, min(rows, start + 50_000) + 1)])
        db.commit()
    db.close()


def run(rows: int, root: Path) -> dict[str, float]:
    folder = root / str(rows)
    store = folder / "data" / "pc2" / "MemoryOrchestratorService.sqlite"
    make_sqlite(store, rows)
    keys = max(1, rows // 10)
    with scratch_redis(folder / "redis", tcp=True) as client:
        pipe = client.pipeline(transaction=False)
        for i in range(keys):
            pipe.set(f"memory:MemoryOrchestratorService:{i:032x}", json.dumps({"seq": i, "text": f"fact {i}"}))
            if i % 10_000 == 9_999:
                pipe.execute()
        pipe.execute()
        port = int(client.connection_pool.connection_kwargs["port"])
        targets = [StoreTarget("pc2", "redis", "redis", address="127.0.0.1", port=port),
                   StoreTarget("pc2", "sqlite", store.name, path=store)]
        began = time.perf_counter()
        manifest = create_backup(targets, folder / "backup", "bench")
        backup_s = time.perf_counter() - began
    began = time.perf_counter()
    verify_backup(folder / "backup")
    verify_s = time.perf_counter() - began
    began = time.perf_counter()
    restored = restore_fresh(folder / "backup", folder / "fresh")
    restore_s = time.perf_counter() - began
    source_bytes = sum(p.stat().st_size for p in store.parent.iterdir())
    result = {"rows": rows, "redis_keys": keys, "source_mb": source_bytes / 2**20,
              "backup_mb": sum(f.size for f in manifest.files) / 2**20, "backup_s": backup_s, "verify_s": verify_s,
              "restore_s": restore_s, "restore_copy_s": restored.restore_s, "serve_and_prove_s": restored.serve_s}
    shutil.rmtree(folder, ignore_errors=True)
    return result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="10000,100000", help="memory rows per run, comma-separated")
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="bench-backup-"))
    print(f"{'rows':>9} {'keys':>7} {'sqlite MB':>9} {'backup MB':>9} {'backup s':>8} {'verify s':>8} "
          f"{'restore s':>9}  (restore = verify + copy + fresh servers + proof of equality)")
    try:
        for rows in (int(s) for s in args.sizes.split(",") if s.strip()):
            r = run(rows, root)
            print(f"{r['rows']:>9} {r['redis_keys']:>7} {r['source_mb']:>9.1f} {r['backup_mb']:>9.1f} "
                  f"{r['backup_s']:>8.2f} {r['verify_s']:>8.2f} {r['restore_s']:>9.2f}", flush=True)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
