"""The stores of a compose stack, read from and written back to the Docker volumes of each host's project.

Nothing here reads a volume's folder from this machine's side (it belongs to the engine): a short-lived helper
container of the local base image (``aisys-verify/base:bookworm``: python3 with sqlite3; nothing pulled) does
it, with no network, bind-mounting a folder of this machine for what it copies out or in (so the engine must
run on this machine, as it does for the compose backend's stacks).

* Listing and backups mount every volume **read-only** at ``/v/<key>`` and a scratch folder of this machine at
  ``/out``. SQLite databases are copied with the online backup API from a read-only connection (a live
  writer keeps writing; SQLite reads a WAL database on a read-only mount through a private wal-index, and
  re-reads when a checkpoint moves under it); Redis is saved with BGSAVE over its published port, then its
  RDB file is copied from its volume.
* A restore mounts the volumes read-write, empties each, copies the restored files in and gives them the
  owner of the volume's top folder (the stand-ins run as an unprivileged user: they must write them again).

Which stores there are comes from the stack's own volumes (found by the stack's labels, keyed as the compose
file names them) and the files' content (a SQLite database is known by its header), not from file names.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from aisys_verify.backup.manifest import StoreEntry
from aisys_verify.backup.stores import (
    StoreTarget,
    VolumeRef,
    files_logical,
    redis_bgsave,
    redis_logical_of_rdb,
    sqlite_logical,
    sqlite_watermark,
)
from aisys_verify.errors import BackupError, ComposeError, UsageError

COMPOSE_VOLUME = "com.docker.compose.volume"
HELPER_ROLE = "backup-helper"
HELPER_TIMEOUT_S = 300.0
FILES_STAGING = ".files"  # staging: plain files of the volumes, merged into their folders before the copy in

# runs in the helper container: python3 -c HELPER MODE ARGS...; prints one JSON document on stdout
HELPER = r"""
import json, os, shutil, sqlite3, sys
mode, args = sys.argv[1], sys.argv[2:]
def walk(key):
    top = os.path.join("/v", key)
    for root, dirs, files in os.walk(top):
        dirs.sort()
        for name in sorted(files):
            path = os.path.join(root, name)
            if not os.path.islink(path) and not name.endswith(("-wal", "-shm", "-journal")):
                yield path, os.path.relpath(path, top)
if mode == "capture":  # args: the Redis volume's key and file (or "-" "-"), then the other volumes' keys
    redis_key, rdb, keys = args[0], args[1], args[2:]
    done = {"redis": None, "sqlite": [], "files": {}}
    if redis_key != "-":
        os.makedirs("/out/redis")
        shutil.copyfile(os.path.join("/v", redis_key, rdb), "/out/redis/dump.rdb")
        done["redis"] = "redis/dump.rdb"
    for key in keys:  # after Redis: the memory cache there is written after the SQLite commit
        for path, rel in walk(key):
            with open(path, "rb") as f:
                head = f.read(16)
            if head == b"SQLite format 3\x00":
                out = os.path.join("/out/sqlite", key, rel)
                os.makedirs(os.path.dirname(out), exist_ok=True)
                src = sqlite3.connect("file:" + path + "?mode=ro", uri=True, timeout=10)
                dest = sqlite3.connect(out)
                src.backup(dest)
                dest.execute("PRAGMA journal_mode=DELETE")
                dest.close(); src.close()
                done["sqlite"].append(key + "/" + rel)
            else:
                out = os.path.join("/out/files", key, rel)
                os.makedirs(os.path.dirname(out), exist_ok=True)
                shutil.copyfile(path, out)
                done["files"].setdefault(key, []).append(rel)
    print(json.dumps(done))
elif mode == "put":  # empty each volume /in has a folder for, copy the folder in, owned as the volume's top
    keys = sorted(os.listdir("/in")) if os.path.isdir("/in") else sorted(os.listdir("/v"))
    for key in keys:
        top = os.path.join("/v", key)
        for name in os.listdir(top):
            path = os.path.join(top, name)
            shutil.rmtree(path) if os.path.isdir(path) and not os.path.islink(path) else os.unlink(path)
        if os.path.isdir("/in"):
            st = os.stat(top)
            shutil.copytree(os.path.join("/in", key), top, dirs_exist_ok=True)
            for root, dirs, files in os.walk(top):
                for name in dirs + files:
                    os.chown(os.path.join(root, name), st.st_uid, st.st_gid)
    print(json.dumps(keys))
"""


def is_compose(stack: Any) -> bool:
    """A stack of the compose backend (its hosts are compose projects with volumes)."""
    return all(hasattr(stack, name) for name in ("host_projects", "runner", "services", "group_container"))


def host_volumes(stack: Any, host: str) -> list[VolumeRef]:
    """The Docker volumes of ``host``'s project in a compose stack, by the stack's labels."""
    from aisys_verify.stack.compose_names import LABEL_HOST
    from aisys_verify.stack.docker import LABEL_STACK, run_docker

    fmt = f'{{{{.Name}}}}\t{{{{.Label "{COMPOSE_VOLUME}"}}}}'
    out = run_docker("volume", "ls", "--filter", f"label={LABEL_STACK}={stack.stack_id}", "--filter",
                     f"label={LABEL_HOST}={host}", "--format", fmt, timeout=60).stdout
    refs = []
    for line in out.splitlines():
        name, _, key = line.partition("\t")
        if name:
            refs.append(VolumeRef(key or name, name, stack.images.base, stack.stack_id))
    return sorted(refs, key=lambda r: r.key)


def run_helper(volumes: Sequence[VolumeRef], mode: str, *args: str, writable: bool = False,
               binds: Iterable[tuple[Path, str, bool]] = ()) -> Any:
    """The helper container over ``volumes`` (read-only unless ``writable``) and ``binds`` (this machine's
    folders: path, target, read-only); its JSON answer."""
    from aisys_verify.stack.compose_names import LABEL_ROLE
    from aisys_verify.stack.docker import LABEL_OWNER, LABEL_STACK, owner_label, run_docker

    if not volumes:
        raise BackupError(f"no volume to {mode}: the stack's host has none")
    first = volumes[0]
    # reading runs as whoever runs this, so the copies it writes are theirs; writing back runs as root, which
    # alone can give the restored files the owner of the volume (the stand-ins' unprivileged user)
    user = "0:0" if writable else f"{os.getuid()}:{os.getgid()}"
    cmd = ["run", "--rm", "--network", "none", "--user", user, "--label", f"{LABEL_STACK}={first.stack_id}",
           "--label", f"{LABEL_OWNER}={owner_label()}", "--label", f"{LABEL_ROLE}={HELPER_ROLE}"]
    for ref in volumes:
        cmd += ["--mount", f"type=volume,source={ref.name},target=/v/{ref.key}{'' if writable else ',readonly'}"]
    for path, target, read_only in binds:
        cmd += ["--mount", f"type=bind,source={path.resolve()},target={target}{',readonly' if read_only else ''}"]
    cmd += [first.image, "python3", "-c", HELPER, mode, *args]
    try:
        proc = run_docker(*cmd, timeout=HELPER_TIMEOUT_S)
    except ComposeError as exc:
        raise BackupError(f"the backup helper ({mode} on volume(s) {', '.join(r.name for r in volumes)}) failed: "
                          f"{exc}") from exc
    try:
        return json.loads(proc.stdout.strip().splitlines()[-1])
    except (ValueError, IndexError) as exc:
        raise BackupError(f"the backup helper ({mode}) answered no JSON: {proc.stdout[-300:]!r} "
                          f"{proc.stderr[-300:]!r}") from exc


@dataclass(frozen=True)
class RecordedComposeStack:
    """What a backup needs of a compose stack another process runs ('aisys-verify up --backend compose'), read
    from its work folder: its id, each host's project and Redis address (published on the host's address)."""

    stack_id: str
    host_projects: dict[str, str]
    redis: dict[str, tuple[str, int]]
    images: Any
    workdir: Path | None = None  # its secrets folder holds the Redis password (stack/compose_secrets.py)

    def redis_address(self, host: str) -> tuple[str, int]:
        return self.redis[host]

    @classmethod
    def from_workdir(cls, stack_id: str, workdir: Path) -> RecordedComposeStack:
        from aisys_verify.stack.compose_names import slug
        from aisys_verify.stack.images import ImageSet

        try:
            plan = json.loads((workdir / "plan.json").read_text(encoding="utf-8"))
            endpoints = json.loads((workdir / "endpoints.json").read_text(encoding="utf-8"))
            addresses = {str(e["host"]): str(e["address"]) for e in endpoints}
            redis = {host: (addresses[host], int(port)) for host, (_, port) in plan["redis"].items()}
        except (OSError, ValueError, KeyError, TypeError) as exc:
            raise UsageError(f"compose stack {stack_id}: its work folder {workdir} has no readable plan.json and "
                             f"endpoints.json ({type(exc).__name__}: {exc}): is it still running? "
                             "'aisys-verify status'") from exc
        return cls(stack_id, {h: f"aisys-{stack_id}-{slug(h)}" for h in sorted(redis)}, redis,
                   ImageSet(base=os.environ.get("AISYS_BASE_IMAGE", ImageSet.base)), workdir)


# --- targets and capture --------------------------------------------------------------------------------


def redis_password_file(stack: Any) -> Path | None:
    """The compose stack's ``redis_password`` secret file (its Redis then requires it), or None."""
    workdir = getattr(stack, "workdir", None)
    path = Path(workdir) / "secrets" / "redis_password" if workdir else None
    return path if path is not None and path.is_file() else None


def compose_targets(stack: Any, hosts: Iterable[str] | None = None) -> list[StoreTarget]:
    """The stores of a running compose stack, per host: its Redis (BGSAVE, then the RDB from its volume) and
    each other volume of its project (kind ``volume``: at capture, every SQLite database on it becomes a
    sqlite store and its other files one files store)."""
    from aisys_verify.stack.compose_names import REDIS_VOLUME

    wanted = list(hosts) if hosts is not None else list(stack.host_projects)
    unknown = sorted(set(wanted) - set(stack.host_projects))
    if unknown:
        raise UsageError(f"no host {', '.join(unknown)} in the stack: it has {', '.join(sorted(stack.host_projects))}")
    targets: list[StoreTarget] = []
    for host in sorted(wanted):
        refs = host_volumes(stack, host)
        by_key = {r.key: r for r in refs}
        if REDIS_VOLUME not in by_key:
            raise BackupError(f"{host}: stack {stack.stack_id} has no Redis volume ({REDIS_VOLUME}) for this host: "
                              "a stack started before backups of the compose backend existed? start it again")
        address, port = stack.redis_address(host)
        targets.append(StoreTarget(host, "redis", "redis", address=address, port=int(port),
                                   volume=by_key[REDIS_VOLUME], password_file=redis_password_file(stack)))
        targets += [StoreTarget(host, "volume", r.key, path=Path("."), volume=r) for r in refs
                    if r.key != REDIS_VOLUME]
    return targets


def capture_host(targets: Sequence[StoreTarget], folder: Path, scratch: Path) -> list[StoreEntry]:
    """One host's volume targets into ``folder`` (the backup's <host>/ subfolder), through one helper run:
    Redis saved first, then the RDB and every other volume's files copied (SQLite by the backup API)."""
    redis_targets = [t for t in targets if t.kind == "redis"]
    others = [t for t in targets if t.kind == "volume"]
    wrong = [t for t in targets if t.kind not in ("redis", "volume")]
    if wrong or len(redis_targets) > 1:
        raise BackupError(f"{targets[0].host}: a compose host is backed up as one Redis and its volumes, not "
                          f"{', '.join(f'{t.kind}:{t.name}' for t in wrong) or 'two Redis servers'}")
    refs = [t.volume for t in targets if t.volume is not None]
    args = ["-", "-"]
    if redis_targets:
        import redis

        try:
            dirname, dbfilename, _ = redis_bgsave(redis_targets[0])
        except (redis.RedisError, OSError) as exc:
            raise BackupError(f"{redis_targets[0].host}: redis {redis_targets[0].source}: {type(exc).__name__}: "
                              f"{exc} (is the stack running? 'aisys-verify status')") from exc
        ref = redis_targets[0].volume
        assert ref is not None
        args = [ref.key, (dirname / dbfilename).relative_to(dirname).as_posix()]
    folder.mkdir(parents=True, exist_ok=True)
    done = run_helper(refs, "capture", *args, *(t.name for t in others), binds=[(folder, "/out", False)])
    entries: list[StoreEntry] = []
    for target in redis_targets:
        rdb = folder / "redis" / "dump.rdb"
        entries.append(StoreEntry(target.host, "redis", "redis", (str(rdb),), redis_logical_of_rdb(rdb, scratch), None,
                                  target.source))
    by_key = {t.name: t for t in others}
    for name in done["sqlite"]:
        out = folder / "sqlite" / name
        target = by_key[name.split("/", 1)[0]]
        entries.append(StoreEntry(target.host, "sqlite", name, (str(out),), sqlite_logical(out),
                                  sqlite_watermark(out), f"{name.split('/', 1)[1]} on volume {target.name}"))
    for key, names in sorted(done["files"].items()):
        out = folder / "files" / key
        files = tuple(str(out / n) for n in sorted(names))
        entries.append(StoreEntry(by_key[key].host, "files", key, files, files_logical(out), None,
                                  f"volume {key}"))
    return entries


# --- restore ------------------------------------------------------------------------------------------


def staging_place(staging: Path) -> Any:
    """restore.Placement into ``staging/<volume key>/...``, the tree ``put_volumes`` copies into the volumes."""
    from aisys_verify.stack.compose_names import REDIS_VOLUME

    def place(store: StoreEntry) -> Path | None:
        if store.kind == "redis":
            return staging / REDIS_VOLUME
        if store.kind == "files":  # beside, not in, the volume's folder: a files restore empties its target first
            return staging / FILES_STAGING / store.name
        return staging / store.name  # sqlite: <key>/<path in the volume>

    return place


def wipe_volumes(volumes: Sequence[VolumeRef]) -> None:
    """Empty each volume (the volume itself stays: its containers keep mounting it)."""
    if volumes:
        run_helper(volumes, "put", writable=True)


def put_volumes(volumes: Sequence[VolumeRef], staging: Path) -> list[str]:
    """Empty the volumes ``staging`` has a folder for and copy that folder in (one helper run); the keys
    written."""
    plain = staging / FILES_STAGING
    if plain.is_dir():
        for folder in plain.iterdir():
            shutil.copytree(folder, staging / folder.name, dirs_exist_ok=True)
        shutil.rmtree(plain)
    keys = {p.name for p in staging.iterdir() if p.is_dir()}
    chosen = [r for r in volumes if r.key in keys]
    missing = sorted(keys - {r.key for r in chosen})
    if missing:
        raise BackupError(f"the backup holds volume(s) {', '.join(missing)} that the stack does not have "
                          f"(it has {', '.join(r.key for r in volumes)})")
    written: list[str] = run_helper(chosen, "put", writable=True, binds=[(staging, "/in", True)])
    return written
