"""A backup's manifest (``manifest.json`` in the backup folder): what it holds and how to prove it is whole.

For each file: its size and SHA-256. For each store (one Redis or SQLite database, or a folder of files, on a
host): its kind, the files that hold it, a logical checksum (row or key counts and a hash over the sorted
content, so a restore can be compared with the source whatever the byte layout) and the last write sequence
it contains (the watermark). Then the stack id, the time, and a SHA-256 over all of that, so a manifest
edited by hand is caught as surely as a changed file.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

from aisys_verify.errors import BackupInvalid

MANIFEST = "manifest.json"
FORMAT = 1
CHUNK = 1 << 20


@dataclass(frozen=True)
class FileEntry:
    path: str  # relative to the backup folder, '/'-separated
    size: int
    sha256: str


@dataclass(frozen=True)
class StoreEntry:
    host: str
    kind: str  # redis | sqlite | files
    name: str  # redis: 'redis'; sqlite: the database's file name; files: the folder's name
    files: tuple[str, ...]
    logical: dict[str, Any]  # {"count": rows or keys, "sha256": hash over the sorted content, ...}
    watermark: int | None = None  # the highest write sequence the store holds, where it records one
    source: str = ""  # where it was taken from (an address or a path), for the reader

    @property
    def key(self) -> str:
        return f"{self.host}/{self.kind}:{self.name}"


@dataclass(frozen=True)
class Manifest:
    stack_id: str
    created: float  # epoch seconds when the last store was captured
    stores: tuple[StoreEntry, ...]
    files: tuple[FileEntry, ...]
    started: float = 0.0  # epoch seconds when the first store was captured
    format: int = FORMAT
    notes: tuple[str, ...] = field(default=())

    @property
    def watermark(self) -> int | None:
        """The highest write sequence of any store in the backup (None when no store records one)."""
        marks = [s.watermark for s in self.stores if s.watermark is not None]
        return max(marks) if marks else None

    def body(self) -> dict[str, Any]:
        data = asdict(self)
        data["watermark"] = self.watermark
        return data

    def digest(self) -> str:
        return canonical_sha256(self.body())

    def store(self, host: str, kind: str, name: str) -> StoreEntry | None:
        return next((s for s in self.stores if (s.host, s.kind, s.name) == (host, kind, name)), None)


def canonical_sha256(data: Any) -> str:
    return hashlib.sha256(json.dumps(data, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def file_sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(CHUNK):
            digest.update(chunk)
    return digest.hexdigest()


def file_entry(folder: Path, path: Path) -> FileEntry:
    return FileEntry(path.relative_to(folder).as_posix(), path.stat().st_size, file_sha256(path))


def write_manifest(folder: Path, manifest: Manifest) -> Path:
    """``manifest.json``: the body plus ``manifest_sha256`` over it; written to a temporary name and renamed,
    so a crash mid-write never leaves a manifest that looks whole."""
    payload = {**manifest.body(), "manifest_sha256": manifest.digest()}
    target = folder / MANIFEST
    tmp = folder / f".{MANIFEST}.tmp"
    tmp.write_text(json.dumps(payload, indent=1, sort_keys=True) + "\n", encoding="utf-8")
    tmp.replace(target)
    return target


def read_manifest(folder: Path) -> Manifest:
    """The manifest of the backup in ``folder``; BackupInvalid (naming manifest.json) when it is missing, not
    JSON, not of this format, or its own hash does not match its content (edited by hand)."""
    path = folder / MANIFEST

    def invalid(what: str) -> BackupInvalid:
        return BackupInvalid(f"backup {folder}: {MANIFEST}: {what}", backup=str(folder), problems=[(MANIFEST, what)])

    try:
        raw = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise invalid("missing (not a backup folder, or the manifest was deleted)") from None
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        raise invalid(f"unreadable: {exc}") from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT:
        raise invalid(f"not a manifest of format {FORMAT}")
    try:
        manifest = Manifest(
            stack_id=str(raw["stack_id"]), created=float(raw["created"]), started=float(raw.get("started", 0.0)),
            stores=tuple(StoreEntry(s["host"], s["kind"], s["name"], tuple(s["files"]), dict(s["logical"]),
                                    s.get("watermark"), s.get("source", "")) for s in raw["stores"]),
            files=tuple(FileEntry(f["path"], int(f["size"]), str(f["sha256"])) for f in raw["files"]),
            format=FORMAT, notes=tuple(raw.get("notes", ())))
    except (KeyError, TypeError, ValueError) as exc:
        raise invalid(f"malformed ({type(exc).__name__}: {exc})") from None
    if raw.get("manifest_sha256") != manifest.digest() or raw.get("watermark") != manifest.watermark:
        raise invalid("its manifest_sha256 does not match its content (edited by hand, or damaged)")
    return manifest
