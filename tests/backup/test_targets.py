"""Which stores a local stack's host has: every SQLite database under its data folder, known by its header
(not by a ``.sqlite`` name), without the -wal/-shm/-journal files beside it."""

from __future__ import annotations

import sqlite3
from pathlib import Path

from aisys_verify.backup.take import sqlite_files


def test_sqlite_databases_are_found_by_their_header_not_their_name(tmp_path: Path) -> None:
    (tmp_path / "nested").mkdir()
    for path in (tmp_path / "unified_memory.db", tmp_path / "nested" / "Agent.sqlite"):
        db = sqlite3.connect(path)
        db.execute("PRAGMA journal_mode=WAL")
        db.execute("CREATE TABLE t (x)")
        db.commit()
        db.close()
    (tmp_path / "notes.sqlite").write_text("not a database", encoding="utf-8")
    (tmp_path / "unified_memory.db-wal").write_bytes(b"SQLite format 3\x00" + b"\x00" * 100)
    assert [p.relative_to(tmp_path).as_posix() for p in sqlite_files(tmp_path)] == [
        "nested/Agent.sqlite", "unified_memory.db"]
    assert sqlite_files(tmp_path / "absent") == []
