"""Every kind of damage makes verify fail naming the file, and restore refuse (writing nothing): a flipped
byte, a truncated file, a missing file, an extra file, a manifest edited by hand; and, past the file
checksums, damage re-signed into the manifest is still caught by the stores' own checks (redis-check-rdb,
PRAGMA integrity_check) and by the logical checksums. The undamaged backup verifies and restores equal
(the control that makes each failure mean something)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path
from typing import Any

import pytest

from aisys_verify.backup import BackupInvalid, restore_backup, restore_fresh, verify_backup
from aisys_verify.backup.manifest import MANIFEST, file_entry, read_manifest, write_manifest
from aisys_verify.cli import main

pytestmark = [pytest.mark.integration, pytest.mark.backup]

SQLITE = "pc2/sqlite/MemoryOrchestratorService.sqlite"
RDB = "pc2/redis/dump.rdb"


def flip_byte(path: Path, offset: int) -> None:
    data = bytearray(path.read_bytes())
    data[offset % len(data)] ^= 0x01
    path.write_bytes(bytes(data))


def truncate(path: Path) -> None:
    path.write_bytes(path.read_bytes()[: path.stat().st_size // 2])


def _edit_manifest(backup: Path, edit: Callable[[dict[str, Any]], None]) -> None:
    raw = json.loads((backup / MANIFEST).read_text())
    edit(raw)
    (backup / MANIFEST).write_text(json.dumps(raw, indent=1))


def _watermark_raised(raw: dict[str, Any]) -> None:
    for store in raw["stores"]:
        if store["watermark"] is not None:
            store["watermark"] += 10
    raw["watermark"] += 10


def _sha_rewritten(raw: dict[str, Any]) -> None:
    raw["files"][0]["sha256"] = "0" * 64


DAMAGE: dict[str, tuple[Callable[[Path], None], str, str]] = {
    "flipped byte in the SQLite file": (lambda b: flip_byte(b / SQLITE, 4096 + 100), SQLITE, "content changed"),
    "flipped byte in the RDB": (lambda b: flip_byte(b / RDB, 20), RDB, "content changed"),
    "truncated SQLite file": (lambda b: truncate(b / SQLITE), SQLITE, "truncated"),
    "truncated RDB": (lambda b: truncate(b / RDB), RDB, "truncated"),
    "missing SQLite file": (lambda b: (b / SQLITE).unlink(), SQLITE, "missing"),
    "missing RDB": (lambda b: (b / RDB).unlink(), RDB, "missing"),
    "extra file": (lambda b: (b / "pc2" / "sqlite" / "notes.txt").write_text("x"), "pc2/sqlite/notes.txt",
                   "extra file"),
    "manifest watermark edited by hand": (lambda b: _edit_manifest(b, _watermark_raised), MANIFEST, "edited by hand"),
    "manifest file hash edited by hand": (lambda b: _edit_manifest(b, _sha_rewritten), MANIFEST, "edited by hand"),
    "manifest deleted": (lambda b: (b / MANIFEST).unlink(), MANIFEST, "missing"),
}


def test_the_undamaged_backup_verifies_and_restores_equal(backup_copy: Path, tmp_path: Path) -> None:
    manifest = verify_backup(backup_copy)
    assert manifest.watermark == 500
    assert {s.kind: s.logical["count"] for s in manifest.stores} == {"redis": 5, "sqlite": 500}
    restored = restore_fresh(backup_copy, tmp_path / "fresh")
    assert dict(restored.stores) == {"pc2/redis:redis": 5, "pc2/sqlite:MemoryOrchestratorService.sqlite": 500}


@pytest.mark.parametrize("damage", DAMAGE, ids=list(DAMAGE))
def test_damage_fails_verify_naming_the_file_and_restore_refuses(damage: str, backup_copy: Path, tmp_path: Path,
                                                                 capsys: pytest.CaptureFixture[str]) -> None:
    apply, name, what = DAMAGE[damage]
    apply(backup_copy)
    with pytest.raises(BackupInvalid) as caught:
        verify_backup(backup_copy)
    assert any(file == name and what in problem for file, problem in caught.value.problems), caught.value.problems
    assert name in str(caught.value)
    target = tmp_path / "restore-target"
    with pytest.raises(BackupInvalid):
        restore_backup(backup_copy, lambda store: target / store.kind)
    assert not target.exists(), "a refused restore wrote files"
    capsys.readouterr()
    assert main(["backup", "verify", str(backup_copy)]) == 1
    assert name in capsys.readouterr().out
    assert main(["backup", "restore", str(backup_copy), str(tmp_path / "cli-dest")]) == 1
    out = capsys.readouterr().out
    assert "restore refused" in out and name in out
    assert not (tmp_path / "cli-dest").exists()


def _resign(backup: Path) -> None:
    """Re-record every file's size and hash and the manifest's own hash: damage a forger hides from the
    file checksums, which only the stores' own checks and the logical checksums can still see."""
    manifest = read_manifest(backup)
    files = tuple(file_entry(backup, backup / f.path) for f in manifest.files)
    write_manifest(backup, replace(manifest, files=files))


def test_a_resigned_flipped_rdb_byte_is_caught_by_redis_check_rdb(backup_copy: Path) -> None:
    flip_byte(backup_copy / RDB, 30)
    _resign(backup_copy)
    with pytest.raises(BackupInvalid) as caught:
        verify_backup(backup_copy)
    assert [(f, p.split(":")[0]) for f, p in caught.value.problems] == [(RDB, "redis-check-rdb")]


def test_a_resigned_row_change_is_caught_by_the_logical_checksum(backup_copy: Path) -> None:
    db = sqlite3.connect(backup_copy / SQLITE)
    db.execute("UPDATE memories SET content = ? WHERE id = 'm0000007'", (json.dumps({"seq": 7, "text": "forged"}),))
    db.commit()
    db.close()
    _resign(backup_copy)
    with pytest.raises(BackupInvalid) as caught:
        verify_backup(backup_copy)
    assert [f for f, _ in caught.value.problems] == [SQLITE]
    assert "logical content differs" in caught.value.problems[0][1]


def test_a_resigned_damaged_page_is_caught_by_integrity_check(backup_copy: Path) -> None:
    path = backup_copy / SQLITE
    data = bytearray(path.read_bytes())
    page = 4096  # page 2: a b-tree page of the table; scramble its header and cell pointers
    data[page:page + 24] = bytes(24)
    data[page] = 0x0D
    path.write_bytes(bytes(data))
    _resign(backup_copy)
    with pytest.raises(BackupInvalid) as caught:
        verify_backup(backup_copy)
    assert [f for f, _ in caught.value.problems] == [SQLITE]
    assert caught.value.problems[0][1].startswith(("PRAGMA integrity_check", "not a usable SQLite database"))
