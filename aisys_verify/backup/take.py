"""Taking a backup of a running stack: which stores it has (per host), and the backup folder with its manifest.

Layout of a backup folder: ``<host>/redis/dump.rdb``, ``<host>/sqlite/<Agent>.sqlite``,
``<host>/files/<name>/...`` and ``manifest.json`` (manifest.py).
"""

from __future__ import annotations

import contextlib
import shutil
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from dataclasses import replace
from pathlib import Path
from typing import Any

from aisys_verify.backup.manifest import MANIFEST, Manifest, file_entry, write_manifest
from aisys_verify.backup.stores import StoreTarget, capture
from aisys_verify.errors import BackupError, UsageError

SQLITE_HEADER = b"SQLite format 3\x00"


def plan_targets(plan: Any, hosts: Iterable[str] | None = None) -> list[StoreTarget]:
    """The stores of a stack run from ``plan`` (a RunPlan): each host's Redis (where this process reaches it
    directly, never through a proxy) and every SQLite database under the host's data folder (known by its
    header, whatever its name; named by its path in the folder)."""
    wanted = set(hosts) if hosts is not None else None
    unknown = sorted((wanted or set()) - set(plan.redis))
    if unknown:
        raise UsageError(f"no host {', '.join(unknown)} in the stack: it has {', '.join(sorted(plan.redis))}")
    targets: list[StoreTarget] = []
    for host in sorted(plan.redis):
        if wanted is not None and host not in wanted:
            continue
        address, port = plan.redis[host]
        targets.append(StoreTarget(host, "redis", "redis", address=address, port=int(port)))
        data = Path(plan.data_dir) / host
        targets += [StoreTarget(host, "sqlite", p.relative_to(data).as_posix(), path=p) for p in sqlite_files(data)]
    return targets


def sqlite_files(folder: Path) -> list[Path]:
    """Every SQLite database under ``folder`` (by its 16-byte header), not its -wal/-shm/-journal files."""
    found = []
    for path in sorted(folder.rglob("*")) if folder.is_dir() else ():
        if path.is_file() and not path.is_symlink() and not path.name.endswith(("-wal", "-shm", "-journal")):
            with path.open("rb") as f:
                if f.read(16) == SQLITE_HEADER:
                    found.append(path)
    return found


def stack_targets(stack: Any, hosts: Iterable[str] | None = None) -> list[StoreTarget]:
    """The stores of a running stack object: the local backend's (it carries its RunPlan) or the compose
    backend's (its volumes, read by a helper container: volumes.py)."""
    from aisys_verify.backup.volumes import compose_targets, is_compose

    if is_compose(stack):
        return compose_targets(stack, hosts)
    plan = getattr(stack, "plan", None)
    if plan is None or not hasattr(plan, "redis"):
        from aisys_verify.errors import CapabilityMissing

        raise CapabilityMissing(f"the {type(stack).__name__} backend does not expose its stores to back up "
                                "(the local backend does)", "backup")
    return plan_targets(plan, hosts)


def create_backup(targets: Sequence[StoreTarget], folder: Path, stack_id: str) -> Manifest:
    """Capture every target into ``folder`` (new or empty) and write its manifest; BackupError naming the
    store that failed (the half-written folder is removed)."""
    if not targets:
        raise UsageError("nothing to back up: no stores given")
    if folder.exists() and any(folder.iterdir()):
        raise UsageError(f"{folder} exists and is not empty: choose a new folder for the backup")
    folder.mkdir(parents=True, exist_ok=True)
    scratch = Path(tempfile.mkdtemp(prefix="aisys-backup-"))
    try:
        started = time.time()
        entries = [capture(t, folder / t.host / t.kind, scratch) for t in targets if t.volume is None]
        on_volumes = [t for t in targets if t.volume is not None]
        if on_volumes:  # a compose stack's: one helper container per host reads all its volumes (volumes.py)
            from aisys_verify.backup.volumes import capture_host

            for host in dict.fromkeys(t.host for t in on_volumes):
                entries += capture_host([t for t in on_volumes if t.host == host], folder / host, scratch)
        stores = [replace(e, files=tuple(Path(f).relative_to(folder).as_posix() for f in e.files)) for e in entries]
        created = time.time()
        files = tuple(file_entry(folder, folder / f) for s in stores for f in s.files)
        manifest = Manifest(stack_id, created, tuple(stores), files, started=started)
        write_manifest(folder, manifest)
        return manifest
    except BaseException:
        shutil.rmtree(folder, ignore_errors=True)
        raise
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def list_backups(root: Path) -> list[tuple[Path, Manifest | None, str]]:
    """Every folder under ``root`` holding a manifest.json, oldest first: (folder, manifest or None, why not)."""
    from aisys_verify.backup.manifest import read_manifest
    from aisys_verify.errors import BackupInvalid

    found: list[tuple[Path, Manifest | None, str]] = []
    for path in sorted(root.rglob(MANIFEST)) if root.is_dir() else ():
        try:
            found.append((path.parent, read_manifest(path.parent), ""))
        except BackupInvalid as exc:
            found.append((path.parent, None, str(exc)))
    found.sort(key=lambda item: (item[1].created if item[1] else 0.0, str(item[0])))
    return found


def latest_backup(root: Path) -> Path:
    """The newest backup under ``root`` whose manifest reads; BackupError when there is none."""
    readable = [folder for folder, manifest, _ in list_backups(root) if manifest is not None]
    if not readable:
        raise BackupError(f"no backup under {root} ('aisys-verify backup create' takes one)")
    return readable[-1]


@contextlib.contextmanager
def own_stack(config: Any) -> Iterator[Any]:
    """A stack of ``config``'s spec and backend of its own, stood up and torn down around the block: disaster
    drills destroy a host's data, which a shared session stack must not suffer. CapabilityMissing (a skip)
    before anything starts unless the backend is local or compose: only they let a drill reach a host's
    stores."""
    from aisys_verify.errors import CapabilityMissing
    from aisys_verify.stack.base import backend_class, stack_options

    if config.backend not in ("local", "compose"):
        raise CapabilityMissing(f"disaster drills destroy and restore a host's stores on the local and compose "
                                f"backends; the {config.backend} backend cannot (docs/backup.md, Limits)", "backup")

    # the drill writes as the real MemoryClient (add_memory): of the stand-ins' profiles only the reference one
    # answers it as the real orchestrator does
    options = replace(stack_options(config), standin_profile="reference")
    stack = backend_class(config.backend)(config.spec, dict(config.spec_vars), options)
    try:
        stack.start()
        yield stack
    finally:
        stack.stop()
