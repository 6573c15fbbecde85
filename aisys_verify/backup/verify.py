"""Verifying a backup from its folder alone: every file against the manifest, the stores' own tools on a
copy, and the logical checksums recomputed.

A problem names the file: ``missing``, ``truncated (N of M bytes)``, ``grown``, ``content changed``,
``extra file not in the manifest``, a tool's complaint (``redis-check-rdb``, ``redis-check-aof``,
``PRAGMA integrity_check``), or ``logical content differs``. The backup files themselves are never opened
by a database (opening may write to them): the tools run on copies in a scratch folder.
"""

from __future__ import annotations

import shutil
import sqlite3
import subprocess
import tempfile
from pathlib import Path

from aisys_verify.backup.manifest import MANIFEST, Manifest, file_sha256, read_manifest
from aisys_verify.backup.stores import files_logical, redis_logical_of_rdb, same_content, sqlite_logical
from aisys_verify.errors import BackupError, BackupInvalid

TOOL_TIMEOUT_S = 120.0


def verify_backup(folder: Path) -> Manifest:
    """The backup's manifest when everything verifies; BackupInvalid listing every problem, file by file."""
    manifest = read_manifest(folder)
    problems = file_problems(folder, manifest)
    bad = {name for name, _ in problems}
    scratch = Path(tempfile.mkdtemp(prefix="aisys-verify-backup-"))
    try:
        for store in manifest.stores:
            if bad & set(store.files):
                continue  # its bytes already failed: its tools would only repeat that
            problems += _store_problems(folder, store.kind, store.files, store.logical, scratch)
    finally:
        shutil.rmtree(scratch, ignore_errors=True)
    if problems:
        shown = "; ".join(f"{name}: {what}" for name, what in problems)
        raise BackupInvalid(f"backup {folder} does not verify ({len(problems)} problem(s)): {shown}",
                            backup=str(folder), problems=problems)
    return manifest


def file_problems(folder: Path, manifest: Manifest) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    listed = {f.path for f in manifest.files}
    for entry in manifest.files:
        path = folder / entry.path
        if not path.is_file():
            problems.append((entry.path, "missing"))
            continue
        size = path.stat().st_size
        if size < entry.size:
            problems.append((entry.path, f"truncated ({size} of {entry.size} bytes)"))
        elif size > entry.size:
            problems.append((entry.path, f"grown ({size} bytes, {entry.size} recorded)"))
        elif file_sha256(path) != entry.sha256:
            problems.append((entry.path, "content changed (sha256 differs from the manifest)"))
    for path in sorted(p for p in folder.rglob("*") if p.is_file() or p.is_symlink()):
        name = path.relative_to(folder).as_posix()
        if name != MANIFEST and name not in listed:
            problems.append((name, "extra file not in the manifest"))
    return problems


def _store_problems(folder: Path, kind: str, files: tuple[str, ...], logical: dict[str, object],
                    scratch: Path) -> list[tuple[str, str]]:
    main = files[0]
    copy = scratch / f"{len(list(scratch.iterdir()))}-{Path(main).name}"
    if kind == "redis":
        shutil.copyfile(folder / main, copy)
        if complaint := _tool("redis-check-rdb", copy):
            return [(main, f"redis-check-rdb: {complaint}")]
        aof = [f for f in files if f.endswith(".manifest")]
        if aof:
            aof_copy = scratch / f"aof-{copy.name}"
            shutil.copytree((folder / aof[0]).parent, aof_copy)
            if complaint := _tool("redis-check-aof", aof_copy / Path(aof[0]).name):
                return [(aof[0], f"redis-check-aof: {complaint}")]
        found = redis_logical_of_rdb(copy, scratch)
    elif kind == "sqlite":
        shutil.copyfile(folder / main, copy)
        try:
            db = sqlite3.connect(copy)
            try:
                result = [r[0] for r in db.execute("PRAGMA integrity_check")]
            finally:
                db.close()
            if result != ["ok"]:
                return [(main, f"PRAGMA integrity_check: {'; '.join(map(str, result))[:300]}")]
            found = sqlite_logical(copy)
        except sqlite3.DatabaseError as exc:
            return [(main, f"not a usable SQLite database: {exc}")]
    elif kind == "files":
        parts = Path(main).parts
        found = files_logical(folder.joinpath(*parts[:3]))  # <host>/files/<name>
    else:
        return [(main, f"unknown store kind {kind!r}")]
    if not same_content(logical, found):
        return [(main, f"logical content differs: {found.get('count')} rows/keys, sha256 {found.get('sha256')}; "
                       f"the manifest says {logical.get('count')}, {logical.get('sha256')}")]
    return []


def _tool(name: str, path: Path) -> str:
    """'' when the check passes, else its last lines."""
    from aisys_verify.backup.scratch import redis_binary

    try:
        run = subprocess.run([redis_binary(name), str(path)], capture_output=True, text=True,
                             timeout=TOOL_TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired as exc:
        raise BackupError(f"{name} {path} took over {TOOL_TIMEOUT_S:g} s") from exc
    if run.returncode == 0:
        return ""
    lines = [line.strip() for line in (run.stdout + run.stderr).splitlines() if line.strip()]
    return " / ".join(lines[-3:])[:300] or f"exit code {run.returncode}"
